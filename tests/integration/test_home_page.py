"""The home page (decision 0037): approval tasks, what needs the user's attention, recently
viewed records and dashboards, each through the permission engine, with empty states in
the page's language and a statement count that does not grow with the data."""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.core import clock
from crmforge.runtime import Instance

from .conftest import browser_session
from .workflow_world import PASSWORD, act, build, new_deal, process, submit

REVIEW = {"name": "review", "label": {"zh": "审核", "en": "Review"}, "mode": "single",
          "approvers": {"users": ["alice"]}}
FOLLOWUP: dict[str, Any] = {
    "name": "followup", "label": {"zh": "跟进", "en": "Follow-up"},
    "fields": [{"name": "subject", "type": "text", "required": True},
               {"name": "due", "type": "date", "deadline": True,
                "label": {"zh": "截止日期", "en": "Due"}},
               # A date that is no deadline: being past it makes nothing late.
               {"name": "met_on", "type": "date", "label": {"zh": "初次见面", "en": "Met on"}},
               {"name": "status", "type": "picklist", "default": "'open'",
                "choices": [{"value": "open"}, {"value": "done"}]}],
    "status_rules": {"field": "status", "states": {"done": {"operations": ["read"]}}},
}


def _day(delta: int) -> str:
    return (clock.now().date() + dt.timedelta(days=delta)).isoformat()


class World:
    def __init__(self, client: FlaskClient, admin: dict[str, str], instance: Instance) -> None:
        self.client, self.admin, self.instance = client, admin, instance
        self.heads = build(client, admin, process(REVIEW))
        assert client.post("/api/v1/meta/objects", json=FOLLOWUP,
                           headers=admin).status_code == 201
        r = client.post("/api/v1/admin/roles", headers=admin, json={
            "name": "planner", "permissions": {"followup": {
                "operations": ["create", "read", "update"], "scope": "own"}}})
        assert r.status_code == 201, r.json
        r = client.patch("/api/v1/admin/users/sam", headers=admin,
                         json={"roles": ["seller", "planner"]})
        assert r.status_code == 200, r.json
        self.sam = browser_session(instance, "sam", PASSWORD)
        self.heads["sam"] = {**self.heads["sam"]}
        # sam's records: late, closed while late, not due yet; the admin's own late one.
        self.late = self.followup("sam", "Call back <b>Li</b>", _day(-3))
        self.followup("sam", "Closed while late", _day(-5), status="done")
        self.followup("sam", "Not due yet", _day(2))
        self.followup("sam", "Met long ago", _day(5), met_on=_day(-30))
        self.admins_late = self.followup("admin", "Admin chore", _day(-1))
        # A deal returned to sam, then one in approval (alice's task).
        returned = new_deal(client, self.heads["sam"], title="Returned deal")
        submit(client, self.heads["sam"], returned["id"])
        act(client, self.heads["alice"], "return")
        self.returned = returned["id"]
        pending = new_deal(client, self.heads["sam"], title="Pending deal")
        submit(client, self.heads["sam"], pending["id"])
        self.pending = pending["id"]

    def followup(self, who: str, subject: str, due: str, status: str = "open",
                 met_on: str | None = None) -> int:
        headers = self.admin if who == "admin" else self.heads[who]
        r = self.client.post("/api/v1/records/followup", headers=headers,
                             json={"subject": subject, "due": due, "met_on": met_on})
        assert r.status_code == 201, r.json
        rid = int(r.json["id"])
        if status != "open":
            r = self.client.patch(f"/api/v1/records/followup/{rid}", headers=headers,
                                  json={"status": status, "version": r.json["version"]})
            assert r.status_code == 200, r.json
        return rid


@pytest.fixture
def world(client: FlaskClient, admin: dict[str, str], instance: Instance) -> World:
    return World(client, admin, instance)


def _section(text: str, name: str) -> str:
    m = re.search(rf'<section class="home-box" id="home-{name}".*?</section>', text, re.S)
    assert m is not None, name
    return m.group(0)


