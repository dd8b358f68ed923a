"""One engine shared by several Python threads: calls release the GIL and run concurrently."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from opsledger import Engine

THREADS = 8
NOTES_PER_THREAD = 50


def test_no_lost_update_on_one_record(engine: Engine) -> None:
    engine.open_incident("Shared incident", caller="bob")
    barrier = threading.Barrier(THREADS)

    def work(t: int) -> int:
        barrier.wait()
        for i in range(NOTES_PER_THREAD):
            engine.add_incident_note("INC0000001", f"thread {t} note {i}", actor={"id": f"agent{t}", "roles": ["agent"]})
        return t

    with ThreadPoolExecutor(THREADS) as pool:
        assert sorted(pool.map(work, range(THREADS))) == list(range(THREADS))
    notes = [e for e in engine.timeline("INC0000001") if e["event_type"] == "incident.work_note_added"]
    assert len(notes) == THREADS * NOTES_PER_THREAD
    assert engine.record("INC0000001")["view"]["version"] == 1 + THREADS * NOTES_PER_THREAD
    texts = {e["event"]["text"] for e in notes}
    assert len(texts) == THREADS * NOTES_PER_THREAD


def test_concurrent_creates_get_dense_numbers(tmp_path: Path) -> None:
    with Engine.open(tmp_path / "data", durability="group_commit", actor={"id": "alice", "roles": ["agent"]}) as engine:
        def work(t: int) -> list:
            return [engine.open_incident(f"t{t} #{i}", caller="bob")["number"] for i in range(20)]

        with ThreadPoolExecutor(THREADS) as pool:
            numbers = [n for batch in pool.map(work, range(THREADS)) for n in batch]
        assert sorted(numbers) == [f"INC{n:07d}" for n in range(1, THREADS * 20 + 1)]
        positions = [e["position"] for e in engine.events(page_size=1000)]
        assert positions == list(range(1, len(positions) + 1))


def test_readers_and_writers_together(engine: Engine) -> None:
    engine.open_incident("Read me", caller="bob")
    stop = threading.Event()
    errors: list = []

    def reader() -> None:
        try:
            while not stop.is_set():
                assert engine.record("INC0000001")["number"] == "INC0000001"
        except Exception as e:  # pragma: no cover
            errors.append(e)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for r in readers:
        r.start()
    for i in range(100):
        engine.add_incident_note("INC0000001", f"note {i}")
    stop.set()
    for r in readers:
        r.join()
    assert errors == []
