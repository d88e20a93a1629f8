"""Service messages on a page: in the page's language, naming objects and fields by label.

The templates live a layer up (``crmforge.web.server_messages``) so the API's error
envelope uses the same ones. The services write API names (``no account record 7``, ``filter
on 'annual_revenue': ...``), right for the API; a business user knows the labels, so a page
shows the object's label for an ``%(object)s`` and, on an object's pages, the field's label
for a ``%(field)s`` of that object. The designer keeps API names, which it shows beside the
labels.
"""

from __future__ import annotations

from flask import g, has_request_context, request

from ...metadata.model import ObjectDef
from .. import server_messages
from ..server_messages import TEMPLATES

#: Where an object's page names its object for the messages it shows (``display.page_for``).
PAGE_OBJECT = "message_object"


def remember_object(obj: ObjectDef) -> None:
    """Messages of this request name ``obj``'s fields by label."""
    setattr(g, PAGE_OBJECT, obj)


#: Blueprints whose readers work with API names: the designer names objects and fields by
#: them beside their labels, so its messages keep them.
API_NAME_READERS = frozenset({"admin_ui"})


def _shown(name: str, value: str) -> str:
    if not has_request_context() or name not in ("object", "field") \
            or request.blueprint in API_NAME_READERS:
        return value
    from . import _reader
    from .i18n import current_lang

    if name == "field":
        obj: ObjectDef | None = g.get(PAGE_OBJECT)
        field = obj.field(value) if obj is not None else None
        return field.label(current_lang()) if field is not None else value
    reader = _reader()
    found = reader[0].object(value) if reader is not None else None
    return found.label(current_lang()) if found is not None else value


def translated(message: object) -> str:
    """``message`` in the page's language, objects and fields named by their labels."""
    return server_messages.translated(message, shown=_shown)


__all__ = ["TEMPLATES", "remember_object", "translated"]
