"""Signatures of webhook deliveries (DESIGN §9): ``X-CRMForge-Signature: sha256=<hex>``.

The signature is an HMAC-SHA256 of the raw request body with the webhook's secret, so a
receiver checks it over the exact bytes it received, before parsing them. ``verify`` is
what a receiver does (docs/api.md shows the same in five lines of Python).
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def signature(secret: str, body: bytes) -> str:
    """The header value for ``body`` signed with ``secret``."""
    return PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` with ``secret`` (constant time)."""
    if not header or not header.startswith(PREFIX):
        return False
    return hmac.compare_digest(signature(secret, body), header)


def headers(event: str, delivery_id: int, secret: str, body: bytes) -> dict[str, str]:
    """The headers of one delivery: its event, its id (receivers deduplicate retries on
    it) and its signature."""
    return {"Content-Type": "application/json", "User-Agent": "CRMForge-Webhooks/1",
            "X-CRMForge-Event": event, "X-CRMForge-Delivery": str(delivery_id),
            "X-CRMForge-Signature": signature(secret, body)}


__all__ = ["PREFIX", "headers", "signature", "verify"]
