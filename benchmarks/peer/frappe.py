"""The same workloads against Frappe 15 through its documented REST API.

UNTESTED HERE: Frappe cannot be installed on the machine this was written on, so this
adapter follows Frappe 15's REST API documentation and has never answered a real Frappe
server. It is kept small and literal so that whoever runs it first can check each request
against the documentation and fix what differs. Requests it sends:

- sign-in: ``POST /api/method/login`` ``{"usr", "pwd"}``; the ``sid`` cookie it sets
  authenticates the rest (a session cookie, as a browser or a script with a password
  would use; Frappe also accepts ``Authorization: token key:secret``, not used here).
  Such a session has no CSRF token until a desk page is loaded, so Frappe does not ask
  for ``X-Frappe-CSRF-Token`` on its writes;
- the object: ``POST /api/resource/DocType`` with ``custom: 1``, module ``Custom`` and
  its fields (Data ``title``, Select ``status``, Currency ``amount``), hash names;
- seeding: ``POST /api/method/frappe.client.insert_many`` with ``docs`` (<= 200 a call);
- records: ``POST /api/resource/<DocType>``, ``GET /api/resource/<DocType>/<name>``;
- the list: ``GET /api/resource/<DocType>?filters=[["status","=","open"],["amount",">=",500]]
  &order_by=title asc&limit_page_length=50&fields=["*"]``;
- the schema change: ``POST /api/resource/Custom Field`` ``{"dt", "fieldname", ...}``;
- the scoped user: a Role created here, given to the user by ``PUT /api/resource/User``,
  with an ``if_owner`` read permission on the DocType (Frappe's "only the owner's").
"""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlencode

from .adapters import SEED_BATCH, STATUSES, Adapter, Call
from .client import Client, Target, TargetError, expect


class FrappeAdapter(Adapter):
    """Frappe 15 (``bench start``): session cookie, DocType, Custom Field, ``/api/resource``."""

    name = "frappe"
    created_status = 200  # Frappe answers 200, not 201, to a created document

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.doctype = f"Peer Bench {self.suffix}"
        self.role = f"Peer Bench {self.suffix} Own"
        self.resource = "/api/resource/" + quote(self.doctype)

    def sign_in(self, user: str, password: str) -> dict[str, str]:
        client = Client(self.target)
        try:
            response = client.request("POST", "/api/method/login", {"usr": user, "pwd": password})
        finally:
            client.close()
        expect(response, 200, what=f"sign-in of {user!r}")
        cookie: SimpleCookie = SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie.load(header)
        if "sid" not in cookie:
            raise TargetError(f"sign-in of {user!r}: no sid cookie in the answer")
        return {"Cookie": f"sid={cookie['sid'].value}"}

    def create_object(self, admin: Client) -> None:
        doc = {"doctype": "DocType", "name": self.doctype, "module": "Custom", "custom": 1,
               "autoname": "hash", "naming_rule": "Random",
               "fields": [
                   {"fieldname": "title", "label": "Title", "fieldtype": "Data", "reqd": 1,
                    "search_index": 1, "in_list_view": 1},
                   {"fieldname": "status", "label": "Status", "fieldtype": "Select",
                    "options": "\n".join(STATUSES), "search_index": 1},
                   {"fieldname": "amount", "label": "Amount", "fieldtype": "Currency"}],
               "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1,
                                "delete": 1}]}
        expect(admin.request("POST", "/api/resource/DocType", doc), 200,
               what="creating the DocType")

    def grant_scoped(self, admin: Client, user: str) -> None:
        expect(admin.request("POST", "/api/resource/Role",
                             {"role_name": self.role, "desk_access": 1}), 200,
               what="creating the scoped role")
        doctype = expect(admin.request("GET", f"/api/resource/DocType/{quote(self.doctype)}"), 200,
                         what="reading the DocType")["data"]
        permissions = [*doctype["permissions"],
                       {"role": self.role, "read": 1, "create": 1, "if_owner": 1}]
        expect(admin.request("PUT", f"/api/resource/DocType/{quote(self.doctype)}",
                             {"permissions": permissions}), 200, what="adding the role's permission")
        doc = expect(admin.request("GET", f"/api/resource/User/{quote(user)}"), 200,
                     what=f"reading user {user!r}")["data"]
        roles = [*doc.get("roles", []), {"role": self.role}]
        expect(admin.request("PUT", f"/api/resource/User/{quote(user)}", {"roles": roles}), 200,
               what=f"giving {user!r} the scoped role")

    def seed(self, client: Client, rows: list[dict[str, Any]]) -> list[str]:
        names: list[str] = []
        for start in range(0, len(rows), SEED_BATCH):
            docs = [{"doctype": self.doctype, **row} for row in rows[start:start + SEED_BATCH]]
            body = expect(client.request("POST", "/api/method/frappe.client.insert_many",
                                         {"docs": json.dumps(docs)}), 200, what="seeding records")
            names.extend(str(n) for n in body["message"])
        return names

    def create(self, row: dict[str, Any]) -> Call:
        return Call("POST", self.resource, row)

    def get(self, record_id: str) -> Call:
        return Call("GET", f"{self.resource}/{quote(record_id)}")

    def filtered_list(self) -> Call:
        query = urlencode({"filters": json.dumps([["status", "=", "open"], ["amount", ">=", 500]]),
                           "order_by": "title asc", "limit_page_length": "50",
                           "fields": json.dumps(["*"])})
        return Call("GET", f"{self.resource}?{query}")

    def list_items(self, body: Any) -> int:
        return len(body["data"]) if isinstance(body, dict) else 0

    def add_field(self, admin: Client, number: int) -> Call:
        return Call("POST", "/api/resource/" + quote("Custom Field"),
                    {"dt": self.doctype, "fieldname": f"extra_{number}", "label": f"Extra {number}",
                     "fieldtype": "Data", "insert_after": "amount"})

    def teardown(self, admin: Client, scoped_user: str | None) -> None:
        # Deleting a custom DocType drops its table; its Custom Fields go with it.
        admin.request("DELETE", f"/api/resource/DocType/{quote(self.doctype)}")
        if scoped_user is not None:
            user = admin.request("GET", f"/api/resource/User/{quote(scoped_user)}")
            if user.status == 200:
                roles = [r for r in user.body["data"].get("roles", []) if r.get("role") != self.role]
                admin.request("PUT", f"/api/resource/User/{quote(scoped_user)}", {"roles": roles})
            admin.request("DELETE", f"/api/resource/Role/{quote(self.role)}")


__all__ = ["FrappeAdapter"]
