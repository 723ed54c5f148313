"""The clinic's FAQ answers, loaded from ``knowledge/answers.yml``.

The file is keyed by topic; each topic names the intent it answers, a short button
title, the answer text and 2-3 related topics offered as quick replies; ``feedback``
holds the "Was this helpful?" question and its button titles. The loader
checks all of that up front and raises :class:`KnowledgeError` on any problem, so a
broken file stops the action server at start-up instead of failing a patient later.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional, Tuple

import yaml

ANSWERS_PATH = Path(__file__).resolve().parent.parent / "knowledge" / "answers.yml"

#: Longest answer, in words, that still reads comfortably on a phone screen.
MAX_ANSWER_WORDS = 80


class KnowledgeError(ValueError):
    """The knowledge file is missing or malformed."""


@dataclass(frozen=True)
class Topic:
    """One FAQ topic.

    Attributes:
        key: the topic id, e.g. ``"cost"``.
        intent: the intent it answers, e.g. ``"ask_cost"``.
        title: the quick-reply button title that leads here.
        text: the answer.
        related: keys of 2-3 related topics.
    """

    key: str
    intent: str
    title: str
    text: str
    related: Tuple[str, ...]


@dataclass(frozen=True)
class Feedback:
    """The light "Was this helpful?" sent after FAQ answers, and its two buttons."""

    question: str
    helpful: str
    not_helpful: str


@dataclass(frozen=True)
class KnowledgeBase:
    """All topics, looked up by key or by intent, and the feedback question."""

    topics: Dict[str, Topic]
    feedback: Feedback

    def for_intent(self, intent: Optional[str]) -> Optional[Topic]:
        """The topic that answers ``intent``, or None."""
        for topic in self.topics.values():
            if topic.intent == intent:
                return topic
        return None

    def __getitem__(self, key: str) -> Topic:
        return self.topics[key]


def load_knowledge(path: Path = ANSWERS_PATH) -> KnowledgeBase:
    """Reads and validates the knowledge file.

    Raises:
        KnowledgeError: on a missing file, invalid YAML, a missing field, an answer
            longer than :data:`MAX_ANSWER_WORDS`, or a related topic that does not exist.
    """
    if not path.is_file():
        raise KnowledgeError(f"Knowledge file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise KnowledgeError(f"Knowledge file {path} is not valid YAML: {error}") from error
    raw_topics = data.get("topics") if isinstance(data, dict) else None
    if not isinstance(raw_topics, dict) or not raw_topics:
        raise KnowledgeError(f"Knowledge file {path} has no 'topics' mapping")

    topics: Dict[str, Topic] = {}
    for key, entry in raw_topics.items():
        if not isinstance(entry, dict):
            raise KnowledgeError(f"Topic '{key}' must be a mapping")
        for field in ("intent", "title", "text", "related"):
            if not entry.get(field):
                raise KnowledgeError(f"Topic '{key}' needs a non-empty '{field}'")
        text = " ".join(str(entry["text"]).split())
        words = len(text.split())
        if words > MAX_ANSWER_WORDS:
            raise KnowledgeError(f"Topic '{key}' has {words} words; keep answers under {MAX_ANSWER_WORDS}")
        related = tuple(entry["related"])
        if not 2 <= len(related) <= 3:
            raise KnowledgeError(f"Topic '{key}' needs 2-3 related topics, has {len(related)}")
        topics[key] = Topic(key, str(entry["intent"]), str(entry["title"]), text, related)

    for topic in topics.values():
        for other in topic.related:
            if other not in topics or other == topic.key:
                raise KnowledgeError(f"Topic '{topic.key}' relates to unknown topic '{other}'")
    intents = [t.intent for t in topics.values()]
    if len(set(intents)) != len(intents):
        raise KnowledgeError("Two topics answer the same intent")
    return KnowledgeBase(topics, _feedback(data.get("feedback"), path))


def _feedback(entry: object, path: Path) -> Feedback:
    if not isinstance(entry, dict):
        raise KnowledgeError(f"Knowledge file {path} has no 'feedback' mapping")
    fields = ("question", "helpful", "not_helpful")
    for field in fields:
        if not isinstance(entry.get(field), str) or not entry[field].strip():
            raise KnowledgeError(f"'feedback' needs a non-empty '{field}'")
    return Feedback(*(entry[field].strip() for field in fields))


@lru_cache(maxsize=1)
def get_knowledge() -> KnowledgeBase:
    """The process-wide knowledge base, loaded once."""
    return load_knowledge()
