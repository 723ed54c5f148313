"""The bounded SQL tracker store (addons/tracker_store.py).

Checks that it stores exactly the events Rasa's store would, that a loaded window
predicts like the whole conversation (same recent states, same slots, loop and pause),
and that endpoints.yml really selects it. No server is started; SQLite files live in
pytest's tmp_path. PostgreSQL runs too when TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import List

import pytest
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    AllSlotsReset,
    BotUttered,
    ConversationPaused,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

from addons.tracker_store import (
    STORED_EVENTS_ATTRIBUTE,
    RecentEventsSQLTrackerStore,
    carried_state,
    window_start,
)

ROOT = Path(__file__).resolve().parent.parent

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet, ask_cost, report_risk]
entities: [risk_reason]
slots:
  risk_reason:
    type: text
    influence_conversation: false
    mappings: [{type: from_entity, entity: risk_reason}]
  mood:
    type: categorical
    values: [happy, sad]
    mappings: [{type: custom}]
actions: [action_answer_faq]
responses:
  utter_greet: [{text: hi}]
"""
)


def turn(intent: str, action: str, timestamp: float) -> List[Event]:
    """One patient turn as Rasa logs it: message, reply, back to listening."""
    return [
        UserUttered(
            f"text for {intent}",
            {"name": intent, "confidence": 0.9},
            parse_data={
                "intent": {"name": intent, "confidence": 0.9},
                "entities": [],
                "text": f"text for {intent}",
            },
            timestamp=timestamp,
        ),
        ActionExecuted(action, timestamp=timestamp + 0.1),
        BotUttered("reply", timestamp=timestamp + 0.2),
        ActionExecuted(ACTION_LISTEN_NAME, timestamp=timestamp + 0.3),
    ]


def session_start(timestamp: float) -> List[Event]:
    return [
        ActionExecuted(ACTION_SESSION_START_NAME, timestamp=timestamp),
        SessionStarted(timestamp=timestamp + 0.01),
        ActionExecuted(ACTION_LISTEN_NAME, timestamp=timestamp + 0.02),
    ]


def conversation(turns: int, start: float = 1000.0) -> List[Event]:
    events = session_start(start)
    for i in range(turns):
        intent = ("greet", "ask_cost", "report_risk")[i % 3]
        action = "utter_greet" if intent == "greet" else "action_answer_faq"
        events += turn(intent, action, start + 1 + i)
    return events


def store_for(tmp_path: Path, max_events: int = 20) -> RecentEventsSQLTrackerStore:
    return RecentEventsSQLTrackerStore(
        domain=DOMAIN,
        dialect="sqlite",
        host=f"sqlite:///{tmp_path / 'tracker.db'}",
        max_events=max_events,
    )


async def append(store: TrackerStore, sender: str, events: List[Event]) -> DialogueStateTracker:
    """Loads the tracker as the processor does, adds events, saves."""
    tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
    for event in events:
        tracker.update(event)
    await store.save(tracker)
    return tracker


def stored_rows(tmp_path: Path, sender: str) -> List[dict]:
    with sqlite3.connect(tmp_path / "tracker.db") as db:
        rows = db.execute("SELECT data FROM events WHERE sender_id = ? ORDER BY id", (sender,)).fetchall()
    return [json.loads(r[0]) for r in rows]


def full_tracker(events: List[Event]) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("x", events, DOMAIN.slots)


# -- pure helpers --------------------------------------------------------------------


def test_window_starts_at_the_latest_session_start() -> None:
    rows = [
        (1, "action", "action_listen", ""),
        (2, "session_started", None, ""),
        (3, "action", "action_listen", ""),
        (4, "user", None, ""),
    ]
    assert window_start(rows, full=True) == (1, False)


def test_full_window_without_session_start_begins_at_a_listen_and_carries_state() -> None:
    rows = [(5, "bot", None, ""), (6, "action", "action_listen", ""), (7, "user", None, "")]
    assert window_start(rows, full=True) == (1, True)
    assert window_start(rows, full=False) == (0, False)


