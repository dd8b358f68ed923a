"""The Engine: an opsledger engine in this process, spoken to in JSON-RPC 2.0 through the C ABI."""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import threading
import time
import weakref
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from ._native import Native, Status, native

JSON = Any
Actor = Union[str, Mapping[str, Any]]
"""An acting identity: ``{"id": "alice", "roles": ["agent"]}``, or just an id (no roles)."""


class OpsledgerError(Exception):
    """A JSON-RPC error response: ``code``, ``message`` and ``data`` as the server sent them.

    Domain refusals carry ``data["domain_code"]`` (a stable string such as
    ``"illegal_transition"``), available as :attr:`domain_code`.
    """

    def __init__(self, code: int, message: str, data: JSON = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data

    @property
    def domain_code(self) -> Optional[str]:
        """``data["domain_code"]`` when the error is a domain refusal."""
        if isinstance(self.data, dict):
            value = self.data.get("domain_code")
            return value if isinstance(value, str) else None
        return None

    @classmethod
    def from_object(cls, error: Mapping[str, Any]) -> "OpsledgerError":
        return cls(int(error.get("code", 0)), str(error.get("message", "")), error.get("data"))


class AbiError(Exception):
    """A C ABI call failed with a status other than OK (no JSON-RPC response exists):
    ``status`` (:class:`Status`, or None when the Python side refused the call, e.g. on a
    closed engine) and the library's ``message``."""

    def __init__(self, status: Optional[int], message: str) -> None:
        name = Status(status).name if status in Status._value2member_map_ else str(status)
        super().__init__(f"[{name}] {message}" if status is not None else message)
        self.status = Status(status) if status in Status._value2member_map_ else status
        self.message = message


def _actor(actor: Optional[Actor]) -> Optional[Dict[str, Any]]:
    if actor is None:
        return None
    if isinstance(actor, str):
        return {"id": actor, "roles": []}
    return {"id": actor["id"], "roles": list(actor.get("roles", []))}


def _clean(params: Mapping[str, Any]) -> Dict[str, Any]:
    """Drops None values: optional params are left out rather than sent as null."""
    return {k: v for k, v in params.items() if v is not None}


class Engine:
    """An opsledger engine opened through the C ABI.

    Use it as a context manager, or call :meth:`close`. One engine may be shared by any
    number of threads: calls release the GIL and run concurrently in the engine.

    >>> with Engine.in_memory() as engine:  # doctest: +SKIP
    ...     engine.call("query.kpis")
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Opens an engine from an ABI configuration (``{"data_dir": ...}`` or
        ``{"in_memory": true}``, see crates/ffi/README.md). Prefer :meth:`open` and
        :meth:`in_memory`."""
        self._native: Native = native()
        raw = json.dumps(dict(config)).encode("utf-8")
        handle = ctypes.c_void_p()
        status = self._native.lib.opsledger_engine_open(raw, len(raw), ctypes.byref(handle))
        if status != Status.OK:
            raise AbiError(status, self._native.last_error())
        self._handle = handle
        self._ids = itertools.count(1)
        self._state = threading.Condition()
        self._inflight = 0
        self._closed = False
        # Closes the handle if the engine is garbage-collected without close().
        self._finalizer = weakref.finalize(self, _close_handle, self._native, handle)

    @classmethod
    def open(
        cls,
        data_dir: Union[str, "os.PathLike[str]"],
        *,
        durability: Optional[str] = None,
        actor: Optional[Actor] = None,
        **options: Any,
    ) -> "Engine":
        """Opens (creating if needed) the engine in ``data_dir``.

        ``durability``: ``"buffered"``, ``"per_commit"`` (default) or ``"group_commit"``.
        ``actor``: the default acting identity of calls that name none. Further ``options``
        (``cache_records``, ``snapshot_every``, ``max_attempts``) are passed on.
        """
        config: Dict[str, Any] = {"data_dir": os.fspath(data_dir), **options}
        if durability is not None:
            config["durability"] = durability
        if actor is not None:
            config["actor"] = _actor(actor)
        return cls(config)

    @classmethod
    def in_memory(cls, *, actor: Optional[Actor] = None, **options: Any) -> "Engine":
        """An engine whose log lives in memory: nothing survives :meth:`close`."""
        config: Dict[str, Any] = {"in_memory": True, **options}
        if actor is not None:
            config["actor"] = _actor(actor)
        return cls(config)

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Flushes and closes the engine; waits for calls in flight on other threads. Calling it
        again does nothing. Raises :class:`AbiError` (``CLOSE_FAILED``) if the final flush
        failed; the engine is closed all the same."""
        with self._state:
            if self._closed:
                return
            self._closed = True
            while self._inflight:
                self._state.wait()
        self._finalizer.detach()
        status = self._native.lib.opsledger_engine_close(self._handle)
        if status != Status.OK:
            raise AbiError(status, self._native.last_error())

    def _enter_call(self) -> None:
        with self._state:
            if self._closed:
                raise AbiError(None, "the engine is closed")
            self._inflight += 1

    def _leave_call(self) -> None:
        with self._state:
            self._inflight -= 1
            if self._inflight == 0:
                self._state.notify_all()

    # -- JSON-RPC -------------------------------------------------------------------------------

    def raw(self, message: Union[bytes, str]) -> Optional[bytes]:
        """Sends one JSON-RPC message (request, notification or batch) as it is, and returns the
        response bytes, or None when there is none (notifications). Raises :class:`AbiError`
        on a status other than OK (e.g. ``INVALID_UTF8``)."""
        data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        self._enter_call()
        try:
            status, response = self._native.rpc(self._handle, data)
            if status != Status.OK:
                raise AbiError(status, self._native.last_error())
            return response
        finally:
            self._leave_call()

    def request(self, method: str, params: Union[Mapping[str, Any], Sequence[Any], None] = None) -> JSON:
        """Calls ``method`` with ``params`` (an object, an array, or None for none) and returns
        its result; raises :class:`OpsledgerError` on an error response."""
        message: Dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": next(self._ids)}
        if params is not None:
            message["params"] = params if isinstance(params, (list, tuple)) else dict(params)
        response = self.raw(json.dumps(message, separators=(",", ":")))
        if response is None:
            raise AbiError(None, f"no response to a request for {method}")
        return _result(json.loads(response))

    def call(self, method: str, /, **params: Any) -> JSON:
        """Calls ``method`` with named params (None values are left out) and returns its
        result; raises :class:`OpsledgerError` on an error response.

        ``actor={"id": "alice", "roles": ["agent"]}`` (or ``actor="alice"``) names the acting
        identity; without it the engine's default actor acts.
        """
        if "actor" in params:
            params["actor"] = _actor(params["actor"])
        return self.request(method, _clean(params))

    def notify(self, method: str, /, **params: Any) -> None:
        """Sends a notification: the method runs, nothing is answered (not even errors)."""
        if "actor" in params:
            params["actor"] = _actor(params["actor"])
        message = {"jsonrpc": "2.0", "method": method, "params": _clean(params)}
        self.raw(json.dumps(message, separators=(",", ":")))

    def batch(
        self,
        calls: Iterable[Tuple[str, Mapping[str, Any]]],
        *,
        raise_errors: bool = False,
    ) -> List[Union[JSON, OpsledgerError]]:
        """Sends several calls as one JSON-RPC batch; returns their results in the order of
        ``calls``. A failed call's place holds its :class:`OpsledgerError` (or, with
        ``raise_errors``, the first one is raised after the whole batch ran)."""
        messages = []
        for method, params in calls:
            params = dict(params)
            if "actor" in params:
                params["actor"] = _actor(params["actor"])
            messages.append(
                {"jsonrpc": "2.0", "method": method, "params": _clean(params), "id": next(self._ids)}
            )
        if not messages:
            return []
        response = self.raw(json.dumps(messages, separators=(",", ":")))
        if response is None:
            raise AbiError(None, "no response to a batch of requests")
        decoded = json.loads(response)
        if isinstance(decoded, dict):  # the whole batch was refused (e.g. a limit)
            raise OpsledgerError.from_object(decoded.get("error", {}))
        by_id = {item.get("id"): item for item in decoded}
        results: List[Union[JSON, OpsledgerError]] = []
        for message in messages:
            item = by_id.get(message["id"])
            if item is None:
                results.append(OpsledgerError(-32603, "no response for this call"))
            elif "error" in item:
                results.append(OpsledgerError.from_object(item["error"]))
            else:
                results.append(item.get("result"))
        if raise_errors:
            for r in results:
                if isinstance(r, OpsledgerError):
                    raise r
        return results

    def discover(self) -> JSON:
        """The OpenRPC document (``rpc.discover``)."""
        return self.request("rpc.discover")


def _result(response: Mapping[str, Any]) -> JSON:
    if "error" in response:
        raise OpsledgerError.from_object(response["error"])
    return response.get("result")


def _close_handle(lib: Native, handle: ctypes.c_void_p) -> None:
    lib.lib.opsledger_engine_close(handle)


def debug_live_buffers() -> Optional[int]:
    """Debug builds of the library: the output buffers handed out and not yet freed (for leak
    checks). None with a release build."""
    lib = native()
    if not lib.has_debug:
        return None
    return int(lib.lib.opsledger_debug_live_buffers())


def _debug_panic(engine: Engine) -> int:
    """Debug builds only: makes the library panic inside a call on ``engine`` (tests)."""
    lib = native()
    if not lib.has_debug:
        raise AbiError(None, "opsledger_debug_panic exists in debug builds only")
    return int(lib.lib.opsledger_debug_panic(engine._handle))


__all__ = [
    "AbiError",
    "Actor",
    "Engine",
    "OpsledgerError",
    "debug_live_buffers",
]

_unused = (Iterator, time)
