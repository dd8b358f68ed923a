"""The events iterator over events.read and events.subscribe."""

from __future__ import annotations

import threading
import time

from opsledger import Engine


def test_reads_the_log_in_pages(engine: Engine) -> None:
    for i in range(5):
        engine.open_incident(f"incident {i}", caller="bob")
    events = list(engine.events(page_size=2))
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    assert sum(e["event_type"] == "incident.opened" for e in events) == 5
    after = events[2]["position"]
    assert [e["position"] for e in engine.events(after)] == [e["position"] for e in events[3:]]
    assert list(engine.events(events[-1]["position"])) == []


def test_follow_waits_for_new_events(engine: Engine) -> None:
    head = len(list(engine.events()))
    stop = threading.Event()
    seen: list = []

    def consume() -> None:
        for event in engine.events(head, follow=True, timeout_ms=200, stop=stop):
            seen.append(event)
            if event["event_type"] == "incident.opened":
                stop.set()

    consumer = threading.Thread(target=consume)
    consumer.start()
    time.sleep(0.3)
    engine.open_incident("Arrives later", caller="bob")
    consumer.join(timeout=10)
    assert not consumer.is_alive()
    assert any(e["event_type"] == "incident.opened" for e in seen)
    assert seen[0]["position"] == head + 1
