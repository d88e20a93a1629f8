"""Field types: one class per type knows everything type-specific (DESIGN §3).

A type knows its column type, how request values convert (strictly for API writes,
leniently for type changes), how stored values become JSON, which filter operators apply,
which document options it takes and its type in expressions. Adding a type touches only
this module.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

import phonenumbers
import sqlalchemy as sa
from babel.numbers import is_currency

from ..core.ids import id_too_large, parse_id
from ..core.linear_regex import LinearPattern, PatternRefused, compile_linear

if TYPE_CHECKING:
    from .model import FieldDef

COMMON_OPTIONS = frozenset(
    {
        "id", "name", "type", "label", "help", "required", "unique", "indexed", "searchable",
        "default", "visible_if", "required_if", "readonly_if", "description",
    }
)
EQUALITY_OPS = frozenset({"eq", "ne", "in", "isnull"})
ORDERED_OPS = EQUALITY_OPS | {"lt", "lte", "gt", "gte", "between"}
TEXT_OPS = ORDERED_OPS | {"contains", "startswith"}

#: Decimal values keep at most this many significant digits on every database, so a value
#: reads back the same on SQLite (whose numbers are doubles) and on PostgreSQL.
MAX_DIGITS = 15


class ConversionError(ValueError):
    """A value does not fit a field; the message is shown to the user."""


class FieldType:
    name: ClassVar[str]
    options: ClassVar[frozenset[str]] = frozenset()
    operators: ClassVar[frozenset[str]] = EQUALITY_OPS
    expression_type: ClassVar[str] = "text"
    #: Scalar types can convert into one another when every value survives the round trip.
    scalar: ClassVar[bool] = True
    #: Whether users write the value (autonumber, formula and rollup are computed).
    writable: ClassVar[bool] = True
    sortable: ClassVar[bool] = True

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any] | None:
        raise NotImplementedError

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        """Convert a JSON value from a request (``lenient`` also accepts other types' forms)."""
        raise NotImplementedError

    def to_json(self, f: FieldDef, value: Any) -> Any:
        """Convert a stored value to its JSON form."""
        return value

    def from_query(self, f: FieldDef, raw: str) -> Any:
        """Convert a filter value from a query string."""
        return self.to_python(f, raw, lenient=True)

    def option_problems(self, f: FieldDef) -> list[tuple[str, str]]:
        """(option, message) pairs for type-specific option errors."""
        return []

    def keeps_stored(self, f: FieldDef, raw: Any, stored: Any) -> bool:
        """Whether ``raw``, refused by ``to_python``, may stay because it is the value the
        record already holds: a check made stricter later must not block the updates of
        records whose other fields change (decision 0038). Only phone numbers say yes."""
        return False


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _encodable(value: str) -> bool:
    """False for text no database can store, like the lone surrogates ``"\\ud800"`` in JSON."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class TextType(FieldType):
    name = "text"
    options = frozenset({"max_length", "pattern"})
    operators = TEXT_OPS
    default_length = 255

    def length(self, f: FieldDef) -> int:
        return int(f.options.get("max_length") or self.default_length)

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.String(self.length(f))

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            if lenient and isinstance(value, (int, Decimal, float)) and not isinstance(value, bool):
                value = str(value)
            elif lenient and isinstance(value, bool):
                value = "true" if value else "false"
            else:
                raise ConversionError(f"expected text, got {_type_name(value)}")
        if len(value) > (limit := self.length(f)):
            raise ConversionError(f"is longer than {limit} characters")
        # PostgreSQL refuses NUL; JSON allows it. ASCII text (most) is always encodable.
        if "\x00" in value or (not value.isascii() and not _encodable(value)):
            raise ConversionError("contains a NUL character or an unpaired surrogate")
        pattern = f.options.get("pattern")
        if pattern and value and not _pattern(pattern).fullmatch(value):
            raise ConversionError("does not match the required pattern")
        return self.check_format(value)

    def check_format(self, value: str) -> str:
        return value

    def option_problems(self, f: FieldDef) -> list[tuple[str, str]]:
        problems = []
        ml = f.options.get("max_length")
        if ml is not None and not (isinstance(ml, int) and 1 <= ml <= 4000):
            problems.append(("max_length", "must be a whole number from 1 to 4000"))
        pattern = f.options.get("pattern")
        if pattern is not None:
            try:
                compile_linear(pattern)
            except PatternRefused as exc:
                problems.append(("pattern", str(exc)))  # RE2's refusal, in plain words
        return problems


class TextareaType(TextType):
    name = "textarea"
    options = frozenset({"max_length"})
    operators = EQUALITY_OPS | {"contains", "startswith"}
    default_length = 32000
    sortable = False

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.Text()

    def option_problems(self, f: FieldDef) -> list[tuple[str, str]]:
        ml = f.options.get("max_length")
        if ml is not None and not (isinstance(ml, int) and 1 <= ml <= 1_000_000):
            return [("max_length", "must be a whole number from 1 to 1000000")]
        return []


def _pattern(pattern: object) -> LinearPattern:
    """A field's ``pattern`` compiled by RE2 (linear time, whatever the administrator
    wrote). A pattern saved before patterns ran on RE2 may use a construct RE2 refuses
    (a look-ahead, a back-reference): the value is refused, not let through unchecked, with
    a message that sends the user to an administrator; saving the object again names the
    problem to the administrator."""
    try:
        return compile_linear(pattern)
    except PatternRefused:
        raise ConversionError(PATTERN_UNUSABLE) from None


#: The refusal of a value whose field's pattern cannot be run (see ``_pattern``).
PATTERN_UNUSABLE = ("cannot be checked: the field's pattern is not supported; an "
                    "administrator must change it")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://[^\s]+$")


class EmailType(TextType):
    name = "email"
    options = frozenset()

    def length(self, f: FieldDef) -> int:
        return 254

    def check_format(self, value: str) -> str:
        if value and not _EMAIL.fullmatch(value):
            raise ConversionError("is not an e-mail address")
        return value


#: The region a phone field reads national numbers in when it names none.
DEFAULT_PHONE_REGION = "CN"
#: The refusal of a number libphonenumber does not accept (server_messages translates it).
PHONE_INVALID = ("is not a valid phone number: write a number of region %s, or start with + "
                 "and the country code")


def phone_region(f: FieldDef) -> str:
    """The region whose national numbers the field takes (and shows without a prefix)."""
    region = f.options.get("region")
    return region if isinstance(region, str) and region else DEFAULT_PHONE_REGION


def parse_phone(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    """A valid number read from national (``region``) or international (``+``) form,
    else None."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