def test_carried_state_keeps_the_latest_of_each_and_stops_at_a_reset() -> None:
    def slot(name: str, value: str, t: float) -> tuple:
        return ("slot", json.dumps({"event": "slot", "name": name, "value": value, "timestamp": t}))

    newest_first = [
        slot("risk_reason", "pregnancy", 9.0),
        ("pause", json.dumps({"event": "pause", "timestamp": 8.0})),
        slot("risk_reason", "pacemaker", 7.0),
        ("active_loop", json.dumps({"event": "active_loop", "name": None, "timestamp": 6.0})),
        ("session_started", json.dumps({"event": "session_started", "timestamp": 5.0})),
        slot("mood", "happy", 4.0),
    ]
    carried = carried_state(newest_first)
    assert [(e["event"], e.get("value")) for e in carried] == [
        ("active_loop", None),
        ("pause", None),
        ("slot", "pregnancy"),
    ]
    after_reset = carried_state([slot("mood", "sad", 3.0), ("reset_slots", "{}"), slot("mood", "happy", 1.0)])
    assert [e["value"] for e in after_reset] == ["sad"]


# -- the store ------------------------------------------------------------------------


async def test_unknown_sender_is_none_and_a_new_tracker_is_stored_once(tmp_path: Path) -> None:
    store = store_for(tmp_path)
    assert await store.retrieve("nobody") is None
    await append(store, "new", conversation(2))
    await append(store, "new", [])  # nothing new: nothing written
    assert [e["event"] for e in stored_rows(tmp_path, "new")] == [
        e.as_dict()["event"] for e in conversation(2)
    ]


async def test_every_event_is_stored_exactly_once_over_a_long_conversation(tmp_path: Path) -> None:
    store = store_for(tmp_path, max_events=20)
    events = conversation(0)
    await append(store, "long", events)
    for i in range(40):
        new = turn(("greet", "ask_cost")[i % 2], "action_answer_faq", 2000.0 + i)
        events += new
        await append(store, "long", new)
    rows = stored_rows(tmp_path, "long")
    assert rows == [e.as_dict() for e in events]


async def test_a_long_conversation_loads_a_bounded_window_at_a_turn_boundary(tmp_path: Path) -> None:
    store = store_for(tmp_path, max_events=20)
    events = conversation(30)
    await append(store, "s", events)
    tracker = await store.retrieve("s")
    assert tracker is not None
    assert len(tracker.events) <= 20
    first = tracker.events[0]
    assert isinstance(first, ActionExecuted) and first.action_name == ACTION_LISTEN_NAME
    assert getattr(tracker, STORED_EVENTS_ATTRIBUTE) == len(tracker.events)


async def test_window_predicts_like_the_whole_conversation(tmp_path: Path) -> None:
    store = store_for(tmp_path, max_events=20)
    events = conversation(30)
    await append(store, "s", events)
    window = await store.retrieve("s")
    assert window is not None
    whole = full_tracker(events)
    # MemoizationPolicy (max_history 3) and RulePolicy look at the last few states.
    assert window.past_states(DOMAIN)[-4:] == whole.past_states(DOMAIN)[-4:]
    assert window.latest_message.intent == whole.latest_message.intent
    assert window.latest_action_name == whole.latest_action_name
    assert window.current_slot_values() == whole.current_slot_values()


async def test_slots_loop_and_pause_from_before_the_window_are_carried_over(tmp_path: Path) -> None:
    store = store_for(tmp_path, max_events=20)
    events = conversation(1) + [
        SlotSet("risk_reason", "pacemaker", timestamp=1500.0),
        SlotSet("mood", "sad", timestamp=1500.1),
        ActiveLoop("some_form", timestamp=1500.2),
        ConversationPaused(timestamp=1500.3),
    ]
    events += conversation(0, start=1600.0)[2:]  # just an action_listen
    for i in range(20):
        events += turn("greet", "utter_greet", 1700.0 + i)
    await append(store, "s", events)
    window = await store.retrieve("s")
    assert window is not None
    whole = full_tracker(events)
    assert len(window.events) < len(whole.events)
    assert window.get_slot("risk_reason") == "pacemaker"
    assert window.current_slot_values() == whole.current_slot_values()
    assert window.active_loop_name == "some_form"
    assert window.is_paused()
    assert window.past_states(DOMAIN)[-4:] == whole.past_states(DOMAIN)[-4:]


async def test_nothing_is_carried_over_a_restart_or_slot_reset(tmp_path: Path) -> None:
    store = store_for(tmp_path, max_events=20)
    events = conversation(1) + [SlotSet("mood", "sad", timestamp=1500.0), Restarted(timestamp=1500.1)]
    events += [ActionExecuted(ACTION_LISTEN_NAME, timestamp=1500.2)]
    events += [SlotSet("risk_reason", "epilepsy", timestamp=1500.3), AllSlotsReset(timestamp=1500.4)]
    for i in range(20):
        events += turn("greet", "utter_greet", 1600.0 + i)
    await append(store, "s", events)
    window = await store.retrieve("s")
    assert window is not None
    assert window.get_slot("mood") is None
    assert window.get_slot("risk_reason") is None
    assert window.current_slot_values() == full_tracker(events).current_slot_values()


