"""Who is acting: a signed-in user, or the explicit system principal for background work."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    user_id: int | None
    username: str
    is_admin: bool = False
    department_id: int | None = None
    is_system: bool = False
    roles: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return self.username


#: Background jobs and pack installs act as this principal, named in history and audit.
SYSTEM = Principal(user_id=None, username="system", is_admin=True, is_system=True)
