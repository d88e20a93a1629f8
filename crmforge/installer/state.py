"""What a tenant has installed: one row per pack in ``sys_packs``.

Each row keeps two layers (DESIGN §8): ``shipped``, the documents exactly as the installed
version of the pack shipped them, and ``installed``, the same documents as the platform
stored them right after the install or upgrade. An upgrade compares the new pack with
``shipped`` (what the partner changed) and the tenant's current metadata with
``installed`` (what the tenant changed), so both kinds of change survive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..core import clock
from ..runtime.instance import Tenant
from ..runtime.lazy_tables import LazyTables

pack_metadata = sa.MetaData()

packs_table = sa.Table(
    "sys_packs",
    pack_metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("dependencies", sa.Text, nullable=False),
    sa.Column("shipped", sa.Text, nullable=False),
    sa.Column("installed", sa.Text, nullable=False),
    #: Sample record keys of the pack's data files -> [object, record id].
    sa.Column("data_keys", sa.Text, nullable=False),
    sa.Column("installed_at", sa.DateTime, nullable=False),
    sa.Column("installed_by", sa.String(150), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)


@dataclass(frozen=True)
class InstalledPack:
    name: str
    version: str
    label: dict[str, str]
    dependencies: dict[str, str]
    shipped: dict[str, Any]
    installed: dict[str, Any]
    data_keys: dict[str, list[Any]]
    installed_at: str
    installed_by: str
    updated_at: str

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "label": self.label,
                "dependencies": self.dependencies, "installed_at": self.installed_at,
                "installed_by": self.installed_by, "updated_at": self.updated_at}


_tables = LazyTables(pack_metadata)


def ensure_table(tenant: Tenant) -> None:
    """Tenants created before packs existed get the table on first use."""
    _tables.ensure(tenant)


def installed(conn: sa.Connection) -> dict[str, InstalledPack]:
    """The installed packs (``ensure_table`` has run for the tenant)."""
    rows = conn.execute(sa.select(packs_table).order_by(packs_table.c.name)).all()
    return {r.name: InstalledPack(
        r.name, r.version, json.loads(r.label), json.loads(r.dependencies),
        json.loads(r.shipped), json.loads(r.installed), json.loads(r.data_keys),
        _text(r.installed_at), r.installed_by, _text(r.updated_at)) for r in rows}


def labels(conn: sa.Connection, names: list[str]) -> dict[str, dict[str, str]]:
    """The zh/en labels of installed packs by name (the pages' guides list them)."""
    rows = conn.execute(sa.select(packs_table.c.name, packs_table.c.label).where(
        packs_table.c.name.in_(names))).all()
    return {r.name: json.loads(r.label) for r in rows}


def presented(conn: sa.Connection, name: str) -> tuple[dict[str, str], Any] | None:
    """An installed pack's label and the description its manifest ships, or None."""
    row = conn.execute(sa.select(packs_table.c.label, packs_table.c.shipped).where(
        packs_table.c.name == name)).first()
    if row is None:
        return None
    return json.loads(row.label), json.loads(row.shipped).get("manifest", {}).get("description")


def save(conn: sa.Connection, *, name: str, version: str, label: dict[str, str],
         dependencies: dict[str, str], shipped: dict[str, Any], installed: dict[str, Any],
         data_keys: dict[str, list[Any]], actor: str) -> None:
    now = clock.now().replace(tzinfo=None)
    values = {"version": version, "label": _dump(label), "dependencies": _dump(dependencies),
              "shipped": _dump(shipped), "installed": _dump(installed),
              "data_keys": _dump(data_keys), "updated_at": now}
    done = conn.execute(packs_table.update().where(packs_table.c.name == name).values(**values))
    if done.rowcount == 0:
        conn.execute(packs_table.insert().values(name=name, installed_at=now, installed_by=actor,
                                                 **values))


def forget(conn: sa.Connection, name: str) -> None:
    conn.execute(packs_table.delete().where(packs_table.c.name == name))


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _text(value: Any) -> str:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else ""
