"""FAQ answers in other languages (core/faq_languages.py, knowledge/answers_multilingual.yml).

Each language's writer left their own test messages in tests/multilingual/faq/<lang>.yml:
every topic asked several ways, several questions in one message, subjects no answer
covers ("not_covered") and messages outside the domain (no topic).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import ActionAnswerFaq
from actions.knowledge import get_knowledge
from core.faq_languages import (
    NOT_COVERED,
    PATH,
    LanguageFileError,
    find_topics,
    get_languages,
    languages_to_try,
    load_languages,
)
from core.language import guess_language, language_scores
from core.settings import get_settings

CASES_DIR = Path(__file__).parent / "multilingual" / "faq"
LANGUAGES = ("es", "de", "fr", "it", "pt")


def _cases() -> List[Any]:
    cases = []
    for code in LANGUAGES:
        for item in yaml.safe_load((CASES_DIR / f"{code}.yml").read_text(encoding="utf-8"))["cases"]:
            cases.append(pytest.param(code, item["text"], item["topics"], id=f"{code}-{item['text'][:40]}"))
    return cases


def test_every_language_has_every_topic_and_its_cases() -> None:
    languages = get_languages()
    assert set(languages) == set(LANGUAGES)
    topics = set(get_knowledge().topics)
    for code, language in languages.items():
        assert set(language.texts) == set(language.titles) == topics, code
        cases = yaml.safe_load((CASES_DIR / f"{code}.yml").read_text(encoding="utf-8"))["cases"]
        asked = {topic for case in cases for topic in case["topics"]}
        assert asked >= topics | {NOT_COVERED}, code
        assert any(not case["topics"] for case in cases), f"{code}: no message outside the domain"
        assert sum(len(case["topics"]) >= 2 for case in cases) >= 5, f"{code}: few several-question cases"


@pytest.mark.parametrize("code, text, topics", _cases())
def test_the_writers_messages_find_their_topics(code: str, text: str, topics: List[str]) -> None:
    assert find_topics(text, [code]) == ((code, topics) if topics else ("", []))


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_button_title_asks_its_own_topic(code: str) -> None:
    """A topic button sends its title as a typed message: a tap must get that topic."""
    language = get_languages()[code]
    for topic, title in language.titles.items():
        assert find_topics(title, [code])[1][:1] == [topic], title


@pytest.mark.parametrize(
    "text, code, first",
    [
        ("¿Cuánto cuesta una sesión de iontoforesis?", "es", "cost"),
        ("Was kostet eine Behandlung mit Leitungswasser-Iontophorese?", "de", "cost"),
        ("Combien coûte une séance d'ionophorèse ?", "fr", "cost"),
        ("Quanto costa una seduta di ionoforesi?", "it", "cost"),
        ("Quanto custa uma sessão de iontoforese?", "pt", "cost"),
    ],
)
def test_a_message_is_answered_in_its_guessed_language(text: str, code: str, first: str) -> None:
    scores = language_scores(text)
    guess = guess_language(text, scores)
    language, topics = find_topics(text, languages_to_try(scores, guess))
    assert (language, topics[:1]) == (code, [first])


def test_languages_to_try_puts_the_guess_first_then_the_evidence() -> None:
    assert languages_to_try({"es": 3, "pt": 2, "it": 0, "de": 1}, "es") == ["es", "pt", "de"]


# ------------------------------------------------------------------ the file's checks


def _write(tmp_path: Path, data: Dict[str, Any]) -> Path:
    path = tmp_path / "answers_multilingual.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _minimal() -> Dict[str, Any]:
    return {
        "version": 1,
        "xx": {
            "replies": {
                "not_covered": "No. {clinic_name} {clinic_phone} {booking_url}",
                "child": "Kids: {clinic_name} ({clinic_phone})",
                "caution": "Careful.",
                "feedback_question": "Good?",
                "helpful": "yes",
                "not_helpful": "no",
            },
            "domain": ["sweat"],
            "not_covered": ["botox"],
            "topics": {"cost": {"title": "price?", "text": "It costs money.", "phrases": ["price", "cost"]}},
        },
    }


def test_a_minimal_file_loads_and_matches(tmp_path: Path) -> None:
    languages = load_languages(_write(tmp_path, _minimal()), topics=["cost"])
    assert find_topics("what price, and botox?", ["xx"], languages) == ("xx", ["cost", NOT_COVERED])
    assert find_topics("i sweat a lot", ["xx"], languages) == ("xx", [NOT_COVERED])
    assert find_topics("nice weather", ["xx"], languages) == ("", [])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["xx"]["topics"].pop("cost"), "topics missing"),
        (lambda d: d["xx"]["topics"]["cost"].update(phrases=["(unclosed"]), "not a valid regex"),
        (lambda d: d["xx"]["topics"]["cost"].update(phrases=[]), "non-empty list"),
        (lambda d: d["xx"]["replies"].update(caution="call {nobody}"), "unknown placeholders"),
        (lambda d: d["xx"]["replies"].pop("child"), "replies.child"),
        (lambda d: d["xx"]["topics"]["cost"].update(title="hello"), "must match its own topic"),
        (lambda d: d["xx"]["topics"]["cost"].update(text="word " * 91), "longer than"),
        (lambda d: d.pop("version"), "version: 1"),
    ],
)
def test_a_malformed_file_fails_loudly(
    tmp_path: Path, change: Callable[[Dict[str, Any]], Any], message: str
) -> None:
    data = _minimal()
    change(data)
    with pytest.raises(LanguageFileError, match=message):
        load_languages(_write(tmp_path, data), topics=["cost"])


def test_a_missing_file_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(LanguageFileError, match="not found"):
        load_languages(tmp_path / "nothing.yml", topics=["cost"])


def test_the_shipped_file_is_the_default() -> None:
    assert PATH.name == "answers_multilingual.yml" and PATH.is_file()


# ------------------------------------------------------------------ the action


def _language_entity(code: str) -> Dict[str, Any]:
    return {"entity": "answer_language", "value": code, "start": 0, "end": 0}


def test_the_answers_come_in_the_language_with_its_buttons_and_feedback(
    dispatcher: CollectingDispatcher, make_tracker: Callable[..., Tracker], domain: Dict[str, Any]
) -> None:
    german = get_languages()["de"]
    entities = [
        _language_entity("de"),
        {"entity": "faq_topic", "value": "ask_insurance", "start": 0, "end": 0},
    ]
    tracker = make_tracker(
        intent="ask_cost", text="Was kostet das und zahlt die Krankenkasse?", entities=entities
    )

    events = ActionAnswerFaq().run(dispatcher, tracker, domain)

    assert events == [SlotSet("answered_topics", ["cost", "insurance"])]
    texts = [m["text"] for m in dispatcher.messages]
    assert texts == [german.texts["cost"], german.texts["insurance"], german.replies["feedback_question"]]
    assert not dispatcher.messages[0]["buttons"]  # the buttons come once, at the end
    buttons = dispatcher.messages[1]["buttons"]
    assert 2 <= len(buttons) <= 3
    # a tap sends the title, in German, which asks its own topic
    assert all(b["payload"] == b["title"] and b["title"] in german.titles.values() for b in buttons)
    assert german.titles["cost"] not in [b["title"] for b in buttons]
    assert [b["payload"] for b in dispatcher.messages[2]["buttons"]] == ["/rate_helpful", "/rate_unhelpful"]


def test_the_honest_reply_in_the_language_has_the_clinics_contacts_and_is_counted(
    dispatcher: CollectingDispatcher, make_tracker: Callable[..., Tracker], domain: Dict[str, Any]
) -> None:
    spanish = get_languages()["es"]
    tracker = make_tracker(
        intent="ask_not_covered", text="¿Puedo usar agua destilada?", entities=[_language_entity("es")]
    )

    events = ActionAnswerFaq().run(dispatcher, tracker, domain)

    assert events == [SlotSet("not_covered", True)]
    assert len(dispatcher.messages) == 1
    reply = dispatcher.messages[0]["text"]
    settings = get_settings()
    assert reply == spanish.replies["not_covered"].format(**settings.as_dict())
    assert settings.clinic_phone in reply and settings.booking_url in reply
    assert len(dispatcher.messages[0]["buttons"]) == 3


def test_a_child_question_in_the_language_gets_the_child_line(
    dispatcher: CollectingDispatcher, make_tracker: Callable[..., Tracker], domain: Dict[str, Any]
) -> None:
    french = get_languages()["fr"]
    entities = [_language_entity("fr"), {"entity": "safety_caution", "value": "child", "start": 0, "end": 0}]
    tracker = make_tracker(intent="ask_session", text="...", entities=entities)

    ActionAnswerFaq().run(dispatcher, tracker, domain)

    texts = [m["text"] for m in dispatcher.messages]
    assert texts[0] == french.texts["session"]
    assert texts[1] == french.replies["child"].format(**get_settings().as_dict())


def test_an_unknown_language_code_is_answered_in_english(
    dispatcher: CollectingDispatcher, make_tracker: Callable[..., Tracker], domain: Dict[str, Any]
) -> None:
    tracker = make_tracker(intent="ask_cost", text="...", entities=[_language_entity("nl")])
    ActionAnswerFaq().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["text"] == get_knowledge().for_intent("ask_cost").text  # type: ignore[union-attr]