async def test_a_new_session_starts_the_window(tmp_path: Path) -> None:
    store = store_for(tmp_path, max_events=40)
    events = conversation(4) + session_start(5000.0) + turn("greet", "utter_greet", 5001.0)
    await append(store, "s", events)
    window = await store.retrieve("s")
    assert window is not None
    assert isinstance(window.events[0], SessionStarted)
    assert len(window.events) == 1 + 1 + 4


async def test_full_tracker_still_has_every_event(tmp_path: Path) -> None:
    store = store_for(tmp_path, max_events=20)
    events = conversation(30)
    await append(store, "s", events)
    full = await store.retrieve_full_tracker("s")
    assert len(full.events) == len(events)


async def test_a_tracker_built_elsewhere_is_saved_the_rasa_way(tmp_path: Path) -> None:
    store = store_for(tmp_path)
    events = conversation(2)[1:]  # from SessionStarted on, as Rasa's own store loads it
    await store.save(full_tracker(events))  # e.g. the HTTP API replacing events
    assert len(stored_rows(tmp_path, "x")) == len(events)
    more = events + turn("greet", "utter_greet", 3000.0)
    await store.save(full_tracker(more))  # stored rows exist: Rasa's count decides
    assert stored_rows(tmp_path, "x") == [e.as_dict() for e in more]


def test_sqlite_uses_the_write_ahead_log(tmp_path: Path) -> None:
    store_for(tmp_path)
    with sqlite3.connect(tmp_path / "tracker.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_too_small_a_window_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        store_for(tmp_path, max_events=5)


def test_endpoints_yml_selects_this_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scripts.serve import default_env

    env = default_env(
        overrides={"TRACKER_DIALECT": "sqlite", "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 't.db'}"}
    )
    for key, value in env.items():  # every variable endpoints.yml names
        monkeypatch.setenv(key, value)
    config = read_endpoint_config(str(ROOT / "endpoints.yml"), "tracker_store")
    store = TrackerStore.create(config, DOMAIN)
    # Rasa silently falls back to an in-memory store when a custom class fails to load.
    assert isinstance(store, RecentEventsSQLTrackerStore)
    assert isinstance(store, SQLTrackerStore)
    assert store.max_events >= 20


@pytest.mark.skipif(not os.environ.get("TEST_POSTGRES_URL"), reason="TEST_POSTGRES_URL not set")
async def test_postgresql(tmp_path: Path) -> None:
    store = RecentEventsSQLTrackerStore(
        domain=DOMAIN, dialect="postgresql", host=os.environ["TEST_POSTGRES_URL"], max_events=20
    )
    sender = f"pg-{os.getpid()}-{tmp_path.name}"
    events = conversation(1) + [SlotSet("mood", "sad", timestamp=1500.0)]
    for i in range(20):
        events += turn("greet", "utter_greet", 1600.0 + i)
    await append(store, sender, events[:10])
    await append(store, sender, events[10:])
    window = await store.retrieve(sender)
    assert window is not None
    assert len(window.events) <= 20
    assert window.get_slot("mood") == "sad"
    full = await store.retrieve_full_tracker(sender)
    assert [e.as_dict() for e in full.events] == [e.as_dict() for e in events]


def test_events_load_as_rasa_loads_them() -> None:
    from rasa.shared.core.events import deserialise_events

    from addons.tracker_store import deserialise

    serialised = [e.as_dict() for e in conversation(3)] + [
        SlotSet("mood", "sad").as_dict(),
        AllSlotsReset().as_dict(),
        {"event": "topic", "topic": "old"},  # retired type: skipped by both
        {"no_event_key": True},
    ]
    assert deserialise(serialised) == deserialise_events(serialised)
    with pytest.raises(ValueError):
        deserialise([{"event": "no_such_event"}])


async def test_a_new_conversation_through_rasas_fail_safe_wrapper(tmp_path: Path) -> None:
    from rasa.core.tracker_store import FailSafeTrackerStore

    inner = store_for(tmp_path)
    store = FailSafeTrackerStore(inner)  # what the Rasa server wraps its store in
    tracker = await store.get_or_create_tracker("new", append_action_listen=True)
    assert getattr(tracker, STORED_EVENTS_ATTRIBUTE) == 1  # saved, and marked
    for event in turn("greet", "utter_greet", 2000.0):
        tracker.update(event)
    await store.save(tracker)
    assert len(stored_rows(tmp_path, "new")) == 5
