"""What a file is, judged from its bytes, never from what the client says: the sniffed
content type, the name kept for display and downloads, the upload policy (size, refused
and allowed types) and image previews.

Sniffing: ``filetype`` recognises binary formats by their signatures (images, PDF, Office
documents, archives, media, executables); what it does not recognise is looked at as
text: markup (HTML, SVG, XML) and scripts (``#!``) are told apart from plain text, and
anything else is ``application/octet-stream``. The client's declared type is ignored.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import filetype

#: Bytes read to sniff a type (filetype needs 262; text checks look a little further).
SNIFF_BYTES = 8192
DEFAULT_MAX_BYTES = 25 * 1024 * 1024

#: Types refused whatever the configuration: programs and installers.
EXECUTABLE_TYPES = frozenset({
    "application/x-msdownload", "application/x-executable", "application/x-mach-binary",
    "application/java-vm", "application/x-deb", "application/x-rpm",
    "application/x-shockwave-flash", "application/x-google-chrome-extension",
    "application/vnd.ms-cab-compressed", "text/x-shellscript",
})
#: Names refused whatever their content: a double click runs them on some system.
EXECUTABLE_EXTENSIONS = frozenset({
    "exe", "dll", "com", "scr", "pif", "msi", "msp", "mst", "bat", "cmd", "ps1", "psm1",
    "vb", "vbs", "vbe", "js", "jse", "mjs", "wsf", "wsh", "hta", "cpl", "jar", "apk", "app",
    "sh", "bash", "zsh", "csh", "reg", "lnk", "scf", "inf", "msc", "gadget", "deb", "rpm",
    "dmg", "pkg", "appimage", "run", "elf", "so", "dylib", "ocx", "sys", "drv", "crx", "xpi",
    "application", "appref-ms", "iso", "img", "vhd", "vhdx",
})
#: Types a browser may render as a page or run scripts in: always downloaded, and sent
#: as ``application/octet-stream`` so that nothing between here and the user renders them.
MARKUP_TYPES = frozenset({
    "text/html", "image/svg+xml", "application/xml", "text/xml", "application/xhtml+xml",
    "text/javascript", "application/javascript",
})
#: Types shown in the browser (``inline``); everything else downloads.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "text/plain"})
#: Image types that get previews (thumbnails).
PREVIEW_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp",
                           "image/tiff"})
PREVIEW_SIZE = 256
#: Larger images get no preview (decoding them would take too much memory).
PREVIEW_MAX_PIXELS = 50_000_000

_MACH_O = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
_MARKUP = re.compile(rb"<\s*(?:!doctype\s+html|html|head|body|script|iframe|frameset|object|"
                     rb"embed|meta|link|style|img|a\s|svg|form|base)\b", re.IGNORECASE)
_TEXT_SUBTYPES = {"csv": "text/csv", "tsv": "text/tab-separated-values", "md": "text/markdown",
                  "json": "application/json"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")


def sniff(head: bytes, name: str = "") -> str:
    """The content type of a file that starts with ``head`` (its first ``SNIFF_BYTES``).
    ``name`` only chooses between kinds of plain text (``.csv``: ``text/csv``)."""
    if not head:
        return "application/octet-stream"
    if head[:4] in _MACH_O:
        return "application/x-mach-binary"
    if head[:4] == b"\xca\xfe\xba\xbe":  # Java class files and universal Mach-O binaries
        return "application/java-vm"
    found = filetype.guess_mime(head)
    if found:
        return str(found)
    text = _as_text(head)
    if text is None:
        return "application/octet-stream"
    stripped = text.lstrip()
    if stripped.startswith("#!"):
        return "text/x-shellscript"
    lowered = stripped[:1024].lower()
    if lowered.startswith("<?xml") or lowered.startswith("<svg") or "<svg" in lowered:
        return "image/svg+xml" if "<svg" in lowered else "application/xml"
    if _MARKUP.search(head[:SNIFF_BYTES]):
        return "text/html"
    return _TEXT_SUBTYPES.get(extension(name), "text/plain")


def _as_text(head: bytes) -> str | None:
    """``head`` as text when it reads as UTF-8 (or UTF-16 with a byte-order mark) without
    control characters; None for binary data. A character cut at the end is allowed."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"),
                       (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            head, encoding = head[len(bom):], codec
            break
    else:
        encoding = "utf-8"
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        text: str = decoder.decode(head, final=False)
    except UnicodeDecodeError:
        return None
    return None if _CONTROL.search(text) else text


def extension(name: str) -> str:
    """The lowercased extension of a file name ("" when none)."""
    base = name.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base.strip(".") else ""


MAX_NAME = 200


def clean_name(raw: str | None) -> str:
    """The name a file is kept and offered under: the last part of what the client sent
    (a browser may send a whole path), in NFC, without control or format characters (no
    right-to-left override making ``exe.pdf`` look like ``fdp.exe``), whitespace collapsed,
    no leading or trailing dots or spaces, at most 200 characters with the extension kept.
    It is only ever shown and sent back; storage keys are random."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = " ".join(name.split()).strip(" .")
    if len(name) > MAX_NAME:
        ext = extension(name)
        keep = f".{ext}" if ext and len(ext) <= 16 else ""
        name = name[: MAX_NAME - len(keep)].rstrip(" .") + keep
    return name or "file"


def type_matches(content_type: str, name: str, patterns: tuple[str, ...] | list[Any]) -> bool:
    """Whether a file fits one of ``patterns``: MIME types (``application/pdf``), families
    (``image/*``) or extensions (``.pdf``), as in HTML's ``accept``."""
    ext = extension(name)
    for raw in patterns:
        p = str(raw).strip().lower()
        if p.startswith("."):
            if ext and p[1:] == ext:
                return True
        elif p.endswith("/*"):
            if content_type.startswith(p[:-1]):
                return True
        elif p == content_type:
            return True
    return False


@dataclass(frozen=True)
class UploadPolicy:
    """What an instance accepts: a size limit and the types refused or allowed."""

    max_bytes: int = DEFAULT_MAX_BYTES
    #: When set, only files of these types (``image/*``, ``application/pdf``, ``.csv``).
    allow: tuple[str, ...] | None = None
    #: Refused besides the built-in executable types and extensions.
    deny: tuple[str, ...] = ()
    deny_types: frozenset[str] = field(default=EXECUTABLE_TYPES)
    deny_extensions: frozenset[str] = field(default=EXECUTABLE_EXTENSIONS)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> UploadPolicy:
        """``CRMFORGE_FILES_MAX_BYTES``, ``CRMFORGE_FILES_ALLOW_TYPES`` and
        ``CRMFORGE_FILES_DENY_TYPES`` (comma-separated, as in ``type_matches``)."""
        env = os.environ if environ is None else environ
        raw = env.get("CRMFORGE_FILES_MAX_BYTES", "").strip()
        if raw and not (raw.isdigit() and int(raw) >= 1):
            raise ValueError(f"CRMFORGE_FILES_MAX_BYTES is a number of bytes, not {raw[:40]!r}")

        def listed(name: str) -> tuple[str, ...]:
            return tuple(p.strip().lower() for p in env.get(name, "").split(",") if p.strip())

        allow = listed("CRMFORGE_FILES_ALLOW_TYPES")
        return cls(max_bytes=int(raw) if raw else DEFAULT_MAX_BYTES, allow=allow or None,
                   deny=listed("CRMFORGE_FILES_DENY_TYPES"))

    def refusal(self, content_type: str, name: str) -> str | None:
        """Why a file may not be stored (None when it may)."""
        if content_type in self.deny_types or extension(name) in self.deny_extensions:
            return "programs and scripts are not accepted (put them in a zip file)"
        if self.deny and type_matches(content_type, name, self.deny):
            return f"files of type {content_type} are not accepted"
        if self.allow is not None and not type_matches(content_type, name, self.allow):
            return f"files of type {content_type} are not accepted"
        return None

    def describe_limit(self) -> str:
        return human_size(self.max_bytes)


def human_size(size: int) -> str:
    """``25 MB``, ``340 KB``, ``12 bytes`` (1 MB = 1,048,576 bytes)."""
    if size >= 1024 * 1024:
        value = size / (1024 * 1024)
        return f"{value:.0f} MB" if value >= 10 or value.is_integer() else f"{value:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


def preview(data: bytes) -> tuple[bytes, str] | None:
    """A thumbnail of an image (at most ``PREVIEW_SIZE`` pixels a side, turned upright by
    its EXIF orientation, without its metadata): PNG when it has transparency, else JPEG.
    None when the bytes are not an image Pillow reads or it is too large to decode."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > PREVIEW_MAX_PIXELS or width < 1 or height < 1:
                return None
            img.draft("RGB", (PREVIEW_SIZE * 2, PREVIEW_SIZE * 2))  # JPEG: decode smaller
            img.seek(0)
            upright = ImageOps.exif_transpose(img) or img
            upright.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
            alpha = upright.mode in ("RGBA", "LA", "PA") or (
                upright.mode == "P" and "transparency" in upright.info)
            out = io.BytesIO()
            if alpha:
                upright.convert("RGBA").save(out, "PNG", optimize=True)
                return out.getvalue(), "image/png"
            upright.convert("RGB").save(out, "JPEG", quality=82, optimize=True)
            return out.getvalue(), "image/jpeg"
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            SyntaxError):
        return None


__all__ = ["DEFAULT_MAX_BYTES", "INLINE_TYPES", "MARKUP_TYPES", "PREVIEW_TYPES", "SNIFF_BYTES",
           "UploadPolicy", "clean_name", "extension", "human_size", "preview", "sniff",
           "type_matches"]
