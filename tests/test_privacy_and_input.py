"""Input checks of the REST channel, language detection, rate limiting, erasure and
retention (addons/rest.py, core/language.py, addons/privacy.py, scripts/retention.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore, SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from core.language import is_probably_not_english
from core.settings import get_settings
from addons.privacy import erase_conversation, purge_older_than, store_is_healthy
from addons.rest import RateLimiter, check_request, clean_text, polite_reply
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
    ],
)
def test_bad_bodies_are_explained(body: object, problem: str) -> None:
    assert problem in check_request(body)


@pytest.mark.parametrize("body", [{"sender": "x", "message": "hi"}, {"sender": 7, "message": ""}])
def test_good_bodies_pass(body: dict) -> None:
    assert check_request(body) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "looks empty"),
        (" \n\t ", "looks empty"),
        ("x" * 2001, "keep your message shorter"),
        ("hola, tengo las manos muy sudadas, que puedo hacer", "only answer in English"),
        ("我的手出汗很多", "only answer in English"),
    ],
)
def test_messages_that_skip_nlu_get_a_polite_reply(text: str, expected: str) -> None:
    reply = polite_reply(text, 2000)
    assert expected in reply
    if expected != "looks empty":
        assert get_settings().emergency_number in reply


@pytest.mark.parametrize("text", ["how much is it?", "🙂🙂🙂", "im pregnant lol", "si", "<script>x</script>"])
def test_ordinary_messages_go_to_nlu(text: str) -> None:
    assert polite_reply(text, 2000) is None


@pytest.mark.parametrize(
    "text, foreign",
    [
        ("je transpire beaucoup des mains, est-ce que ça marche pour moi", True),
        ("ich habe sehr nasse Hände, was kostet das", True),
        ("Мои руки потеют", True),
        ("does it work on feet", False),
        ("pacemaker ok?", False),
        ("the device is made in germany and il costs 200", False),
    ],
)
def test_language_detection(text: str, foreign: bool) -> None:
    assert is_probably_not_english(text) is foreign


def test_control_characters_are_removed() -> None:
    assert clean_text("pace\x00maker\x1b[31m\nok\t") == "pacemaker[31m\nok\t"


def test_rate_limiter_limits_one_sender_not_others() -> None:
    limiter = RateLimiter(limit=3, window=10)
    assert [limiter.allow("flood", now=t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert limiter.allow("calm", now=3)
    assert limiter.allow("flood", now=12.5)  # the window moved on


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(limit=1, window=10, max_senders=100)
    for i in range(1000):
        limiter.allow(f"s{i}", now=0)
    assert len(limiter._seen) == 100


# -- erasure and retention ----------------------------------------------------------------


@pytest.fixture
def sql_store(tmp_path: Path) -> SQLTrackerStore:
    return SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"))


def save(store, sender: str, texts: list, at: float) -> None:
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


def test_store_health(sql_store: SQLTrackerStore) -> None:
    import sqlalchemy

    assert store_is_healthy(FailSafeTrackerStore(sql_store))
    # the database goes away after start-up: nothing listens on port 1
    sql_store.engine = sqlalchemy.create_engine("postgresql://nobody@127.0.0.1:1/gone")
    assert not store_is_healthy(FailSafeTrackerStore(sql_store))