class PhoneType(TextType):
    """Validated with libphonenumber and stored in E.164 (``+8613800138000``), so equal
    numbers written differently are one value. ``region`` (default CN) reads national
    numbers. Values stored before the check (free text) stay readable and are kept by an
    update that sends them back unchanged (``keeps_stored``)."""

    name = "phone"
    options = frozenset({"region"})

    def length(self, f: FieldDef) -> int:
        return 40

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        text = super().to_python(f, value, lenient=lenient)
        if not text:
            return text
        number = parse_phone(text, phone_region(f))
        if number is None:
            raise ConversionError(PHONE_INVALID % phone_region(f))
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def from_query(self, f: FieldDef, raw: str) -> Any:
        """A filter value: the E.164 form of a number, anything else as written (a part
        of a number for ``contains``, a stored value that predates the check)."""
        number = parse_phone(raw.strip(), phone_region(f)) if len(raw) <= 40 else None
        if number is None:
            return raw
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def keeps_stored(self, f: FieldDef, raw: Any, stored: Any) -> bool:
        return isinstance(raw, str) and isinstance(stored, str) and raw.strip() == stored

    def option_problems(self, f: FieldDef) -> list[tuple[str, str]]:
        region = f.options.get("region")
        if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
            return [("region", "must be a region code such as CN or US")]
        return []


class UrlType(TextType):
    name = "url"
    options = frozenset()

    def length(self, f: FieldDef) -> int:
        return 2000

    def check_format(self, value: str) -> str:
        if value and not _URL.fullmatch(value):
            raise ConversionError("is not an http or https address")
        return value


