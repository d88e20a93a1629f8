"""Values on pages in the reader's language and the tenant's time zone, raw in the API
(decision 0038): numbers, amounts, percentages, dates and times, phone numbers; invalid
phone numbers refused by the API and the form; an unchanged number stored before numbers
were checked does not block an update."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from crmforge.runtime import Instance

from .conftest import browser_session, csrf_token, error_of

CONTACT: dict[str, Any] = {
    "name": "contact", "label": {"zh": "联系人", "en": "Contact"},
    "fields": [
        {"name": "name", "type": "text", "required": True, "label": {"zh": "姓名", "en": "Name"}},
        {"name": "mobile", "type": "phone", "label": {"zh": "手机", "en": "Mobile"}},
        {"name": "us_phone", "type": "phone", "region": "US",
         "label": {"zh": "美国电话", "en": "US phone"}},
        {"name": "seats", "type": "integer", "label": {"zh": "席位", "en": "Seats"}},
        {"name": "year", "type": "integer", "grouping": False,
         "label": {"zh": "年份", "en": "Year"}},
        {"name": "budget", "type": "currency", "label": {"zh": "预算", "en": "Budget"}},
        {"name": "fee", "type": "currency", "currency": "USD", "label": {"zh": "费用", "en": "Fee"}},
        {"name": "share", "type": "percent", "label": {"zh": "占比", "en": "Share"}},
        {"name": "area", "type": "decimal", "scale": 2, "label": {"zh": "面积", "en": "Area"}},
        {"name": "born", "type": "date", "label": {"zh": "生日", "en": "Born"}},
        {"name": "met_at", "type": "datetime", "label": {"zh": "会面", "en": "Met at"}},
    ],
}
LAYOUT: dict[str, Any] = {"list": {"columns": ["name", "mobile", "us_phone", "seats", "year",
                                               "budget", "fee", "share", "area", "born",
                                               "met_at"]}}
VALUES: dict[str, Any] = {
    "name": "Wang", "mobile": "138 0013 8000", "us_phone": "(650) 253-0000", "seats": 1234567,
    "year": 2026, "budget": "-1234567.5", "fee": "99.5", "share": "12.5", "area": "1234.5",
    "born": "1988-07-21", "met_at": "2026-12-07T18:30:00Z"}
RAW: dict[str, Any] = {
    "mobile": "+8613800138000", "us_phone": "+16502530000", "seats": 1234567, "year": 2026,
    "budget": "-1234567.50", "fee": "99.50", "share": "12.50", "area": "1234.50",
    "born": "1988-07-21", "met_at": "2026-12-07T18:30:00.000Z"}
#: What each page shows (en, zh); met_at is 02:30 on the 8th in Shanghai.
SHOWN: dict[str, tuple[str, str]] = {
    "mobile": ("138 0013 8000", "138 0013 8000"),
    "us_phone": ("(650) 253-0000", "(650) 253-0000"),  # national in the field's region US
    "seats": ("1,234,567", "1,234,567"),
    "year": ("2026", "2026"),
    "budget": ("-CN¥1,234,567.50", "-¥1,234,567.50"),
    "fee": ("$99.50", "US$99.50"),
    "share": ("12.5%", "12.5%"),
    "area": ("1,234.50", "1,234.50"),
    "born": ("Jul 21, 1988", "1988年7月21日"),
    "met_at": ("Dec 8, 2026, 2:30\u202fAM", "2026年12月8日 02:30"),
}


def _setup(client: FlaskClient, admin: dict[str, str]) -> int:
    assert client.post("/api/v1/meta/objects", json=CONTACT, headers=admin).status_code == 201
    r = client.put("/api/v1/meta/objects/contact/layout", json=LAYOUT, headers=admin)
    assert r.status_code == 200, r.json
    made = client.post("/api/v1/records/contact", json=VALUES, headers=admin)
    assert made.status_code == 201, made.json
    return int(made.json["id"])


def _cells(text: str) -> list[str]:
    body = text[text.index("<tbody>"):text.index("</tbody>")]
    # A cell the reader may edit ends with its edit link (✎), which is not the value.
    return [re.sub(r"<[^>]+>", "", c).replace("✎", "").strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]


def test_pages_format_values_and_the_api_keeps_them_raw(client: FlaskClient,
                                                        admin: dict[str, str],
                                                        instance: Instance) -> None:
    rid = _setup(client, admin)
    got = client.get(f"/api/v1/records/contact/{rid}", headers=admin).json
    assert {k: got[k] for k in RAW} == RAW  # DESIGN §9: raw JSON values
    listed = client.get("/api/v1/records/contact", headers={**admin, "Accept-Language": "zh"})
    assert {k: listed.json["items"][0][k] for k in RAW} == RAW  # whatever the language
    c = browser_session(instance)
    for i, lang in enumerate(("en", "zh")):
        listing = c.get(f"/records/contact?lang={lang}")
        assert listing.status_code == 200
        cells = _cells(listing.text)
        assert cells == ["Wang", *(SHOWN[k][i] for k in LAYOUT["list"]["columns"][1:])], cells
        record = c.get(f"/records/contact/{rid}/edit?lang={lang}").text
        # editable fields show ISO inputs: the time in the page's zone, numbers as stored
        assert 'value="2026-12-08T02:30"' in record
        assert 'value="-1234567.50"' in record and 'value="1988-07-21"' in record
        assert 'value="+8613800138000"' in record
    # a reader who may not edit sees the formatted values on the record page
    history = c.get(f"/records/contact/{rid}?lang=zh").text
    assert "¥1,234,567.50" in history  # the history shows values like the page


def test_time_zone_and_currency_are_settings(instance: Instance, client: FlaskClient,
                                             admin: dict[str, str]) -> None:
    from crmforge.web import create_app

    _setup(client, admin)
    app = create_app(instance, {"TESTING": True, "CRMFORGE_TIMEZONE": "America/New_York",
                                "CRMFORGE_CURRENCY": "EUR"})
    c = app.test_client()
    c.post("/login", data={"username": "admin", "password": _password(),
                           "csrf_token": csrf_token(c.get("/login").text)})
    cells = _cells(c.get("/records/contact?lang=en").text)
    assert "Dec 7, 2026, 1:30\u202fPM" in cells and "-€1,234,567.50" in cells


def _password() -> str:
    from ..conftest import ADMIN_PASSWORD

    return ADMIN_PASSWORD


def test_bad_time_zone_or_currency_stops_the_server(instance: Instance) -> None:
    import pytest

    from crmforge.web import create_app
    from crmforge.web.settings import SettingError

    with pytest.raises(SettingError, match="CRMFORGE_TIMEZONE"):
        create_app(instance, {"CRMFORGE_TIMEZONE": "Mars/Olympus"})
    with pytest.raises(SettingError, match="CRMFORGE_CURRENCY"):
        create_app(instance, {"CRMFORGE_CURRENCY": "XYZ"})


def test_field_options_are_checked(client: FlaskClient, admin: dict[str, str]) -> None:
    bad = {"name": "thing", "fields": [
        {"name": "price", "type": "currency", "currency": "XYZ"},
        {"name": "tel", "type": "phone", "region": "QQ"}]}
    r = client.post("/api/v1/meta/objects", json=bad, headers=admin)
    assert r.status_code == 422
    fields = error_of(r)["fields"]
    assert any("currency" in k for k in fields) and any("region" in k for k in fields), fields


def test_an_invalid_phone_is_refused_by_the_api_and_the_form(client: FlaskClient,
                                                             admin: dict[str, str],
                                                             instance: Instance) -> None:
    rid = _setup(client, admin)
    r = client.post("/api/v1/records/contact", json={"name": "Li", "mobile": "12345"},
                    headers=admin)
    assert r.status_code == 422
    assert error_of(r)["fields"] == {"mobile": [
        "is not a valid phone number: write a number of region CN, or start with + and the "
        "country code"]}
    r = client.patch(f"/api/v1/records/contact/{rid}", headers=admin,
                     json={"us_phone": "138 0013 8000", "version": 1})
    assert r.status_code == 422 and "region US" in error_of(r)["fields"]["us_phone"][0]
    c = browser_session(instance)
    for lang, message in (("en", "is not a valid phone number: write a number of region CN, "
                                 "or start with + and the country code"),
                          ("zh", "不是有效的电话号码：请填写 CN 地区的号码，或以 + 加国家/地区代码开头")):
        page = c.get(f"/records/contact/new?lang={lang}")
        r = c.post("/records/contact/new", data={"csrf_token": csrf_token(page.text),
                                                 "name": "Li", "mobile": "12345"})
        assert r.status_code == 422
        error = re.search(r'<p class="field-error" id="err-mobile">(.*?)</p>', r.text, re.S)
        assert error is not None and error.group(1) == message
    listed = client.get("/api/v1/records/contact?name=Li", headers=admin).json
    assert listed["items"] == []  # nothing written


def test_an_unchanged_legacy_phone_does_not_block_an_update(client: FlaskClient,
                                                            admin: dict[str, str],
                                                            instance: Instance) -> None:
    rid = _setup(client, admin)
    tenant = instance.tenant("default")
    with tenant.write() as conn:  # a number stored before numbers were checked
        t = tenant.schema(tenant.snapshot(conn)).table("contact")
        conn.execute(sa.update(t).where(t.c.id == rid).values(mobile="852-21100022 ext 3"))
    c = browser_session(instance)
    page = c.get(f"/records/contact/{rid}/edit")
    assert "852-21100022 ext 3" in _cells(c.get("/records/contact").text)  # shown as stored
    form = {"csrf_token": csrf_token(page.text), "version": "1", "name": "Wang Wei",
            "mobile": "852-21100022 ext 3", "us_phone": "+16502530000", "seats": "7",
            "year": "2026", "budget": "1", "fee": "1", "share": "1", "area": "1",
            "born": "1988-07-21", "met_at": "2026-12-08T02:30"}
    r = c.post(f"/records/contact/{rid}", data=form)
    assert r.status_code == 303, r.text
    got = client.get(f"/api/v1/records/contact/{rid}", headers=admin).json
    assert got["name"] == "Wang Wei" and got["mobile"] == "852-21100022 ext 3"
    assert got["met_at"] == "2026-12-07T18:30:00.000Z"  # the form's time, read in the zone
    # through the API too; but a changed value is checked
    r = client.patch(f"/api/v1/records/contact/{rid}", headers=admin,
                     json={"name": "Wang", "mobile": "852-21100022 ext 3", "version": 2})
    assert r.status_code == 200, r.json
    r = client.patch(f"/api/v1/records/contact/{rid}", headers=admin,
                     json={"mobile": "852-21100022 ext 4", "version": 3})
    assert r.status_code == 422 and "mobile" in error_of(r)["fields"]
    r = client.patch(f"/api/v1/records/contact/{rid}", headers=admin,
                     json={"mobile": "+852 2110 0022", "version": 3})
    assert r.status_code == 200 and r.json["mobile"] == "+85221100022"


def test_the_designer_sets_a_currency_and_a_phone_region(client: FlaskClient,
                                                         admin: dict[str, str],
                                                         instance: Instance) -> None:
    c = browser_session(instance)

    def post(path: str, data: dict[str, str]) -> Any:
        return c.post(path, data={"csrf_token": csrf_token(c.get("/admin/").text), **data})

    assert post("/admin/objects", {"name": "deal", "label_en": "Deal",
                                   "first_field": "title"}).status_code == 303
    new = "/admin/objects/deal/fields/new"
    assert 'name="currency"' in c.get(new + "?type=currency").text
    assert 'name="region"' in c.get(new + "?type=phone").text
    assert post(new, {"name": "fee", "type": "currency", "currency": "usd"}).status_code == 303
    assert post(new, {"name": "tel", "type": "phone", "region": "us"}).status_code == 303
    bad = post(new, {"name": "cost", "type": "currency", "currency": "XYZ"})
    assert bad.status_code == 422 and "ISO 4217" in bad.text
    doc = client.get("/api/v1/meta/objects/deal", headers=admin).json
    fields = {f["name"]: f for f in doc["fields"]}
    assert fields["fee"]["currency"] == "USD" and fields["tel"]["region"] == "US"
    # blank again: the option is removed (the tenant's default currency)
    form = {"name": "fee", "type": "currency", "currency": ""}
    assert post("/admin/objects/deal/fields/fee", form).status_code == 303
    doc = client.get("/api/v1/meta/objects/deal", headers=admin).json
    assert "currency" not in {f["name"]: f for f in doc["fields"]}["fee"]
    # an integer shown without thousands separators (a year), and back
    assert 'name="no_grouping"' in c.get(new + "?type=integer").text
    assert post(new, {"name": "year", "type": "integer", "no_grouping": "1"}).status_code == 303
    page = c.get("/admin/objects/deal/fields/year").text
    assert re.search(r'name="no_grouping" type="checkbox" value="1" checked', page)
    doc = client.get("/api/v1/meta/objects/deal", headers=admin).json
    assert {f["name"]: f for f in doc["fields"]}["year"]["grouping"] is False
    assert post("/admin/objects/deal/fields/year", {"name": "year", "type": "integer"}
                ).status_code == 303
    doc = client.get("/api/v1/meta/objects/deal", headers=admin).json
    assert "grouping" not in {f["name"]: f for f in doc["fields"]}["year"]
    # a date marked as a deadline (overdue on the owner's home page), and unmarked again
    assert 'name="deadline"' in c.get(new + "?type=date").text
    assert post(new, {"name": "close", "type": "date", "deadline": "1"}).status_code == 303
    assert re.search(r'name="deadline" type="checkbox" value="1" checked',
                     c.get("/admin/objects/deal/fields/close").text)
    doc = client.get("/api/v1/meta/objects/deal", headers=admin).json
    assert {f["name"]: f for f in doc["fields"]}["close"]["deadline"] is True
    assert post("/admin/objects/deal/fields/close", {"name": "close", "type": "date"}
                ).status_code == 303
    doc = client.get("/api/v1/meta/objects/deal", headers=admin).json
    assert "deadline" not in {f["name"]: f for f in doc["fields"]}["close"]


def test_the_openapi_document_says_how_phones_read(client: FlaskClient,
                                                   admin: dict[str, str]) -> None:
    _setup(client, admin)
    text = client.get("/api/v1/openapi.json", headers=admin).text
    assert ("Mobile. A phone number in E.164 (+8613800138000); a write may send a national "
            "number of region CN or an international one") in text
    assert "US phone. A phone number in E.164" in text and "number of region US" in text


def test_a_roll_up_of_amounts_reads_as_an_amount(client: FlaskClient, admin: dict[str, str],
                                                 instance: Instance) -> None:
    """A sum of a currency field, and a sum of that sum one level up, show the currency of
    the summed field; a count stays a number."""
    docs: list[dict[str, Any]] = [
        {"name": "region", "label": {"zh": "大区", "en": "Region"},
         "fields": [{"name": "title", "type": "text", "required": True}]},
        {"name": "deal", "label": {"zh": "项目", "en": "Deal"},
         "fields": [{"name": "title", "type": "text", "required": True},
                    {"name": "region", "type": "master_detail", "target": "region"}]},
        {"name": "line", "label": {"zh": "明细", "en": "Line"},
         "fields": [{"name": "title", "type": "text", "required": True},
                    {"name": "deal", "type": "master_detail", "target": "deal"},
                    {"name": "price", "type": "currency", "currency": "USD"}]},
    ]
    for doc in docs:
        assert client.post("/api/v1/meta/objects", json=doc, headers=admin).status_code == 201
    for obj, field in (
            ("deal", {"name": "total", "type": "rollup", "function": "sum", "child": "line",
                      "field": "price", "label": {"zh": "合计", "en": "Total"}}),
            ("deal", {"name": "lines", "type": "rollup", "function": "count", "child": "line",
                      "label": {"zh": "行数", "en": "Lines"}}),
            ("region", {"name": "total", "type": "rollup", "function": "sum", "child": "deal",
                        "field": "total", "label": {"zh": "合计", "en": "Total"}})):
        r = client.post(f"/api/v1/meta/objects/{obj}/fields", json=field, headers=admin)
        assert r.status_code == 201, r.json
    region = client.post("/api/v1/records/region", json={"title": "East"}, headers=admin).json
    deal = client.post("/api/v1/records/deal", json={"title": "Big", "region": region["id"]},
                       headers=admin).json
    for price in ("1200.5", "800"):
        assert client.post("/api/v1/records/line", json={
            "title": "x", "deal": deal["id"], "price": price}, headers=admin).status_code == 201
    c = browser_session(instance)
    shown = c.get(f"/records/deal/{deal['id']}?lang=en").text
    assert "$2,000.50" in shown
    assert re.search(r">\s*2\s*<", shown)  # the count, without a currency
    assert "$2,000.50" in c.get(f"/records/region/{region['id']}?lang=en").text
    assert "US$2,000.50" in c.get(f"/records/deal/{deal['id']}?lang=zh").text


def test_a_reader_chooses_their_own_time_zone(client: FlaskClient, admin: dict[str, str],
                                              instance: Instance) -> None:
    """Times on the pages follow the reader's chosen zone (a cookie set on
    /settings/display), else the organisation's; the API stays in UTC; a zone the server
    does not know is refused in the page's language and changes nothing."""
    rid = _setup(client, admin)
    c = browser_session(instance)
    page = c.get("/settings/display?lang=en")
    assert page.status_code == 200 and "The organisation’s (Asia/Shanghai)" in page.text
    assert 'value="America/New_York"' in page.text
    token = csrf_token(page.text)
    # 18:30 UTC is 02:30 on the 8th in Shanghai, 13:30 on the 7th in New York.
    assert "Dec 8, 2026, 2:30" in c.get(f"/records/contact/{rid}?lang=en").text
    r = c.post("/settings/display", data={"csrf_token": token, "time_zone": "America/New_York"})
    assert r.status_code == 303
    shown = c.get(f"/records/contact/{rid}?lang=en").text
    assert "Dec 7, 2026, 1:30" in shown and "Dec 8, 2026, 2:30" not in shown
    assert 'value="2026-12-07T13:30"' in c.get(f"/records/contact/{rid}/edit").text
    api = client.get(f"/api/v1/records/contact/{rid}", headers=admin).json
    assert api["met_at"] == "2026-12-07T18:30:00.000Z"
    # Refused: an unknown zone, in the page's language; the choice stays New York.
    bad = c.post("/settings/display?lang=zh", data={"csrf_token": token, "time_zone": "Mars/Base"})
    assert bad.status_code == 422 and "Mars/Base 不是本服务器可识别的时区" in bad.text
    assert "Dec 7, 2026, 1:30" in c.get(f"/records/contact/{rid}?lang=en").text
    # A forged cookie naming no zone is ignored (the organisation's zone is used).
    c.set_cookie("crmforge_tz", "../../etc/passwd")
    assert "Dec 8, 2026, 2:30" in c.get(f"/records/contact/{rid}?lang=en").text
    # Back to the organisation's zone.
    c.set_cookie("crmforge_tz", "America/New_York")
    r = c.post("/settings/display", data={"csrf_token": token, "time_zone": ""})
    assert r.status_code == 303
    assert "Dec 8, 2026, 2:30" in c.get(f"/records/contact/{rid}?lang=en").text
