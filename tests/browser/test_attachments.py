"""Attachments on the record page in Chromium: the drop zone is there, choosing a file in
the file input uploads it (files.js submits the form) and it appears in the list with its
thumbnail, in English and in Chinese; a file dropped on the zone is attached too; a file
above the limit is refused on the page before it is sent; a file field shows its link and
upload control; no Content-Security-Policy violation along the way."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image

from ..conftest import ADMIN_PASSWORD
from .conftest import Server, shot, sign_in_page

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

PROJECT = {
    "name": "project", "label": {"zh": "项目", "en": "Project"},
    "fields": [
        {"name": "title", "type": "text", "required": True,
         "label": {"zh": "名称", "en": "Title"}},
        {"name": "proposal", "type": "file", "label": {"zh": "计划书", "en": "Plan"}},
    ],
}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def project(server: Server) -> tuple[Server, int]:
    server.sign_in_api()
    status, body = server.api("POST", "/api/v1/meta/objects", PROJECT)
    assert status == 201, body
    status, body = server.api("POST", "/api/v1/records/project", {"title": "Bridge"})
    assert status == 201, body
    return server, int(body["id"])


class Violations:
    def __init__(self, page: Any) -> None:
        self.found: list[str] = []
        page.on("console", lambda m: self.found.append(m.text)
                if "Content Security Policy" in m.text else None)


def test_upload_by_file_input_in_english_and_chinese(project: tuple[Server, int],
                                                    browser: Any) -> None:
    server, rid = project
    context, page, dialogs = sign_in_page(browser, server, "admin", ADMIN_PASSWORD,
                                          f"/records/project/{rid}?lang=en")
    violations = Violations(page)
    try:
        section = page.get_by_role("region", name="Attachments")
        expect(section).to_be_visible()
        expect(section.get_by_text("No attachments yet.")).to_be_visible()
        expect(page.locator("[data-dropzone]")).to_be_visible()
        expect(page.locator("[data-dropzone].is-ready")).to_have_count(1)  # files.js ran
        with page.expect_navigation():
            page.get_by_label("Files to attach").set_input_files(
                {"name": "site-photo.png", "mimeType": "image/png", "buffer": _png()})
        expect(page.get_by_text("1 file(s) attached.")).to_be_visible()
        section = page.get_by_role("region", name="Attachments")
        expect(section.get_by_role("link", name="site-photo.png")).to_be_visible()
        thumb = section.locator("img").first
        expect(thumb).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=thumb.element_handle())
        assert thumb.evaluate("img => img.naturalWidth") == 256  # the preview, not the photo
        shot(page, "attachments-en")

        # The same page in Chinese: a Chinese name, uploaded the same way.
        page.goto(server.url + f"/records/project/{rid}?lang=zh")
        section = page.get_by_role("region", name="附件")
        expect(section).to_be_visible()
        with page.expect_navigation():
            page.get_by_label("要添加的附件").set_input_files(
                {"name": "可行性报告.txt", "mimeType": "text/plain",
                 "buffer": "桥梁可行性研究".encode()})
        expect(page.get_by_text("已添加 1 个附件。")).to_be_visible()
        section = page.get_by_role("region", name="附件")
        expect(section.get_by_role("link", name="可行性报告.txt")).to_be_visible()
        expect(section.get_by_role("link", name="site-photo.png")).to_be_visible()
        expect(page.get_by_text("添加了附件").first).to_be_visible()  # history
        shot(page, "attachments-zh")

        # Its download answers the file under its Chinese name.
        href = section.get_by_role("link", name="可行性报告.txt").get_attribute("href")
        answer = page.request.get(server.url + str(href))
        assert answer.status == 200 and answer.body() == "桥梁可行性研究".encode()
        assert "filename*=UTF-8''%E5%8F%AF%E8%A1%8C" in answer.headers["content-disposition"]
        assert violations.found == [] and dialogs == []
    finally:
        context.close()


def test_drop_zone_and_size_check(project: tuple[Server, int], browser: Any) -> None:
    server, rid = project
    context, page, _ = sign_in_page(browser, server, "admin", ADMIN_PASSWORD,
                                    f"/records/project/{rid}?lang=en")
    try:
        zone = page.locator("[data-dropzone]")
        expect(zone).to_be_visible()
        # The page's script has set the zone up (it marks it ready): only then is a drop
        # handled rather than ignored by the browser.
        expect(zone).to_have_class(re.compile(r"\bis-ready\b"))
        # A file dropped on the zone (a synthetic drop: Chromium's own drag is not driven).
        with page.expect_navigation():
            zone.evaluate("""zone => {
                const dt = new DataTransfer();
                dt.items.add(new File(["dropped minutes"], "dropped.txt", {type: "text/plain"}));
                zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true,
                                                           cancelable: true}));
            }""")
        section = page.get_by_role("region", name="Attachments")
        expect(section.get_by_role("link", name="dropped.txt")).to_be_visible()
        # Above the limit: refused here, nothing sent.
        max_bytes = int(str(zone.get_attribute("data-max-bytes")))
        page.get_by_label("Files to attach").set_input_files(
            {"name": "huge.bin", "mimeType": "application/octet-stream",
             "buffer": b"\0" * (max_bytes + 1)})
        expect(page.locator(".drop-status")).to_contain_text("huge.bin is larger than the limit")
        expect(section.get_by_role("link", name="huge.bin")).to_have_count(0)
    finally:
        context.close()


def test_a_file_field_has_a_link_and_an_upload_control(project: tuple[Server, int],
                                                       browser: Any) -> None:
    server, rid = project
    context, page, _ = sign_in_page(browser, server, "admin", ADMIN_PASSWORD,
                                    f"/records/project/{rid}?lang=en")
    try:
        expect(page.locator("#fld-proposal").get_by_text("No file")).to_be_visible()
        with page.expect_navigation():
            page.get_by_label("Choose a file for Plan").set_input_files(
                {"name": "plan.pdf", "mimeType": "application/pdf",
                 "buffer": b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"})
        link = page.locator("#fld-proposal").get_by_role("link", name="plan.pdf")
        expect(link).to_be_visible()
        assert link.get_attribute("href") == f"/api/v1/records/project/{rid}/files/proposal"
        expect(page.get_by_text("Saved.")).to_be_visible()
    finally:
        context.close()


def test_a_file_chosen_before_the_script_ran_is_uploaded_once_it_runs(
        project: tuple[Server, int], browser: Any) -> None:
    """On a slow line the page shows before its deferred script runs; a file chosen then
    fires a change event nobody hears. When the script arrives it sends the file anyway
    (the script is held back here until the file is chosen). Runs after the test above on
    the same record, so a file is already there and is replaced."""
    server, rid = project
    context, page, _ = sign_in_page(browser, server, "admin", ADMIN_PASSWORD,
                                    f"/records/project/{rid}?lang=en")
    try:
        held: list[Any] = []
        page.route("**/static/files.js",  # the first load's script only
                   lambda route: route.continue_() if held else held.append(route))
        page.goto(server.url + f"/records/project/{rid}?lang=en", wait_until="commit")
        page.get_by_label("Choose a file for Plan").set_input_files(
            {"name": "early.pdf", "mimeType": "application/pdf",
             "buffer": b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"})
        assert len(held) == 1
        with page.expect_navigation():
            held[0].continue_()
        link = page.locator("#fld-proposal").get_by_role("link", name="early.pdf")
        expect(link).to_be_visible()
    finally:
        context.close()