class IntegerType(FieldType):
    name = "integer"
    #: ``grouping: false`` shows the number without thousands separators (a year, a code).
    options = frozenset({"min", "max", "grouping"})
    operators = ORDERED_OPS
    expression_type = "number"

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.BigInteger()

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        if value is None:
            return None
        if isinstance(value, bool):
            raise ConversionError("expected a whole number, got a boolean")
        if isinstance(value, int):
            result = value
        elif lenient and isinstance(value, (str, Decimal, float)):
            try:
                d = Decimal(str(value).strip())
            except InvalidOperation:
                raise ConversionError(f"'{str(value)[:40]}' is not a whole number") from None
            if not d.is_finite() or d != d.to_integral_value():
                raise ConversionError(f"'{str(value)[:40]}' is not a whole number")
            if d.adjusted() >= 19:  # before int(): int(Decimal("1e999999999")) never ends
                raise ConversionError("is too large")
            result = int(d)
        elif isinstance(value, float) and value.is_integer():
            result = int(value)
        else:
            raise ConversionError(f"expected a whole number, got {_type_name(value)}")
        if abs(result) >= 2**63:
            raise ConversionError("is too large")
        _check_range(f, Decimal(result))
        return result

    def option_problems(self, f: FieldDef) -> list[tuple[str, str]]:
        if f.options.get("grouping") not in (None, True, False):
            return [("grouping", "must be true or false")]
        return []


@functools.lru_cache(maxsize=32)
def _quantum(scale: int) -> Decimal:
    """``Decimal("0.01")`` for scale 2: the step values of a scale are rounded to."""
    return Decimal(1).scaleb(-scale)


def _check_range(f: FieldDef, value: Decimal) -> None:
    lo, hi = f.options.get("min"), f.options.get("max")
    if lo is not None and value < _bound(lo):
        raise ConversionError(f"must be at least {lo}")
    if hi is not None and value > _bound(hi):
        raise ConversionError(f"must be at most {hi}")


@functools.lru_cache(maxsize=256)
def _bound(limit: int | float | Decimal) -> Decimal:
    """A field's ``min`` or ``max`` as a Decimal (as written: 0.1 is 0.1, not the float)."""
    return Decimal(str(limit))


class DecimalType(FieldType):
    name = "decimal"
    options = frozenset({"scale", "min", "max"})
    operators = ORDERED_OPS
    expression_type = "number"
    default_scale = 2

    def scale(self, f: FieldDef) -> int:
        s = f.options.get("scale")
        return self.default_scale if s is None else int(s)

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any]:
        scale = self.scale(f)
        return sa.Numeric(MAX_DIGITS + 3, scale, asdecimal=True, decimal_return_scale=scale)

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        if value is None:
            return None
        if isinstance(value, bool):
            raise ConversionError("expected a number, got a boolean")
        if type(value) is Decimal:  # already a number (an import's converted cell)
            d = value
        else:
            if isinstance(value, (int, Decimal, str)):
                text = str(value).strip()
            elif isinstance(value, float):
                text = repr(value)
            else:
                raise ConversionError(f"expected a number, got {_type_name(value)}")
            try:
                d = Decimal(text)
            except InvalidOperation:
                raise ConversionError(f"'{text[:40]}' is not a number") from None
        if not d.is_finite():
            raise ConversionError("must be a finite number")
        if d.adjusted() >= MAX_DIGITS:  # also "1e20", whose digits tuple is just (1,)
            raise ConversionError(f"has more than {MAX_DIGITS} significant digits")
        q = _quantum(self.scale(f))
        rounded = d.quantize(q)
        if rounded != d and not lenient:
            raise ConversionError(f"has more than {self.scale(f)} decimal places")
        if rounded != d:
            raise ConversionError(
                f"'{str(value).strip()[:40]}' has more than {self.scale(f)} decimal places")
        if len(rounded.as_tuple().digits) > MAX_DIGITS:
            raise ConversionError(f"has more than {MAX_DIGITS} significant digits")
        _check_range(f, rounded)
        return rounded

    def to_json(self, f: FieldDef, value: Any) -> Any:
        if value is None:
            return None
        d = value if isinstance(value, Decimal) else Decimal(str(value))
        # format "f": str() would write 0.00000001 as "1E-8" and zero at scale 8 as "0E-8"
        return format(d.quantize(_quantum(self.scale(f))), "f")

    def option_problems(self, f: FieldDef) -> list[tuple[str, str]]:
        s = f.options.get("scale")
        if s is not None and not (isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= 8):
            return [("scale", "must be a whole number from 0 to 8")]
        return []


