"""The function library of the expression language.

Importing this package registers every function in ``LIBRARY``. The modules are split by
topic (logic, math, text, dates); ``ops`` holds the operators as bounded functions.
"""

from __future__ import annotations

from . import datefn, logicfn, mathfn, textfn
from .base import (
    CTX,
    LIBRARY,
    MAX_EXPONENT,
    MAX_LIST,
    MAX_TEXT,
    FunctionSpec,
    LibraryFailure,
    Param,
    SizeLimitFailure,
    to_number,
)
from .ops import OPERATOR_FUNCTIONS

__all__ = [
    "CTX",
    "LIBRARY",
    "MAX_EXPONENT",
    "MAX_LIST",
    "MAX_TEXT",
    "OPERATOR_FUNCTIONS",
    "FunctionSpec",
    "LibraryFailure",
    "Param",
    "SizeLimitFailure",
    "datefn",
    "logicfn",
    "mathfn",
    "textfn",
    "to_number",
]
