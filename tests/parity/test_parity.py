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
    normalised = {door: normalise(dump, scenario["start"]) for door, dump in runs.items()}
    for door, dump in normalised.items():
        (out / f"{door}.json").write_text(json.dumps(dump, indent=1, sort_keys=True))
    return normalised


@pytest.mark.parametrize("door", ["c_abi", "http"])
def test_the_door_gives_what_the_rust_api_gives(dumps: Dict[str, Dict[str, Any]], door: str) -> None:
    for part in ("events", "steps", "kpis"):
        difference = first_difference(dumps["rust"][part], dumps[door][part], part)
        assert difference is None, f"{door} differs from the Rust run at {difference[0]}: {difference[1]!r} != {difference[2]!r}"


def test_the_story_happened(dumps: Dict[str, Dict[str, Any]]) -> None:
    types = [e["event_type"] for e in dumps["rust"]["events"]]
    for expected in (
        "problem.known_error_published",
        "change.authorized",
        "change.closed",
        "problem.fix_change_outcome_recorded",
        "problem.resolved",
        "sla.breached",
    ):
        assert expected in types, expected
    assert types.count("change.approved") == 3  # the CAB's majority; the requester's vote refused
    # The problem's fix resolved both incidents waiting for it, after the change closed.
    assert types.count("incident.resolved") == 2
    assert types.index("incident.resolved") > types.index("change.closed")
    # Refused steps were refused the same way everywhere (and wrote nothing: the logs are equal).
    refusals = [s["error"] for s in dumps["rust"]["steps"] if "error" in s]
    assert refusals == ["separation_of_duties", "already_decided", "invalid_transition"]
    report = dumps["rust"]["kpis"]["groups"][0]
    assert report["change_success"]["rate"]["percent"] == 100.0
    assert report["mtta"]["count"] == 2


def test_the_normalisation_keeps_what_matters(dumps: Dict[str, Dict[str, Any]]) -> None:
    # Ids and recorded times are all it forgives: a changed payload, a missing event or a
    # changed KPI is a difference.
    start = load_scenario()["start"]
    raw_rust = json.loads(RUST_DUMP.read_text(encoding="utf-8"))
    assert normalise(raw_rust, start) == dumps["rust"]
    changed = copy.deepcopy(raw_rust)
    changed["events"][-1]["payload"] = {"tampered": True}
    assert normalise(changed, start)["events"] != dumps["rust"]["events"]
    later = copy.deepcopy(raw_rust)
    later["events"][-1]["recorded_at"] = "2031-02-09T06:41:00Z"  # an instant of the scenario
    assert normalise(later, start)["events"] != dumps["rust"]["events"]
    shorter = copy.deepcopy(raw_rust)
    shorter["events"].pop()
    assert first_difference(normalise(shorter, start)["events"], dumps["rust"]["events"]) is not None
    # Only the engine's own first event (the initial policy, recorded at open) predates the start.
    markers = [e["position"] for e in dumps["rust"]["events"] if e["recorded_at"] == "<recorded_at>"]
    assert markers == [1]
    assert dumps["rust"]["kpis"] != {} and dumps["rust"]["kpis"] == dumps["http"]["kpis"]
