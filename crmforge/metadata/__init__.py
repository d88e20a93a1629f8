"""Metadata: object and field documents, their validation, versions and diffs. No Flask."""

from .diff import Change, diff
from .fieldtypes import FIELD_TYPES, ConversionError, FieldType
from .model import FieldDef, ObjectDef, RemovedField, RemovedObject, Snapshot, table_name
from .validation import OPERATIONS, Problems, expression_names, prepare_object

__all__ = [
    "FIELD_TYPES",
    "OPERATIONS",
    "Change",
    "ConversionError",
    "FieldDef",
    "FieldType",
    "ObjectDef",
    "Problems",
    "RemovedField",
    "RemovedObject",
    "Snapshot",
    "diff",
    "expression_names",
    "prepare_object",
    "table_name",
]
