"""The errors every layer raises; the web layer maps them to the JSON envelope of DESIGN §9.

Errors carry a machine-readable ``code``, a human message and, for validation problems,
messages keyed by field (or JSON path for metadata documents). Nothing here knows HTTP:
``status`` is a hint the web layer reads, so the mapping lives in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class CRMError(Exception):
    """Base of all product errors."""

    code = "error"
    status = 400

    def __init__(
        self,
        message: str,
        fields: Mapping[str, list[str]] | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, list[str]] = {k: list(v) for k, v in (fields or {}).items()}
        self.details = details


class BadRequest(CRMError):
    code = "bad_request"
    status = 400


class Unauthorized(CRMError):
    code = "unauthorized"
    status = 401


class Forbidden(CRMError):
    code = "forbidden"
    status = 403


class NotFound(CRMError):
    code = "not_found"
    status = 404


class Conflict(CRMError):
    code = "conflict"
    status = 409


class PayloadTooLarge(CRMError):
    code = "payload_too_large"
    status = 413


class ValidationFailed(CRMError):
    code = "validation_failed"
    status = 422


class RateLimited(CRMError):
    code = "rate_limited"
    status = 429


class Unavailable(CRMError):
    """The database refuses writes for now (locked by a long change, disk full, read-only
    storage): nothing was changed, and the same request may succeed later. Reads go on."""

    code = "unavailable"
    status = 503


class BackupFailed(CRMError):
    """Writing, verifying or applying a backup failed: a partial backup is removed, and a
    tenant being restored keeps the data it had."""

    code = "backup_failed"
    status = 500


class ConversionRefused(ValidationFailed):
    """A type change would lose values; ``details`` lists the rows that would not convert."""

    code = "conversion_refused"
