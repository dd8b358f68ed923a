"""Shared fixtures. The suite runs against the real C library: set OPSLEDGER_LIB to it (CI
builds it with `cargo build -p opsledger-ffi --features spec-fixtures`), or let the package
find it in the cargo target directory.

With OPSLEDGER_REQUIRE_DEBUG=1 (CI), tests that need a debug build with the `spec-fixtures`
feature fail instead of being skipped when the library lacks them.
"""

from __future__ import annotations

import functools
import os
from typing import Iterator

import pytest

import opsledger
from opsledger import AbiError, Engine, Status

ALICE = {"id": "alice", "roles": ["agent"]}
BOB = {"id": "bob", "roles": ["agent"]}
MANAGER = {"id": "mia", "roles": ["problem_manager"]}
CAB = {"id": "carol", "roles": ["cab_member"]}


def require(feature: str, available: bool) -> None:
    if available:
        return
    message = f"the loaded library lacks {feature}: {opsledger.find_library()}"
    if os.environ.get("OPSLEDGER_REQUIRE_DEBUG") == "1":
        pytest.fail(message)
    pytest.skip(message)


@functools.lru_cache(maxsize=None)
def has_spec_fixtures() -> bool:
    try:
        Engine.in_memory(spec_fixtures=True).close()
        return True
    except AbiError as e:
        assert e.status == Status.INVALID_CONFIG
        return False


@pytest.fixture(scope="session", autouse=True)
def library() -> str:
    path = opsledger.find_library()
    return str(path)


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine.in_memory(actor=ALICE) as e:
        yield e


@pytest.fixture
def spec_engine() -> Iterator[Engine]:
    require("the spec-fixtures feature", has_spec_fixtures())
    with Engine.in_memory(spec_fixtures=True) as e:
        yield e


@pytest.fixture
def debug_build() -> None:
    require("the debug functions (a debug build)", opsledger.debug_live_buffers() is not None)
