"""JSON-RPC through the ABI: the specification's examples, batches, notifications, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest

from opsledger import Engine, OpsledgerError

TESTING_RS = Path(__file__).resolve().parents[3] / "rpc" / "src" / "testing.rs"


def spec_examples() -> List[Tuple[str, str, Optional[str]]]:
    """The specification's example table, read from the Rust fixtures (one source of truth)."""
    text = TESTING_RS.read_text()
    pattern = re.compile(
        r'title: "(?P<title>[^"]*)",\s*request: r#"(?P<req>.*?)"#,\s*'
        r'response: (?:None|Some\(\s*r#"(?P<resp>.*?)"#,?\s*\))',
        re.S,
    )
    return [(m["title"], m["req"], m["resp"]) for m in pattern.finditer(text)]


def normalize(reply: Any) -> Any:
    def strip(v: Any) -> Any:
        if isinstance(v, dict) and isinstance(v.get("error"), dict):
            v["error"].pop("data", None)
        return v

    if isinstance(reply, list):
        return sorted((strip(v) for v in reply), key=lambda v: json.dumps(v, sort_keys=True))
    return strip(reply)


def test_the_table_is_complete() -> None:
    assert len(spec_examples()) == 15


@pytest.mark.parametrize("title, request_text, expected", spec_examples(), ids=lambda x: x if isinstance(x, str) and len(x) < 60 else None)
def test_specification_examples(spec_engine: Engine, title: str, request_text: str, expected: Optional[str]) -> None:
    reply = spec_engine.raw(request_text)
    if expected is None:
        assert reply is None, title
        return
    assert reply is not None, title
    assert normalize(json.loads(reply)) == normalize(json.loads(expected)), title


def test_batches(spec_engine: Engine) -> None:
    results = spec_engine.batch(
        [("subtract", {"minuend": 5, "subtrahend": 2}), ("no.such", {}), ("sum", {})]
    )
    assert results[0] == 3
    assert isinstance(results[1], OpsledgerError) and results[1].code == -32601
    assert isinstance(results[2], OpsledgerError) and results[2].code == -32602
    with pytest.raises(OpsledgerError):
        spec_engine.batch([("no.such", {})], raise_errors=True)
    assert spec_engine.batch([]) == []
    # A batch over the limit is refused as a whole.
    with pytest.raises(OpsledgerError) as info:
        spec_engine.batch([("subtract", {"minuend": 1, "subtrahend": 1})] * 101)
    assert info.value.code == -32099


def test_notifications(spec_engine: Engine) -> None:
    assert spec_engine.notify("update") is None
    assert spec_engine.raw('{"jsonrpc":"2.0","method":"no.such"}') is None
    assert spec_engine.raw('[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}]') is None


@pytest.mark.parametrize(
    "message, code",
    [
        (b"", -32700),
        (b"   ", -32700),
        (b"{", -32700),
        (b'{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]', -32700),
        (b"[]", -32600),
        (b"42", -32600),
        (b'{"jsonrpc": "1.0", "method": "x", "id": 1}', -32600),
        (b'{"jsonrpc": "2.0", "method": 7, "id": 1}', -32600),
        (b'{"jsonrpc": "2.0", "method": "x", "params": "p", "id": 1}', -32600),
        (b'{"jsonrpc": "2.0", "method": "x", "id": {}}', -32600),
        (b'{"jsonrpc": "2.0", "method": "rpc.other", "id": 1}', -32601),
    ],
)
def test_bad_messages(engine: Engine, message: bytes, code: int) -> None:
    reply = engine.raw(message)
    assert reply is not None
    assert json.loads(reply)["error"]["code"] == code


def test_wrong_param_types(spec_engine: Engine) -> None:
    with pytest.raises(OpsledgerError) as info:
        spec_engine.call("subtract", minuend="42", subtrahend=1)
    assert info.value.code == -32602
    assert info.value.data["path"] == "minuend"
    with pytest.raises(OpsledgerError) as info:
        spec_engine.call("subtract", minuend=1, subtrahend=2, extra=3)
    assert info.value.code == -32602


def test_huge_inputs(engine: Engine) -> None:
    big = json.dumps({"jsonrpc": "2.0", "method": "x", "params": ["a" * (2 << 20)], "id": 1})
    reply = json.loads(engine.raw(big))
    assert reply["error"]["code"] == -32099
    assert reply["error"]["data"]["limit"] == "max_request_bytes"
    deep = "[" * 10_000 + "]" * 10_000
    reply = json.loads(engine.raw(deep))
    assert reply["error"]["data"]["limit"] == "max_depth"
    long_string = json.dumps({"jsonrpc": "2.0", "method": "x", "params": ["b" * 100_000], "id": 1})
    reply = json.loads(engine.raw(long_string))
    assert reply["error"]["data"]["limit"] == "max_string_bytes"


def test_discover(engine: Engine) -> None:
    doc = engine.discover()
    assert doc["openrpc"] == "1.3.2"