def deadline_problems(f: FieldDef) -> list[tuple[str, str]]:
    """``deadline`` is a yes/no option (see ``DateType``)."""
    if f.options.get("deadline") not in (None, True, False):
        return [("deadline", "must be true or false")]
    return []


def currency_problems(f: FieldDef) -> list[tuple[str, str]]:
    """A ``currency`` option names an ISO 4217 code (pages show its symbol; without it
    the tenant's default currency)."""
    code = f.options.get("currency")
    if code is not None and not (isinstance(code, str) and len(code) == 3 and code.isupper()
                                 and is_currency(code)):
        return [("currency", "must be an ISO 4217 currency code such as CNY or USD")]
    return []


class CurrencyType(DecimalType):
    name = "currency"
    options = DecimalType.options | {"currency"}

    def option_problems(self, f: FieldDef) -> list[tuple[str, str]]:
        return super().option_problems(f) + currency_problems(f)


class PercentType(DecimalType):
    name = "percent"


class BooleanType(FieldType):
    name = "boolean"
    expression_type = "boolean"

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.Boolean(create_constraint=False)

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if lenient and isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.strip().lower()]
        raise ConversionError(f"expected true or false, got {_type_name(value)}")

    def to_json(self, f: FieldDef, value: Any) -> Any:
        return None if value is None else bool(value)


_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