def test_a_scoped_users_home(world: World) -> None:
    assert world.sam.get(f"/records/followup/{world.late}").status_code == 200
    text = world.sam.get("/").text
    attention = _section(text, "attention")
    assert "Call back &lt;b&gt;Li&lt;/b&gt;" in attention and "<b>Li</b>" not in attention
    assert "Due was due on " + _day(-3) + " (3 days ago)" in attention
    assert f'href="/records/followup/{world.late}"' in attention
    for absent in ("Closed while late", "Not due yet", "Met long ago", "Admin chore"):
        assert absent not in text
    assert "Pending deal" in attention and "In approval" in attention
    assert "Returned deal" in attention and "Returned to you" in attention
    recent = _section(text, "recent")
    assert "Call back &lt;b&gt;Li&lt;/b&gt;" in recent and "Follow-up" in recent
    tasks = _section(text, "tasks")
    assert "No approval task waits for you." in tasks and 'href="/inbox"' in tasks
    assert "No dashboard is shared with your roles yet." in _section(text, "dashboards")
    zh = world.sam.get("/?lang=zh").text
    assert "没有等待你处理的审批任务。" in zh and "截止日期 已于" in zh and "跟进" in zh


def test_an_approvers_tasks_and_an_admins_own_attention(world: World,
                                                        instance: Instance) -> None:
    alice = browser_session(instance, "alice", PASSWORD)
    text = alice.get("/").text
    tasks = _section(text, "tasks")
    assert "Pending deal" in tasks and "Step: Review" in tasks  # the step's label
    assert "步骤：审核" in alice.get("/?lang=zh").text
    assert f'href="/records/deal/{world.pending}"' in tasks and 'href="/inbox"' in tasks
    assert "Nothing needs your attention" in _section(text, "attention")
    assert "The records you open will show here." in _section(text, "recent")
    assert "你打开过的记录会显示在这里。" in alice.get("/?lang=zh").text
    admin = browser_session(instance)
    attention = _section(admin.get("/").text, "attention")
    assert "Admin chore" in attention and "Call back" not in attention  # own records only


def test_what_the_submitter_may_no_longer_read_drops_out(world: World) -> None:
    r = world.client.post(f"/api/v1/records/deal/{world.returned}/transfer",
                          headers=world.admin, json={"owner": "admin"})
    assert r.status_code == 200, r.json
    r = world.client.delete(f"/api/v1/records/followup/{world.late}", headers=world.admin)
    assert r.status_code == 204
    text = world.sam.get("/").text
    assert "Returned deal" not in text and "Call back" not in text
    assert "Pending deal" in text


def _count(instance: Instance, c: FlaskClient, url: str) -> int:
    engine = instance.tenant("default").engine
    me = threading.get_ident()
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() == me and not statement.startswith(
                "SELECT set_config('search_path'") and not statement.lstrip().upper() \
                .startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            seen.append(statement)

    assert c.get(url).status_code == 200  # warm the caches
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert c.get(url).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len(seen)


#: The home page's statements on the tenant's database with every section filled: open
#: tasks, their count, the user's approvals, their kept recent records, the overdue
#: records of at most twelve objects (one UNION ALL) and one UNION ALL naming the rest.
HOME_BUDGET = 6


def test_the_home_page_costs_the_same_whatever_the_data(world: World,
                                                        instance: Instance) -> None:
    assert world.sam.get(f"/records/followup/{world.late}").status_code == 200
    before = _count(instance, world.sam, "/")
    assert before == HOME_BUDGET
    # More records of every kind, more objects with deadlines than are looked at, more
    # recent items.
    for i in range(12):
        rid = world.followup("sam", f"Late {i}", _day(-1 - i))
        assert world.sam.get(f"/records/followup/{rid}").status_code == 200
    for i in range(12):
        doc = {"name": f"dated_{i}", "fields": [{"name": "name", "type": "text"},
                                                 {"name": "due_on", "type": "date",
                                                  "deadline": True}]}
        assert world.client.post("/api/v1/meta/objects", json=doc,
                                 headers=world.admin).status_code == 201
        r = world.client.post(f"/api/v1/records/dated_{i}", headers=world.admin,
                              json={"name": f"D{i}", "due_on": _day(-2)})
        assert r.status_code == 201
    for _ in range(3):
        deal = new_deal(world.client, world.heads["sam"], title="Another")
        submit(world.client, world.heads["sam"], deal["id"])
    assert _count(instance, world.sam, "/") == before
    admin = browser_session(instance)
    assert admin.get("/records/dated_0/1").status_code == 200
    assert _count(instance, admin, "/") == before
    assert len(re.findall(r"<li", _section(admin.get("/").text, "attention"))) <= 20


def test_a_resubmitted_record_is_in_approval_once(world: World) -> None:
    submit(world.client, world.heads["sam"], world.returned)
    attention = _section(world.sam.get("/").text, "attention")
    assert attention.count("Returned deal") == 1 and "Returned to you" not in attention
