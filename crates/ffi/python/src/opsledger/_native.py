"""Finding and loading the opsledger C library, and its function signatures (ctypes).

Lookup order (the first that exists wins):

1. the path in the environment variable ``OPSLEDGER_LIB`` (if set, nothing else is tried);
2. the library shipped inside this package's directory (the wheel carries it, see README):
   ``libopsledger_ffi.so`` or, as setuptools-rust names it, ``libopsledger_ffi.<tag>.so``;
3. the cargo target directory: ``$CARGO_TARGET_DIR`` if set, else ``target/`` of the opsledger
   repository found above the current directory or above this package; ``release`` before
   ``debug``.
"""

from __future__ import annotations

import ctypes
import enum
import os
import sys
import threading
from pathlib import Path
from typing import Iterator, List, Optional

#: The C ABI version this package speaks (``OPSLEDGER_ABI_VERSION`` in opsledger.h).
ABI_VERSION = 1

_u8_p = ctypes.POINTER(ctypes.c_uint8)


class Status(enum.IntEnum):
    """``OpsledgerStatus``: what a C call did (see crates/ffi/README.md)."""

    OK = 0
    NULL_ARGUMENT = 1
    INVALID_UTF8 = 2
    INVALID_CONFIG = 3
    OPEN_FAILED = 4
    CLOSE_FAILED = 5
    PANICKED = 6
    POISONED = 7
    BUFFER_TOO_SMALL = 8


class LibraryNotFound(ImportError):
    """The opsledger C library was not found (the message lists where it was looked for)."""


def library_file_name() -> str:
    """The library's file name on this platform."""
    if sys.platform == "darwin":
        return "libopsledger_ffi.dylib"
    if sys.platform == "win32":
        return "opsledger_ffi.dll"
    return "libopsledger_ffi.so"


def bundled_library() -> Optional[Path]:
    """The library inside this package's directory, if the package was installed with it."""
    package = Path(__file__).resolve().parent
    name = library_file_name()
    stem, suffix = os.path.splitext(name)
    exact = package / name
    if exact.is_file():
        return exact
    tagged = sorted(package.glob(f"{stem}.*{suffix}"))
    return tagged[0] if tagged else None


def _repository_roots() -> Iterator[Path]:
    seen = set()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for directory in (start, *start.parents):
            if (directory / "crates" / "ffi" / "Cargo.toml").is_file() and directory not in seen:
                seen.add(directory)
                yield directory


def candidates() -> List[Path]:
    """Where the library is looked for, in order."""
    explicit = os.environ.get("OPSLEDGER_LIB")
    if explicit:
        return [Path(explicit)]
    name = library_file_name()
    found = [bundled_library() or Path(__file__).resolve().parent / name]
    targets: List[Path] = []
    if os.environ.get("CARGO_TARGET_DIR"):
        targets.append(Path(os.environ["CARGO_TARGET_DIR"]))
    targets.extend(root / "target" for root in _repository_roots())
    for target in targets:
        for profile in ("release", "debug"):
            found.append(target / profile / name)
    return found


def find_library() -> Path:
    """The path of the library to load (see the module docs for the order)."""
    tried = candidates()
    for path in tried:
        if path.is_file():
            return path
    listing = "\n  ".join(str(p) for p in tried)
    raise LibraryNotFound(
        "opsledger C library not found; build it with `cargo build --release -p opsledger-ffi` "
        f"or set OPSLEDGER_LIB. Looked in:\n  {listing}"
    )


class Native:
    """The loaded library with its signatures declared."""

    def __init__(self, path: Path) -> None:
        self.path = path
        lib = ctypes.CDLL(str(path))
        self.lib = lib

        lib.opsledger_abi_version.argtypes = []
        lib.opsledger_abi_version.restype = ctypes.c_uint32
        lib.opsledger_version.argtypes = []
        lib.opsledger_version.restype = ctypes.c_char_p  # static: never freed

        lib.opsledger_engine_open.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_void_p),
        ]
        lib.opsledger_engine_open.restype = ctypes.c_int
        lib.opsledger_engine_close.argtypes = [ctypes.c_void_p]
        lib.opsledger_engine_close.restype = ctypes.c_int
        # Outputs are Rust-owned: declared as uint8_t** (never c_char_p, which would copy and
        # lose the pointer) and freed with opsledger_buf_free.
        lib.opsledger_rpc.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(_u8_p),
            ctypes.POINTER(ctypes.c_size_t),
        ]
        lib.opsledger_rpc.restype = ctypes.c_int
        lib.opsledger_buf_free.argtypes = [_u8_p, ctypes.c_size_t]
        lib.opsledger_buf_free.restype = None
        lib.opsledger_last_error_message.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_size_t),
        ]
        lib.opsledger_last_error_message.restype = ctypes.c_int

        # Debug builds only.
        self.has_debug = hasattr(lib, "opsledger_debug_live_buffers")
        if self.has_debug:
            lib.opsledger_debug_live_buffers.argtypes = []
            lib.opsledger_debug_live_buffers.restype = ctypes.c_size_t
            lib.opsledger_debug_panic.argtypes = [ctypes.c_void_p]
            lib.opsledger_debug_panic.restype = ctypes.c_int

        abi = lib.opsledger_abi_version()
        if abi != ABI_VERSION:
            raise ImportError(
                f"{path} speaks C ABI version {abi}; this package needs {ABI_VERSION}"
            )

    def version(self) -> str:
        raw = self.lib.opsledger_version()
        return raw.decode("utf-8") if raw else ""

    def last_error(self) -> str:
        """The calling thread's last error message."""
        n = ctypes.c_size_t(0)
        self.lib.opsledger_last_error_message(None, 0, ctypes.byref(n))
        buf = ctypes.create_string_buffer(n.value + 1)
        status = self.lib.opsledger_last_error_message(buf, len(buf), ctypes.byref(n))
        if status != Status.OK:
            return ""
        return buf.raw[: n.value].decode("utf-8", "replace")

    def rpc(self, handle: ctypes.c_void_p, message: bytes) -> "tuple[int, Optional[bytes]]":
        """One message: the status and the response bytes (None: no response)."""
        out = _u8_p()
        out_len = ctypes.c_size_t(0)
        status = self.lib.opsledger_rpc(
            handle, message, len(message), ctypes.byref(out), ctypes.byref(out_len)
        )
        if not out:
            return status, None
        try:
            return status, ctypes.string_at(out, out_len.value)
        finally:
            self.lib.opsledger_buf_free(out, out_len.value)


_loaded: Optional[Native] = None
_load_lock = threading.Lock()


def native() -> Native:
    """The library, loaded on first use."""
    global _loaded
    with _load_lock:
        if _loaded is None:
            _loaded = Native(find_library())
        return _loaded
