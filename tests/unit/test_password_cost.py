"""The argon2 cost: argon2-cffi's defaults unless CRMFORGE_ARGON2_COST sets it; a hash made
under one cost verifies under any other."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from crmforge.security import passwords


def test_default_and_configured_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRMFORGE_ARGON2_COST", raising=False)
    default = passwords._hasher_from_env()
    assert (default.time_cost, default.memory_cost) == (PasswordHasher().time_cost,
                                                        PasswordHasher().memory_cost)
    monkeypatch.setenv("CRMFORGE_ARGON2_COST", "2,2048,1")
    cheap = passwords._hasher_from_env()
    assert (cheap.time_cost, cheap.memory_cost, cheap.parallelism) == (2, 2048, 1)
    assert default.verify(cheap.hash("Abc-12345678"), "Abc-12345678")


def test_a_bad_cost_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMFORGE_ARGON2_COST", "fast")
    with pytest.raises(ValueError, match="CRMFORGE_ARGON2_COST"):
        passwords._hasher_from_env()
