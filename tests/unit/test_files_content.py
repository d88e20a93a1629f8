"""What a file is, from its bytes (runtime.files.content): the sniffed type beats the name
and the client, executables and markup are recognised, names are cleaned for display and
for Content-Disposition (RFC 6266/5987), and the upload policy refuses what it should."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from crmforge.runtime.files.content import (
    UploadPolicy,
    clean_name,
    human_size,
    preview,
    sniff,
    type_matches,
)
from crmforge.web.uploads import content_disposition


def _image(fmt: str, mode: str = "RGB", size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "red").save(out, fmt)
    return out.getvalue()


def _docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<document/>")
    return out.getvalue()


@pytest.mark.parametrize(("data", "name", "expected"), [
    (_image("PNG"), "photo.exe", "image/png"),
    (_image("JPEG"), "x.txt", "image/jpeg"),
    (_image("GIF"), "x", "image/gif"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "report.html", "application/pdf"),
    (_docx(), "a.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"MZ\x90\x00\x03" + b"\x00" * 300, "invoice.pdf", "application/x-msdownload"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 300, "a.png", "application/x-executable"),
    (b"\xcf\xfa\xed\xfe" + b"\x00" * 300, "a.png", "application/x-mach-binary"),
    (b"#!/bin/sh\nrm -rf /\n", "notes.txt", "text/x-shellscript"),
    (b"<!DOCTYPE html><html><script>alert(1)</script>", "a.txt", "text/html"),
    (b"  \n<script>alert(1)</script>", "a.txt", "text/html"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "a.png", "image/svg+xml"),
    (b"<svg onload=alert(1)>", "a.jpg", "image/svg+xml"),
    (b'<?xml version="1.0"?><order/>', "a.txt", "application/xml"),
    ("你好，世界\n".encode(), "a.txt", "text/plain"),
    (b"\xef\xbb\xbfname,qty\n\xe8\x8b\xb9\xe6\x9e\x9c,3\n", "a.csv", "text/csv"),
    (b"a,b\n1,2\n", "a.txt", "text/plain"),
    (bytes(range(256)) * 4, "a.txt", "application/octet-stream"),
    ("é".encode() * 5000, "cut.txt", "text/plain"),  # a character cut at 8 KiB is text
])
def test_the_type_comes_from_the_bytes(data: bytes, name: str, expected: str) -> None:
    assert sniff(data[:8192], name) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("合同 2024.pdf", "合同 2024.pdf"),
    ("C:\\Users\\ann\\Desktop\\report.xlsx", "report.xlsx"),
    ("../../etc/passwd", "passwd"),
    ("invoice\u202egpj.exe", "invoicegpj.exe"),  # no right-to-left override
    ("a\x00b\nc.txt", "abc.txt"),
    ("  ..hidden  .  ", "hidden"),
    ("", "file"),
    (None, "file"),
    ("e\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"),  # NFC
])
def test_names_are_cleaned(raw: str | None, expected: str) -> None:
    assert clean_name(raw) == expected


def test_long_names_keep_their_extension() -> None:
    name = clean_name("报" * 300 + ".pdf")
    assert len(name) == 200 and name.endswith(".pdf")


@pytest.mark.parametrize(("name", "inline", "expected"), [
    ("合同.pdf", False,
     "attachment; filename=\"file.pdf\"; filename*=UTF-8''%E5%90%88%E5%90%8C.pdf"),
    ("résumé.docx", False,
     "attachment; filename=\"resume.docx\"; filename*=UTF-8''r%C3%A9sum%C3%A9.docx"),
    ('say "hi"; x=1.png', True,
     "inline; filename=\"say _hi__ x_1.png\"; filename*=UTF-8''say%20%22hi%22%3B%20x%3D1.png"),
])
def test_content_disposition_carries_any_name(name: str, inline: bool, expected: str) -> None:
    header = content_disposition(name, inline)
    assert header == expected
    header.encode("latin-1")  # a header value any server can send


def test_the_policy_refuses_programs_by_type_or_name() -> None:
    p = UploadPolicy()
    assert p.refusal("application/x-msdownload", "a.pdf")
    assert p.refusal("text/plain", "run.bat")
    assert p.refusal("text/x-shellscript", "notes.txt")
    assert p.refusal("application/pdf", "a.pdf") is None
    assert p.refusal("text/html", "page.html") is None  # stored, only ever downloaded


def test_allow_and_deny_lists_from_the_environment() -> None:
    p = UploadPolicy.from_env({"CRMFORGE_FILES_MAX_BYTES": "1000",
                               "CRMFORGE_FILES_ALLOW_TYPES": "image/*, application/pdf,.csv",
                               "CRMFORGE_FILES_DENY_TYPES": "image/gif"})
    assert p.max_bytes == 1000
    assert p.refusal("image/png", "a.png") is None
    assert p.refusal("text/plain", "a.csv") is None
    assert p.refusal("image/gif", "a.gif")
    assert p.refusal("application/zip", "a.zip")
    with pytest.raises(ValueError, match="CRMFORGE_FILES_MAX_BYTES"):
        UploadPolicy.from_env({"CRMFORGE_FILES_MAX_BYTES": "25MB"})


def test_type_patterns() -> None:
    assert type_matches("image/png", "a.png", ["image/*"])
    assert type_matches("application/pdf", "a.PDF", [".pdf"])
    assert not type_matches("application/pdf", "a.pdf", ["image/*", ".docx"])


def test_human_sizes() -> None:
    assert human_size(25 * 1024 * 1024) == "25 MB"
    assert human_size(1536 * 1024) == "1.5 MB"
    assert human_size(2048) == "2 KB"
    assert human_size(12) == "12 bytes"


def test_previews_are_small_upright_and_bounded() -> None:
    made = preview(_image("JPEG", size=(2000, 1000)))
    assert made is not None
    data, kind = made
    assert kind == "image/jpeg"
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (256, 128)
    transparent = preview(_image("PNG", mode="RGBA"))
    assert transparent is not None and transparent[1] == "image/png"
    assert preview(b"not an image") is None
    # A huge image (by its header) gets no preview rather than a decode of 400 MB.
    assert preview(_image("PNG", mode="1", size=(20000, 20000))) is None
