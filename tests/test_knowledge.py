"""The knowledge file: every FAQ topic states the article's facts, briefly."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from actions.knowledge import MAX_ANSWER_WORDS, KnowledgeError, get_knowledge, load_knowledge

ROOT = Path(__file__).resolve().parent.parent

# What each answer must say (from the table); each entry is a regex, and
# a list means "one of these".
REQUIRED_FACTS: Dict[str, List[Any]] = {
    "how_it_works": [
        r"mild electric(al)? current",
        r"water or a damp pad",
        r"temporarily blocks the sweat glands",
    ],
    "session": [r"20(-| to )30 minutes", "hands", "feet", "underarms"],
    "effectiveness": [r"studies", r"up to 90%"],
    "results_timeline": [r"a few weeks of regular sessions", r"last for months"],
    "safety": [r"safe and non-invasive", r"current is low"],
    "side_effects": [r"temporary skin irritation", "redness", "tingling", "mild discomfort"],
    "contraindications": [
        "pacemaker",
        "metal implants",
        "certain medical conditions",
        r"consult a healthcare professional",
    ],
    "who_benefits": ["hyperhidrosis", "hands", "feet", "underarms", "face"],
    "hyperhidrosis_types": [
        r"[Pp]rimary",
        "no underlying cause",
        r"[Ss]econdary",
        "diabetes",
        "thyroid",
        "menopause",
    ],
    "cost": [
        r"\$50 to \$200",
        "several sessions",
        r"home device",
        "upfront investment",
        "cost less over time",
    ],
    "insurance": [
        r"health insurance plans",
        r"check with your insurance provider",
        "payment plans",
        "discounts",
    ],
    "home_device": [r"buy", r"home use", "hands", r"follow its instructions"],
    "vs_antiperspirants": [r"longer-term option", r"[Aa]ntiperspirants", r"only mask the symptom"],
}


def test_every_topic_is_checked() -> None:
    assert set(get_knowledge().topics) == set(REQUIRED_FACTS)


@pytest.mark.parametrize("key", sorted(REQUIRED_FACTS))
def test_answer_states_the_articles_facts(key: str) -> None:
    text = get_knowledge()[key].text
    for fact in REQUIRED_FACTS[key]:
        assert re.search(fact, text, re.IGNORECASE), f"{key}: answer lacks {fact!r}"


@pytest.mark.parametrize("key", sorted(REQUIRED_FACTS))
def test_answer_fits_a_phone_screen(key: str) -> None:
    assert len(get_knowledge()[key].text.split()) <= MAX_ANSWER_WORDS


def test_answers_are_not_pasted_from_the_article() -> None:
    article = ROOT.parent / "shared" / "source" / "iontophoresis-article.txt"
    if not article.is_file():
        pytest.skip(f"article not found at {article}")
    source = " ".join(article.read_text(encoding="utf-8").lower().split())
    for topic in get_knowledge().topics.values():
        for sentence in re.split(r"(?<=[.!?])\s+", topic.text.lower()):
            words = sentence.split()
            # no run of 10 words copied verbatim
            for i in range(len(words) - 9):
                assert " ".join(words[i : i + 10]) not in source, (topic.key, sentence)


def test_every_faq_intent_in_the_domain_has_an_answer() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    # ask_not_covered is the honest "no answer" reply, a domain response.
    faq_intents = {i for i in domain["intents"] if i.startswith("ask_")} - {"ask_not_covered"}
    answered = {t.intent for t in get_knowledge().topics.values()}
    assert faq_intents == answered


def test_every_faq_intent_routes_to_the_faq_action() -> None:
    rules = []
    for path in (ROOT / "data" / "rules").glob("*.yml"):
        rules += yaml.safe_load(path.read_text(encoding="utf-8")).get("rules", [])
    routed = {
        r["steps"][0]["intent"]
        for r in rules
        if len(r["steps"]) == 2 and r["steps"][1].get("action") == "action_answer_faq"
    }
    # ... and the honest "not covered", which the action answers in the patient's language
    assert routed == {t.intent for t in get_knowledge().topics.values()} | {"ask_not_covered"}


GOOD_TOPIC = {"intent": "ask_a", "title": "A", "text": "short answer", "related": ["b", "c"]}


GOOD_FEEDBACK = {"question": "Helpful?", "helpful": "👍", "not_helpful": "👎"}


def write(tmp_path: Path, topics: Dict[str, Any], feedback: Any = GOOD_FEEDBACK) -> Path:
    path = tmp_path / "answers.yml"
    path.write_text(yaml.safe_dump({"topics": topics, "feedback": feedback}))
    return path


def test_valid_file_loads(tmp_path: Path) -> None:
    topics = {
        "a": GOOD_TOPIC,
        "b": {**GOOD_TOPIC, "intent": "ask_b", "related": ["a", "c"]},
        "c": {**GOOD_TOPIC, "intent": "ask_c", "related": ["a", "b"]},
    }
    knowledge = load_knowledge(write(tmp_path, topics))
    topic = knowledge.for_intent("ask_b")
    assert topic is not None and topic.key == "b"
    assert knowledge.for_intent("ask_zzz") is None
    assert (knowledge.feedback.question, knowledge.feedback.not_helpful) == ("Helpful?", "👎")


@pytest.mark.parametrize(
    "feedback, message",
    [
        (None, "no 'feedback'"),
        ({"question": "Helpful?", "helpful": "👍"}, "non-empty 'not_helpful'"),
        ({**GOOD_FEEDBACK, "question": "  "}, "non-empty 'question'"),
    ],
)
def test_a_missing_feedback_question_fails_loudly(tmp_path: Path, feedback: Any, message: str) -> None:
    topics = {
        "a": GOOD_TOPIC,
        "b": {**GOOD_TOPIC, "intent": "ask_b", "related": ["a", "c"]},
        "c": {**GOOD_TOPIC, "intent": "ask_c", "related": ["a", "b"]},
    }
    with pytest.raises(KnowledgeError, match=message):
        load_knowledge(write(tmp_path, topics, feedback))


@pytest.mark.parametrize(
    "topics, message",
    [
        ({}, "no 'topics'"),
        ({"a": {**GOOD_TOPIC, "text": ""}}, "non-empty 'text'"),
        ({"a": {**GOOD_TOPIC, "text": "word " * (MAX_ANSWER_WORDS + 1)}}, "keep answers under"),
        ({"a": {**GOOD_TOPIC, "related": ["b"]}}, "2-3 related"),
        ({"a": GOOD_TOPIC}, "unknown topic 'b'"),
        ({"a": "just a string"}, "must be a mapping"),
    ],
)
def test_malformed_file_fails_loudly(tmp_path: Path, topics: Dict[str, Any], message: str) -> None:
    with pytest.raises(KnowledgeError, match=message):
        load_knowledge(write(tmp_path, topics))


def test_missing_file_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="not found"):
        load_knowledge(tmp_path / "nope.yml")


def test_invalid_yaml_fails_loudly(tmp_path: Path) -> None:
    path = tmp_path / "answers.yml"
    path.write_text("topics: [\n")
    with pytest.raises(KnowledgeError, match="not valid YAML"):
        load_knowledge(path)
