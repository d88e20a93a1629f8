"""The web layer: the only code that knows HTTP."""

from .app import create_app

__all__ = ["create_app"]
