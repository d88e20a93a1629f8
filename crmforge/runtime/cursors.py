"""Sealed list cursors: a page position that reveals nothing and cannot be forged.

A keyset cursor holds the sort values of the last row of a page. Sent in the clear, it
tells a reader the value of whatever the list is sorted by (a masked formula, say) and,
edited by hand, it becomes a range filter the API would refuse ("records whose cost is
above X"). So cursors are encrypted and authenticated with AES-GCM (``cryptography``)
under a key derived per tenant from the instance secret, and bound (as associated data)
to the object, the reader and the sort: a cursor made for one list, one user or one
tenant does not open anywhere else, and any change to it is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..core.errors import BadRequest

#: A cursor longer than this is refused before any work (a page's sort values are short).
MAX_CURSOR = 4096
_NONCE = 12


def tenant_key(instance_secret: str, tenant: str) -> bytes:
    """The cursor key of one tenant: a tenant's cursors never open in another."""
    return hmac.new(instance_secret.encode(), b"crmforge-cursor:" + tenant.encode(),
                    hashlib.sha256).digest()


def random_key() -> bytes:
    """For a tenant opened without an instance secret: cursors valid in this process."""
    return os.urandom(32)


class CursorSeal:
    """Seals and opens the cursors of one list: one object, one reader, one sort."""

    def __init__(self, key: bytes, binding: Sequence[Any]) -> None:
        self._aead = AESGCM(key)
        self._aad = json.dumps(list(binding), separators=(",", ":")).encode()

    def seal(self, values: list[Any]) -> str:
        nonce = os.urandom(_NONCE)
        body = self._aead.encrypt(nonce, json.dumps(values, separators=(",", ":")).encode(),
                                  self._aad)
        return base64.urlsafe_b64encode(nonce + body).decode().rstrip("=")

    def open(self, cursor: str) -> list[Any]:
        """The sort values sealed in ``cursor``; BadRequest when it is not one of this
        list's cursors (edited, forged, or made for another list, user or tenant)."""
        refusal = BadRequest("the cursor is not valid for this list",
                             {"cursor": ["not valid for this list"]})
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR:
            raise refusal
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            if len(raw) <= _NONCE:
                raise ValueError
            values = json.loads(self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], self._aad))
        except (ValueError, binascii.Error, InvalidTag):
            raise refusal from None
        if not isinstance(values, list):
            raise refusal
        return values


__all__ = ["MAX_CURSOR", "CursorSeal", "random_key", "tenant_key"]
