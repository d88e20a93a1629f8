"""Every chart of every shipped dashboard against figures computed here from the packs'
own files, with all five packs and their sample data in one tenant (SQLite and
PostgreSQL).

For a chart that groups by a stored field and counts, or sums a field the sample data
sets, the expected figures come straight from ``data/*.csv`` (a value left empty takes the
field's literal default), so the chart is checked against the source, not against another
query of CRMForge. A chart over a formula or a roll-up needs its arithmetic done by hand:
each such chart is in ``DERIVED`` with that arithmetic written out over the sample rows,
and a new one fails here until somebody writes it."""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import yaml

from crmforge.core.filters import ListQuery
from crmforge.installer import Installer
from crmforge.runtime import Instance, RecordService
from crmforge.runtime.aggregates import distribution
from crmforge.security.accounts import principal_of

from ..conftest import BACKENDS, fresh_instance
from .conftest import PACKS

ALL = ("core", "pharma", "securities", "exhibitions", "utilities")

D = Decimal


def _money(x: Any) -> Decimal:
    return D(str(x)).quantize(D("0.01"), ROUND_HALF_UP)


def _tenth(x: Any) -> Decimal:
    return D(str(x)).quantize(D("0.1"), ROUND_HALF_UP)


def _num(v: str | None, default: str = "0") -> Decimal:
    return D(v) if v not in (None, "") else D(default)


class _Data:
    """The packs' sample rows, with the joins a hand computation needs."""

    def __init__(self, objects: dict[str, tuple[str, dict[str, Any]]]) -> None:
        self.objects = objects

    def rows(self, obj: str) -> list[dict[str, str]]:
        return _rows(self.objects[obj][0], obj)

    def by_key(self, obj: str) -> dict[str, dict[str, str]]:
        return {r["_key"]: r for r in self.rows(obj)}

    def children(self, obj: str, link: str, key: str) -> list[dict[str, str]]:
        return [r for r in self.rows(obj) if r[link] == key]

    def group(self, obj: str, field: str, value: Any) -> dict[Any, tuple[int, Decimal]]:
        """Rows of ``obj`` grouped by ``field`` (defaults applied), ``value(row)`` summed."""
        f = {x["name"]: x for x in self.objects[obj][1]["fields"]}[field]
        out: dict[Any, list[Any]] = defaultdict(lambda: [0, D(0)])
        for row in self.rows(obj):
            g = out[_key(f, _value(f, row.get(field)))]
            g[0] += 1
            g[1] += value(row)
        return {k: (n, _money(t)) for k, (n, t) in out.items()}


def _trade_amount(r: dict[str, str]) -> Decimal:
    return _money(D(r["quantity"]) * D(r["price"]))


def _claimed(d: _Data, rep: str) -> Decimal:
    return sum((D(c["amount"]) for c in d.children("ph_rep_claim", "rep", rep)
                if c["status"] in ("approved", "paid")), D(0))


def _booth_price(r: dict[str, str]) -> Decimal:
    return _money(D(r["area"]) * D(r["unit_price"]))


def _bill_amount(d: _Data, r: dict[str, str]) -> Decimal:
    price = D(d.by_key("tariff")[r["tariff"]]["price_per_kwh"])
    return _money(D(r["consumption"]) * price)


def _won(d: _Data, o: dict[str, str]) -> Decimal:
    """``sales_order.won_amount``: the discounted total of an approved, shipped or closed
    order."""
    if o["status"] not in ("approved", "shipped", "closed"):
        return D(0)
    subtotal = sum((D(x["quantity"]) * D(x["unit_price"])
                    for x in d.children("order_line", "sales_order", o["_key"])), D(0))
    return _money(subtotal * (100 - _num(o["discount"])) / 100)


def _years_back(years: int) -> dt.date:
    """``add_years(today(), -years)``, today in UTC as the expression language has it."""
    today = dt.datetime.now(dt.UTC).date()
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def _won_in(d: _Data, o: dict[str, str], newest: int) -> Decimal:
    """The won amount when the order date falls in the 12 months ending ``newest`` years
    ago (0: the last 12 months, 1: the 12 before)."""
    day = dt.date.fromisoformat(o["order_date"])
    inside = _years_back(newest + 1) < day <= _years_back(newest)
    return _won(d, o) if inside else D(0)


