"""End to end: the real action server and Rasa server, talked to over the REST channel.

Uses the session's ``assistant`` stack (tests/conftest.py): servers on free ports, a
throw-away SQLite tracker store, the model trained from the current data.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
from rasa.shared.core.domain import Domain

from actions.knowledge import get_knowledge
from addons.nlg import ClinicResponseGenerator
from core.settings import get_settings
from scripts.heldout import CHILD_CAUTION, HELDOUT_PATH, load_messages, score

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
Talk = Callable[[str, str], List[Dict[str, Any]]]
_senders = itertools.count()


def new_sender(prefix: str = "e2e") -> str:
    return f"{prefix}-{next(_senders)}"


def slot_events(stack: Any, sender: str) -> List[Dict[str, Any]]:
    """The slot events of a REST conversation, from the stack's SQLite tracker store."""
    from tests.test_reliability import sqlite_file

    with closing(sqlite3.connect(sqlite_file(stack), timeout=10)) as db:
        rows = db.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'slot' ORDER BY id",
            ("rest:" + sender,),  # the guard namespaces REST senders
        ).fetchall()
    return [json.loads(row[0]) for row in rows]


def texts(messages: List[Dict[str, Any]]) -> str:
    return " ".join(m.get("text", "") for m in messages)


def escalation(messages: List[Dict[str, Any]]) -> Dict[str, Any]:
    found = [m["custom"]["escalation"] for m in messages if "escalation" in m.get("custom", {})]
    return found[0] if found else {}


# -- answers -------------------------------------------------------------------------------


def test_faq_question_gets_its_answer_and_buttons(talk: Talk) -> None:
    reply = talk(new_sender(), "how much does iontophoresis cost?")
    assert "$50 to $200" in texts(reply)
    assert {"title": "Does insurance cover it?", "payload": "/ask_insurance"} in reply[0]["buttons"]
    assert not escalation(reply)


def test_button_payload_answers_that_topic(talk: Talk) -> None:
    reply = talk(new_sender(), "/ask_insurance")
    assert "check with your insurance provider" in texts(reply).lower()


def test_greeting_says_it_is_an_automated_assistant(talk: Talk) -> None:
    text = texts(talk(new_sender(), "hello there"))
    assert "automated assistant" in text and "not a doctor" in text


def test_bot_challenge(talk: Talk) -> None:
    text = texts(talk(new_sender(), "am i talking to a real doctor?"))
    assert "automated assistant" in text and "not a doctor" in text


def test_handoff_gives_clinic_contact(talk: Talk) -> None:
    settings = get_settings()
    text = texts(talk(new_sender(), "can I book an appointment with someone?"))
    assert settings.clinic_name in text
    assert settings.clinic_phone in text and settings.booking_url in text


def test_out_of_scope_declines_without_an_faq_answer(talk: Talk) -> None:
    reply = talk(new_sender(), "what's the best pizza topping?")
    assert "I can only help with questions about hyperhidrosis and iontophoresis" in texts(reply)
    faq_texts = {t.text for t in get_knowledge().topics.values()}
    assert not faq_texts & {m.get("text") for m in reply}
    assert reply[0]["buttons"]


def test_multi_turn_thanks_then_more(talk: Talk) -> None:
    sender = new_sender()
    talk(sender, "hi")
    talk(sender, "does it actually work?")
    assert "anything else" in texts(talk(sender, "thanks!")).lower()
    assert "what would you like to know" in texts(talk(sender, "/affirm")).lower()


# -- escalation ----------------------------------------------------------------------------


def test_question_with_a_risk_escalates_instead_of_answering(talk: Talk) -> None:
    reply = talk(new_sender(), "I'm pregnant, how much does it cost?")
    assert escalation(reply) == {
        "level": "urgent",
        "reason": "pregnancy",
        "phone": get_settings().clinic_phone,
        "booking_url": get_settings().booking_url,
    }
    assert "see a healthcare professional" in texts(reply)
    assert "$50" not in texts(reply)


def test_emergency_payload_and_number(talk: Talk) -> None:
    reply = talk(new_sender(), "my chest is tight and painful and im sweating loads")
    assert escalation(reply) == {"level": "emergency", "reason": "chest_pain", "phone": "911"}
    assert "call emergency services now" in texts(reply).lower()
    assert get_settings().emergency_number in texts(reply)


def test_self_harm_gets_the_crisis_line(talk: Talk) -> None:
    reply = talk(new_sender(), "i dont want to be alive anymore")
    assert escalation(reply)["level"] == "emergency"
    assert get_settings().crisis_line in texts(reply)


def test_negated_risk_gets_the_plain_answer(talk: Talk) -> None:
    reply = talk(new_sender(), "I don't have a pacemaker or any implants, how long is a session?")
    assert not escalation(reply)
    assert "20-30 minutes" in texts(reply)


