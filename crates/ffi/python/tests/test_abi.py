"""ABI statuses and the Python side of the handle's lifecycle."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import opsledger
from opsledger import AbiError, Engine, OpsledgerError, Status
from opsledger import _native


def test_versions() -> None:
    assert opsledger.library_version() == "opsledger-ffi/0.1.0"
    assert opsledger.native().lib.opsledger_abi_version() == opsledger.ABI_VERSION


@pytest.mark.parametrize(
    "config, status, needle",
    [
        ({}, Status.INVALID_CONFIG, "required"),
        ({"in_memory": True, "colour": "red"}, Status.INVALID_CONFIG, "unknown field `colour`"),
        ({"in_memory": True, "durability": "buffered"}, Status.INVALID_CONFIG, "data_dir"),
        ({"data_dir": "x", "in_memory": True}, Status.INVALID_CONFIG, "exclude"),
        ({"data_dir": "x", "durability": "eventually"}, Status.INVALID_CONFIG, "unknown variant"),
        ({"in_memory": "yes"}, Status.INVALID_CONFIG, "invalid type"),
        ({"in_memory": True, "snapshot_every": 0}, Status.INVALID_CONFIG, "snapshot_every"),
        ({"in_memory": True, "actor": {"name": "x"}}, Status.INVALID_CONFIG, "unknown field"),
    ],
)
def test_invalid_configurations(config: dict, status: Status, needle: str) -> None:
    with pytest.raises(AbiError) as info:
        Engine(config)
    assert info.value.status == status
    assert needle in info.value.message


def raw_open(config: bytes) -> "tuple[int, str]":
    import ctypes

    lib = opsledger.native()
    handle = ctypes.c_void_p()
    status = lib.lib.opsledger_engine_open(config, len(config), ctypes.byref(handle))
    if status == Status.OK:
        lib.lib.opsledger_engine_close(handle)
    else:
        assert not handle.value
    return status, lib.last_error()


def test_raw_configurations() -> None:
    assert raw_open(b"")[0] == Status.INVALID_CONFIG  # zero length
    assert raw_open(b'{"in_memory": \xff}')[0] == Status.INVALID_UTF8
    assert raw_open(b"not json")[0] == Status.INVALID_CONFIG
    assert raw_open(b'{"in_memory": true}') == (Status.OK, "")


def test_null_arguments() -> None:
    import ctypes

    lib = opsledger.native().lib
    assert lib.opsledger_engine_open(b"{}", 2, None) == Status.NULL_ARGUMENT
    out = ctypes.POINTER(ctypes.c_uint8)()
    n = ctypes.c_size_t()
    assert lib.opsledger_rpc(None, b"{}", 2, ctypes.byref(out), ctypes.byref(n)) == Status.NULL_ARGUMENT
    assert opsledger.native().last_error() == "`engine` is NULL"
    assert lib.opsledger_engine_close(None) == Status.OK
    lib.opsledger_buf_free(None, 0)
    assert lib.opsledger_last_error_message(None, 0, None) == Status.NULL_ARGUMENT


def test_null_request_with_length(engine: Engine) -> None:
    import ctypes

    lib = opsledger.native().lib
    out = ctypes.POINTER(ctypes.c_uint8)()
    n = ctypes.c_size_t()
    assert lib.opsledger_rpc(engine._handle, None, 5, ctypes.byref(out), ctypes.byref(n)) == Status.NULL_ARGUMENT
    assert not out and n.value == 0
    # NULL with zero length: an empty message, answered -32700.
    assert lib.opsledger_rpc(engine._handle, None, 0, ctypes.byref(out), ctypes.byref(n)) == Status.OK
    body = ctypes.string_at(out, n.value)
    lib.opsledger_buf_free(out, n.value)
    assert json.loads(body)["error"]["code"] == -32700


def test_open_failures(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(AbiError) as info:
        Engine.open(blocker / "sub")
    assert info.value.status == Status.OPEN_FAILED
    with Engine.open(tmp_path / "data"):
        with pytest.raises(AbiError) as info:
            Engine.open(tmp_path / "data")  # sled locks the directory
        assert info.value.status == Status.OPEN_FAILED


def test_invalid_utf8_is_a_status(engine: Engine) -> None:
    with pytest.raises(AbiError) as info:
        engine.raw(b'{"jsonrpc":"2.0","method":"\xc3\x28","id":1}')
    assert info.value.status == Status.INVALID_UTF8
    assert "not UTF-8" in info.value.message


def test_closed_engine_refuses_calls_and_close_is_idempotent() -> None:
    engine = Engine.in_memory()
    engine.close()
    engine.close()
    assert engine.closed
    with pytest.raises(AbiError) as info:
        engine.call("rpc.discover")
    assert info.value.status is None
    assert "closed" in str(info.value)


def test_close_waits_for_calls_in_flight(spec_engine: Engine) -> None:
    errors: list = []

    def work() -> None:
        try:
            for _ in range(200):
                spec_engine.call("subtract", minuend=3, subtrahend=1)
        except AbiError as e:  # closed under our feet: refused cleanly, never a crash
            if e.status is not None:
                errors.append(e)
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    spec_engine.close()
    for t in threads:
        t.join()
    assert errors == []


def test_a_panic_poisons_the_handle(debug_build: None) -> None:
    from opsledger._engine import _debug_panic

    with Engine.in_memory() as engine, Engine.in_memory() as other:
        assert _debug_panic(engine) == Status.PANICKED
        with pytest.raises(AbiError) as info:
            engine.discover()
        assert info.value.status == Status.POISONED
        assert "poisoned" in info.value.message
        assert other.discover()["openrpc"] == "1.3.2"


def test_library_lookup_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    name = _native.library_file_name()
    monkeypatch.setenv("OPSLEDGER_LIB", str(tmp_path / "explicit.so"))
    assert _native.candidates() == [tmp_path / "explicit.so"]
    with pytest.raises(opsledger.LibraryNotFound):
        _native.find_library()
    monkeypatch.delenv("OPSLEDGER_LIB")
    monkeypatch.setenv("CARGO_TARGET_DIR", str(tmp_path / "tgt"))
    found = _native.candidates()
    package = Path(_native.__file__).resolve().parent
    assert found[0] == (_native.bundled_library() or package / name)
    assert found[0].parent == package
    assert found[1:3] == [tmp_path / "tgt" / "release" / name, tmp_path / "tgt" / "debug" / name]
    (tmp_path / "tgt" / "debug").mkdir(parents=True)
    (tmp_path / "tgt" / "debug" / name).write_bytes(b"")
    if not found[0].exists():
        assert _native.find_library() == tmp_path / "tgt" / "debug" / name


def test_error_objects() -> None:
    e = OpsledgerError.from_object({"code": -32001, "message": "no", "data": {"domain_code": "x"}})
    assert (e.code, e.message, e.domain_code) == (-32001, "no", "x")
    assert OpsledgerError(-32601, "Method not found").domain_code is None

