"""Securities 1.2 with its sample organisation: trades with their commission and stamp
duty, cash movements, what they add up to on each account, and the business, funds and
positions dashboard, on SQLite and PostgreSQL.

Every figure is computed by hand from ``packs/securities/data/``: commission is 0.025% of
the amount and at least 5; a sell pays 0.05% stamp duty; a buy's cash effect is minus the
amount and commission, a sell's the amount less both."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmforge.runtime import Instance
from crmforge.runtime.aggregates import distribution
from crmforge.security.accounts import principal_of

from .conftest import error_of, records, with_sample_org

#: trade key: (amount, commission, stamp duty, cash effect)
TRADES = {
    ("600519", "buy", "100.00"): ("165000.00", "41.25", "0.00", "-165041.25"),
    ("600519", "sell", "50.00"): ("85125.00", "21.28", "42.56", "85061.16"),
    ("000001", "buy", "1000.00"): ("11200.00", "5.00", "0.00", "-11205.00"),  # the minimum
    ("300750", "buy", "500.00"): ("115000.00", "28.75", "0.00", "-115028.75"),
    ("300750", "sell", "300.00"): ("73560.00", "18.39", "36.78", "73504.83"),
    ("601318", "sell", "1000.00"): ("49160.00", "12.29", "24.58", "49123.13"),
    ("601398", "buy", "200000.00"): ("1370000.00", "342.50", "0.00", "-1370342.50"),
}
#: account number: (turnover, commission, trades, net inflow)
ACCOUNTS = {
    "31880001001": ("250125.00", "62.53", "2", "150000.00"),    # 200,000 in, 50,000 out
    "31880001009": ("0.00", "0.00", "0", "0.00"),
    "31880002001": ("11200.00", "5.00", "1", "100000.00"),
    "31880003001": ("188560.00", "47.14", "2", "-288000.00"),   # 12,000 dividend, 300,000 out
    "31880004001": ("1370000.00", "342.50", "1", "0.00"),
    "31880005001": ("0.00", "0.00", "0", "-120.00"),            # a fee on the frozen account
    "31880006001": ("49160.00", "12.29", "1", "1050.32"),
}


@pytest.fixture
def org(instance: Instance, client: FlaskClient) -> Any:
    """Core, then securities with its sample organisation; a sign-in for its users."""
    return with_sample_org(instance, client, "securities")



def _sums(instance: Instance, obj: str, field: str, measure: str
          ) -> dict[str, tuple[int, Decimal]]:
    tenant = instance.tenant("default")
    with tenant.read() as conn:
        me = principal_of(conn, "admin")
    return {g["value"]: (g["count"], Decimal(str(g["total"])).quantize(Decimal("0.01")))
            for g in distribution(tenant, me, obj, field, measure)}


def test_trades_accounts_and_the_dashboard_figures(instance: Instance, client: FlaskClient,
                                                   admin: dict[str, str], org: Any) -> None:
    trades = {(t["security_code"], t["side"], t["quantity"]):
              (t["amount"], t["commission"], t["stamp_duty"], t["net_amount"])
              for t in records(client, admin, "sec_trade")}
    assert trades == TRADES
    accounts = {a["account_no"]: (a["turnover"], a["commission_total"], a["trade_count"],
                                  a["net_inflow"])
                for a in records(client, admin, "sec_account")}
    assert accounts == ACCOUNTS
    D = Decimal
    assert _sums(instance, "sec_trade", "channel", "commission") == {
        "mobile": (3, D("41.25") + D("5.00") + D("12.29")),
        "online": (3, D("21.28") + D("28.75") + D("18.39")),
        "counter": (1, D("342.50"))}
    assert _sums(instance, "sec_trade", "side", "amount") == {
        "buy": (4, D("1661200.00")), "sell": (3, D("207845.00"))}
    assert _sums(instance, "sec_cash_flow", "kind", "amount") == {
        "deposit": (2, D("300000.00")), "withdrawal": (2, D("350000.00")),
        "dividend": (1, D("12000.00")), "interest": (1, D("1050.32")), "fee": (1, D("120.00"))}
    # Positions: quantity x last price, by asset class.
    assert _sums(instance, "holding", "asset_class", "market_value") == {
        "stock": (4, D("170250.00") + D("490600.00") + D("243800.00") + D("33600.00")),
        "bond_fund": (1, D("50537.00")), "money_fund": (1, D("10000.00")),
        "private_fund": (1, D("2079400.00")), "asset_mgmt": (1, D("5078850.00"))}
    page = client.get("/dashboards/sec_business",
                      headers={**org("mgr_ljz"), "Accept-Language": "zh"})
    assert page.status_code == 200
    assert "持仓市值（按资产类别）" in page.get_data(as_text=True)


def test_brokers_see_their_clients_trades_without_the_money(client: FlaskClient,
                                                           org: Any) -> None:
    wang, li = org("broker_wang"), org("broker_li")
    mine = records(client, wang, "sec_trade")
    assert {t["security_code"] for t in mine} == {"600519", "000001"}
    for t in mine:
        assert not {"amount", "commission", "net_amount"} & set(t), t
    assert {t["security_code"] for t in records(client, li, "sec_trade")} == \
        {"300750", "601398"}
    flows = records(client, wang, "sec_cash_flow")
    assert {f["kind"] for f in flows} == {"deposit", "withdrawal"}
    assert all("amount" not in f and "signed_amount" not in f for f in flows)
    account = next(a for a in records(client, wang, "sec_account")
                   if a["account_no"] == "31880001001")
    assert not {"turnover", "commission_total", "net_inflow"} & set(account)
    # The branch manager sees the branch's accounts with their money.
    mgr = {a["account_no"]: a for a in records(client, org("mgr_ljz"), "sec_account")}
    assert mgr["31880001001"]["commission_total"] == "62.53"


def test_operations_record_trades_and_refuse_impossible_ones(client: FlaskClient,
                                                             admin: dict[str, str],
                                                             org: Any) -> None:
    ops = org("ops")
    accounts = {a["account_no"]: a for a in records(client, ops, "sec_account")}
    zhang, wu = accounts["31880001001"], accounts["31880005001"]
    r = client.post("/api/v1/records/sec_trade", headers=ops, json={
        "sec_account": zhang["id"], "trade_date": "2026-12-01", "security_code": "600036",
        "security_name": "招商银行", "side": "sell", "quantity": "2000", "price": "43.22"})
    assert r.status_code == 201, r.json
    assert (r.json["amount"], r.json["commission"], r.json["stamp_duty"],
            r.json["net_amount"]) == ("86440.00", "21.61", "43.22", "86375.17")
    after = next(a for a in records(client, ops, "sec_account") if a["id"] == zhang["id"])
    assert (after["turnover"], after["commission_total"], after["trade_count"]) == \
        ("336565.00", "84.14", "3")
    # Trades are never edited: operations may not change one.
    r2 = client.patch(f"/api/v1/records/sec_trade/{r.json['id']}", headers=ops,
                      json={"price": "1", "version": r.json["version"]})
    assert r2.status_code == 403, r2.json
    # A frozen account takes no trade; a withdrawal above the cash balance is refused.
    r = client.post("/api/v1/records/sec_trade", headers={**ops, "Accept-Language": "zh"},
                    json={"sec_account": wu["id"], "trade_date": "2026-12-01",
                          "security_code": "000001", "side": "buy", "quantity": "100",
                          "price": "11"})
    assert r.status_code == 422 and "只有正常状态的账户才能记录成交" in str(error_of(r))
    r = client.post("/api/v1/records/sec_cash_flow", headers=ops, json={
        "sec_account": zhang["id"], "flow_date": "2026-12-01", "kind": "withdrawal",
        "amount": "126500.36"})
    assert r.status_code == 422, r.json
    assert "more than the account's cash balance" in str(error_of(r))
    r = client.post("/api/v1/records/sec_cash_flow", headers=ops, json={
        "sec_account": zhang["id"], "flow_date": "2026-12-01", "kind": "withdrawal",
        "amount": "126500.35"})
    assert r.status_code == 201, r.json
