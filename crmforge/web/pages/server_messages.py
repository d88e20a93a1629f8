"""The pages' name for the service-message templates, which live a layer up
(``crmforge.web.server_messages``) so the API's error envelope uses the same ones."""

from __future__ import annotations

from ..server_messages import TEMPLATES, translated

__all__ = ["TEMPLATES", "translated"]
