"""action_record_feedback: 👍 / 👎 stored per answered topic, for the staff report."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.feedback import ActionRecordFeedback, last_answered_topics


def user(text: str, intent: str) -> Dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent, "confidence": 1.0}}}


def answered(*topics: str) -> Dict[str, Any]:
    return {"event": "slot", "name": "answered_topics", "value": list(topics)}


def test_action_name() -> None:
    assert ActionRecordFeedback().name() == "action_record_feedback"


@pytest.mark.parametrize("intent, helpful", [("rate_helpful", True), ("rate_unhelpful", False)])
def test_feedback_is_stored_for_each_topic_of_the_answer_just_given(
    intent: str,
    helpful: bool,
    dispatcher: CollectingDispatcher,
    make_tracker: Callable[..., Tracker],
    domain: Dict[str, Any],
) -> None:
    events = [
        user("how long is a session and what does it cost", "ask_session"),
        answered("session", "cost"),
        user(f"/{intent}", intent),
    ]
    result = ActionRecordFeedback().run(dispatcher, make_tracker(intent=intent, events=events), domain)
    assert result == [
        SlotSet("feedback", {"topic": "session", "helpful": helpful}),
        SlotSet("feedback", {"topic": "cost", "helpful": helpful}),
    ]
    # The reply (thanks, or the clinic's contacts) is the rule's next step, not the action's.
    assert dispatcher.messages == []


def test_a_late_tap_on_an_old_answer_is_not_attributed_to_it(
    dispatcher: CollectingDispatcher, make_tracker: Callable[..., Tracker], domain: Dict[str, Any]
) -> None:
    events = [
        user("what does it cost", "ask_cost"),
        answered("cost"),
        user("I have chest pain", "report_emergency"),  # an escalation since
        user("/rate_unhelpful", "rate_unhelpful"),
    ]
    result = ActionRecordFeedback().run(
        dispatcher, make_tracker(intent="rate_unhelpful", events=events), domain
    )
    assert result == []


@pytest.mark.parametrize(
    "events, topics",
    [
        ([], []),
        ([user("/rate_helpful", "rate_helpful")], []),
        ([user("q", "ask_cost"), answered("cost"), user("/rate_helpful", "rate_helpful")], ["cost"]),
        (
            [
                user("q", "ask_cost"),
                answered("cost"),
                user("q2", "ask_safety"),
                answered("safety"),
                user("/x", "rate_helpful"),
            ],
            ["safety"],
        ),
        ([user("q", "ask_cost"), {"event": "slot", "name": "answered_topics", "value": None}], []),
    ],
)
def test_last_answered_topics(events: List[Dict[str, Any]], topics: List[str]) -> None:
    assert last_answered_topics(events) == topics


def test_the_replies_are_domain_responses(domain: Dict[str, Any]) -> None:
    assert "utter_feedback_thanks" in domain["responses"]
    sorry = domain["responses"]["utter_feedback_sorry"][0]["text"]
    assert "{clinic_phone}" in sorry and "{booking_url}" in sorry
