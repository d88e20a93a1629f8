"""Sign-in, users and the permission engine (the one choke point of DESIGN §5)."""

from .accounts import create_user, principal_for_token, revoke_token, sign_in
from .engine import PermissionEngine, engine
from .principal import SYSTEM, Principal
from .tables import security_metadata

__all__ = [
    "SYSTEM",
    "PermissionEngine",
    "Principal",
    "create_user",
    "engine",
    "principal_for_token",
    "revoke_token",
    "security_metadata",
    "sign_in",
]
