"""The whole story in one real browser, as the acceptance criteria tell it.

An administrator builds a "Deal" object in the designer by clicking and typing only: the
fields (text, decimals, a stored formula, a picklist with a default), the layout (a second
section the money fields are moved into), a validation rule, three roles with operations,
scopes and field rules, and an approval process (one step for a role, a field update when
approved). There is no user-management page in the designer, so the three users are
created through the admin API (``Server.api``); the roles they hold are the ones created
in the browser.

Then a seller fills the generated form (the formula updates live, a validation error
appears beside its field), saves and submits the record for approval; an approver approves
it from the inbox and the record shows the status the process set; a junior whose role
reaches only their own records and hides the discount sees neither the seller's deal nor
the discount, in the pages and through the API with their own token. The key pages are
also rendered in Chinese; a label and a value holding ``<script>`` stay text throughout.
Screenshots go to build/screenshots/e2e-*.png (not committed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

DEAL_EN = "Deal <script>window.__pwned=1</script>"
TITLE = "Big <script>window.__pwned=2</script> deal"
USERS = {"sam": "seller", "ann": "approver", "jo": "junior"}


def _password(user: str) -> str:
    return ADMIN_PASSWORD if user == "admin" else f"{user.title()}-pass-1234"


class Session:
    """One signed-in browser context; records script dialogs and page errors, which a
    ``<script>`` label or value shown as markup would produce."""

    def __init__(self, browser: Any, server: Server, user: str, start: str) -> None:
        self.server = server
        self.context = browser.new_context(locale="en-US",
                                           viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(server.url + start)
        expect(self.page).to_have_url(re.compile(r"/login\?next="))
        self.page.get_by_label("Username").fill(user)
        self.page.get_by_label("Password").fill(_password(user))
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page).to_have_url(server.url + start)

    def close(self) -> None:
        """Nothing injected ran in this context."""
        assert self.page.evaluate("window.__pwned") is None
        assert self.dialogs == [] and self.errors == []
        self.context.close()


@pytest.fixture(scope="module")
def admin_page(server: Server, browser: Any) -> Iterator[Session]:
    session = Session(browser, server, "admin", "/admin/")
    yield session
    session.close()


def _flash(page: Any, text: str) -> None:
    expect(page.locator(".flash")).to_have_text(text)


def _add_field(page: Any, type_label: str, name: str, label_zh: str, label_en: str) -> None:
    page.get_by_label("Type of the new field").select_option(label=type_label)
    page.get_by_role("button", name="Add a field").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New field")
    page.get_by_label("API name").fill(name)
    page.get_by_label("Chinese label").fill(label_zh)
    page.get_by_label("English label").fill(label_en)


def _save_field(page: Any) -> None:
    page.get_by_role("button", name="Add field").click()
    _flash(page, "Field added.")
    page.locator(".crumbs").get_by_role("link", name=DEAL_EN).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(DEAL_EN)


def _zh(page: Any, url: str, text: str) -> None:
    """The page in Chinese: the document's language and one translated string."""
    page.goto(url + ("&" if "?" in url else "?") + "lang=zh")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_text(text, exact=True).first).to_be_visible()


