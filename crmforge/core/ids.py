"""Identifiers: immutable ids for metadata items, row ids from requests, secrets for tokens."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_meta_id(prefix: str) -> str:
    """An immutable id for an object or field (survives renames), e.g. ``fld_k3m9x2q7ab``."""
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def new_token() -> str:
    """A bearer token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens are stored hashed so a leaked table grants nothing."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


#: Row ids are signed 64-bit integers (BIGINT) in every table and on both databases.
MAX_ID = 2**63 - 1


def parse_id(value: Any) -> int | None:
    """A row id from a request: a positive whole number (JSON) or a string of ASCII digits
    (paths, query strings, forms). None for anything else, including numbers beyond
    ``MAX_ID``: they name no row, and bound as a parameter they make the database driver
    raise (an overflow in SQLite, an out-of-range error in PostgreSQL) instead of finding
    nothing."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        # isascii: "²" and "１" are digits to str.isdigit() but not ids (int("²") raises).
        digits = value.lstrip("0")
        if not (value.isascii() and value.isdigit()) or len(digits) > len(str(MAX_ID)):
            return None
        value = int(value)
    if isinstance(value, int) and 0 < value <= MAX_ID:
        return value
    return None


def id_too_large(value: Any) -> bool:
    """Whether ``value`` is a whole number (or digit string) above ``MAX_ID``: refused with
    "is too large" rather than as not being a number at all."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return value.isascii() and value.isdigit() and parse_id(value) is None \
            and value.strip("0") != ""
    return isinstance(value, int) and value > MAX_ID
