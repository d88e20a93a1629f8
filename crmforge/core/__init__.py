"""Foundations shared by every layer: errors, ids, names, the filter AST and the clock."""

from .clock import now, set_clock
from .errors import (
    BadRequest,
    Conflict,
    ConversionRefused,
    CRMError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    ValidationFailed,
)
from .filters import Condition, ListQuery, SortKey, parse_list_query
from .names import SYSTEM_FIELDS, name_problem

__all__ = [
    "SYSTEM_FIELDS",
    "BadRequest",
    "CRMError",
    "Condition",
    "Conflict",
    "ConversionRefused",
    "Forbidden",
    "ListQuery",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "SortKey",
    "Unauthorized",
    "ValidationFailed",
    "name_problem",
    "now",
    "parse_list_query",
    "set_clock",
]
