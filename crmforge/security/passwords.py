"""Password hashing (argon2id through argon2-cffi) and the password policy."""

from __future__ import annotations

import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..core.errors import ValidationFailed


def _hasher_from_env() -> PasswordHasher:
    """argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile), or the cost
    in ``CRMFORGE_ARGON2_COST`` as ``time_cost,memory_kib,parallelism``: a deployment may
    raise it, and the test suite lowers it (thousands of sign-ins). A stored hash carries
    its own cost, so hashes made under any setting keep verifying."""
    raw = os.environ.get("CRMFORGE_ARGON2_COST")
    if not raw:
        return PasswordHasher()
    try:
        time_cost, memory_kib, parallelism = (int(p) for p in raw.split(","))
        return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                              parallelism=parallelism)
    except ValueError:
        raise ValueError("CRMFORGE_ARGON2_COST is 'time_cost,memory_kib,parallelism', "
                         f"e.g. '3,65536,4'; got {raw!r}") from None


_hasher = _hasher_from_env()

MIN_LENGTH = 8


def policy_problems(password: object) -> list[str]:
    if not isinstance(password, str):
        return ["must be a string"]
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must have at least {MIN_LENGTH} characters")
    if len(password) > 256:
        problems.append("must have at most 256 characters")
    if password.strip() != password or not password.strip():
        problems.append("must not start or end with spaces")
    classes = sum(
        any(test(c) for c in password) for test in (str.isdigit, str.isalpha, lambda c: not c.isalnum())
    )
    if classes < 2:
        problems.append("must mix letters with digits or symbols")
    return problems


def check_policy(password: object, field: str = "password") -> str:
    problems = policy_problems(password)
    if problems:
        raise ValidationFailed(f"the password {problems[0]}", {field: problems})
    assert isinstance(password, str)
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A hash to verify against when the user does not exist, so timing does not reveal names.
DUMMY_HASH = _hasher.hash("not-a-real-password-0")
