"""FAQ answers in Spanish, German, French, Italian and Portuguese.

A patient who writes in one of the languages the safety layer reads (``core.language``)
and asks an FAQ question gets the answer in that language, not the English-only reply.
``knowledge/answers_multilingual.yml`` holds, per language:

* ``topics``: for every topic of ``knowledge/answers.yml``, its button ``title``, its
  answer ``text`` (the English answer's facts, translated) and the ``phrases`` that
  ask about it ("was kostet", "cuánto cuesta", "combien coûte");
* ``not_covered``: phrases naming a subject no answer covers (Botox, what goes into
  the water, a brand): such a question gets the honest "I don't have that answer";
* ``domain``: words of the domain (sweating, the treatment, the trays); a message with
  one of them and no topic also gets the honest reply, in its language;
* ``replies``: that honest reply, the lines after an answer about a school-age child
  and after one only the classifier took for a risk, and the feedback question.

A topic button sends its title as a typed message (the loader checks that each title asks
its own topic), so a tap is answered in the same language and passes the safety check
like any message.

Matching (:func:`find_topics`) uses the safety layer's folding
(:func:`core.safety.multilingual.fold`: lowercase, no accents, words and punctuation
marks joined by single spaces); a phrase of plain words is folded the same way, a
regular expression is taken as written (lowercase and without accents); a phrase
matches whole words only, and topics come in
the order they are asked, at most :data:`MAX_TOPICS`, the honest "not covered" last.
Safety comes first: only a message the safety layer did not escalate gets here.

Framework-free: no Rasa types. Loaded once per process, failing loudly on a missing or
malformed file, or on a language that lacks a topic of the English file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Pattern, Sequence, Tuple

import yaml

from core.safety.multilingual import fold

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
PATH = KNOWLEDGE / "answers_multilingual.yml"
ENGLISH_ANSWERS = KNOWLEDGE / "answers.yml"
#: The topic key of the honest "I don't have that answer".
NOT_COVERED = "not_covered"
#: At most this many topics are answered in one reply (as in English).
MAX_TOPICS = 3
#: At most this many words in an answer (as in English: a phone screen).
MAX_ANSWER_WORDS = 90
#: The replies every language has, and the placeholders each may use.
REPLIES: Mapping[str, Tuple[str, ...]] = {
    "not_covered": ("clinic_name", "clinic_phone", "booking_url"),
    "child": ("clinic_name", "clinic_phone"),
    "caution": (),
    "feedback_question": (),
    "helpful": (),
    "not_helpful": (),
}


class LanguageFileError(ValueError):
    """The multilingual answers file is missing or malformed."""


@dataclass(frozen=True)
class Language:
    """One language's answers and the phrases that ask for them.

    Attributes:
        code: ``"es"``, ``"de"``, ...
        titles: each topic's button title.
        texts: each topic's answer.
        phrases: each topic's phrases (``not_covered`` included), compiled.
        domain: words of the domain, compiled.
        replies: the replies of :data:`REPLIES`.
    """

    code: str
    titles: Mapping[str, str]
    texts: Mapping[str, str]
    phrases: Mapping[str, Tuple[Pattern[str], ...]]
    domain: Tuple[Pattern[str], ...]
    replies: Mapping[str, str]

    def topics_in(self, folded: str) -> List[str]:
        """The topics asked in a folded message, in the order asked (see the module
        docstring)."""
        found: List[Tuple[int, str]] = []
        for topic, patterns in self.phrases.items():
            starts = [m.start() for p in patterns for m in [p.search(folded)] if m]
            if starts:
                found.append((min(starts), topic))
        topics = [topic for _, topic in sorted(found)]
        if NOT_COVERED in topics:
            # its reply ends with the topic buttons
            topics = [t for t in topics if t != NOT_COVERED][: MAX_TOPICS - 1] + [NOT_COVERED]
        elif not topics and any(p.search(folded) for p in self.domain):
            topics = [NOT_COVERED]
        return topics[:MAX_TOPICS]


def _phrase(raw: object, where: str) -> Pattern[str]:
    if not isinstance(raw, str) or not raw.strip():
        raise LanguageFileError(f"{where}: a phrase must be a non-empty string")
    # plain words are folded like the messages, so accents in the file are optional; a
    # regex is taken as written (lowercase, without accents: "nino", "cuanto"), its
    # escapes ("\S", "\W") intact
    text = " ".join(fold(raw).folded) if re.fullmatch(r"[\w\s'-]+", raw) else raw
    try:
        return re.compile(rf"(?<!\S)(?:{text})(?!\S)")
    except re.error as error:
        raise LanguageFileError(f"{where}: phrase {raw!r} is not a valid regex: {error}") from error


def _phrases(raw: object, where: str) -> Tuple[Pattern[str], ...]:
    if not isinstance(raw, list) or not raw:
        raise LanguageFileError(f"{where}: needs a non-empty list of phrases")
    return tuple(_phrase(item, f"{where}[{index}]") for index, item in enumerate(raw))


def _text(raw: object, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise LanguageFileError(f"{where}: needs a non-empty text")
    return " ".join(raw.split())


def _language(code: str, raw: object, topics: Sequence[str]) -> Language:
    if not isinstance(raw, dict):
        raise LanguageFileError(f"language '{code}' must be a mapping")
    entries = raw.get("topics")
    if not isinstance(entries, dict):
        raise LanguageFileError(f"language '{code}' has no 'topics' mapping")
    missing = [topic for topic in topics if topic not in entries]
    unknown = [topic for topic in entries if topic not in topics]
    if missing or unknown:
        raise LanguageFileError(f"language '{code}': topics missing {missing}, unknown {unknown}")
    titles: Dict[str, str] = {}
    texts: Dict[str, str] = {}
    phrases: Dict[str, Tuple[Pattern[str], ...]] = {}
    for topic in topics:
        entry = entries[topic]
        where = f"{code}.topics.{topic}"
        if not isinstance(entry, dict):
            raise LanguageFileError(f"{where} must be a mapping")
        titles[topic] = _text(entry.get("title"), f"{where}.title")
        texts[topic] = _text(entry.get("text"), f"{where}.text")
        if len(texts[topic].split()) > MAX_ANSWER_WORDS:
            raise LanguageFileError(f"{where}.text is longer than {MAX_ANSWER_WORDS} words")
        phrases[topic] = _phrases(entry.get("phrases"), f"{where}.phrases")
    phrases[NOT_COVERED] = _phrases(raw.get("not_covered"), f"{code}.not_covered")
    replies_raw = raw.get("replies")
    if not isinstance(replies_raw, dict):
        raise LanguageFileError(f"language '{code}' has no 'replies' mapping")
    replies: Dict[str, str] = {}
    for name, placeholders in REPLIES.items():
        text = _text(replies_raw.get(name), f"{code}.replies.{name}")
        used = set(re.findall(r"{(\w+)}", text))
        if not used <= set(placeholders):
            raise LanguageFileError(
                f"{code}.replies.{name}: unknown placeholders {sorted(used - set(placeholders))}"
            )
        replies[name] = text
    language = Language(code, titles, texts, phrases, _phrases(raw.get("domain"), f"{code}.domain"), replies)
    for topic, title in titles.items():
        # a topic button sends its title as the patient's message, so it must ask that topic
        if language.topics_in(fold(title).text)[:1] != [topic]:
            raise LanguageFileError(
                f"{code}.topics.{topic}.title {title!r} must match its own topic's phrases first "
                "(a topic button sends its title as the message)"
            )
    return language


def english_topics(path: Path = ENGLISH_ANSWERS) -> Dict[str, str]:
    """The topic keys of the English knowledge file, in its order, and their intents."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return {str(key): str(entry["intent"]) for key, entry in data["topics"].items()}
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise LanguageFileError(f"cannot read the topics of {path}: {error}") from error


