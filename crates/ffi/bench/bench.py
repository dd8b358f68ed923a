"""The Python side of the C ABI benchmark: the same read (query.record) and write (a work
note) as benches/abi.rs, on an in-memory engine, through the opsledger package:

- python-call: ``Engine.call`` (dict params -> JSON -> ABI -> JSON -> dict), what users write;
- python-raw: ``Engine.raw`` with the request bytes prepared once (the ctypes/ABI cost alone).

Prints "name<TAB>ns_per_call" lines; the best of 5 rounds of N calls (argv[1], default
10000). Run by run.sh with OPSLEDGER_LIB pointing at the release library.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Callable

from opsledger import Engine

NOTES_PER_INCIDENT = 1000
ALICE = {"id": "alice", "roles": ["agent"]}


def best_of(n: int, f: Callable[[int], object]) -> float:
    for i in range(n // 10):
        f(i)
    best = float("inf")
    for round_ in range(5):
        start = time.perf_counter_ns()
        for i in range(n):
            f(round_ * n + i)
        best = min(best, (time.perf_counter_ns() - start) / n)
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    with Engine.in_memory() as engine:
        number = engine.open_incident("target", caller="bob", impact="low", urgency="low", actor=ALICE)["number"]
        target = [""]

        def call_read(i: int) -> object:
            return engine.call("query.record", id=number)

        def call_write(i: int) -> object:
            if i % NOTES_PER_INCIDENT == 0 or not target[0]:
                target[0] = engine.open_incident("target", caller="bob", impact="low", urgency="low", actor=ALICE)["number"]
            return engine.call("incident.add_work_note", id=target[0], text=f"note {i}", actor=ALICE)

        read_bytes = json.dumps(
            {"jsonrpc": "2.0", "id": 2, "method": "query.record", "params": {"id": number}}
        ).encode()

        def raw_read(i: int) -> object:
            return engine.raw(read_bytes)

        def raw_write(i: int) -> object:
            if i % NOTES_PER_INCIDENT == 0 or not target[0]:
                target[0] = engine.open_incident("target", caller="bob", impact="low", urgency="low", actor=ALICE)["number"]
            return engine.raw(
                b'{"jsonrpc":"2.0","id":3,"method":"incident.add_work_note","params":{"actor":{"id":"alice","roles":["agent"]},"id":"'
                + target[0].encode()
                + b'","text":"note '
                + str(i).encode()
                + b'"}}'
            )

        print(f"python-call read\t{best_of(n, call_read):.0f}")
        print(f"python-call write\t{best_of(n, call_write):.0f}")
        target[0] = ""
        print(f"python-raw read\t{best_of(n, raw_read):.0f}")
        print(f"python-raw write\t{best_of(n, raw_write):.0f}")


if __name__ == "__main__":
    main()