def test_admin_builds_a_deal_users_work_with_it(server: Server, browser: Any,
                                                admin_page: Session) -> None:
    page = admin_page.page

    # 1. The object, from the designer's start page.
    expect(page.get_by_role("heading", level=1)).to_have_text("Designer")
    page.get_by_label("API name").fill("deal")
    page.get_by_label("Chinese label", exact=True).fill("商机")
    page.get_by_label("English label", exact=True).fill(DEAL_EN)
    page.get_by_label("First field (text)").fill("title")
    page.get_by_label("First field: Chinese label").fill("标题")
    page.get_by_label("First field: English label").fill("Title")
    page.get_by_role("button", name="Create object").click()
    _flash(page, "Object created.")
    expect(page.get_by_role("heading", level=1)).to_have_text(DEAL_EN)  # text, not markup

    # 2. Its fields.
    _add_field(page, "Decimal number", "amount", "金额", "Amount")
    page.get_by_label("Decimal places").fill("2")
    _save_field(page)
    _add_field(page, "Decimal number", "discount_rate", "折扣率", "Discount rate")
    page.get_by_label("Decimal places").fill("2")
    _save_field(page)
    _add_field(page, "Formula", "net", "净额", "Net")
    page.get_by_label("Result type").select_option("decimal")
    page.get_by_label("Formula expression").fill("amount * (1 - discount_rate)")
    expect(page.locator("#check-expression")).to_contain_text("The expression is valid")
    page.get_by_label("Stored (computed on save; can be sorted and filtered)").check()
    _save_field(page)
    _add_field(page, "Picklist", "status", "状态", "Status")
    page.get_by_label("Choices").fill(
        "open|进行中|Open\napproved|已批准|Approved\nrejected|已拒绝|Rejected")
    page.get_by_label("Default value (an expression; quote text)").fill("'open'")
    _save_field(page)
    expect(page.get_by_role("cell", name="= amount * (1 - discount_rate)")).to_be_visible()
    expect(page.get_by_role("cell", name="open, approved, rejected")).to_be_visible()

    # 3. A validation rule.
    page.get_by_label("Rule name").fill("positive")
    page.get_by_label("Show the message at field").select_option("amount")
    page.get_by_label("Condition (must be true)").fill("amount > 0")
    expect(page.locator("#check-condition")).to_contain_text("The expression is valid")
    page.get_by_label("Message (Chinese)").fill("金额必须大于零")
    page.get_by_label("Message (English)").fill("Amount must be above zero")
    page.get_by_role("button", name="Add rule").click()
    _flash(page, "Validation rule saved.")
    expect(page.get_by_role("cell", name="Amount must be above zero")).to_be_visible()
    shot(page, "e2e-01-object")

    # 4. The layout: a second section holding the money fields, moved by the keyboard.
    page.get_by_role("link", name="Arrange the form and list (layout)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Layout of {DEAL_EN}")
    page.get_by_role("button", name="Add a section").click()
    second = page.locator(".ld-section").nth(1)
    second.get_by_label("Chinese label").fill("金额信息")
    second.get_by_label("English label").fill("Money")
    for label in ("Net", "Discount rate", "Amount"):  # a moved field goes to the top
        page.get_by_role("button", name=f"Move {label} to the next section").press("Enter")
        expect(second.locator(".ld-field").first).to_contain_text(label)
    expect(second.locator(".ld-field")).to_have_count(3)
    shot(page, "e2e-02-layout")
    page.get_by_role("button", name="Save layout").click()
    _flash(page, "Layout saved.")
    server.sign_in_api()
    status, layout = server.api("GET", "/api/v1/meta/objects/deal/layout")
    assert status == 200, layout
    assert [s["fields"] for s in layout["form"]["sections"]] == [
        ["title", "status"], ["amount", "discount_rate", "net"]]

    # 5. Roles: a seller (all deals, status read only), an approver (reads all deals) and
    # a junior (own deals only, the discount hidden).
    page.get_by_role("navigation", name="Designer").get_by_role(
        "link", name="Roles and permissions").click()
    grants: dict[str, tuple[list[str], str, dict[str, str]]] = {
        "seller": (["create", "read", "update", "submit"], "all", {"Status": "read"}),
        "approver": (["read"], "all", {}),
        "junior": (["create", "read", "update"], "own", {"Discount rate": "hidden"}),
    }
    for role, (operations, scope, rules) in grants.items():
        page.get_by_label("API name").fill(role)
        page.get_by_label("Chinese label", exact=True).fill(role + " 角色")
        page.get_by_label("English label", exact=True).fill(role.title())
        page.get_by_role("button", name="Create role").click()
        _flash(page, "Role created.")
        for op in operations:
            page.locator(f"#op-deal-{op}").check()
        page.get_by_label(f"Data scope of {DEAL_EN}").select_option(scope)
        if rules:
            page.locator("#grant-deal summary").click()
        for field, access in rules.items():
            page.get_by_label(f"{field} ({DEAL_EN})").select_option(access)
        page.get_by_role("button", name="Save role").click()
        _flash(page, "Role saved.")
        shot(page, f"e2e-03-role-{role}")
        page.locator(".crumbs a").first.click()
    status, body = server.api("GET", "/api/v1/admin/roles")
    assert status == 200, body
    stored = {r["name"]: r["permissions"].get("deal") for r in body["items"]}
    assert stored["junior"] == {"operations": ["create", "read", "update"], "scope": "own",
                                "fields": {"discount_rate": "hidden"}}
    assert stored["seller"]["fields"] == {"status": "read"}
    shot(page, "e2e-04-roles")

    # 6. The approval process, in the form editor.
    page.get_by_role("navigation", name="Designer").get_by_role(
        "link", name="Approval processes").click()
    page.locator("#new-name").fill("deal_approval")
    page.locator("#new-object").select_option("deal")
    page.get_by_role("button", name="Fill in a form").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New process")
    page.locator("#in-label_en").fill("Deal approval")
    step = page.get_by_role("group", name="Step 1")
    step.get_by_label("Step API name").fill("review")
    step.get_by_label("English label").fill("Review")
    step.get_by_label("Manager of the record owner").uncheck()
    step.get_by_label("Everyone with the role").select_option("approver")
    approved = page.get_by_role("group", name="When approved, set")
    approved.get_by_label("Field").first.select_option("status")
    approved.get_by_label("Value (an expression; quote text)").first.fill("'approved'")
    rejected = page.get_by_role("group", name="When rejected, set")
    rejected.get_by_label("Field").first.select_option("status")
    rejected.get_by_label("Value (an expression; quote text)").first.fill("'rejected'")
    shot(page, "e2e-05-process")
    page.get_by_role("button", name="Create process").click()
    _flash(page, "Process created.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Deal approval")
    status, proc = server.api("GET", "/api/v1/meta/processes/deal_approval")
    assert status == 200, proc
    assert proc["steps"] == [{"name": "review", "label": {"en": "Review"}, "mode": "single",
                              "approvers": {"role": "approver"}}]
    assert proc["on_approve"] == {"status": "'approved'"}

    # The users; their roles are the ones made above.
    for user, role in USERS.items():
        status, body = server.api("POST", "/api/v1/admin/users", {
            "username": user, "password": _password(user), "roles": [role]})
        assert status == 201, body

    # 7. The seller fills the generated form.
    seller = Session(browser, server, "sam", "/records/deal/new")
    page = seller.page
    expect(page.get_by_role("heading", level=1)).to_have_text(f"New {DEAL_EN}")
    expect(page.get_by_role("group", name="Money").get_by_label("Amount")).to_be_visible()
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Amount").fill("1000")
    page.get_by_label("Discount rate").fill("0.15")
    expect(page.locator("#value-net")).to_have_text(re.compile(r"^850\.0+$"))  # live
    page.get_by_label("Discount rate").fill("0.2")
    expect(page.locator("#value-net")).to_have_text(re.compile(r"^800\.0+$"))
    page.get_by_label("Amount").fill("-5")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#fld-amount #err-amount")).to_have_text("Amount must be above zero")
    expect(page.get_by_label("Amount")).to_have_attribute("aria-invalid", "true")
    shot(page, "e2e-06-form-error")
    page.get_by_label("Amount").fill("2000")
    page.get_by_role("button", name="Save").click()
    _flash(page, "Saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)  # text, not markup
    expect(page.locator("#value-net")).to_have_text("1,600.00")  # formatted (decision 0038)
    expect(page.locator("#fld-status .value")).to_have_text("Open")  # read only for sellers
    deal_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    page.get_by_role("button", name="Submit for approval").click()
    _flash(page, "Submitted for approval.")
    expect(page.locator("#approval-state")).to_have_text("in approval")
    shot(page, "e2e-07-record-submitted")
    seller_url = page.url

    # 8. The approver approves from the inbox.
    approver = Session(browser, server, "ann", "/inbox")
    page = approver.page
    row = page.locator("tr", has=page.get_by_role("link", name=TITLE))
    expect(row).to_contain_text("sam")
    expect(row).to_contain_text("review")
    shot(page, "e2e-08-inbox")
    row.get_by_label("Comment", exact=True).fill("Fine by me")
    row.get_by_role("button", name="Approve", exact=True).click()
    _flash(page, "Approved.")
    expect(page.get_by_text("No open approval tasks.")).to_be_visible()
    page.goto(server.url + f"/records/deal/{deal_id}")
    expect(page.locator("#approval-state")).to_have_text("approved")
    expect(page.locator("#fld-status .value")).to_have_text("Approved")  # by on_approve
    shot(page, "e2e-09-record-approved")

    seller.page.goto(seller_url)
    expect(seller.page.locator("#fld-status .value")).to_have_text("Approved")
    history = seller.page.locator(".approval-history")
    expect(history).to_contain_text("Fine by me")
    expect(history).to_contain_text("ended the approval")

    # 9. The junior: own records only, no discount.
    junior = Session(browser, server, "jo", "/records/deal/new")
    page = junior.page
    expect(page.get_by_label("Amount")).to_be_visible()
    expect(page.get_by_label("Discount rate")).to_have_count(0)
    page.get_by_label("Title").fill("Small deal")
    page.get_by_label("Amount").fill("50")
    page.get_by_role("button", name="Save").click()
    _flash(page, "Saved.")
    expect(page.get_by_text("Discount rate")).to_have_count(0)
    shot(page, "e2e-10-junior-record")
    page.goto(server.url + "/records/deal")
    expect(page.get_by_role("cell", name="Small deal", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name=TITLE)).to_have_count(0)
    expect(page.get_by_role("columnheader", name="Discount rate")).to_have_count(0)
    shot(page, "e2e-11-junior-list")
    assert page.goto(server.url + f"/records/deal/{deal_id}").status in (403, 404)

    api = Server(server.url)
    api.sign_in_api("jo", _password("jo"))
    status, listed = api.api("GET", "/api/v1/records/deal")
    assert status == 200, listed
    assert [r["title"] for r in listed["items"]] == ["Small deal"]
    assert all("discount_rate" not in r for r in listed["items"])
    assert api.api("GET", f"/api/v1/records/deal/{deal_id}")[0] in (403, 404)

    # 10. Both languages: the key pages in Chinese, then back to English.
    page = seller.page
    _zh(page, server.url + "/records/deal", "新建")
    shot(page, "e2e-12-list-zh")
    _zh(page, seller_url, "动态")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    shot(page, "e2e-13-record-zh")
    page.goto(server.url + "/records/deal?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("cell", name=TITLE, exact=True)).to_be_visible()
    # The seller's role reaches every deal and the discount, unlike the junior's.
    expect(page.get_by_role("cell", name="Small deal", exact=True)).to_be_visible()
    expect(page.get_by_role("columnheader", name="Discount rate")).to_be_visible()
    shot(page, "e2e-14-list-en")
    _zh(approver.page, server.url + "/inbox", "审批待办")
    shot(approver.page, "e2e-15-inbox-zh")
    _zh(admin_page.page, server.url + "/admin/", "设计器")
    expect(admin_page.page.locator("#main").get_by_role("link", name="商机")).to_be_visible()
    shot(admin_page.page, "e2e-16-designer-zh")
    _zh(admin_page.page, server.url + "/admin/objects/deal/layout", "商机的布局")
    expect(admin_page.page.get_by_role("button", name="保存布局")).to_be_visible()
    _zh(admin_page.page, server.url + "/admin/roles", "角色与权限")
    _zh(admin_page.page, server.url + "/admin/processes", "审批流程")
    admin_page.page.goto(server.url + "/admin/?lang=en")
    expect(admin_page.page.locator("#main").get_by_role("link", name=DEAL_EN)).to_be_visible()

    for session in (seller, approver, junior):
        session.close()
