"""Error responses raise the class of their code's family; every class carries code, message
and data, and is an OpsledgerError."""

from __future__ import annotations

from typing import Type

import pytest

import opsledger
from opsledger import (
    Conflict,
    Engine,
    Forbidden,
    InvalidParams,
    InvalidPolicy,
    InvalidTransition,
    MethodNotFound,
    NotFound,
    NotSupported,
    OpsledgerError,
    ValidationError,
    types,
)
from opsledger.errors import FAMILIES, error_class

MALLORY = {"id": "mallory", "roles": []}
REQUESTER = {"id": "rita", "roles": ["change_manager"]}


def test_every_published_code_has_a_family() -> None:
    assert set(types.ERROR_CODES) <= set(FAMILIES), set(types.ERROR_CODES) - set(FAMILIES)
    for code, family in FAMILIES.items():
        assert issubclass(family, OpsledgerError) and family is not OpsledgerError, code


def refused(cls: Type[OpsledgerError], info: "pytest.ExceptionInfo[OpsledgerError]") -> OpsledgerError:
    error = info.value
    assert type(error) is cls, (type(error), error.code, error.data)
    assert isinstance(error, OpsledgerError)
    assert isinstance(error.code, int) and error.message
    return error


def test_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound) as info:
        engine.record("INC0009999")
    e = refused(NotFound, info)
    assert (e.code, e.domain_code) == (-32001, "not_found")


def test_forbidden(engine: Engine) -> None:
    number = engine.open_incident("t", caller="bob")["number"]
    assert number is not None
    with pytest.raises(Forbidden) as info:
        engine.close_incident(number, actor=MALLORY)
    assert refused(Forbidden, info).domain_code == "forbidden"


def test_invalid_transition(engine: Engine) -> None:
    number = engine.open_incident("t", caller="bob")["number"]
    assert number is not None
    with pytest.raises(InvalidTransition) as info:
        engine.close_incident(number)
    assert refused(InvalidTransition, info).domain_code == "invalid_transition"


def test_conflict_on_a_stale_expected_version(engine: Engine) -> None:
    number = engine.open_incident("t", caller="bob")["number"]
    assert number is not None
    with pytest.raises(Conflict) as info:
        engine.add_incident_note(number, "late", expected_version=7)
    assert refused(Conflict, info).domain_code == "conflict"


def test_separation_of_duties_is_forbidden(engine: Engine) -> None:
    change = engine.request_change(
        "Raise the pool", actor=REQUESTER, cis=["db-1"], implementation_plan="p", backout_plan="b", test_plan="t"
    )["number"]
    assert change is not None
    window = {"start": "2100-01-01T00:00:00Z", "end": "2100-01-01T01:00:00Z"}
    engine.change_plan(id=change, window=window, actor=REQUESTER)
    engine.change_submit(id=change, actor=REQUESTER)
    engine.change_request_authorization(id=change, actor=REQUESTER)
    with pytest.raises(Forbidden) as info:
        engine.approve_change(change, actor=REQUESTER)
    assert refused(Forbidden, info).domain_code == "separation_of_duties"


def test_invalid_params_is_a_validation_error(engine: Engine) -> None:
    with pytest.raises(InvalidParams) as info:
        engine.call("incident.open", title="t", caller="bob", impact="hgih", urgency="high")
    e = refused(InvalidParams, info)
    assert e.code == -32602 and isinstance(e, ValidationError)


def test_validation(engine: Engine) -> None:
    with pytest.raises(ValidationError) as info:
        engine.open_incident("", caller="bob")
    assert info.value.domain_code == "validation"


def test_method_not_found(engine: Engine) -> None:
    with pytest.raises(MethodNotFound) as info:
        engine.call("incident.opne")
    assert refused(MethodNotFound, info).code == -32601


def test_not_supported_on_the_system_clock(engine: Engine) -> None:
    with pytest.raises(NotSupported) as info:
        engine.set_clock("2100-01-01T00:00:00Z", actor={"id": "root", "roles": ["admin"]})
    assert refused(NotSupported, info).domain_code == "not_supported"


def test_invalid_policy_is_a_validation_error() -> None:
    assert issubclass(InvalidPolicy, ValidationError)
    e = OpsledgerError.from_object(
        {"code": -32024, "message": "m", "data": {"domain_code": "invalid_policy", "details": {"issues": [{"path": "a", "message": "b"}]}}}
    )
    assert isinstance(e, InvalidPolicy) and e.issues == [opsledger.PolicyIssue("a", "b")]


def test_unknown_codes_stay_opsledger_errors() -> None:
    assert error_class(-32089, {"domain_code": "something_new"}) is OpsledgerError
    assert error_class(-32601, None) is MethodNotFound
