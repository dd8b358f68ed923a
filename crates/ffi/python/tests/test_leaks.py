"""No leaked buffers: the library's live-buffer counter (debug builds) returns to its baseline,
and the Python side's memory does not grow with the number of calls (tracemalloc)."""

from __future__ import annotations

import gc
import threading
import tracemalloc

import pytest

import opsledger
from opsledger import AbiError, Engine, OpsledgerError


def exercise(engine: Engine, rounds: int) -> None:
    for i in range(rounds):
        engine.add_incident_note("INC0000001", f"note {i}")
        engine.record("INC0000001")
        engine.raw(b"{not json")  # an error response is a buffer too
        engine.raw('{"jsonrpc":"2.0","method":"no.such"}')  # a notification: no buffer
        with pytest.raises(OpsledgerError):
            engine.call("no.such")
        with pytest.raises(AbiError):
            engine.raw(b"\xff")  # a status: no buffer
        engine.batch([("query.record", {"id": "INC0000001"}), ("no.such", {})])


def test_live_buffers_return_to_baseline(engine: Engine, debug_build: None) -> None:
    engine.open_incident("Leak check", caller="bob")
    baseline = opsledger.debug_live_buffers()
    exercise(engine, 50)
    assert opsledger.debug_live_buffers() == baseline
    threads = [threading.Thread(target=exercise, args=(engine, 20)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert opsledger.debug_live_buffers() == baseline


def test_python_memory_does_not_grow_with_calls(engine: Engine) -> None:
    engine.open_incident("Leak check", caller="bob")
    exercise(engine, 20)  # warm up caches, interned strings, pytest's machinery
    gc.collect()
    tracemalloc.start()
    try:
        exercise(engine, 50)
        gc.collect()
        first, _ = tracemalloc.get_traced_memory()
        exercise(engine, 200)
        gc.collect()
        second, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 4x the calls must not mean more retained memory (a leak of even one response per call
    # would be hundreds of kilobytes here).
    assert second - first < 64 * 1024, (first, second)


def test_engines_opened_and_closed_in_a_loop(debug_build: None) -> None:
    baseline = opsledger.debug_live_buffers()
    for _ in range(20):
        with Engine.in_memory(actor={"id": "a", "roles": ["agent"]}) as engine:
            engine.open_incident("x", caller="bob")
    assert opsledger.debug_live_buffers() == baseline


def test_an_engine_dropped_without_close_releases_its_data_directory(tmp_path) -> None:
    # Dropped without close(): the finalizer must close the handle. sled locks a data
    # directory while it is open, so reopening it proves the handle was released.
    agent = {"id": "a", "roles": ["agent"]}
    engine = Engine.open(str(tmp_path / "data"), actor=agent)
    number = engine.open_incident("x", caller="bob")["number"]
    del engine
    gc.collect()
    with Engine.open(str(tmp_path / "data"), actor=agent) as again:
        assert again.record(number)["view"]["title"] == "x"