#: The charts over formulas or roll-ups (and progress charts, which draw each record's
#: value), with their figures computed by hand from the sample rows: the formula's
#: arithmetic written out here, with rounding half up as the expression language does.
DERIVED: dict[tuple[str, str, str, str | None], Callable[[_Data], Any]] = {
    ("orders", "sales_goal", "progress", None): lambda d: sorted(
        _tenth(sum((_won(d, d.by_key("sales_order")[c["sales_order"]])
                    for c in d.children("sales_goal_order", "goal", g["_key"])), D(0))
               * 100 / D(g["target_amount"])) for g in d.rows("sales_goal")),
    ("orders", "sales_order", "price_type", "subtotal"): lambda d: d.group(
        "sales_order", "price_type", lambda o: sum(
            (_money(D(x["quantity"]) * D(x["unit_price"]))
             for x in d.children("order_line", "sales_order", o["_key"])), D(0))),
    ("pharma_channel", "sellout_import", "status", "total_amount"): lambda d: d.group(
        "sellout_import", "status", lambda i: sum(
            (_money(D(x["quantity"]) * _num(x["unit_price"]))
             for x in d.children("sellout_line", "sellout_import", i["_key"])), D(0))),
    ("pharma_channel", "sellout_import", "match_rate", None): lambda d: sorted(
        _tenth(D(sum(1 for x in lines if x["sales_target"])) / len(lines) * 100)
        if lines else D(0)
        for lines in (d.children("sellout_line", "sellout_import", i["_key"])
                      for i in d.rows("sellout_import"))),
    ("pharma_field_force", "call_plan", "completion", None): lambda d: sorted(
        _tenth(D(sum(1 for x in lines if x["done"] == "true")) / len(lines) * 100)
        if lines else D(0)
        for lines in (d.children("call_plan_line", "call_plan", p["_key"])
                      for p in d.rows("call_plan"))),
    ("pharma_field_force", "ph_rep", "name", "claimed"): lambda d: d.group(
        "ph_rep", "name", lambda r: _claimed(d, r["_key"])),
    ("pharma_field_force", "ph_rep", "budget_used", None): lambda d: sorted(
        _tenth(_claimed(d, r["_key"]) / D(r["expense_budget"]) * 100)
        if _num(r["expense_budget"]) > 0 else D(0) for r in d.rows("ph_rep")),
    ("sec_business", "sec_trade", "channel", "commission"): lambda d: d.group(
        "sec_trade", "channel", lambda t: _money(max(
            D(t["quantity"]) * D(t["price"]) * _num(t["commission_rate"], "0.00025"), D(5)))),
    ("sec_business", "sec_trade", "side", "amount"): lambda d: d.group(
        "sec_trade", "side", _trade_amount),
    ("sec_business", "holding", "asset_class", "market_value"): lambda d: d.group(
        "holding", "asset_class", lambda h: _money(D(h["quantity"]) * _num(h["last_price"]))),
    ("sec_business", "holding", "security_name", "market_value"): lambda d: d.group(
        "holding", "security_name",
        lambda h: _money(D(h["quantity"]) * _num(h["last_price"]))),
    ("sec_business", "sec_account", "account_type", "net_inflow"): lambda d: d.group(
        "sec_account", "account_type", lambda a: sum(
            (D(f["amount"]) if f["kind"] in ("deposit", "dividend", "interest")
             else -D(f["amount"])
             for f in d.children("sec_cash_flow", "sec_account", a["_key"])), D(0))),
    ("customer_value", "sales_order", "account", "won_amount"): lambda d: d.group(
        "sales_order", "account", lambda o: _won(d, o)),
    ("customer_value", "sales_order", "account", "won_recent"): lambda d: d.group(
        "sales_order", "account", lambda o: _won_in(d, o, 0)),
    ("customer_value", "sales_order", "account", "won_change"): lambda d: d.group(
        "sales_order", "account", lambda o: _won_in(d, o, 0) - _won_in(d, o, 1)),
    ("customer_value", "contract", "account", "unpaid"): lambda d: d.group(
        "contract", "account", lambda c: max(D(c["amount"]) - sum(
            (D(p["amount"]) for p in d.children("payment", "contract", c["_key"])), D(0)),
            D(0)) if c["status"] == "signed" else D(0)),
    ("customer_value", "service_request", "account", "is_open"): lambda d: d.group(
        "service_request", "account",
        lambda r: D(1) if r["status"] in ("open", "in_progress") else D(0)),
    ("expo_overview", "booth", "booth_type", "price"): lambda d: d.group(
        "booth", "booth_type", _booth_price),
    ("expo_overview", "booth_contract", "status", "amount"): lambda d: d.group(
        "booth_contract", "status", lambda c: _money(
            _booth_price(d.by_key("booth")[c["booth"]]) * (100 - _num(c["discount"])) / 100)),
    ("expo_overview", "expo_service_order", "service_type", "amount"): lambda d: d.group(
        "expo_service_order", "service_type",
        lambda o: _money(_num(o["quantity"], "1") * _num(o["unit_price"]))),
    ("expo_overview", "edition", "name", "exhibitor_count"): lambda d: d.group(
        "edition", "name", lambda e: D(len(d.children("exhibitor", "edition", e["_key"])))),
    ("expo_overview", "edition", "name", "visitor_count"): lambda d: d.group(
        "edition", "name", lambda e: D(len(d.children("visitor", "edition", e["_key"])))),
    ("expo_overview", "edition", "target_progress", None): lambda d: sorted(
        _tenth(D(len(d.children("exhibitor", "edition", e["_key"]))) * 100
               / D(e["exhibitor_target"])) for e in d.rows("edition")),
    ("expo_overview", "expo_campaign", "name", "accepted_count"): lambda d: d.group(
        "expo_campaign", "name", lambda c: D(sum(
            1 for i in d.children("expo_invitee", "campaign", c["_key"])
            if i["status"] in ("accepted", "registered")))),
    ("power_service", "power_bill", "status", "amount"): lambda d: d.group(
        "power_bill", "status", lambda b: _bill_amount(d, b)),
    ("power_service", "power_bill", "status", "balance"): lambda d: d.group(
        "power_bill", "status", lambda b: _bill_amount(d, b) - sum(
            (D(p["amount"]) for p in d.children("power_payment", "power_bill", b["_key"])),
            D(0))),
    ("power_service", "outage", "outage_type", "affected_count"): lambda d: d.group(
        "outage", "outage_type",
        lambda o: D(len(d.children("outage_customer", "outage", o["_key"])))),
}


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Instance]:
    """All five packs with their sample data in one fresh tenant."""
    root = tmp_path_factory.mktemp(f"figures-{request.param}")
    with fresh_instance(root, str(request.param)) as inst:
        tenant = inst.tenant("default")
        with tenant.read() as conn:
            installer = Installer(tenant, principal_of(conn, "admin"))
        for name in ALL:
            installer.install(PACKS / name)
        yield inst