class DateType(FieldType):
    name = "date"
    operators = ORDERED_OPS
    expression_type = "date"
    #: ``deadline: true`` marks a date by which something is due (a close date, a payment
    #: due date): an open record past it is overdue for its owner. A birthday, a signing
    #: date or a payment date is not one, so only marked dates count.
    options = frozenset({"deadline"})

    def option_problems(self, f: FieldDef) -> list[tuple[str, str]]:
        return deadline_problems(f)

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.Date()

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            if lenient and value.time() == dt.time(0) and value.utcoffset() in (None, dt.timedelta(0)):
                return value.date()
            raise ConversionError("expected a date, got a date and time")
        if isinstance(value, dt.date):
            return value
        if not isinstance(value, str):
            raise ConversionError(f"expected a date (YYYY-MM-DD), got {_type_name(value)}")
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            if lenient:
                try:
                    parsed = dt.datetime.fromisoformat(value.strip())
                except ValueError:
                    pass
                else:
                    return self.to_python(f, parsed, lenient=True)
            raise ConversionError(f"'{value[:40]}' is not a date (YYYY-MM-DD)") from None

    def to_json(self, f: FieldDef, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            return value
        return value.isoformat()


class DateTimeType(FieldType):
    name = "datetime"
    operators = ORDERED_OPS
    expression_type = "datetime"

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.DateTime(timezone=False)

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        """Times are stored as naive UTC; a value without an offset is taken as UTC."""
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            parsed = value
        elif lenient and isinstance(value, dt.date):
            parsed = dt.datetime.combine(value, dt.time(0))
        elif isinstance(value, str):
            text = value.strip()
            if text.endswith("Z"):
                text = text[:-1] + "+00:00"
            try:
                parsed = dt.datetime.fromisoformat(text)
            except ValueError:
                raise ConversionError(f"'{value[:40]}' is not an ISO 8601 date and time") from None
            if len(text) == 10 and not lenient:
                raise ConversionError("expected a date and time, got a date")
        else:
            raise ConversionError(f"expected an ISO 8601 date and time, got {_type_name(value)}")
        if parsed.tzinfo is not None:
            try:
                parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
            except OverflowError:
                raise ConversionError("is out of range in UTC (years 1 to 9999)") from None
        return parsed.replace(microsecond=(parsed.microsecond // 1000) * 1000)

    def to_json(self, f: FieldDef, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds") + "Z"


class PicklistType(FieldType):
    name = "picklist"
    options = frozenset({"choices", "controlling_field", "restricted"})
    operators = EQUALITY_OPS | {"lt", "lte", "gt", "gte", "startswith"}

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.String(100)

    def values(self, f: FieldDef) -> list[str]:
        return list(f.choice_values)

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ConversionError(f"expected one of the choices, got {_type_name(value)}")
        if value not in f.choice_set:
            raise ConversionError(f"'{value[:40]}' is not one of the choices")
        return value

    def from_query(self, f: FieldDef, raw: str) -> Any:
        return raw

    def option_problems(self, f: FieldDef) -> list[tuple[str, str]]:
        values = self.values(f)
        problems = []
        if not values:
            problems.append(("choices", "must list at least one choice"))
        if len(set(values)) != len(values):
            problems.append(("choices", "values must be unique"))
        for v in values:
            if not isinstance(v, str) or not v or len(v) > 100 or ";" in v:
                problems.append(("choices", f"value {v!r} must be 1-100 characters without ';'"))
        return problems


class MultiPicklistType(PicklistType):
    """Stored as ``;a;b;`` so that ``contains`` is one indexed-friendly LIKE on any database."""

    name = "multipicklist"
    operators = frozenset({"contains", "isnull", "eq", "ne"})
    expression_type = "list"
    sortable = False

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.String(4000)

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        if value is None:
            return None
        if lenient and isinstance(value, str):
            value = [value] if value else []
        if not isinstance(value, list):
            raise ConversionError(f"expected a list of choices, got {_type_name(value)}")
        allowed = self.values(f)
        for v in value:
            if v not in allowed:
                raise ConversionError(f"'{str(v)[:40]}' is not one of the choices")
        if not value:
            return None
        ordered = [v for v in allowed if v in value]
        return ";" + ";".join(ordered) + ";"

    def to_json(self, f: FieldDef, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, list):
            return value
        return [v for v in str(value).split(";") if v]

    def from_query(self, f: FieldDef, raw: str) -> Any:
        return raw


class ReferenceType(FieldType):
    """A reference to a record (lookup, master-detail), a user or a department: its id."""

    operators = frozenset({"eq", "ne", "in", "isnull"})
    expression_type = "reference"

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.BigInteger()

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        if value is None:
            return None
        if isinstance(value, bool):
            raise ConversionError("expected a record id")
        found = parse_id(value)
        if found is not None:
            return found
        if id_too_large(value):  # no row has it, and the driver would refuse to bind it
            raise ConversionError("is too large")
        raise ConversionError(f"expected a record id, got {_type_name(value)}")


class LookupType(ReferenceType):
    name = "lookup"
    options = frozenset({"target"})
    scalar = False


class MasterDetailType(ReferenceType):
    name = "master_detail"
    options = frozenset({"target"})
    scalar = False


class UserType(ReferenceType):
    name = "user"
    scalar = False


class DepartmentType(ReferenceType):
    name = "department"
    scalar = False


class AutonumberType(FieldType):
    """Numbered by the record service from a per-field sequence, e.g. ``BO-{0000}``."""

    name = "autonumber"
    options = frozenset({"format", "start"})
    operators = TEXT_OPS
    writable = False
    scalar = False

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.String(100)

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        if value is None or isinstance(value, str):
            return value
        raise ConversionError("expected text")

    def from_query(self, f: FieldDef, raw: str) -> Any:
        return raw

    def option_problems(self, f: FieldDef) -> list[tuple[str, str]]:
        fmt = f.options.get("format", "{0}")
        if not isinstance(fmt, str) or not re.fullmatch(r"[^{}]{0,40}\{0+\}[^{}]{0,40}", fmt):
            return [("format", "must hold one counter like {0000} and at most 40 characters around it")]
        return []

    def render(self, f: FieldDef, number: int) -> str:
        fmt = str(f.options.get("format", "{0}"))
        m = re.search(r"\{(0+)\}", fmt)
        assert m is not None
        return fmt[: m.start()] + str(number).zfill(len(m.group(1))) + fmt[m.end():]


RESULT_TYPES = ("text", "integer", "decimal", "currency", "percent", "boolean", "date", "datetime")


class FormulaType(FieldType):
    """Computed from an expression; stored formulas have a column of their result type."""

    name = "formula"
    options = frozenset({"expression", "result_type", "stored", "scale", "currency", "deadline"})
    writable = False
    scalar = False

    def result(self, f: FieldDef) -> FieldType:
        return FIELD_TYPES.get(str(f.options.get("result_type")), FIELD_TYPES["text"])

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any] | None:
        return self.result(f).column_type(f) if f.options.get("stored") else None

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        return self.result(f).to_python(f, value, lenient=True)

    def to_json(self, f: FieldDef, value: Any) -> Any:
        return self.result(f).to_json(f, value)

    def from_query(self, f: FieldDef, raw: str) -> Any:
        return self.result(f).from_query(f, raw)

    def option_problems(self, f: FieldDef) -> list[tuple[str, str]]:
        if f.options.get("result_type") not in RESULT_TYPES:
            return [("result_type", "must be one of " + ", ".join(RESULT_TYPES))]
        if f.options.get("currency") is not None and f.options.get("result_type") != "currency":
            return [("currency", "applies to a formula whose result type is currency")]
        if f.options.get("deadline") is not None and (
                f.options.get("result_type") != "date" or not f.options.get("stored")):
            return [("deadline", "applies to a stored formula whose result type is date")]
        return deadline_problems(f) or currency_problems(f)


class RollupType(DecimalType):
    """count/sum/min/max over master-detail children; stored, kept current by the service."""

    name = "rollup"
    options = frozenset({"function", "child", "field", "filter", "scale", "result_type"})
    writable = False
    scalar = False
    default_scale = 2

    def scale(self, f: FieldDef) -> int:
        if f.options.get("function") == "count":
            return 0
        return super().scale(f)

    def dated(self, f: FieldDef) -> FieldType | None:
        """min/max over a date or datetime child field keep that type: the save check
        records it as ``result_type`` (this field alone does not know its child's types)."""
        result = f.options.get("result_type")
        if result in ("date", "datetime") and f.options.get("function") in ("min", "max"):
            return FIELD_TYPES[str(result)]
        return None

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any]:
        dated = self.dated(f)
        column = dated.column_type(f) if dated is not None else None
        return column if column is not None else super().column_type(f)

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        dated = self.dated(f)
        if dated is not None:
            return dated.to_python(f, value, lenient=True)
        return super().to_python(f, value, lenient=lenient)

    def to_json(self, f: FieldDef, value: Any) -> Any:
        dated = self.dated(f)
        return dated.to_json(f, value) if dated is not None else super().to_json(f, value)

    def from_query(self, f: FieldDef, raw: str) -> Any:
        dated = self.dated(f)
        return dated.from_query(f, raw) if dated is not None else super().from_query(f, raw)


class FileType(FieldType):
    """A stored file (runtime.files): the column holds its description ``{"id", "name",
    "size", "content_type"}``. A write sends the id of an upload (``POST /api/v1/files``)
    or null; the record service checks that the upload is the writer's and unattached, and
    fills in the description. ``max_size`` (bytes) and ``accept`` (MIME types, ``image/*``
    families or ``.ext`` extensions) narrow what the field takes."""

    name = "file"
    options = frozenset({"max_size", "accept"})
    operators = frozenset({"isnull"})
    scalar = False
    sortable = False
    expression_type = "file"
    KEYS = ("id", "name", "size", "content_type")

    def column_type(self, f: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.JSON(none_as_null=True)

    def to_python(self, f: FieldDef, value: Any, *, lenient: bool = False) -> Any:
        """``{"id": n}`` for an id (or a file description read before, sent back)."""
        if value is None:
            return None
        raw = value.get("id") if isinstance(value, dict) else value
        found = None if isinstance(raw, float) else parse_id(raw)
        if found is None:
            if id_too_large(raw):
                raise ConversionError("is too large")
            raise ConversionError("expected the id of an uploaded file (POST /api/v1/files)")
        return {"id": found}

    def to_json(self, f: FieldDef, value: Any) -> Any:
        if not isinstance(value, dict):
            return None
        return {k: value[k] for k in self.KEYS if k in value}

    def from_query(self, f: FieldDef, raw: str) -> Any:
        return raw

    def option_problems(self, f: FieldDef) -> list[tuple[str, str]]:
        problems = []
        accept = f.options.get("accept")
        if accept is not None and not (
                isinstance(accept, list) and len(accept) <= 50 and all(
                    isinstance(a, str) and re.fullmatch(r"\.[A-Za-z0-9]{1,16}|[a-z0-9.+-]{1,60}/"
                                                        r"(\*|[a-z0-9.+-]{1,100})", a)
                    for a in accept)):
            problems.append(("accept", "lists MIME types (application/pdf), families (image/*) "
                                       "or extensions (.pdf), at most 50"))
        if f.options.get("default"):
            problems.append(("default", "a file field takes no default"))
        return problems


FIELD_TYPES: dict[str, FieldType] = {
    t.name: t
    for t in (
        TextType(), TextareaType(), IntegerType(), DecimalType(), CurrencyType(), PercentType(),
        BooleanType(), DateType(), DateTimeType(), EmailType(), PhoneType(), UrlType(),
        PicklistType(), MultiPicklistType(), LookupType(), MasterDetailType(), UserType(),
        DepartmentType(), AutonumberType(), FormulaType(), RollupType(), FileType(),
    )
}


def json_schema(f: FieldDef, *, for_input: bool = False) -> dict[str, Any]:
    """The JSON Schema of a field's value in the REST API (output form, or input form)."""
    kind = f.kind
    if isinstance(kind, FormulaType) or (isinstance(kind, RollupType) and kind.dated(f)):
        base = json_schema(_as_type(f, str(f.options.get("result_type", "text"))))
        return {**base, "readOnly": True}
    if isinstance(kind, DecimalType):
        number = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}
        schema: dict[str, Any] = (
            {"oneOf": [number, {"type": "number"}]} if for_input else number
        )
    elif isinstance(kind, IntegerType):
        schema = {"type": "integer"}
        for opt, key in (("min", "minimum"), ("max", "maximum")):
            if f.options.get(opt) is not None:
                schema[key] = f.options[opt]
    elif isinstance(kind, BooleanType):
        schema = {"type": "boolean"}
    elif isinstance(kind, DateTimeType):
        schema = {"type": "string", "format": "date-time"}
    elif isinstance(kind, DateType):
        schema = {"type": "string", "format": "date"}
    elif isinstance(kind, MultiPicklistType):
        schema = {"type": "array", "items": {"enum": kind.values(f)}, "uniqueItems": True}
    elif isinstance(kind, PicklistType):
        schema = {"enum": kind.values(f)}
    elif isinstance(kind, ReferenceType):
        schema = {"type": "integer", "minimum": 1}
    elif isinstance(kind, FileType):
        schema = ({"oneOf": [{"type": "integer", "minimum": 1,
                              "description": "the id POST /api/v1/files answered"},
                             {"type": "object", "required": ["id"],
                              "properties": {"id": {"type": "integer"}}}]}
                  if for_input else _FILE_SCHEMA)
    elif isinstance(kind, TextType):
        schema = {"type": "string", "maxLength": kind.length(f)}
        fmt = {"email": "email", "url": "uri"}.get(kind.name)
        if fmt:
            schema["format"] = fmt
    else:
        schema = {"type": "string"}
    if not (for_input and f.required):
        schema = {"anyOf": [schema, {"type": "null"}]}
    if not kind.writable:
        schema["readOnly"] = True
    labels = f.options.get("label") or {}
    if labels:
        schema["title"] = labels.get("en") or labels.get("zh")
    if isinstance(kind, PhoneType):  # what the API answers and takes (decision 0038)
        note = (f"A phone number in E.164 (+8613800138000); a write may send a national "
                f"number of region {phone_region(f)} or an international one")
        schema["description"] = f"{schema['title']}. {note}" if schema.get("title") else note
    return schema


_FILE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "name", "size", "content_type"],
    "description": "download: GET /api/v1/records/{object}/{id}/files/{field}",
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                   "size": {"type": "integer"}, "content_type": {"type": "string"}}}


def _as_type(f: FieldDef, type_name: str) -> FieldDef:
    from .model import FieldDef as FD

    return FD(f.id, f.name, type_name if type_name in FIELD_TYPES else "text", f.options)
