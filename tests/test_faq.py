"""action_answer_faq: answers from knowledge/answers.yml with related-topic buttons."""

from __future__ import annotations

from typing import Any, Callable, Dict

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import ActionAnswerFaq
from actions.knowledge import get_knowledge

FAQ_INTENTS = sorted(topic.intent for topic in get_knowledge().topics.values())


def test_action_name() -> None:
    assert ActionAnswerFaq().name() == "action_answer_faq"


@pytest.mark.parametrize("intent", FAQ_INTENTS)
def test_every_faq_intent_gets_its_answer_and_buttons(
    intent: str,
    dispatcher: CollectingDispatcher,
    make_tracker: Callable[..., Tracker],
    domain: Dict[str, Any],
) -> None:
    topic = get_knowledge().for_intent(intent)
    assert topic is not None

    events = ActionAnswerFaq().run(dispatcher, make_tracker(intent=intent), domain)

    assert events == []
    assert len(dispatcher.messages) == 1
    message = dispatcher.messages[0]
    assert message["text"] == topic.text
    payloads = [button["payload"] for button in message["buttons"]]
    assert 2 <= len(payloads) <= 3
    assert f"/{intent}" not in payloads  # never offers the topic just answered
    assert all(p.startswith("/ask_") and p[1:] in FAQ_INTENTS for p in payloads)


def test_cost_answer_with_insurance_button(
    dispatcher: CollectingDispatcher, make_tracker: Callable[..., Tracker], domain: Dict[str, Any]
) -> None:
    ActionAnswerFaq().run(dispatcher, make_tracker(intent="ask_cost", text="how much?"), domain)

    message = dispatcher.messages[0]
    assert "$50 to $200" in message["text"]
    assert {"title": "Does insurance cover it?", "payload": "/ask_insurance"} in message["buttons"]


@pytest.mark.parametrize("intent", ["greet", "report_risk", "no_such_intent", None])
def test_intent_without_an_answer_asks_to_rephrase(
    intent: str,
    dispatcher: CollectingDispatcher,
    make_tracker: Callable[..., Tracker],
    domain: Dict[str, Any],
) -> None:
    events = ActionAnswerFaq().run(dispatcher, make_tracker(intent=intent), domain)

    assert events == []
    assert dispatcher.messages[0]["response"] == "utter_default"
    assert "utter_default" in domain["responses"]
