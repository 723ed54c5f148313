"""action_answer_faq: answers from knowledge/answers.yml with related-topic buttons."""

from __future__ import annotations

from typing import Any, Callable, Dict

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import ActionAnswerFaq
from actions.knowledge import get_knowledge

FEEDBACK_PAYLOADS = ["/rate_helpful", "/rate_unhelpful"]


def assert_feedback_question(message: Dict[str, Any]) -> None:
    """The light "Was this helpful?" with 👍 / 👎, from the knowledge file."""
    feedback = get_knowledge().feedback
    assert message["text"] == feedback.question == "Was this helpful?"
    assert [b["payload"] for b in message["buttons"]] == FEEDBACK_PAYLOADS
    assert [b["title"] for b in message["buttons"]] == [feedback.helpful, feedback.not_helpful]
    assert "👍" in feedback.helpful and "👎" in feedback.not_helpful


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

    assert events == [SlotSet("answered_topics", [topic.key])]
    assert len(dispatcher.messages) == 2
    assert_feedback_question(dispatcher.messages[1])
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


def test_several_topics_get_one_answer_each_in_order_with_buttons_once(
    dispatcher: CollectingDispatcher, make_tracker: Callable[..., Tracker], domain: Dict[str, Any]
) -> None:
    knowledge = get_knowledge()
    entities = [
        {"entity": "faq_topic", "value": "ask_cost"},
        {"entity": "faq_topic", "value": "ask_insurance"},
        {"entity": "faq_topic", "value": "ask_cost"},  # asked twice: answered once
        {"entity": "faq_topic", "value": "ask_safety"},  # a fourth topic: over the limit
    ]
    events = ActionAnswerFaq().run(dispatcher, make_tracker(intent="ask_session", entities=entities), domain)
    assert events == [SlotSet("answered_topics", ["session", "cost", "insurance"])]
    answers, feedback = dispatcher.messages[:-1], dispatcher.messages[-1]
    texts = [m["text"] for m in answers]
    assert texts == [knowledge.for_intent(i).text for i in ("ask_session", "ask_cost", "ask_insurance")]  # type: ignore[union-attr]
    assert [bool(m["buttons"]) for m in answers] == [False, False, True]
    assert_feedback_question(feedback)  # asked once, after all the answers
    payloads = {b["payload"] for b in answers[-1]["buttons"]}
    assert payloads.isdisjoint({"/ask_session", "/ask_cost", "/ask_insurance"}) and len(payloads) >= 2


def test_a_not_covered_question_among_others_ends_with_the_honest_reply(
    dispatcher: CollectingDispatcher, make_tracker: Callable[..., Tracker], domain: Dict[str, Any]
) -> None:
    entities = [{"entity": "faq_topic", "value": "ask_not_covered"}]
    events = ActionAnswerFaq().run(dispatcher, make_tracker(intent="ask_cost", entities=entities), domain)
    assert events == [SlotSet("answered_topics", ["cost"]), SlotSet("not_covered", True)]
    assert dispatcher.messages[0]["text"] == get_knowledge().for_intent("ask_cost").text  # type: ignore[union-attr]
    assert not dispatcher.messages[0]["buttons"]
    # The honest reply ends the turn with its topic buttons: no feedback question after it.
    assert [m.get("response") for m in dispatcher.messages[1:]] == ["utter_not_covered"]


def test_the_not_covered_reply_alone_records_no_topic(
    dispatcher: CollectingDispatcher, make_tracker: Callable[..., Tracker], domain: Dict[str, Any]
) -> None:
    events = ActionAnswerFaq().run(dispatcher, make_tracker(intent="ask_not_covered"), domain)
    assert events == [SlotSet("not_covered", True)]
    assert [m.get("response") for m in dispatcher.messages] == ["utter_not_covered"]
    assert "{clinic_phone}" in domain["responses"]["utter_not_covered"][0]["text"]


def test_a_caution_from_the_safety_layer_follows_the_answer(
    dispatcher: CollectingDispatcher, make_tracker: Callable[..., Tracker], domain: Dict[str, Any]
) -> None:
    """Only the classifier took the message for a risk: the answer, then the referral line."""
    entities = [{"entity": "safety_caution", "value": "classifier"}]
    events = ActionAnswerFaq().run(dispatcher, make_tracker(intent="ask_session", entities=entities), domain)
    assert events == [SlotSet("answered_topics", ["session"])]
    assert dispatcher.messages[0]["text"] == get_knowledge().for_intent("ask_session").text  # type: ignore[union-attr]
    assert dispatcher.messages[1].get("response") == "utter_safety_caution"
    assert dispatcher.messages[2]["text"] == get_knowledge().feedback.question
    caution = domain["responses"]["utter_safety_caution"][0]["text"]
    assert "healthcare professional" in caution and "not a doctor" in caution


def test_a_question_about_a_school_age_child_ends_with_the_child_line(
    dispatcher: CollectingDispatcher, make_tracker: Callable[..., Tracker], domain: Dict[str, Any]
) -> None:
    entities = [{"entity": "safety_caution", "value": "child"}]
    ActionAnswerFaq().run(dispatcher, make_tracker(intent="ask_cost", entities=entities), domain)
    assert dispatcher.messages[0]["text"] == get_knowledge().for_intent("ask_cost").text  # type: ignore[union-attr]
    assert [m.get("response") for m in dispatcher.messages[1:2]] == ["utter_child_caution"]
    line = domain["responses"]["utter_child_caution"][0]["text"]
    assert "under about 6" in line and "doctor" in line and "not a doctor" in line


def test_no_caution_without_the_entity(
    dispatcher: CollectingDispatcher, make_tracker: Callable[..., Tracker], domain: Dict[str, Any]
) -> None:
    ActionAnswerFaq().run(dispatcher, make_tracker(intent="ask_session"), domain)
    assert "utter_safety_caution" not in [m.get("response") for m in dispatcher.messages]
