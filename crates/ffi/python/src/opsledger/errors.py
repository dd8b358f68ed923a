"""Errors of JSON-RPC calls: :class:`OpsledgerError` and one subclass per family of codes.

A refusal carries its stable code in ``data["domain_code"]`` (``docs/RPC.md`` lists every code;
``opsledger.types.ERROR_CODES`` maps each to its JSON-RPC code). The exception raised is the
family's class, so callers catch what they can handle::

    try:
        engine.close_incident(number, actor=mallory)
    except Forbidden as refused:
        print(refused.domain_code, refused.message, refused.data)

Every class keeps ``code``, ``message`` and ``data`` as the server sent them.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Type

JSON = Any


class PolicyIssue(NamedTuple):
    """One problem of a policy document: ``path`` into the document (such as
    ``"sla.definitions[2].target"``; empty for the document as a whole) and ``message``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def issues_of(items: Any) -> List[PolicyIssue]:
    """The :class:`PolicyIssue` list of a JSON ``[{"path", "message"}, ...]``."""
    if not isinstance(items, list):
        return []
    return [
        PolicyIssue(str(i.get("path", "")), str(i.get("message", "")))
        for i in items
        if isinstance(i, Mapping)
    ]


class OpsledgerError(Exception):
    """A JSON-RPC error response: ``code``, ``message`` and ``data`` as the server sent them.

    Domain refusals carry ``data["domain_code"]`` (a stable string such as
    ``"invalid_transition"``), available as :attr:`domain_code`. The exception raised is the
    subclass of the code's family (:class:`NotFound`, :class:`Forbidden`, ...).
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

    @property
    def details(self) -> Any:
        """``data["details"]``: what the refusal is about (None when absent)."""
        return self.data.get("details") if isinstance(self.data, dict) else None

    @classmethod
    def from_object(cls, error: Mapping[str, Any]) -> "OpsledgerError":
        """The exception for a JSON-RPC error object, of its family's class."""
        code, message, data = int(error.get("code", 0)), str(error.get("message", "")), error.get("data")
        return error_class(code, data)(code, message, data)


class ProtocolError(OpsledgerError):
    """The message was not a valid JSON-RPC request (-32700 parse error, -32600 invalid
    request)."""


class MethodNotFound(ProtocolError):
    """No such method (-32601)."""


class ValidationError(OpsledgerError):
    """The input was refused as it stands: params not matching the method's schema (-32602),
    a field failing the domain's checks (``validation``), malformed input (``invalid_input``),
    a webhook URL or filter refused (``unsafe_webhook_url``, ``unknown_event_type``)."""


class InvalidParams(ValidationError):
    """The params do not match the method's schema (-32602)."""


class InvalidPolicy(ValidationError):
    """A policy document was refused (``domain_code`` ``"invalid_policy"``): nothing was
    published. :attr:`issues` lists every problem, each with the path of the value at fault."""

    DOMAIN_CODE = "invalid_policy"

    def __init__(self, code: int, message: str, data: JSON = None) -> None:
        super().__init__(code, message, data)
        details = data.get("details") if isinstance(data, Mapping) else None
        found = details.get("issues") if isinstance(details, Mapping) else None
        #: Every problem of the document, in document order.
        self.issues: List[PolicyIssue] = issues_of(found)


class NotFound(OpsledgerError):
    """The record, number or event named does not exist (``not_found``)."""


class Conflict(OpsledgerError):
    """The command collides with what is already recorded: the record exists, the pinned
    version moved, the idempotency key was used for another command, the approver already
    decided, the schedule conflicts, concurrent writers kept winning."""


class Forbidden(OpsledgerError):
    """The acting identity may not do this: a missing permission or role, separation of
    duties, not an eligible approver, an unknown role, an identity the transport refuses."""


class InvalidTransition(OpsledgerError):
    """The command is not allowed in the record's current state (including the rules that
    hold a state: a review before closing a major incident, the approved window...)."""


class LimitExceeded(OpsledgerError):
    """A configured size, count or replay limit would be exceeded."""


class NotSupported(OpsledgerError):
    """The engine does not offer the operation (``admin.set_clock`` on the system clock)."""


class ServerError(OpsledgerError):
    """The engine failed on its side (store, decoding, read models, configuration, -32603);
    a write's outcome may be unknown: retry with the same idempotency key."""


#: Each stable error code's family. Every code of ``opsledger.types.ERROR_CODES`` is listed
#: (a test checks it); a code not listed raises :class:`OpsledgerError` itself.
FAMILIES: Dict[str, Type[OpsledgerError]] = {
    "not_found": NotFound,
    "already_exists": Conflict,
    "wrong_record": Conflict,
    "conflict": Conflict,
    "idempotency_key_reused": Conflict,
    "retries_exhausted": Conflict,
    "already_decided": Conflict,
    "schedule_conflict": Conflict,
    "invalid_transition": InvalidTransition,
    "review_required": InvalidTransition,
    "major_incident_no_auto_close": InvalidTransition,
    "reject_window_closed": InvalidTransition,
    "outside_approved_window": InvalidTransition,
    "forbidden": Forbidden,
    "separation_of_duties": Forbidden,
    "not_an_approver": Forbidden,
    "unknown_role": Forbidden,
    "validation": ValidationError,
    "invalid_input": ValidationError,
    "invalid_policy": InvalidPolicy,
    "unsafe_webhook_url": ValidationError,
    "unknown_event_type": ValidationError,
    "unknown_reference": ValidationError,
    "retired_reference": ValidationError,
    "self_relation": ValidationError,
    "item_transition": InvalidTransition,
    "limit_exceeded": LimitExceeded,
    "not_supported": NotSupported,
    "store": ServerError,
    "decode": ServerError,
    "views": ServerError,
    "invalid_config": ServerError,
}

#: JSON-RPC codes without a domain code: the specification's, and the transports' own.
BY_CODE: Dict[int, Type[OpsledgerError]] = {
    -32700: ProtocolError,
    -32600: ProtocolError,
    -32601: MethodNotFound,
    -32602: InvalidParams,
    -32603: ServerError,
    -32099: LimitExceeded,  # a transport limit (body size, batch length)
    -32098: Forbidden,  # unauthenticated (HTTP bearer token)
    -32097: Forbidden,  # an `actor` param over HTTP
}


def error_class(code: int, data: Any) -> Type[OpsledgerError]:
    """The class of an error response: by ``data["domain_code"]``, else by the code."""
    if isinstance(data, Mapping):
        family = FAMILIES.get(str(data.get("domain_code")))
        if family is not None:
            return family
    return BY_CODE.get(code, OpsledgerError)


__all__ = [
    "Conflict",
    "FAMILIES",
    "Forbidden",
    "InvalidParams",
    "InvalidPolicy",
    "InvalidTransition",
    "LimitExceeded",
    "MethodNotFound",
    "NotFound",
    "NotSupported",
    "OpsledgerError",
    "PolicyIssue",
    "ProtocolError",
    "ServerError",
    "ValidationError",
    "error_class",
]
