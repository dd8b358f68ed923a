"""opsledger for Python: the embeddable event-sourced ITIL workflow engine, through its C ABI.

Pure ctypes: no compile step. The C library (``libopsledger_ffi``) is found through
``OPSLEDGER_LIB``, inside this package (the wheel ships it), or in the cargo target directory
(see ``_native``). Results are typed (``opsledger.types``, generated from the schemas); every
JSON-RPC method has a typed method (``engine.incident_open(...)`` for ``incident.open``).

>>> from opsledger import Engine            # doctest: +SKIP
>>> with Engine.in_memory() as engine:      # doctest: +SKIP
...     engine.open_incident("Checkout fails", caller="bob", actor="alice")
"""

from . import types
from ._engine import (
    AbiError,
    Actor,
    ClockChoice,
    Engine,
    Instant,
    PolicyDocument,
    PolicySource,
    debug_live_buffers,
)
from ._native import ABI_VERSION, LibraryNotFound, Status, bundled_library, find_library, native
from .errors import (
    Conflict,
    Forbidden,
    InvalidParams,
    InvalidPolicy,
    InvalidTransition,
    LimitExceeded,
    MethodNotFound,
    NotFound,
    NotSupported,
    OpsledgerError,
    PolicyIssue,
    ProtocolError,
    ServerError,
    ValidationError,
)

__version__ = "0.1.0"


def library_version() -> str:
    """The loaded C library's version string (``opsledger-ffi/<version>``)."""
    return native().version()


__all__ = [
    "ABI_VERSION",
    "AbiError",
    "Actor",
    "ClockChoice",
    "Conflict",
    "Engine",
    "Forbidden",
    "Instant",
    "InvalidParams",
    "InvalidPolicy",
    "InvalidTransition",
    "LibraryNotFound",
    "LimitExceeded",
    "MethodNotFound",
    "NotFound",
    "NotSupported",
    "OpsledgerError",
    "PolicyDocument",
    "PolicyIssue",
    "PolicySource",
    "ProtocolError",
    "ServerError",
    "Status",
    "ValidationError",
    "bundled_library",
    "debug_live_buffers",
    "find_library",
    "library_version",
    "types",
]
