"""Request checks of the REST channel, erasure and retention (addons/rest.py,
addons/privacy.py, scripts/retention.py). The guard's checks: tests/test_guard.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import List

import pytest
from rasa.core.tracker_store import (
    FailSafeTrackerStore,
    InMemoryTrackerStore,
    SQLTrackerStore,
    TrackerStore,
)
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from addons.privacy import erase_conversation, purge_older_than, store_is_healthy
from addons.rest import check_request
from scripts import retention


@pytest.mark.parametrize(
    "body, problem",
    [
        (None, "JSON object"),
        ([1], "JSON object"),
        ({"message": "hi"}, "'sender'"),
        ({"sender": "", "message": "hi"}, "'sender'"),
        ({"sender": True, "message": "hi"}, "'sender'"),
        ({"sender": "x" * 200, "message": "hi"}, "at most"),
        ({"sender": "x"}, "'message'"),
        ({"sender": "x", "message": ["hi"]}, "'message'"),
        ({"sender": "x", "message": None}, "'message'"),
        ({"sender": "x\nINFO forged", "message": "hi"}, "control characters"),
        ({"sender": "x", "message": "hi", "metadata": [1]}, "'metadata'"),
    ],
)
def test_bad_bodies_are_explained(body: object, problem: str) -> None:
    explained = check_request(body)
    assert explained is not None and problem in explained


@pytest.mark.parametrize("body", [{"sender": "x", "message": "hi"}, {"sender": 7, "message": ""}])
def test_good_bodies_pass(body: dict) -> None:
    assert check_request(body) is None


# -- erasure and retention ----------------------------------------------------------------


@pytest.fixture
def sql_store(tmp_path: Path) -> SQLTrackerStore:
    return SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"))


def save(store: TrackerStore, sender: str, texts: List[str], at: float) -> None:
    tracker = DialogueStateTracker(sender, slots=[])
    for text in texts:
        tracker.update(UserUttered(text, timestamp=at))
    asyncio.run(store.save(tracker))


def stored_senders(store: SQLTrackerStore) -> set:
    with store.session_scope() as session:
        return {s for (s,) in session.query(store.SQLEvent.sender_id).distinct()}


def test_erase_removes_one_conversation_only(sql_store: SQLTrackerStore) -> None:
    save(sql_store, "alice", ["i have a pacemaker", "delete my data"], time.time())
    save(sql_store, "bob", ["how much?"], time.time())

    assert erase_conversation(FailSafeTrackerStore(sql_store), "alice") == 2
    assert stored_senders(sql_store) == {"bob"}


def test_erase_in_memory_store() -> None:
    store = InMemoryTrackerStore(Domain.empty())
    save(store, "alice", ["hi"], time.time())
    assert erase_conversation(store, "alice") == 1
    assert asyncio.run(store.retrieve("alice")) is None


def test_retention_deletes_only_old_conversations(sql_store: SQLTrackerStore) -> None:
    now = time.time()
    save(sql_store, "old", ["hi"], now - 40 * 86400)
    save(sql_store, "recent", ["hi"], now - 2 * 86400)
    assert purge_older_than(sql_store, 30, now=now) == 1
    assert stored_senders(sql_store) == {"recent"}


def test_retention_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "r.db"
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
    save(store, "old", ["hi"], time.time() - 100 * 86400)
    save(store, "new", ["hi"], time.time())

    assert retention.main(["--days", "30", "--url", f"sqlite:///{path}"]) == 0
    assert "Deleted 1 conversation" in capsys.readouterr().out
    assert stored_senders(store) == {"new"}


def test_retention_unnamespaced_removes_only_plain_sender_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "u.db"
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
    for who in ("4242", "a1b2c3", "rest:a1b2c3", "telegram:4242"):
        save(store, who, ["hi"], time.time())
    assert retention.main(["--unnamespaced", "--url", f"sqlite:///{path}"]) == 0
    assert "Deleted 2 conversation(s) stored under plain sender ids" in capsys.readouterr().out
    assert stored_senders(store) == {"rest:a1b2c3", "telegram:4242"}


def test_store_health(sql_store: SQLTrackerStore) -> None:
    import sqlalchemy

    assert store_is_healthy(FailSafeTrackerStore(sql_store))
    # the database goes away after start-up: nothing listens on port 1
    sql_store.engine = sqlalchemy.create_engine("postgresql://nobody@127.0.0.1:1/gone")
    assert not store_is_healthy(FailSafeTrackerStore(sql_store))
