"""Administering webhooks: register, read, change, remove, read the log, resend.

Only administrators manage webhooks (the web layer answers 403 to anybody else, and the
service checks again). Every change is in the admin audit, without the secret. The
secret is write-only: accepted on create and change, sealed (``sealing.py``), never
answered. A webhook acts for an owner (``"owner"``: a username, by default the
administrator who registers it): its payloads hold what that user may see.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from ...core.errors import BadRequest, Conflict, NotFound, ValidationFailed
from ...core.ids import parse_id
from ...runtime.instance import Tenant
from ...security import audit
from ...security.engine import engine as permission_engine
from ...security.principal import Principal
from ...security.tables import users
from . import consumer, documents, runner, sealing
from .store import (
    PENDING,
    deliveries,
    delivery_doc,
    ensure_tables,
    now,
    webhook_doc,
    webhooks,
)

#: Webhooks one tenant may hold (each event is matched against every one of them).
MAX_WEBHOOKS = 100
MAX_LOG_PAGE = 200


class WebhookService:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        ensure_tables(tenant)

    def _objects(self, conn: sa.Connection) -> list[str]:
        return list(self.tenant.snapshot(conn).objects)

    def _row(self, conn: sa.Connection, name: str, *, lock: bool = False) -> Any:
        q = sa.select(webhooks).where(webhooks.c.name == str(name)[:40])
        row = conn.execute(q.with_for_update() if lock else q).first()
        if row is None:
            raise NotFound(f"no webhook named '{str(name)[:40]}'")
        return row

    def _owner_id(self, conn: sa.Connection, username: str) -> int:
        found = conn.execute(sa.select(users.c.id).where(users.c.username == username,
                                                         users.c.active)).scalar()
        if found is None:
            raise ValidationFailed(f"no active user named '{username[:150]}'",
                                   {"owner": ["no such active user"]})
        return int(found)

    def _doc(self, conn: sa.Connection, row: Any) -> dict[str, Any]:
        owner = conn.execute(sa.select(users.c.username).where(
            users.c.id == row.owner_id)).scalar()
        return webhook_doc(row, owner)

    def _changed(self) -> None:
        self.tenant.after_commit(lambda: consumer.invalidate(self.tenant))

    # -- webhooks ---------------------------------------------------------------------------
    def create(self, principal: Principal, body: Any,
               self_hosts: Iterable[tuple[str, int]] = ()) -> dict[str, Any]:
        permission_engine.check_admin(principal)
        if not isinstance(body, dict):
            raise BadRequest('send {"name", "url", "events", "objects", "secret"}')
        with self.tenant.write() as conn:
            doc = documents.checked(body, objects=self._objects(conn), creating=True,
                                    self_hosts=self_hosts)
            if conn.execute(sa.select(webhooks.c.id).where(
                    webhooks.c.name == doc["name"])).first() is not None:
                raise Conflict(f"a webhook named '{doc['name']}' exists",
                               {"name": ["already used"]})
            count = conn.execute(sa.select(sa.func.count()).select_from(webhooks)).scalar_one()
            if count >= MAX_WEBHOOKS:
                raise ValidationFailed(f"a tenant holds at most {MAX_WEBHOOKS} webhooks",
                                       {"name": ["too many webhooks"]})
            if "owner" in doc:
                owner_id = self._owner_id(conn, doc["owner"])
            elif principal.user_id is not None:
                owner_id = principal.user_id
            else:
                raise ValidationFailed("name the user the webhook acts for",
                                       {"owner": ["required"]})
            at = now()
            wid = int(conn.execute(webhooks.insert().values(
                name=doc["name"], url=doc["url"], events=json.dumps(doc["events"]),
                objects=json.dumps(doc["objects"]), secret="", owner_id=owner_id,
                active=doc.get("active", True), consecutive_failures=0,
                created_by=principal.label[:150], created_at=at, updated_at=at)
                .returning(webhooks.c.id)).scalar_one())
            conn.execute(webhooks.update().where(webhooks.c.id == wid).values(
                secret=sealing.seal(self.tenant, wid, doc["secret"])))
            audit.admin_action(conn, principal, "create webhook", doc["name"],
                               {k: v for k, v in doc.items() if k != "secret"})
            out = self._doc(conn, self._row(conn, doc["name"]))
            self._changed()
        return out

    def list(self, principal: Principal) -> list[dict[str, Any]]:
        permission_engine.check_admin(principal)
        with self.tenant.read() as conn:
            return [self._doc(conn, r) for r in conn.execute(
                sa.select(webhooks).order_by(webhooks.c.name))]

    def get(self, principal: Principal, name: str) -> dict[str, Any]:
        permission_engine.check_admin(principal)
        with self.tenant.read() as conn:
            return self._doc(conn, self._row(conn, name))

    def update(self, principal: Principal, name: str, body: Any,
               self_hosts: Iterable[tuple[str, int]] = ()) -> dict[str, Any]:
        """Change a webhook. ``"active": true`` brings a disabled one back: its failure
        count starts over and the deliveries that waited are sent, in order."""
        permission_engine.check_admin(principal)
        if not isinstance(body, dict) or not body:
            raise BadRequest('send the members to change: {"url", "events", "objects", '
                             '"secret", "owner", "active"}')
        with self.tenant.write() as conn:
            row = self._row(conn, name, lock=True)
            doc = documents.checked(body, objects=self._objects(conn), creating=False,
                                    self_hosts=self_hosts)
            values: dict[str, Any] = {"updated_at": now()}
            if "url" in doc:
                values["url"] = doc["url"]
            for key in ("events", "objects"):
                if key in doc:
                    values[key] = json.dumps(doc[key])
            if "secret" in doc:
                values["secret"] = sealing.seal(self.tenant, int(row.id), doc["secret"])
            if "owner" in doc:
                values["owner_id"] = self._owner_id(conn, doc["owner"])
            if "active" in doc:
                values["active"] = doc["active"]
                if doc["active"] and not row.active:
                    values.update(disabled_reason=None, disabled_at=None,
                                  consecutive_failures=0)
                elif not doc["active"] and row.active:
                    values.update(disabled_reason="disabled by an administrator",
                                  disabled_at=now())
            conn.execute(webhooks.update().where(webhooks.c.id == row.id).values(**values))
            audit.admin_action(conn, principal, "change webhook", row.name,
                               {k: v for k, v in doc.items() if k != "secret"}
                               | ({"secret": "changed"} if "secret" in doc else {}))
            out = self._doc(conn, self._row(conn, name))
            self._changed()
        if doc.get("active"):
            runner.kick(self.tenant)
        return out

    def delete(self, principal: Principal, name: str) -> None:
        """Remove a webhook and its delivery log; nothing more is sent to it."""
        permission_engine.check_admin(principal)
        with self.tenant.write() as conn:
            row = self._row(conn, name, lock=True)
            conn.execute(deliveries.delete().where(deliveries.c.webhook_id == row.id))
            conn.execute(webhooks.delete().where(webhooks.c.id == row.id))
            audit.admin_action(conn, principal, "remove webhook", row.name)
            self._changed()

    # -- the delivery log -------------------------------------------------------------------
    def deliveries(self, principal: Principal, name: str, *, limit: Any = None,
                   before: Any = None, status: Any = None) -> dict[str, Any]:
        """The newest deliveries first, ``limit`` (at most 200) at a time; ``before``: the
        ``next_before`` of the previous page."""
        permission_engine.check_admin(principal)
        size = parse_id(limit) if limit not in (None, "") else 50
        if size is None or not 1 <= size <= MAX_LOG_PAGE:
            raise BadRequest(f"limit is 1-{MAX_LOG_PAGE}", {"limit": ["1-200"]})
        with self.tenant.read() as conn:
            row = self._row(conn, name)
            q = sa.select(deliveries).where(deliveries.c.webhook_id == row.id)
            if before not in (None, ""):
                start = parse_id(before)
                if start is None:
                    raise BadRequest("before is a delivery id", {"before": ["not an id"]})
                q = q.where(deliveries.c.id < start)
            if status not in (None, ""):
                q = q.where(deliveries.c.status == str(status)[:12])
            rows = conn.execute(q.order_by(deliveries.c.id.desc()).limit(size + 1)).all()
        items = [delivery_doc(r) for r in rows[:size]]
        return {"items": items,
                "next_before": items[-1]["id"] if len(rows) > size else None}

    def delivery(self, principal: Principal, name: str, delivery_id: Any) -> dict[str, Any]:
        """One delivery of the log with the body that is sent (without re-signing it)."""
        permission_engine.check_admin(principal)
        with self.tenant.read() as conn:
            found = self._delivery(conn, self._row(conn, name), delivery_id)
        return {**delivery_doc(found),
                "payload": {"id": int(found.id), **json.loads(found.payload)}}

    def _delivery(self, conn: sa.Connection, webhook: Any, delivery_id: Any) -> Any:
        did = parse_id(delivery_id)
        found = None if did is None else conn.execute(sa.select(deliveries).where(
            deliveries.c.id == did, deliveries.c.webhook_id == webhook.id)).first()
        if found is None:
            raise NotFound(f"no delivery {str(delivery_id)[:40]} of webhook '{webhook.name}'")
        return found

    def resend(self, principal: Principal, name: str, delivery_id: Any) -> dict[str, Any]:
        """Send a delivery's payload again as a new delivery (a new id, so a receiver that
        deduplicates on ``X-CRMForge-Delivery`` takes it: the administrator asked for
        it), after the earlier deliveries of the same record, like any other."""
        permission_engine.check_admin(principal)
        with self.tenant.write() as conn:
            hook = self._row(conn, name)
            old = self._delivery(conn, hook, delivery_id)
            at = now()
            new_id = int(conn.execute(deliveries.insert().values(
                webhook_id=hook.id, event_id=old.event_id, event=old.event, object=old.object,
                object_id=old.object_id, record_id=old.record_id, payload=old.payload,
                status=PENDING, attempts=0, next_attempt_at=at, resent_from=old.id,
                created_at=at).returning(deliveries.c.id)).scalar_one())
            audit.admin_action(conn, principal, "resend webhook delivery", hook.name,
                               {"delivery": int(old.id), "new": new_id})
            out = delivery_doc(conn.execute(sa.select(deliveries).where(
                deliveries.c.id == new_id)).one())
            self.tenant.after_commit(lambda: runner.kick(self.tenant))
        return out


__all__ = ["MAX_WEBHOOKS", "WebhookService"]
