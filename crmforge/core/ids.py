"""Identifiers: immutable ids for metadata items and secrets for tokens."""

from __future__ import annotations

import hashlib
import secrets

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
