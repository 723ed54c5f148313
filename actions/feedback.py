"""Records the patient's 👍 / 👎 on the answers just given."""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, List, Mapping, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.faq import ANSWERED_TOPICS_SLOT

logger = logging.getLogger(__name__)

FEEDBACK_SLOT = "feedback"
HELPFUL_INTENT = "rate_helpful"
UNHELPFUL_INTENT = "rate_unhelpful"


def last_answered_topics(events: Iterable[Mapping[str, Any]]) -> List[str]:
    """The topics of the latest FAQ answer, if no other user turn came after it.

    Feedback is about the answer just above the buttons: a 👎 tapped after the patient
    has asked something else (or after an escalation) is not attributed to an old answer.
    """
    answered: Optional[List[str]] = None
    user_turns_since = 0
    for event in events:
        if event.get("event") == "slot" and event.get("name") == ANSWERED_TOPICS_SLOT:
            value = event.get("value")
            answered = [str(t) for t in value] if isinstance(value, list) else None
            user_turns_since = 0
        elif event.get("event") == "user":
            user_turns_since += 1
    # The feedback message itself is the one user turn after the answer.
    if not answered or user_turns_since > 1:
        return []
    return answered


class ActionRecordFeedback(Action):
    """Stores 👍 / 👎 per answered topic (one ``feedback`` slot event each). The reply
    (thanks, or for a 👎 the clinic's contact details) is a rule's next step."""

    def name(self) -> Text:
        return "action_record_feedback"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        helpful = tracker.get_intent_of_latest_message() == HELPFUL_INTENT
        topics = last_answered_topics(tracker.events)
        logger.info("Feedback %s on %d topic(s)", "helpful" if helpful else "not helpful", len(topics))
        return [SlotSet(FEEDBACK_SLOT, {"topic": topic, "helpful": helpful}) for topic in topics]
