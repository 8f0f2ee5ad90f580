"""What a failed write means for its event: a lookup of the failure's category and
retryable over the one tree of sync failures (pure)."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import httpx
import pytest

import app.core.failures
from app.connections.refresh import ConnectionUnavailable, RefreshFailed
from app.core.failures import Category, QboUnreachable, SyncFailure
from app.qbo.errors import FaultError, QboError
from app.qbo.limiter import BudgetWait
from app.qbo.oauth import OAuthFailure
from app.sync.outcomes import (
    Dead,
    Deferred,
    Done,
    NoConnection,
    OutcomeKind,
    RetryLater,
    failure_of,
    kind_of,
    kind_of_outcome,
)
from app.sync.payloads import PayloadError
from app.sync.work import Applied


def _qbo(category: Category, status: int | None = 400, **kw: Any) -> QboError:
    return QboError(category, status, (FaultError("123", "refused"),), **kw)


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (BudgetWait("r1", 2.5), OutcomeKind.DEFERRED),
        (PayloadError("no such tax code"), OutcomeKind.DEAD),
        (ConnectionUnavailable("r1", "needs_reauth"), OutcomeKind.WAITING_CONNECTION),
        (RefreshFailed("r1", OAuthFailure("transport")), OutcomeKind.RETRYING),
        (QboUnreachable(httpx.ConnectError("refused")), OutcomeKind.RETRYING),
        (_qbo(Category.THROTTLED, 429), OutcomeKind.RETRYING),
        (_qbo(Category.TRANSIENT, 503), OutcomeKind.RETRYING),
        (_qbo(Category.AUTH, 401), OutcomeKind.RETRYING),
        (_qbo(Category.STALE), OutcomeKind.RETRYING),
        (_qbo(Category.CONNECTION, 403), OutcomeKind.WAITING_CONNECTION),
        (_qbo(Category.DUPLICATE_NAME), OutcomeKind.DEAD),
        (_qbo(Category.NOT_FOUND), OutcomeKind.DEAD),
        (_qbo(Category.PERMANENT), OutcomeKind.DEAD),
    ],
)
def test_the_outcome_is_a_lookup_of_category_and_retryable(
    failure: SyncFailure, kind: OutcomeKind
) -> None:
    assert kind_of(failure) is kind


def test_a_qbo_fault_decides_retryable_per_instance() -> None:
    assert _qbo(Category.TRANSIENT).retryable
    assert not _qbo(Category.PERMANENT).retryable


def test_reasons_keep_the_shape_events_store() -> None:
    assert PayloadError("bad").reason() == {"category": "permanent", "code": None, "message": "bad"}
    assert ConnectionUnavailable("r1", None).reason() == {
        "category": "connection",
        "code": None,
        "message": "realm r1: not connected",
    }
    unreachable = QboUnreachable(OSError("reset"))
    assert unreachable.reason()["message"] == "QBO unreachable (OSError)"
    assert _qbo(Category.PERMANENT).reason()["code"] == "123"


def test_only_a_lost_answer_or_a_server_error_may_have_written() -> None:
    assert _qbo(Category.TRANSIENT, None, ambiguous=True).maybe_written
    assert _qbo(Category.TRANSIENT, 500).maybe_written
    assert not _qbo(Category.TRANSIENT, 429).maybe_written
    assert not _qbo(Category.PERMANENT, 500).maybe_written
    assert not PayloadError("bad").maybe_written


def test_only_qbo_refusing_the_connection_asks_for_reauthorisation() -> None:
    assert _qbo(Category.CONNECTION, 403).needs_reauth
    assert not ConnectionUnavailable("r1", "needs_reauth").needs_reauth


def test_waits_come_from_the_failure() -> None:
    assert BudgetWait("r1", 2.5).retry_after == 2.5
    assert _qbo(Category.THROTTLED, 429, retry_after=30.0).retry_after == 30.0
    assert PayloadError("bad").retry_after is None


def test_network_errors_join_the_tree_and_anything_else_propagates() -> None:
    cause = httpx.ReadError("reset")
    failure = failure_of(cause)
    assert isinstance(failure, QboUnreachable)
    assert failure.cause is cause
    assert failure_of(OSError("gone")).category is Category.TRANSIENT
    budget = BudgetWait("r1", 1.0)
    assert failure_of(budget) is budget
    with pytest.raises(KeyError):
        failure_of(KeyError("a bug"))


def test_unreachable_logs_its_cause(caplog: pytest.LogCaptureFixture) -> None:
    cause = httpx.ConnectError("refused")
    logger = logging.getLogger("test.outcomes")
    with caplog.at_level(logging.WARNING, logger="test.outcomes"):
        QboUnreachable(cause).log_warning(logger, {"event_id": "e1"})
        PayloadError("bad").log_warning(logger, {})
    [line] = caplog.records
    assert line.getMessage() == "QBO unreachable"
    assert line.exc_info is not None
    assert line.exc_info[1] is cause


def test_every_failure_of_the_tree_is_drawn_in_its_docstring() -> None:
    doc = inspect.getdoc(app.core.failures) or ""
    members = {cls.__name__ for cls in SyncFailure.__subclasses__()}
    assert members >= {"BudgetWait", "QboError", "QboUnreachable", "RefreshFailed"}
    assert members >= {"ConnectionUnavailable", "PayloadError"}
    for name in members:
        assert f"── {name}" in doc


def test_outcomes_are_counted_under_their_metric_names() -> None:
    applied = Applied("1", "0")
    reason = {"category": "transient", "code": None, "message": "x"}
    assert kind_of_outcome(Done(applied)) == "synced"
    assert kind_of_outcome(RetryLater(reason, throttled=False)) == "retrying"
    assert kind_of_outcome(Dead(reason)) == "dead"
    assert kind_of_outcome(NoConnection(reason)) == "waiting_connection"
    assert kind_of_outcome(Deferred(1.0)) == "deferred"
