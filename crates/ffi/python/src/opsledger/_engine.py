"""The Engine: an opsledger engine in this process, spoken to in JSON-RPC 2.0 through the C ABI."""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import threading
import weakref
from datetime import datetime
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
    cast,
)

from ._methods import Methods
from ._native import Native, Status, native
from ._wire import Actor, Instant
from ._wire import actor as _actor
from ._wire import instant as _instant
from .errors import InvalidPolicy, OpsledgerError, PolicyIssue
from .types import (
    JSON,
    ChangeType,
    ClockResult,
    CommandResult,
    CreatedWebhook,
    Deleted,
    Delivery,
    Impact,
    IncidentCloseCode,
    KpiReport,
    PolicyAt,
    PolicyDiff,
    PolicyPublished,
    QueuePage,
    RecordKind,
    RecordResult,
    Risk,
    SlaStatus,
    TickResult,
    Urgency,
    ValidateResult,
    WebhookInfo,
    WireEvent,
    WireTimelineEntry,
)


PolicyDocument = Union[Mapping[str, Any], str, "os.PathLike[str]"]
"""A policy document for :meth:`Engine.publish_policy` and friends: a ``dict`` (the document
as JSON), a ``str`` holding TOML or JSON text, or a path (``pathlib.Path``) to a ``.toml`` or
``.json`` file."""

PolicySource = Union[Mapping[str, Any], str, "os.PathLike[str]"]
"""The policy an engine opens with (the configuration's ``policy`` key): a ``dict`` (the
document as JSON), or the path (``str`` or ``pathlib.Path``) of a ``.toml`` or ``.json`` file."""

ClockChoice = Union[str, datetime]
"""The engine's clock: ``"system"`` (the default), ``"manual"`` (stands still at the instant of
opening until :meth:`Engine.set_clock` moves it), or a timezone-aware ``datetime`` (a manual
clock starting at that instant)."""


class AbiError(Exception):
    """A C ABI call failed with a status other than OK (no JSON-RPC response exists):
    ``status`` (:class:`Status`, or None when the Python side refused the call, e.g. on a
    closed engine) and the library's ``message``."""

    def __init__(self, status: Optional[int], message: str) -> None:
        known: Union[Status, int, None] = status
        if status is not None and status in Status._value2member_map_:
            known = Status(status)
        name = known.name if isinstance(known, Status) else str(known)
        super().__init__(f"[{name}] {message}" if status is not None else message)
        #: The status (a :class:`Status` when known; None when refused on the Python side).
        self.status = known
        self.message = message
        #: When the open configuration's ``policy`` was refused (``INVALID_CONFIG``): every
        #: problem of the document, in document order; otherwise empty.
        self.issues: List[PolicyIssue] = (
            _config_issues(message) if known == Status.INVALID_CONFIG else []
        )


def _config_issues(message: str) -> List[PolicyIssue]:
    """The problems of a refused ``policy`` key: the library's message is a first line naming
    the key, then one ``  path: message`` line per problem (``(document)`` for the empty
    path)."""
    first, *rest = message.split("\n")
    if not first.startswith("`policy`"):
        return []
    issues = []
    for line in rest:
        if not line.startswith("  "):
            continue
        path, _, text = line[2:].partition(": ")
        issues.append(PolicyIssue("" if path == "(document)" else path, text))
    return issues


def _clean(params: Mapping[str, Any]) -> Dict[str, Any]:
    """Drops None values: optional params are left out rather than sent as null."""
    return {k: v for k, v in params.items() if v is not None}


def _policy_source(policy: PolicySource) -> Union[Dict[str, Any], str]:
    """The configuration's ``policy`` value: the document, or a file path."""
    if isinstance(policy, Mapping):
        return dict(policy)
    if isinstance(policy, (str, os.PathLike)):
        return os.fspath(policy)
    raise TypeError(
        f"policy is a dict (the document) or the path of a .toml or .json file, not {type(policy).__name__}"
    )


def _clock(clock: ClockChoice) -> Union[str, Dict[str, Any]]:
    """The configuration's ``clock`` value."""
    if isinstance(clock, datetime):
        return {"manual": _instant(clock)}
    if isinstance(clock, str):
        return clock
    raise TypeError(f"clock is \"system\", \"manual\" or a datetime, not {type(clock).__name__}")