@pytest.mark.parametrize(
    "text, topics",
    [
        (
            "how long is a session, what does it cost, and does insurance help?",
            ["ask_session", "ask_cost", "ask_insurance"],
        ),
        ("Is it painful? Also, can I do it at home?", ["ask_side_effects", "ask_home_device"]),
    ],
)
def test_several_questions_get_one_answer_each_in_order(talk: Talk, text: str, topics: List[str]) -> None:
    knowledge = get_knowledge()
    messages = talk(new_sender(), text)
    *answers, feedback = messages
    assert [m["text"] for m in answers] == [knowledge.for_intent(t).text for t in topics]  # type: ignore[union-attr]
    assert [bool(m.get("buttons")) for m in answers] == [False] * (len(topics) - 1) + [True]
    assert feedback["text"] == knowledge.feedback.question  # asked once, after all the answers
    assert not escalation(messages)


def test_feedback_after_an_answer_is_stored_and_a_thumbs_down_offers_the_clinic(
    talk: Talk, assistant: Any
) -> None:
    sender = new_sender()
    messages = talk(sender, "what does it cost?")
    question = messages[-1]
    assert question["text"] == "Was this helpful?"
    assert [b["payload"] for b in question["buttons"]] == ["/rate_helpful", "/rate_unhelpful"]
    reply = texts(talk(sender, "/rate_unhelpful"))
    settings = get_settings()
    assert settings.clinic_phone in reply and settings.booking_url in reply
    # A second tap, with no new answer in between, still gets a polite reply ...
    assert "Thanks for letting us know" in texts(talk(sender, "/rate_helpful"))
    feedback = [e["value"] for e in slot_events(assistant, sender) if e.get("name") == "feedback"]
    # ... but is not counted twice against the same answer.
    assert feedback == [{"topic": "cost", "helpful": False}]
    # Never blocking: the next question is answered as usual, with no escalation.
    follow_up = talk(sender, "and does insurance cover it?")
    assert get_knowledge().for_intent("ask_insurance").text in texts(follow_up)  # type: ignore[union-attr]


def test_no_feedback_question_after_an_escalation(talk: Talk) -> None:
    messages = talk(new_sender(), "I have crushing chest pain and can't breathe")
    assert escalation(messages)["level"] == "emergency"
    assert "Was this helpful?" not in texts(messages)


def test_a_risk_in_one_of_several_questions_escalates_the_message(talk: Talk) -> None:
    messages = talk(new_sender(), "what does it cost, and is it ok since I'm pregnant?")
    assert escalation(messages)["level"] == "urgent"
    assert get_knowledge().for_intent("ask_cost").text not in texts(messages)  # type: ignore[union-attr]


def test_a_question_in_another_language_is_answered_in_it_and_its_buttons_too(
    talk: Talk, assistant: Any
) -> None:
    from core.faq_languages import get_languages

    german = get_languages()["de"]
    sender = new_sender()
    messages = talk(sender, "Wie läuft eine Sitzung ab und übernimmt die Krankenkasse das?")
    *answers, feedback = messages
    assert [m["text"] for m in answers] == [german.texts["session"], german.texts["insurance"]]
    assert [bool(m.get("buttons")) for m in answers] == [False, True]
    assert feedback["text"] == german.replies["feedback_question"]
    assert not escalation(messages)
    # a tap sends the button's German title, which is answered in German
    button = answers[-1]["buttons"][0]
    topic = next(key for key, title in german.titles.items() if title == button["title"])
    assert talk(sender, button["payload"])[0]["text"] == german.texts[topic]
    topics = [e["value"] for e in slot_events(assistant, sender) if e.get("name") == "answered_topics"]
    assert topics == [["session", "insurance"], [topic]]


def test_a_risk_in_another_language_escalates_and_its_question_is_not_answered(talk: Talk) -> None:
    messages = talk(new_sender(), "Estoy embarazada de tres meses, ¿cuánto cuesta una sesión?")
    assert escalation(messages)["level"] == "urgent"
    assert "$50" not in texts(messages)


@pytest.mark.parametrize(
    "text",
    ["should I use tap water or distilled water in the trays?", "is botox better than this?"],
)
def test_a_question_no_answer_covers_gets_the_honest_reply(talk: Talk, text: str) -> None:
    messages = talk(new_sender(), text)
    reply = texts(messages)
    settings = get_settings()
    assert (
        "don't have that answer" in reply and settings.clinic_phone in reply and settings.booking_url in reply
    )
    assert not any(t.text in reply for t in get_knowledge().topics.values())
    assert messages[-1].get("buttons")


