"""Messages the services write in English, shown in the page's language.

The services know nothing of Flask or of a request's language: their errors are English,
the API's language. The pages show business users those messages beside form fields and
on error pages, so the common ones are translated here. Each template is the exact English
text a service writes, with ``%(name)s`` where it varies; a message that matches no
template is shown as it is. Validation rule messages are already in the page's language
(the rule carries both), so they pass through unchanged.
"""

from __future__ import annotations

import re
from functools import cache

from flask_babel import gettext

#: The English templates (each needs a Chinese translation in the zh catalog; a test checks
#: that every one has one and that real service messages match them). A translation may
#: leave out a placeholder that would show English (``%(kind)s``: the JSON type sent).
TEMPLATES: tuple[str, ...] = (
    "is required",
    "must be unique; another record has this value",
    "another record has a value that must be unique",
    "is read-only for you",
    "a value computed from fields you may not see could not be computed",
    "the database is busy with a long change; try again shortly",
    "the disk is full; changes are refused until space is freed",
    "the database is read-only; changes are refused",
    "the disk cannot be written; changes are refused",
    "the database is out of memory; try again shortly",
    "is longer than %(n)s characters",
    "must be at least %(n)s",
    "must be at most %(n)s",
    "'%(value)s' is not a number",
    "'%(value)s' is not a whole number",
    "has more than %(n)s decimal places",
    "'%(value)s' has more than %(n)s decimal places",
    "has more than %(n)s significant digits",
    "expected a whole number, got %(kind)s",
    "expected a number, got %(kind)s",
    "expected text, got %(kind)s",
    "expected true or false, got %(kind)s",
    "expected a date (YYYY-MM-DD), got %(kind)s",
    "expected one of the choices, got %(kind)s",
    "is too large",
    "must be a finite number",
    "is not an e-mail address",
    "is not a phone number",
    "is not an http or https address",
    "does not match the required pattern",
    "cannot be checked: the field's pattern is not supported; an administrator must change it",
    "'%(value)s' is not a date (YYYY-MM-DD)",
    "'%(value)s' is not an ISO 8601 date and time",
    "'%(value)s' is not one of the choices",
    "'%(value)s' is not allowed when %(field)s is %(other)s",
    "no %(object)s record %(id)s",
    "no user %(id)s",
    "a record in status '%(state)s' cannot be changed",
    "a record in status '%(state)s' cannot be changed except %(fields)s",
    "a record in status '%(state)s' does not allow %(operation)s",
    "the record changed meanwhile; reload and try again",
    # The explain tool's reasons (crmforge/security/explain.py).
    "user '%(user)s' is inactive and cannot sign in",
    "%(object)s record %(id)s does not exist",
    "'%(user)s' is an administrator",
    "temporary access while holding an approval task",
    "none of the user's roles (%(roles)s) grants '%(operation)s' on %(object)s",
    "'%(operation)s' on %(object)s is granted by %(roles)s",
    "the record is outside the user's data scope '%(scope)s' (owner %(owner)s, "
    "department %(department)s) and not shared with them",
    "the record is outside the user's data scope '%(scope)s' (owner %(owner)s, "
    "department %(department)s) and not shared with them for editing",
    "'%(operation)s' granted by %(roles)s; the record is within reach (scope '%(scope)s')",
    # ... and when the role hierarchy decided (decision 0013).
    "'%(operation)s' granted by %(roles)s; the record is within reach through the role "
    "hierarchy: role '%(superior)s' is above role '%(subordinate)s' held by the owner, and "
    "the record's department is within the user's department tree",
    "the record is outside the user's data scope '%(scope)s' (owner %(owner)s, "
    "department %(department)s) and not shared with them; role '%(superior)s' is above role "
    "'%(subordinate)s' held by the owner, but the role hierarchy reaches only the user's "
    "department tree",
    "the record is outside the user's data scope '%(scope)s' (owner %(owner)s, "
    "department %(department)s) and not shared with them for editing; role '%(superior)s' is "
    "above role '%(subordinate)s' held by the owner, but the role hierarchy reaches only the "
    "user's department tree",
    "the record is outside the user's data scope '%(scope)s' (owner %(owner)s, "
    "department %(department)s) and not shared with them; role '%(superior)s' is above role "
    "'%(subordinate)s' held by the owner, but its hierarchy access to %(object)s is switched "
    "off",
    "the record is outside the user's data scope '%(scope)s' (owner %(owner)s, "
    "department %(department)s) and not shared with them for editing; role '%(superior)s' is "
    "above role '%(subordinate)s' held by the owner, but its hierarchy access to %(object)s "
    "is switched off",
    "the record changed since version %(old)s (now %(new)s); reload and try again",
    # The explain tool at the field level (crmforge/security/explain_fields.py).
    "%(object)s has no field '%(field)s'",
    "'%(field)s' is computed from %(source)s, which the user may not see",
    "'%(field)s' is hidden from the user's roles (%(roles)s)",
    "'%(field)s' is %(access)s for the user's roles (%(roles)s)",
    "'%(field)s' is %(access)s for the user's roles (%(roles)s); it is empty on records "
    "whose related records the user cannot see",
    # The list's limits (crmforge/core/filters.py) and malformed requests.
    "a list takes at most %(n)s filter conditions",
    "'sort' takes at most %(n)s fields",
    "'%(key)s' takes at most %(n)s values",
    "the request contains a NUL character, which no value may hold",
    # Refusals a page meets on odd addresses and forms (tests/integration/test_pages_no_500).
    "expected a record id, got %(kind)s",
    "expected a record id",
    "no object named '%(name)s'",
    "no record %(id)s",
    "no dashboard named '%(name)s'",
    "no list view %(id)s of %(object)s",
    "no list view %(id)s",
    "the view needs a name",
    "a view's name has at most %(n)s characters",
    "no task %(id)s",
    "no approval %(id)s submitted by you",
    "no approval %(id)s",
    "no approval action '%(action)s'",
    "no approval process of %(object)s applies to this record (entry criteria not met)",
    "no attachment %(id)s on this record",
    "no file field named '%(field)s'",
    "you may not %(operation)s %(object)s records",
    "the CSRF token is missing or invalid (%(reason)s); send it in the X-CSRF-Token header "
    "or the csrf_token form field",
    # A list's address (crmforge/runtime/query.py, crmforge/core/filters.py).
    "filter on '%(field)s': %(reason)s",
    "cannot filter by '%(field)s': no such field",
    "cannot sort by '%(field)s': no such field",
    "cannot filter by '%(field)s': it is computed and not stored",
    "cannot sort by '%(field)s': it is computed and not stored",
    "cannot sort by the %(type)s field '%(field)s'",
    "'%(op)s' does not apply to the %(type)s field '%(field)s'",
    "unknown filter operator '%(op)s' in '%(key)s'",
    "'%(key)s' takes true or false",
    "'%(key)s' takes two comma-separated values",
    "'%(key)s' takes at least one value",
    "'limit' must be a whole number",
    "'limit' must be between 1 and %(n)s",
    "'total' takes true, false or estimate; filter a field named total with total__eq",
    "the cursor is not valid for this list",
    "'%(object)s' has no searchable fields",
    # Files (crmforge/runtime/files).
    "the file is larger than the limit of %(limit)s",
    "the file is empty",
    "programs and scripts are not accepted (put them in a zip file)",
    "files of type %(type)s are not accepted",
    "files of type %(type)s are not accepted here",
    "the file is larger than this field's limit of %(limit)s",
    "you may not update %(object)s records",
    "you may read but not change this %(object)s record",
    # Imports: per-row and file messages (crmforge/runtime/imports).
    "no %(object)s record titled '%(value)s'",
    "no %(object)s record with %(field)s '%(value)s'",
    "'%(value)s' matches %(n)s %(object)s records; map the column to %(field)s.<unique field> "
    "to tell them apart",
    "no user named '%(value)s'",
    "no department named '%(value)s'",
    "the cell holds the formula %(formula)s without a computed value; open the file in Excel "
    "and save it again",
    "'%(value)s' is not yes or no (true or false)",
    "'%(value)s' is not a date",
    "'%(value)s' is not a date and time",
    "'%(value)s' is a date and time; the field holds a date",
    "'%(value)s' could be either day or month first; set the date order of the file "
    "(day/month/year or month/day/year)",
    "the value is also in row %(n)s of the file",
    "is required to find the record",
    "'%(value)s' is not a record id",
    "the workbook is password-protected; remove the password in Excel (File, Info, Protect "
    "Workbook) and upload it again",
    "the file is an Excel 97-2003 workbook (.xls); save it as .xlsx or CSV and upload it again",
    "the file is a ZIP archive but not an XLSX workbook; save it as .xlsx or CSV",
    "the XLSX workbook is damaged and cannot be read (%(kind)s); open it in Excel, save it "
    "again and upload it again",
    "the file is neither a CSV text file nor an XLSX workbook",
    "the file is not UTF-8 or GB18030 (GBK) text; save it as \"CSV UTF-8\" or choose its encoding",
    "the file is not valid %(encoding)s text (line %(n)s); choose its encoding",
    "the file is not valid %(encoding)s text (row %(n)s); choose its encoding",
    "the file has more than %(n)s rows; split it",
    "the user '%(user)s' who started the import is no longer active",
    "row %(n)s cannot be read as CSV: %(reason)s",
    "row %(n)s has more than %(max)s columns",
    "the sheet '%(sheet)s' is empty",
    "the workbook has no sheet named '%(sheet)s'",
    "the header row is empty",
    "a header of row %(n)s is longer than %(max)s characters; is the first row the header?",
    "the file has no header row",
    "the workbook unpacks to more than 2 GB; split it",
    "the workbook has no visible worksheet",
    # BPMN import: elements refused or left out (crmforge/workflow/importer.py).
    "%(element)s is not run: the approval goes straight on past it",
    "%(element)s is ignored: it changes nothing the engine runs",
    "%(element)s is imported as a plain event: its trigger or result is not run",
    "%(element)s: its extension %(extension)s is not run",
    "%(element)s is ignored: only one process of a file is imported",
    "%(element)s cannot be run: sub-processes and call activities are not supported; draw "
    "their tasks in the main process",
    "%(element)s cannot be run: branches drawn in another modeler are not imported; mark "
    "parallel steps as one parallel group in the designer",
    "the steps of the parallel group '%(group)s' must stand next to each other",
    "the parallel group '%(group)s' needs two steps or more",
    "a step in or right after a parallel group has no single previous approver to choose",
    "%(element)s cannot be run: boundary and waiting events are not supported",
    "%(element)s cannot be run: a task repeated in a loop is not supported",
    "%(element)s uses the expression %(expression)s, which is not CRMForge's: name approvers "
    "and write conditions without ${...}",
    "%(element)s has a completion condition the engine cannot run: %(expression)s; use the "
    "step's mode and pass rate",
    "%(element)s has a condition that does not lead to an approval task: only a step's entry "
    "criteria are kept",
    "%(element)s is not reached from the start event",
    "the file holds more than one process with approval tasks: %(names)s; import one per file",
    "the BPMN file cannot be imported: %(reason)s",
    "the BPMN process has no user task to turn into a step",
    # Users and departments in the designer (crmforge/security/passwords.py, org.py).
    "must have at least %(n)s characters",
    "must have at most %(n)s characters",
    "must not start or end with spaces",
    "must mix letters with digits or symbols",
    "already taken",
    "1-150 characters, no spaces around",
    "no role named %(names)s",
    "a department named '%(name)s' already exists",
    "a department name has lowercase ASCII letters, digits and '_'",
    "a department cannot move below itself",
    "the department has sub-departments; move or remove them first",
    "the department has members; move them first",
    "the new password must differ from the old one",
    "same as before",
    "no object named '%(value)s'",
    "'%(value)s' is listed twice",
    "'%(value)s' only links other objects; it stays out of menus",
    "an app lists at least one object",
    "an app named '%(value)s' already exists",
    "an app name has lowercase ASCII letters, digits and '_'",
    # Notes on records (crmforge/runtime/notes.py).
    "a note needs some text",
    "a note has at most %(n)s characters",
    "enter the follow-up date as YYYY-MM-DD",
    "the note holds characters that cannot be stored",
    # The list page's columns (crmforge/runtime/list_views.py).
    "no field named '%(field)s'",
    "a list shows at most %(n)s columns",
    # Phone numbers (crmforge/metadata/fieldtypes.py, decision 0038).
    "is not a valid phone number: write a number of region %(region)s, or start with + and "
    "the country code",
    # Roles (crmforge/metadata/roles.py, crmforge/runtime/designer_documents.py).
    "a role named '%(name)s' already exists",
    "a role name has lowercase ASCII letters, digits and '_'",
    "the role '%(name)s' was changed by someone else since you opened it; reload it and "
    "make your change again",
    # JSON Schema refusals of metadata documents shown beside the designer's inputs.
    "%(value)s is not one of %(choices)s",
    "%(value)s is too long",
)

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    compiled = []
    for template in TEMPLATES:
        parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, ...
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)"
                        for i, p in enumerate(parts))
        compiled.append((re.compile(regex), template))
    return tuple(compiled)


#: Placeholders holding another service message (a filter's conversion error), translated
#: in turn.
NESTED = frozenset({"reason"})


def translated(message: object) -> str:
    """``message`` in the page's language when it is one of the known templates."""
    text = str(message)
    for pattern, template in _patterns():
        m = pattern.fullmatch(text)
        if m is not None:
            values = {k: translated(v) if k in NESTED else v for k, v in m.groupdict().items()}
            return str(gettext(template, **values))
    return text


__all__ = ["TEMPLATES", "translated"]
