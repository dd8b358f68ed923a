"""One scenario, three doors: the Rust API (crates/rpc/tests/rpc/parity.rs writes its dump), the
C ABI from Python and JSON-RPC over HTTP against the `opsledger` binary give the same event log
(modulo ids and recorded times), the same step outcomes and the same KPI report.

Needs the Rust run's dump (`cargo test -p opsledger-rpc --test rpc parity` writes
`<target>/tmp/parity-rust.json`; or set OPSLEDGER_PARITY_RUST), the `opsledger` binary
(OPSLEDGER_BIN, default `<target>/debug/opsledger`) and the `opsledger` package with its library.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from parity import REPOSITORY, first_difference, load_scenario, normalise, run_c_abi, run_http  # noqa: E402

TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or REPOSITORY / "target")
RUST_DUMP = Path(os.environ.get("OPSLEDGER_PARITY_RUST") or TARGET / "tmp" / "parity-rust.json")
BINARY = os.environ.get("OPSLEDGER_BIN") or str(TARGET / "debug" / "opsledger")


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Dict[str, Any]]:
    if not RUST_DUMP.is_file():
        pytest.fail(f"{RUST_DUMP} is missing: run `cargo test -p opsledger-rpc --test rpc parity` first")
    scenario = load_scenario()
    runs = {
        "rust": json.loads(RUST_DUMP.read_text(encoding="utf-8")),
        "c_abi": run_c_abi(scenario),
        "http": run_http(scenario, BINARY, tmp_path_factory.mktemp("http")),
    }
    out = tmp_path_factory.mktemp("normalised")
    normalised = {door: normalise(dump) for door, dump in runs.items()}
    for door, dump in normalised.items():
        (out / f"{door}.json").write_text(json.dumps(dump, indent=1, sort_keys=True))
    return normalised


@pytest.mark.parametrize("door", ["c_abi", "http"])
def test_the_door_gives_what_the_rust_api_gives(dumps: Dict[str, Dict[str, Any]], door: str) -> None:
    for part in ("events", "steps", "kpis"):
        difference = first_difference(dumps["rust"][part], dumps[door][part], part)
        assert difference is None, f"{door} differs from the Rust run at {difference[0]}: {difference[1]!r} != {difference[2]!r}"


def test_the_story_happened(dumps: Dict[str, Dict[str, Any]]) -> None:
    events = dumps["rust"]["events"]
    types = [e["event_type"] for e in events]
    # Both incidents were resolved by the problem's fix (a follow-up of problem.resolve_fixed).
    resolved = [e for e in events if e["event_type"] == "incident.resolved"]
    assert len(resolved) == 2, types
    assert "problem.known_error_marked" in types or any("known_error" in t for t in types), types
    assert types.count("change.approved") + types.count("change.approval_recorded") >= 1 or any(
        "approv" in t for t in types
    ), types
    assert any(t.startswith("change.closed") for t in types), types
    assert any("breach" in t for t in types), types  # the tick recorded an SLA breach
    # Refused steps wrote nothing and were refused the same way everywhere.
    refusals = [s["error"] for s in dumps["rust"]["steps"] if "error" in s]
    assert refusals == ["separation_of_duties", "already_decided"]


def test_the_normalisation_keeps_what_matters(dumps: Dict[str, Dict[str, Any]]) -> None:
    # Ids and recorded times are all it forgives: a changed payload, a missing event or a
    # changed KPI is a difference.
    raw_rust = json.loads(RUST_DUMP.read_text(encoding="utf-8"))
    assert normalise(raw_rust) == dumps["rust"]
    changed = copy.deepcopy(raw_rust)
    changed["events"][-1]["payload"] = {"tampered": True}
    assert normalise(changed)["events"] != dumps["rust"]["events"]
    shorter = copy.deepcopy(raw_rust)
    shorter["events"].pop()
    assert first_difference(normalise(shorter)["events"], dumps["rust"]["events"]) is not None
    assert dumps["rust"]["kpis"] != {} and dumps["rust"]["kpis"] == dumps["http"]["kpis"]