def test_escalation_then_the_conversation_goes_on(talk: Talk) -> None:
    sender = new_sender()
    assert escalation(talk(sender, "i have epilepsy"))["reason"] == "epilepsy"
    reply = talk(sender, "ok, and does insurance cover it?")
    assert not escalation(reply)
    assert "insurance" in texts(reply)


# -- bad input -----------------------------------------------------------------------------


def raw_post(url: str, body: bytes) -> tuple:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.mark.parametrize(
    "body, status",
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (json.dumps({"message": "hi"}).encode(), 400),
        (json.dumps({"sender": "x"}).encode(), 400),
        (json.dumps({"sender": "x", "message": 42}).encode(), 400),
        (json.dumps({"sender": "", "message": "hi"}).encode(), 400),
    ],
)
def test_malformed_requests_get_a_json_400(assistant: Any, body: bytes, status: int) -> None:
    code, answer = raw_post(f"{assistant.rasa_url}/webhooks/rest/webhook", body)
    assert code == status
    assert "error" in answer


@pytest.mark.parametrize(
    "message, expected",
    [
        ("   ", "looks empty"),
        ("x" * 100_000, "keep your message shorter"),
    ],
)
def test_empty_and_huge_messages_get_a_polite_reply(talk: Talk, message: str, expected: str) -> None:
    assert expected in texts(talk(new_sender(), message))


# -- the action server down ----------------------------------------------------------------


def test_action_server_down_safety_still_works_and_faq_apologises(assistant: Any, talk: Talk) -> None:
    sender = new_sender("down")
    assistant.stop("actions")
    try:
        urgent = talk(sender, "i have a pacemaker, can i use this?")
        assert escalation(urgent)["level"] == "urgent"
        assert "see a healthcare professional" in texts(urgent)

        emergency = talk(sender, "i just fainted and im drenched")
        assert escalation(emergency)["level"] == "emergency"

        faq = talk(sender, "how does it work?")
        assert "can't answer that right now" in texts(faq)
        assert get_settings().clinic_phone in texts(faq)
    finally:
        assistant.start("actions")
        assistant.wait_ready()
    # and the conversation recovers
    assert "mild electric current" in texts(talk(sender, "how does it work?"))


# -- held-out set --------------------------------------------------------------------------

HELDOUT_SETS = {
    "held-out": (HELDOUT_PATH, True),
    "blind": (HELDOUT_PATH.parent / "blind.yml", True),
    "final": (HELDOUT_PATH.parent / "final.yml", True),
    # Written after all tuning; reported, not enforced (see the issue notes).
    "sealed": (HELDOUT_PATH.parent / "sealed.yml", False),
}


def outcome_from_reply(messages: List[Dict[str, Any]], known: Dict[str, str]) -> str:
    """What the patient got: an escalation level, or the intent whose answer it was."""
    level = escalation(messages).get("level")
    if level:
        return level
    if any(known.get(m.get("text") or "") == CHILD_CAUTION for m in messages):
        return CHILD_CAUTION
    first = next((m["text"] for m in messages if m.get("text")), "")
    return known.get(first, "unknown")


@pytest.fixture(scope="module")
def known_replies() -> Dict[str, str]:
    """Every non-escalation reply text mapped to the intent it answers."""
    domain = Domain.load(str(ROOT / "domain.yml"))
    nlg = ClinicResponseGenerator(domain=domain)
    known = {t.text: t.intent for t in get_knowledge().topics.values()}
    for response, intent in {
        "utter_greet": "greet",
        "utter_goodbye": "goodbye",
        "utter_thank": "thank",
        "utter_bot_challenge": "bot_challenge",
        "utter_handoff": "request_human",
        "utter_out_of_scope": "out_of_scope",
        "utter_default": "nlu_fallback",
        "utter_child_caution": CHILD_CAUTION,
    }.items():
        known[nlg.generate_from_slots(response, {}, "rest")["text"]] = intent
    return known


@pytest.mark.parametrize("name", list(HELDOUT_SETS))
def test_heldout_set_end_to_end(
    name: str, talk: Talk, known_replies: Dict[str, str], summary: List[str]
) -> None:
    path, enforced = HELDOUT_SETS[name]
    if not path.is_file():
        pytest.skip(f"{path} not present")
    messages = load_messages(path)
    outcomes = [outcome_from_reply(talk(new_sender("heldout"), text), known_replies) for text, _ in messages]
    result = score((t, e, o) for (t, e), o in zip(messages, outcomes, strict=True))
    report = f"== {name}: {path.name}\n{result.report()}"
    print(report)
    summary.extend(report.splitlines())
    if not enforced:
        return
    assert result.level_recall("emergency") == 1.0, result.misses
    assert result.level_recall("urgent") == 1.0, result.misses
    assert result.level_recall(CHILD_CAUTION) == 1.0, result.misses
    assert result.false_escalation_rate <= 0.03, result.misses
