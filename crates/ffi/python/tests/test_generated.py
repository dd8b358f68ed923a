"""The typed layer is generated from the published schemas (tools/generate.py) and is current;
it covers every method the library serves."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

import opsledger
from opsledger import Engine, types
from opsledger._methods import Methods

REPOSITORY = Path(os.environ.get("OPSLEDGER_REPOSITORY") or Path(__file__).resolve().parents[4])
GENERATOR = REPOSITORY / "crates" / "ffi" / "python" / "tools" / "generate.py"


def generator() -> ModuleType:
    if not GENERATOR.is_file():
        pytest.skip(f"the generator is not here: {GENERATOR}")
    spec = importlib.util.spec_from_file_location("opsledger_generate", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_files_are_current() -> None:
    """Fails when docs/openrpc.json or docs/schema/ changed without regenerating; run with
    OPSLEDGER_BLESS=1 (or `python3 crates/ffi/python/tools/generate.py`) to rewrite them."""
    gen = generator()
    types_py, methods_py = gen.generate(*gen.load())
    targets = {gen.TYPES_PY: types_py, gen.METHODS_PY: methods_py}
    if os.environ.get("OPSLEDGER_BLESS"):
        for path, text in targets.items():
            path.write_text(text, encoding="utf-8")
    stale = [str(p) for p, text in targets.items() if p.read_text(encoding="utf-8") != text]
    assert not stale, f"stale: {stale}; run `OPSLEDGER_BLESS=1 pytest {Path(__file__).name}`"


def test_every_method_the_library_serves_has_a_typed_method(engine: Engine) -> None:
    served = sorted(m["name"] for m in engine.discover()["methods"])
    assert sorted(types.METHODS) == served
    for name in served:
        method = getattr(Engine, name.replace(".", "_"))
        assert callable(method)
        assert method.__doc__ and f"``{name}``" in method.__doc__


def test_typed_methods_call_their_method(engine: Engine) -> None:
    opened = engine.incident_open(title="Checkout fails", caller="bob", impact="high", urgency="high")
    number = opened["number"]
    assert number == "INC0000001"
    engine.incident_acknowledge(id=number)
    assigned = engine.incident_assign(id=number, group="web-oncall", assignee="alice")
    assert assigned["version"] == 3
    record = engine.query_record(id=number)
    assert record["view"] is not None and record["view"]["status"]["status"] == "in_progress"
    page = engine.query_queue(kind="incident", open_only=True)
    assert [item["record"]["id"] for item in page["items"]] == [opened["record"]["id"]]
    assert engine.policy_history()[0]["version"] == 1
    assert engine.events_read(after=0, max=1)["events"][0]["position"] == 1


def test_instants_may_be_datetimes(engine: Engine) -> None:
    from datetime import datetime, timezone

    engine.incident_open(title="t", caller="bob", impact="low", urgency="low")
    later = engine.query_record(id="INC0000001", as_of=datetime(2100, 1, 1, tzinfo=timezone.utc))
    assert later["number"] == "INC0000001"
    with pytest.raises(ValueError, match="timezone-aware"):
        engine.query_record(id="INC0000001", as_of=datetime(2100, 1, 1))


def test_string_enums_are_literal_types() -> None:
    from typing import get_args

    assert set(get_args(types.Impact)) == {"high", "medium", "low"}
    assert "resolved" in get_args(types.IncidentStatusKind)
    assert types.ERROR_CODES["not_found"] == -32001
    assert issubclass(Engine, Methods) and opsledger.types is types
