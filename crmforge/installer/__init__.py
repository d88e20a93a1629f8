"""Industry packs (DESIGN §8): read and check a pack, install, upgrade and uninstall it on a
tenant in one transaction, and export a tenant's metadata as a pack."""

from .apply import CHOICES, Installer, Plan, platform_version
from .export import export_pack
from .loader import Pack, load_pack
from .registry import available, find, search_path

__all__ = ["CHOICES", "Installer", "Pack", "Plan", "available", "export_pack", "find",
           "load_pack", "platform_version", "search_path"]