def _options(
    config: Dict[str, Any],
    actor: Optional[Actor],
    policy: Optional[PolicySource],
    clock: Optional[ClockChoice],
) -> Dict[str, Any]:
    if actor is not None:
        config["actor"] = _actor(actor)
    if policy is not None:
        config["policy"] = _policy_source(policy)
    if clock is not None:
        config["clock"] = _clock(clock)
    return config


def _document(document: PolicyDocument) -> Tuple[Any, Optional[str]]:
    """A policy document as the ``policy.*`` methods take it: ``(document, format)``."""
    if isinstance(document, Mapping):
        return dict(document), None
    if isinstance(document, os.PathLike):
        path = os.fspath(document)
        suffix = os.path.splitext(path)[1].lower()
        if suffix not in (".toml", ".json"):
            raise ValueError(f"{path}: a policy file is a .toml or a .json file")
        with open(path, encoding="utf-8") as f:
            return f.read(), suffix[1:]
    if isinstance(document, str):
        # As the engine's reader sniffs: JSON when the text opens an object, TOML otherwise.
        return document, "json" if document.lstrip().startswith("{") else "toml"
    raise TypeError(
        f"a policy document is a dict, TOML or JSON text, or a pathlib.Path, not {type(document).__name__}"
    )


class Engine(Methods):
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
        self._guard = _Guard()
        # Closes the handle if the engine is garbage-collected (or still open at interpreter
        # exit) without close(): after the calls in flight on other threads, like close().
        self._finalizer = weakref.finalize(
            self, _close_handle, self._native, handle, self._guard
        )

    @classmethod
    def open(
        cls,
        data_dir: Union[str, "os.PathLike[str]"],
        *,
        durability: Optional[str] = None,
        actor: Optional[Actor] = None,
        policy: Optional[PolicySource] = None,
        clock: Optional[ClockChoice] = None,
        **options: Any,
    ) -> "Engine":
        """Opens (creating if needed) the engine in ``data_dir``.

        ``durability``: ``"buffered"``, ``"per_commit"`` (default) or ``"group_commit"``.
        ``actor``: the default acting identity of calls that name none.
        ``policy``: the policy to put in force, a ``dict`` (the document) or the path of a
        ``.toml`` or ``.json`` file: version 1 of a new log, the next version of an existing
        one when it differs from the current one. Without it, the log keeps its policy.
        ``clock``: ``"system"`` (default), ``"manual"`` or a timezone-aware ``datetime`` (a
        manual clock starting then, moved by :meth:`set_clock`). Further ``options``
        (``cache_records``, ``snapshot_every``, ``max_attempts``) are passed on.

        Raises :class:`AbiError`: ``INVALID_CONFIG`` for a refused configuration (a policy
        document with problems lists them in :attr:`AbiError.issues`; nothing is created or
        written), ``OPEN_FAILED`` when the directory cannot be opened.
        """
        config: Dict[str, Any] = {"data_dir": os.fspath(data_dir), **options}
        if durability is not None:
            config["durability"] = durability
        return cls(_options(config, actor, policy, clock))

    @classmethod
    def in_memory(
        cls,
        *,
        actor: Optional[Actor] = None,
        policy: Optional[PolicySource] = None,
        clock: Optional[ClockChoice] = None,
        **options: Any,
    ) -> "Engine":
        """An engine whose log lives in memory: nothing survives :meth:`close`. ``actor``,
        ``policy``, ``clock`` and ``options`` as for :meth:`open`."""
        config: Dict[str, Any] = {"in_memory": True, **options}
        return cls(_options(config, actor, policy, clock))

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._guard.closed

    def close(self) -> None:
        """Flushes and closes the engine; waits for calls in flight on other threads. Calling it
        again does nothing. Raises :class:`AbiError` (``CLOSE_FAILED``) if the final flush
        failed; the engine is closed all the same."""
        with self._guard.cond:
            if self._guard.closed:
                return
            self._guard.closed = True
            while self._guard.inflight:
                self._guard.cond.wait()
        self._finalizer.detach()
        status = self._native.lib.opsledger_engine_close(self._handle)
        if status != Status.OK:
            raise AbiError(status, self._native.last_error())

    def _enter_call(self) -> None:
        with self._guard.cond:
            if self._guard.closed:
                raise AbiError(None, "the engine is closed")
            self._guard.inflight += 1

    def _leave_call(self) -> None:
        with self._guard.cond:
            self._guard.inflight -= 1
            if self._guard.inflight == 0:
                self._guard.cond.notify_all()

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

    def _invoke(self, method: str, params: Dict[str, Any]) -> Any:
        # The typed methods (``Methods``, generated): params by name, None left out.
        return self.call(method, **params)

    def discover(self) -> JSON:
        """The OpenRPC document (``rpc.discover``)."""
        return self.request("rpc.discover")

    # -- commands -------------------------------------------------------------------------------
    # Each returns the command's outcome: ``{"record": {"kind", "id"}, "number", "version",
    # "events", "follow_ups", "was_duplicate", ...}``. ``actor`` names who acts (else the
    # engine's default actor); ``extra`` passes further params through (``idempotency_key``,
    # ``expected_version``, ``correlation_id``, or command fields not listed here). Record ids
    # accept human numbers (``"INC0000001"``).

    def open_incident(
        self,
        title: str,
        *,
        caller: str,
        impact: Impact = "medium",
        urgency: Urgency = "medium",
        description: Optional[str] = None,
        service: Optional[str] = None,
        cis: Optional[Sequence[str]] = None,
        group: Optional[str] = None,
        assignee: Optional[str] = None,
        id: Optional[str] = None,
        actor: Optional[Actor] = None,
        **extra: Any,
    ) -> CommandResult:
        """``incident.open``: impact and urgency are ``"high"``, ``"medium"`` or ``"low"``."""
        return cast("CommandResult", self.call(
            "incident.open",
            title=title,
            caller=caller,
            impact=impact,
            urgency=urgency,
            description=description,
            service=service,
            cis=list(cis) if cis is not None else None,
            group=group,
            assignee=assignee,
            id=id,
            actor=actor,
            **extra,
        ))

    def assign_incident(
        self,
        id: str,
        *,
        group: str,
        assignee: Optional[str] = None,
        actor: Optional[Actor] = None,
        **extra: Any,
    ) -> CommandResult:
        """``incident.assign`` to a group (and optionally a person)."""
        return cast("CommandResult", self.call("incident.assign", id=id, group=group, assignee=assignee, actor=actor, **extra))

    def add_incident_note(self, id: str, text: str, *, actor: Optional[Actor] = None, **extra: Any) -> CommandResult:
        """``incident.add_work_note``: an internal note the caller never sees."""
        return cast("CommandResult", self.call("incident.add_work_note", id=id, text=text, actor=actor, **extra))

    def add_incident_comment(self, id: str, text: str, *, actor: Optional[Actor] = None, **extra: Any) -> CommandResult:
        """``incident.add_comment``: a comment the caller sees. The caller's own comment on an
        incident on hold awaiting them also resumes it (policy ``resume_on_caller_comment``)."""
        return cast("CommandResult", self.call("incident.add_comment", id=id, text=text, actor=actor, **extra))

    def resolve_incident(
        self, id: str, *, code: IncidentCloseCode, notes: str, actor: Optional[Actor] = None, **extra: Any
    ) -> CommandResult:
        """``incident.resolve`` with a close code (``"solved_permanently"``,
        ``"solved_workaround"``, ...) and notes."""
        return cast("CommandResult", self.call("incident.resolve", id=id, code=code, notes=notes, actor=actor, **extra))

    def close_incident(self, id: str, *, actor: Optional[Actor] = None, **extra: Any) -> CommandResult:
        """``incident.close`` (the caller confirms the resolution)."""
        return cast("CommandResult", self.call("incident.close", id=id, actor=actor, **extra))

    def create_problem(
        self,
        title: str,
        *,
        impact: Impact = "medium",
        urgency: Urgency = "medium",
        description: Optional[str] = None,
        service: Optional[str] = None,
        cis: Optional[Sequence[str]] = None,
        id: Optional[str] = None,
        actor: Optional[Actor] = None,
        **extra: Any,
    ) -> CommandResult:
        """``problem.create``."""
        return cast("CommandResult", self.call(
            "problem.create",
            title=title,
            impact=impact,
            urgency=urgency,
            description=description,
            service=service,
            cis=list(cis) if cis is not None else None,
            id=id,
            actor=actor,
            **extra,
        ))

    def request_change(
        self,
        title: str,
        *,
        change_type: Union[Literal["normal", "emergency"], ChangeType] = "normal",
        risk: Risk = "moderate",
        cis: Optional[Sequence[str]] = None,
        implementation_plan: Optional[str] = None,
        backout_plan: Optional[str] = None,
        test_plan: Optional[str] = None,
        description: Optional[str] = None,
        assignee: Optional[str] = None,
        id: Optional[str] = None,
        actor: Optional[Actor] = None,
        **extra: Any,
    ) -> CommandResult:
        """``change.request``: ``change_type`` is ``"normal"``, ``"emergency"`` or
        ``{"kind": "standard", "template": "..."}``; ``risk`` ``"low"``, ``"moderate"`` or
        ``"high"``."""
        kind: Mapping[str, Any] = {"kind": change_type} if isinstance(change_type, str) else change_type
        return cast("CommandResult", self.call(
            "change.request",
            title=title,
            change_type=kind,
            risk=risk,
            cis=list(cis) if cis is not None else None,
            implementation_plan=implementation_plan,
            backout_plan=backout_plan,
            test_plan=test_plan,
            description=description,
            assignee=assignee,
            id=id,
            actor=actor,
            **extra,
        ))

    def approve_change(
        self, id: str, *, comment: Optional[str] = None, actor: Optional[Actor] = None, **extra: Any
    ) -> CommandResult:
        """``change.approve`` (the approver must hold an approver role; never the requester)."""
        return cast("CommandResult", self.call("change.approve", id=id, comment=comment, actor=actor, **extra))

    # -- queries --------------------------------------------------------------------------------
    # ``as_of`` (an RFC 3339 string or a timezone-aware datetime) reads the state as of a
    # recorded instant.

    def record(self, id: str, *, as_of: Optional[Instant] = None, **extra: Any) -> RecordResult:
        """``query.record``: ``{"record", "number", "view", "state"}``."""
        return cast("RecordResult", self.call("query.record", id=id, as_of=_instant(as_of), **extra))

    def queue(self, kind: RecordKind, *, as_of: Optional[Instant] = None, **filters: Any) -> QueuePage:
        """``query.queue`` of ``kind`` (``"incident"``, ``"problem"``, ``"change"``) with filters
        (``open_only=True``, ``statuses=[...]``, ``group=...``, ``cursor=...``): a page
        ``{"items": [...], "next_cursor": cursor or absent}``."""
        return cast("QueuePage", self.call("query.queue", kind=kind, as_of=_instant(as_of), **filters))

    def timeline(
        self, id: str, *, as_of: Optional[Instant] = None, actor: Optional[Actor] = None
    ) -> List[WireTimelineEntry]:
        """``query.timeline``: every audit-trail entry of the record, oldest first (all pages),
        each with its ``visibility`` (``"public"`` or ``"internal"``). With ``actor`` whose
        roles are only ``caller``/``requester``: only their own incident, work notes left out."""
        entries: List[WireTimelineEntry] = []
        from_version: Optional[int] = None
        while True:
            page = self.call(
                "query.timeline", id=id, as_of=_instant(as_of), from_version=from_version, actor=actor
            )
            entries.extend(page["entries"])
            from_version = page.get("next_version")
            if from_version is None:
                return entries

    def sla(self, id: str, *, as_of: Optional[Instant] = None) -> List[SlaStatus]:
        """``query.sla``: the record's SLA clocks."""
        return cast("List[SlaStatus]", self.call("query.sla", id=id, as_of=_instant(as_of)))

    def kpis(self, start: Instant, end: Instant, *, as_of: Optional[Instant] = None, **query: Any) -> KpiReport:
        """``query.kpis`` over the window [start, end); further ``query`` fields
        (``group_by``, ``time_basis``, ...) are passed on."""
        q = {"window": {"start": _instant(start), "end": _instant(end)}, **query}
        return cast("KpiReport", self.call("query.kpis", query=q, as_of=_instant(as_of)))

    # -- policy and time ------------------------------------------------------------------------
    # The policy is versioned history: each published version is an event of the log, in
    # force for every command appended after it; records keep the SLA versions they pinned.

    def policy(self, version: Optional[int] = None, as_of: Optional[Instant] = None) -> PolicyAt:
        """``policy.get``: the version in force now, a given ``version``, or the one in force
        ``as_of`` an instant: ``{"version", "published_at", "published_by", "reason",
        "position", "document"}``."""
        return cast("PolicyAt", self.call("policy.get", version=version, as_of=_instant(as_of)))

    def validate_policy(self, document: PolicyDocument) -> ValidateResult:
        """``policy.validate``: ``{"valid": bool, "issues": [{"path", "message"}, ...]}``, the
        document's own problems and those against the published history. Writes nothing."""
        doc, fmt = _document(document)
        return cast("ValidateResult", self.call("policy.validate", document=doc, format=fmt))

    def diff_policy(self, document: PolicyDocument) -> PolicyDiff:
        """``policy.diff``: what publishing ``document`` would change, ``{"from_version",
        "changes", "moved_targets", "records_truncated"}``. Writes nothing."""
        doc, fmt = _document(document)
        return cast("PolicyDiff", self.call("policy.diff", document=doc, format=fmt))

    def publish_policy(
        self,
        document: PolicyDocument,
        *,
        reason: str = "",
        expected_version: Optional[int] = None,
        actor: Optional[Actor] = None,
    ) -> PolicyPublished:
        """``policy.publish``: puts ``document`` in force as the next version, for every command
        appended after it (running SLA clocks keep their pins). Returns ``{"version",
        "changed", "position"}``; ``changed`` is false (and nothing is written) when the
        document equals the current version.

        ``document``: a ``dict``, TOML or JSON text (``str``), or a ``pathlib.Path`` to a
        ``.toml`` or ``.json`` file. ``expected_version``: publish only if this is still the
        current version. Needs the ``policy_publish`` permission (by default: admins).

        Raises :class:`InvalidPolicy` (with :attr:`InvalidPolicy.issues`) for a document with
        problems, :class:`OpsledgerError` with ``domain_code`` ``"conflict"`` when
        ``expected_version`` is not current and ``"forbidden"`` without the permission; nothing
        is published then.
        """
        doc, fmt = _document(document)
        return cast("PolicyPublished", self.call(
            "policy.publish",
            document=doc,
            format=fmt,
            reason=reason or None,
            expected_version=expected_version,
            actor=actor,
        ))

    def set_clock(self, now: Instant, *, actor: Optional[Actor] = None) -> ClockResult:
        """``admin.set_clock``: moves the manual clock of an engine opened with
        ``clock="manual"`` (or a datetime) to ``now`` (a timezone-aware datetime or an RFC 3339
        string); returns ``{"now"}``. Events are stamped and SLA clocks evaluated at the new
        instant; :meth:`tick` records what became due. The clock only moves forward (an
        instant before it, or before the last recorded event, is refused). Needs the
        ``engine_clock`` permission (by default: admins); an engine on the system clock
        refuses it (``domain_code`` ``"not_supported"``)."""
        return cast("ClockResult", self.call("admin.set_clock", now=_instant(now), actor=actor))

    def tick(self, now: Optional[Instant] = None, *, actor: Optional[Actor] = None) -> TickResult:
        """``admin.tick``: records the SLA thresholds and breaches that became due by ``now``
        (default: the engine's clock), carries out their escalations and auto-closes resolved
        incidents past their delay, each exactly once: ``{"now", "records_due",
        "thresholds_recorded", "breaches_recorded", "auto_closed", "escalations",
        "failures"}``. Needs the ``engine_tick`` permission (by default: admins)."""
        return cast("TickResult", self.call("admin.tick", now=_instant(now), actor=actor))

    # -- webhooks -------------------------------------------------------------------------------

    def create_webhook(
        self,
        url: str,
        *,
        filter: Optional[Mapping[str, Any]] = None,
        template: Optional[str] = None,
        description: Optional[str] = None,
        secret: Optional[str] = None,
        enabled: Optional[bool] = None,
        actor: Optional[Actor] = None,
        **extra: Any,
    ) -> CreatedWebhook:
        """``webhook.create``: a subscription POSTing the events ``filter`` selects
        (``event_types``, ``kinds``, ``priorities``, ``groups``, ``services``) to ``url``,
        signed with HMAC-SHA256 (docs/WEBHOOKS.md). Returns ``{"webhook", "secret"}``: the
        secret (given, or generated) is never shown again. Refused with ``domain_code``
        ``unsafe_webhook_url``, ``unknown_event_type`` or ``limit_exceeded``, writing nothing.
        Deliveries are sent while a worker runs: open the engine with ``webhooks=True`` (or
        ``{"poll_ms": ..., "timeout_ms": ..., "max_attempts": ...}``). Needs the
        ``webhook_manage`` permission (by default: managers and admins)."""
        return cast("CreatedWebhook", self.call(
            "webhook.create",
            url=url,
            filter=filter,
            template=template,
            description=description,
            secret=secret,
            enabled=enabled,
            actor=actor,
            **extra,
        ))

    def webhooks(self, *, actor: Optional[Actor] = None) -> List[WebhookInfo]:
        """``webhook.list``: the subscriptions, without their secrets."""
        return cast("List[WebhookInfo]", self.call("webhook.list", actor=actor))

    def update_webhook(self, id: str, *, actor: Optional[Actor] = None, **changes: Any) -> WebhookInfo:
        """``webhook.update``: changes ``url``, ``description``, ``filter``, ``template``,
        ``enabled`` or ``secret`` (the fields given; None values are left out, so remove a
        template with ``engine.request("webhook.update", {"id": id, "template": None})``)."""
        return cast("WebhookInfo", self.call("webhook.update", id=id, actor=actor, **changes))

    def delete_webhook(self, id: str, *, actor: Optional[Actor] = None) -> Deleted:
        """``webhook.delete``: nothing more is sent; unfinished deliveries are dead-lettered."""
        return cast("Deleted", self.call("webhook.delete", id=id, actor=actor))

    def redeliver(self, delivery: str, *, actor: Optional[Actor] = None) -> Delivery:
        """``webhook.redeliver``: a new attempt sequence for a delivery that succeeded or was
        dead-lettered."""
        return cast("Delivery", self.call("webhook.redeliver", delivery=delivery, actor=actor))

    # -- the event log --------------------------------------------------------------------------

    def events(
        self,
        after: int = 0,
        *,
        follow: bool = False,
        page_size: int = 100,
        timeout_ms: int = 1000,
        stop: Optional[threading.Event] = None,
    ) -> Iterator[WireEvent]:
        """Iterates over the log's events with positions greater than ``after``, in order.

        Without ``follow`` it ends at the log's head (``events.read``). With ``follow`` it then
        waits for new events (``events.subscribe``, long polls of ``timeout_ms``) until ``stop``
        is set or the engine is closed. Each event is ``{"position", "stream", "version",
        "event_type", "occurred_at", "recorded_at", "actor", "payload", ...}``.
        """
        cursor = after
        while True:
            page = self.call("events.read", after=cursor, max=page_size)
            for event in page["events"]:
                yield event
            cursor = page["next"]
            if not page["events"]:
                break
        while follow and not (stop is not None and stop.is_set()) and not self._guard.closed:
            try:
                page = self.call("events.subscribe", after=cursor, max=page_size, timeout_ms=timeout_ms)
            except AbiError:
                if self._guard.closed:
                    return
                raise
            for event in page["events"]:
                yield event
            cursor = page["next"]


def _result(response: Mapping[str, Any]) -> JSON:
    if "error" in response:
        raise OpsledgerError.from_object(response["error"])
    return response.get("result")


class _Guard:
    """An engine's open/closed state and its calls in flight, shared with its finalizer (which
    must not hold the engine itself)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.inflight = 0
        self.closed = False


def _close_handle(lib: Native, handle: ctypes.c_void_p, guard: _Guard) -> None:
    # Never free the handle under a call still running on another thread (a daemon thread
    # long-polling at interpreter exit, say): wait for it, as close() does. A long poll ends
    # within its timeout (at most 25 s).
    with guard.cond:
        if guard.closed:
            return
        guard.closed = True
        while guard.inflight:
            guard.cond.wait()
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
    "ClockChoice",
    "Instant",
    "Engine",
    "InvalidPolicy",
    "OpsledgerError",
    "PolicyDocument",
    "PolicyIssue",
    "PolicySource",
    "debug_live_buffers",
]
