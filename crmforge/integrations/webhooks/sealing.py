"""Webhook secrets at rest: encrypted, because signing needs them back.

A signing secret cannot be stored as a hash (like tokens): each delivery is signed with
it. So it is sealed with AES-GCM under a key of its own tenant, derived from the tenant
key that the instance secret yields (``runtime.cursors.tenant_key``, kept on the tenant):
a copy of the database alone, or of another tenant, does not reveal a secret, and the
webhook's id is bound as associated data so a sealed secret moved to another webhook
row does not open (decision 0024).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ...runtime.instance import Tenant

_NONCE = 12
_LABEL = b"crmforge-webhook-secret:v1"


class Unreadable(Exception):
    """A sealed secret does not open (the instance secret changed, e.g. a restore into
    another instance): the webhook needs a new secret."""


def _key(tenant: Tenant) -> bytes:
    return hmac.new(tenant.cursor_key, _LABEL, hashlib.sha256).digest()


def _aad(webhook_id: int) -> bytes:
    return f"webhook:{webhook_id}".encode()


def seal(tenant: Tenant, webhook_id: int, secret: str) -> str:
    nonce = os.urandom(_NONCE)
    body = AESGCM(_key(tenant)).encrypt(nonce, secret.encode("utf-8"), _aad(webhook_id))
    return base64.b64encode(nonce + body).decode("ascii")


def open_secret(tenant: Tenant, webhook_id: int, sealed: str) -> str:
    try:
        raw = base64.b64decode(sealed.encode("ascii"), validate=True)
        return AESGCM(_key(tenant)).decrypt(raw[:_NONCE], raw[_NONCE:],
                                            _aad(webhook_id)).decode("utf-8")
    except (ValueError, binascii.Error, InvalidTag, UnicodeDecodeError):
        raise Unreadable(f"the secret of webhook {webhook_id} does not open") from None


__all__ = ["Unreadable", "open_secret", "seal"]
