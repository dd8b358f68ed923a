"""opsledger for Python: the embeddable event-sourced ITIL workflow engine, through its C ABI.

Pure ctypes: no compile step. The C library (``libopsledger_ffi``) is found through
``OPSLEDGER_LIB``, inside this package, or in the cargo target directory (see ``_native``).

>>> from opsledger import Engine            # doctest: +SKIP
>>> with Engine.in_memory() as engine:      # doctest: +SKIP
...     engine.open_incident("Checkout fails", caller="bob", actor="alice")
"""

from ._engine import (
    AbiError,
    Actor,
    ClockChoice,
    Engine,
    InvalidPolicy,
    OpsledgerError,
    PolicyDocument,
    PolicyIssue,
    PolicySource,
    debug_live_buffers,
)
from ._native import ABI_VERSION, LibraryNotFound, Status, find_library, native

__version__ = "0.1.0"


def library_version() -> str:
    """The loaded C library's version string (``opsledger-ffi/<version>``)."""
    return native().version()


__all__ = [
    "ABI_VERSION",
    "AbiError",
    "Actor",
    "ClockChoice",
    "Engine",
    "InvalidPolicy",
    "LibraryNotFound",
    "OpsledgerError",
    "PolicyDocument",
    "PolicyIssue",
    "PolicySource",
    "Status",
    "debug_live_buffers",
    "find_library",
    "library_version",
]
