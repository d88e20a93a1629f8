"""What pages share: the object a page is about (with the reader's access and layout) and
how values are shown (choice labels, titles of related records; numbers, dates, times and
phone numbers in the page's language and the tenant's time zone: ``formats``).

Values are returned as plain strings; templates autoescape them, so a label or a value
holding markup shows as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from ...core.errors import NotFound
from ...metadata.layouts import SYSTEM_COLUMNS, Layout, layout_for
from ...metadata.model import FieldDef, ObjectDef, Snapshot
from ...runtime import RecordService
from ...security import engine as permissions
from ...security.engine import Access
from ...security.principal import Principal
from ..context import current_principal, current_tenant
from .formats import current_formats, field_text, rollup_text
from .i18n import current_lang
from .server_messages import remember_object

REFERENCES = frozenset({"lookup", "master_detail"})


@dataclass(frozen=True)
class Page:
    """One object as the signed-in user meets it on a page."""

    principal: Principal
    snapshot: Snapshot
    obj: ObjectDef
    access: Access
    layout: Layout
    lang: str

    @property
    def readable(self) -> frozenset[str]:
        return self.access.readable(self.obj)

    @property
    def writable(self) -> frozenset[str]:
        return self.access.writable(self.obj)

    def may(self, operation: str) -> bool:
        return self.access.allowed(self.obj, operation)

    def service(self) -> RecordService:
        return RecordService(current_tenant())

    def label(self, name: str) -> str:
        f = self.obj.field(name)
        return f.label(self.lang) if f is not None else name

    @property
    def zone(self) -> tzinfo:
        """The time zone the page shows times in, and reads its form's times in."""
        return current_formats().zone


def page_for(object_name: str, *, single: bool = False) -> Page:
    """The object, or 404 when it does not exist or the user may not read it (existence
    does not leak, as in the API). With ``single`` (one record's page) the record's own
    visibility decides instead: an approver holding a task reads that record without
    other access."""
    principal = current_principal()
    tenant = current_tenant()
    with tenant.read() as conn:
        snap = tenant.snapshot(conn)
    obj = snap.object(object_name)
    access = permissions.access(principal, snap)
    if obj is None or not (single or access.allowed(obj, "read") or access.allowed(obj, "create")):
        raise NotFound(f"no object named '{object_name[:40]}'")
    remember_object(obj)
    return Page(principal, snap, obj, access, layout_for(snap, obj, principal.roles),
                current_lang())


def list_columns(page: Page) -> list[str]:
    columns = [c for c in page.layout.columns if c in page.readable or c in SYSTEM_COLUMNS]
    return columns or [page.obj.title_field if page.obj.title_field in page.readable else "id"]


def list_sort(page: Page) -> str:
    """The layout's default sort without the fields the reader cannot read: an
    administrator's layout may sort by a field hidden from this reader, and sorting by it
    would refuse their list with a message naming the field."""
    keys = [k.strip() for k in (page.layout.sort or "").split(",") if k.strip()]
    return ",".join(k for k in keys
                    if k.lstrip("+-") in page.readable or k.lstrip("+-") in SYSTEM_COLUMNS)


def translated(text: Any, lang: str, fallback: str) -> str:
    """A document's ``{"zh", "en"}`` text in ``lang`` (then English, then Chinese), or
    ``fallback`` when it has none: labels and descriptions of dashboards, roles, packs."""
    if isinstance(text, Mapping):
        return str(text.get(lang) or text.get("en") or text.get("zh") or fallback)
    return fallback


def chart_visible(access: Access, snap: Snapshot, chart: Mapping[str, Any]) -> bool:
    """Whether the user may see a chart: read its object and every field it uses. A chart
    with a ``filter`` is left out: filters are expressions, which the grouped query cannot
    evaluate yet, and unfiltered numbers under its label would mislead."""
    if chart.get("filter"):
        return False
    obj = snap.object(str(chart.get("object")))
    if obj is None or not access.allowed(obj, "read"):
        return False
    wanted = [chart.get("field"), *([chart["measure"]] if chart.get("measure") else [])]
    return all(isinstance(n, str) and n in access.readable(obj) for n in wanted)


def choice_label(f: FieldDef, value: Any, lang: str) -> str:
    return f.choice_label(value, lang)


def titles(page: Page, records: Iterable[Mapping[str, Any]],
           fields: Iterable[str]) -> dict[tuple[str, Any], str]:
    """Titles of the records the reference fields point at, one list call per target and
    only those the reader may see (the others show their id)."""
    wanted: dict[str, set[int]] = {}
    records = list(records)
    for name in fields:
        f = page.obj.field(name)
        if f is None or f.type not in REFERENCES or f.target is None:
            continue
        wanted.setdefault(f.target, set()).update(
            r[name] for r in records if isinstance(r.get(name), int))
    return dict(page.service().titles(page.principal, wanted))


def shown(page: Page, name: str, record: Mapping[str, Any],
          found: Mapping[tuple[str, Any], str]) -> dict[str, Any]:
    """A value for display: ``{"text", "href"}`` (href for related records)."""
    value = record.get(name)
    f = page.obj.field(name)
    if value is None or value == "" or value == []:
        return {"text": "", "href": None}
    if f is None:
        return {"text": str(value), "href": None}
    if f.type == "boolean":
        return {"text": "✓" if value else "✗", "href": None}
    if f.type == "picklist":
        return {"text": choice_label(f, value, page.lang), "href": None}
    if f.type == "multipicklist":
        return {"text": ", ".join(choice_label(f, v, page.lang) for v in value), "href": None}
    if f.type in REFERENCES and f.target:
        text = found.get((f.target, value), f"#{value}")
        return {"text": text, "href": f"/records/{f.target}/{value}"}
    if f.type == "rollup" and (amount := rollup_text(page.snapshot, f, value,
                                                     current_formats())) is not None:
        return {"text": amount, "href": None}  # a sum of amounts reads as an amount
    formatted = field_text(f, value, current_formats())  # numbers, dates, phones
    if formatted is not None:
        return {"text": formatted, "href": None}
    if f.type == "file":  # its name, and on a saved record the download link
        rid = record.get("id")
        text = str(value.get("name") or "") if isinstance(value, Mapping) else ""
        return {"text": text, "href": f"/api/v1/records/{page.obj.name}/{rid}/files/{name}"
                if isinstance(rid, int) and text else None}
    return {"text": str(value), "href": None}
