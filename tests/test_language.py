"""The language check (core/language.py): short foreign sentences are recognised,
English messages (typos, slang, brands, one foreign word) never called foreign."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Tuple

import pytest
import yaml

from core.language import dominant_language, guess_language, is_probably_not_english

ROOT = Path(__file__).resolve().parent.parent

FOREIGN = [
    ("ich bin schwanger", "de"),
    ("ich habe einen Herzschrittmacher", "de"),
    ("wie funktioniert die Iontophorese?", "de"),
    ("was kostet das?", "de"),
    ("estoy embarazada", "es"),
    ("¿cuánto cuesta la iontoforesis?", "es"),
    ("tengo marcapasos", "es"),
    ("no puedo respirar", "es"),
    ("buenos días", "es"),
    ("je suis enceinte", "fr"),
    ("est-ce que ça fait mal ?", "fr"),
    ("combien ça coûte ?", "fr"),
    ("merci beaucoup", "fr"),
    ("sono incinta", "it"),
    ("quanto costa il trattamento?", "it"),
    ("non riesco a respirare", "it"),
    ("estou grávida", "pt"),
    ("funciona para os pés?", "pt"),
    ("não consigo respirar", "pt"),
    ("quanto custa uma sessão?", "pt"),
    ("hoeveel kost een behandeling?", "nl"),
    ("Мои руки потеют", "other"),
    ("手汗がひどいです", "other"),
]

ENGLISH = [
    "how much does it cost?",
    "im pregnant lol",
    "pacemaker ok?",
    "hola",
    "merci",
    "hola, how much is a session?",
    "thanks, muchas gracias",
    "is Botox better than iontophoresis?",
    "does drysol work on feet",
    "the device is made in germany and il costs 200",
    "I live in Los Angeles, is there a clinic in Las Vegas?",
    "my doctor in Madrid said it was fine",
    "pls tel me hw mch it costs",
    "wat r u",
    "can i use hidrex or saalio at home",
    "I had grand mal seizures as a kid",
    "is it safe for someone who is embarazada",
    "I'm in Rio de Janeiro, do you ship there?",
    "what is the AI behind this chat",
    "my son has sweaty hands, he's 11",
    "so sweaty omg",
    "sí",
    "non surgical options?",
    "Costa del Sol clinic?",
]


@pytest.mark.parametrize("text, language", FOREIGN)
def test_foreign_messages_are_recognised(text: str, language: str) -> None:
    assert is_probably_not_english(text)
    assert guess_language(text) == language


@pytest.mark.parametrize("text", ENGLISH)
def test_english_messages_stay_english(text: str) -> None:
    assert not is_probably_not_english(text)
    assert guess_language(text) == "en"


def _examples() -> Tuple[List[str], List[str]]:
    """(English, foreign) messages of the training data and the held-out sets."""
    english: List[str] = []
    foreign: List[str] = []
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in data.get("nlu") or []:
            lines = [
                re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line.strip()[2:])
                for line in (item.get("examples") or "").splitlines()
                if line.strip().startswith("- ")
            ]
            (foreign if item.get("intent") == "other_language" else english).extend(lines)
    for path in sorted((ROOT / "tests" / "heldout").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for message in data.get("messages") or []:
            expect = message.get("expect")
            if message.get("language", "en") != "en":
                # a real-patient set's risk written in another language (escalated in
                # that language by the safety layer, not asked to switch to English)
                continue
            (foreign if expect == "other_language" else english).append(message["text"])
    return english, foreign


def test_no_english_training_or_heldout_message_is_called_foreign() -> None:
    english, _ = _examples()
    assert len(english) > 500
    called_foreign = [text for text in english if is_probably_not_english(text)]
    assert not called_foreign


def test_foreign_training_examples_are_recognised() -> None:
    _, foreign = _examples()
    missed = [text for text in foreign if not is_probably_not_english(text)]
    assert not missed


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ich bin schwanger und habe eine Frage zur Behandlung", "de"),
        ("je suis enceinte, est-ce que je peux faire les séances ?", "fr"),
        # Spanish, Italian and Portuguese share words: a near tie is no clear language
        ("tomo remédio para tireoide", ""),
        ("how much does a session cost?", ""),
    ],
)
def test_dominant_language_needs_a_clear_lead(text: str, expected: str) -> None:
    assert dominant_language(text) == expected
