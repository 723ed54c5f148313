"""Pure helpers that shape replies (no Rasa types)."""

from __future__ import annotations

from typing import Dict, Iterable, List

from actions.knowledge import KnowledgeBase


def topic_buttons(knowledge: KnowledgeBase, keys: Iterable[str]) -> List[Dict[str, str]]:
    """Quick-reply buttons that ask the given topics' questions.

    The payload is the intent in Rasa's ``/intent`` form, so a tap skips NLU.
    """
    return [{"title": knowledge[key].title, "payload": f"/{knowledge[key].intent}"} for key in keys]