def load_languages(path: Path = PATH, topics: Optional[Sequence[str]] = None) -> Dict[str, Language]:
    """Reads and checks the multilingual answers file.

    Raises:
        LanguageFileError: a missing file, invalid YAML, a language without every topic
            of ``knowledge/answers.yml``, an empty phrase list, an invalid regex, a reply
            missing or with an unknown placeholder.
    """
    if not path.is_file():
        raise LanguageFileError(f"multilingual answers file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise LanguageFileError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(data, dict) or data.get("version") != 1:
        raise LanguageFileError(f"{path} needs 'version: 1' and one mapping per language")
    keys = list(topics) if topics is not None else list(english_topics())
    languages = {
        str(code): _language(str(code), raw, keys) for code, raw in data.items() if code != "version"
    }
    if not languages:
        raise LanguageFileError(f"{path} holds no language")
    return languages


@lru_cache(maxsize=1)
def get_languages() -> Dict[str, Language]:
    """The process-wide languages, loaded once."""
    return load_languages()


def find_topics(
    text: str, order: Sequence[str], languages: Optional[Mapping[str, Language]] = None
) -> Tuple[str, List[str]]:
    """The language to answer in and the topics a foreign message asks about.

    Args:
        text: the message.
        order: language codes to try, most likely first (``core.language``'s guess, then
            the languages with some evidence).
        languages: the loaded languages (default: :func:`get_languages`).

    Returns:
        (code, topic keys in the order asked, ``not_covered`` last), from the first
        language of ``order`` that finds any; ``("", [])`` when none does.
    """
    languages = languages if languages is not None else get_languages()
    folded = fold(text).text
    for code in order:
        language = languages.get(code)
        if language is None:
            continue
        topics = language.topics_in(folded)
        if topics:
            return code, topics
    return "", []


def languages_to_try(scores: Mapping[str, int], guess: str) -> List[str]:
    """The guessed language, then the others with evidence, most first: Spanish, Italian
    and Portuguese share many words, and a near tie may guess the wrong one."""
    others = sorted(
        (code for code, points in scores.items() if points and code != guess), key=lambda c: -scores[c]
    )
    return [guess, *others]