def _objects() -> dict[str, tuple[str, dict[str, Any]]]:
    out = {}
    for pack in ALL:
        for path in (PACKS / pack / "objects").glob("*.yaml"):
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            out[doc["name"]] = (pack, doc)
    return out


def _rows(pack: str, obj: str) -> list[dict[str, str]]:
    path = PACKS / pack / "data" / f"{obj}.csv"
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _charts() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for pack in ALL:
        for path in sorted((PACKS / pack / "dashboards").glob("*.yaml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            found += [(doc["name"], chart) for chart in doc["charts"]]
    return found


def _literal(default: Any) -> Any:
    """A field default that is a literal ('draft', true, 3), else None."""
    if default is None:
        return None
    text = str(default).strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return Decimal(text)
    except ArithmeticError:
        return None


def _value(f: dict[str, Any], raw: str | None) -> Any:
    if raw in (None, ""):
        return _literal(f.get("default"))
    if f["type"] == "boolean":
        return raw.lower() in ("true", "1", "yes")
    if f["type"] in ("integer", "decimal", "currency", "percent"):
        return Decimal(raw)
    return raw


def _key(f: dict[str, Any], value: Any) -> Any:
    """Group values as distribution() returns them, comparable with the CSV's."""
    if value is None:
        return None
    if f["type"] == "boolean":
        return bool(value)
    return str(value)


def _expected(obj: dict[str, Any], rows: list[dict[str, str]], field: str,
              measure: str | None) -> dict[Any, tuple[int, Decimal]]:
    fields = {f["name"]: f for f in obj["fields"]}
    groups: dict[Any, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for row in rows:
        group = _key(fields[field], _value(fields[field], row.get(field)))
        groups[group][0] += 1
        if measure:
            amount = _value(fields[measure], row.get(measure))
            groups[group][1] += amount or Decimal(0)
    return {k: (n, total.quantize(Decimal("0.01"))) for k, (n, total) in groups.items()}


def test_every_chart_has_its_figures_checked(world: Instance) -> None:
    objects = _objects()
    derived_seen = set()
    checked = 0
    for dashboard, chart in _charts():
        obj_name, field, measure = chart["object"], chart["field"], chart.get("measure")
        pack, doc = objects[obj_name]
        fields = {f["name"]: f for f in doc["fields"]}
        computed = {n for n in (field, measure) if n
                    and fields[n]["type"] in ("formula", "rollup")}
        key = (dashboard, obj_name, field, measure)
        progress = chart["type"] == "progress"
        if computed or progress:
            assert key in DERIVED, f"{key}: its figures need a sum done by hand here"
            derived_seen.add(key)
            expected: Any = DERIVED[key](_Data(objects))
        else:
            expected = _expected(doc, _rows(pack, obj_name), field, measure)
        got = _progress_values(world, obj_name, field) if progress else \
            _grouped(world, fields, obj_name, field, measure)
        if fields[field]["type"] in ("lookup", "master_detail"):
            # Grouped by a link: the chart has record ids, the files have row keys; both
            # name the linked record by its title.
            target = fields[field]["target"]
            by_id = _titles_by_id(world, target, objects[target][1])
            by_key = _titles_by_key(objects[target], target)
            got = {by_id.get(k, k): v for k, v in got.items()}
            expected = {by_key.get(k, k): v for k, v in expected.items()}
        assert got == expected, (dashboard, obj_name, field, measure)
        checked += 1
    assert derived_seen == set(DERIVED)  # no stale entry
    assert checked == len(_charts()) >= 50


def _grouped(inst: Instance, fields: dict[str, Any], obj: str, field: str,
             measure: str | None) -> dict[Any, tuple[int, Decimal]]:
    """What the chart shows the administrator: count and total per group."""
    tenant = inst.tenant("default")
    with tenant.read() as conn:
        me = principal_of(conn, "admin")
    return {_key(fields[field], g["value"]):
            (g["count"], _money(g["total"] or 0) if measure else Decimal(0))
            for g in distribution(tenant, me, obj, field, measure)}


def _title_field(doc: dict[str, Any]) -> str:
    return str(doc.get("title_field") or "name")


def _titles_by_key(found: tuple[str, dict[str, Any]], obj: str) -> dict[Any, Any]:
    """Sample row key -> the row's title, for the rows of ``obj``'s file."""
    pack, doc = found
    return {r["_key"]: r[_title_field(doc)] for r in _rows(pack, obj)}


def _titles_by_id(inst: Instance, obj: str, doc: dict[str, Any]) -> dict[Any, Any]:
    """Record id (as a chart groups it) -> the record's title."""
    tenant = inst.tenant("default")
    with tenant.read() as conn:
        me = principal_of(conn, "admin")
    title = _title_field(doc)
    items = RecordService(tenant).list(me, obj, ListQuery(fields=(title,), limit=200))["items"]
    return {str(i["id"]): i[title] for i in items}


def _progress_values(inst: Instance, obj: str, field: str) -> list[Decimal]:
    """A progress chart draws one bar per record: the field's values, sorted."""
    tenant = inst.tenant("default")
    with tenant.read() as conn:
        me = principal_of(conn, "admin")
    items = RecordService(tenant).list(me, obj, ListQuery(fields=(field,), limit=200))["items"]
    return sorted(Decimal(str(i[field])) if i[field] is not None else Decimal(0)
                  for i in items)
