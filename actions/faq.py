"""Answers FAQ intents from the knowledge file."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.formatting import topic_buttons
from actions.knowledge import get_knowledge

logger = logging.getLogger(__name__)

# Loaded when the action server imports this module: a broken knowledge file stops
# the server at start-up rather than failing a patient's question later.
get_knowledge()


#: Entity carrying the further topics of a message that asks several questions
#: (set by the Rasa server, addons/understanding.py), in the order asked.
TOPIC_ENTITY = "faq_topic"
#: The honest "I don't have that answer" (a domain response, with the clinic's contacts).
NOT_COVERED_INTENT = "ask_not_covered"
#: Set by the safety layer when only the classifier took the message for a risk.
CAUTION_ENTITY = "safety_caution"
#: The caution line for each value of the ``safety_caution`` entity (addons/safety.py);
#: any other value gets the general one.
CAUTION_RESPONSES = {"child": "utter_child_caution"}
GENERAL_CAUTION = "utter_safety_caution"
MAX_TOPICS = 3
#: The slot the staff report reads (scripts/report.py): the topics answered this turn,
#: in order. (The "not covered" replies it counts by their response name.)
ANSWERED_TOPICS_SLOT = "answered_topics"
#: The payloads of the "Was this helpful?" buttons (intents of data/nlu/feedback.yml).
HELPFUL_PAYLOAD = "/rate_helpful"
UNHELPFUL_PAYLOAD = "/rate_unhelpful"


def requested_topics(intent: Optional[Text], entities: List[Dict[Text, Any]]) -> List[Text]:
    """The message's intent, then its further ``faq_topic`` intents: distinct, in order,
    at most :data:`MAX_TOPICS`."""
    topics: List[Text] = []
    for name in [intent] + [e.get("value") for e in entities if e.get("entity") == TOPIC_ENTITY]:
        if isinstance(name, str) and name and name not in topics:
            topics.append(name)
    return topics[:MAX_TOPICS]


class ActionAnswerFaq(Action):
    """Sends the answer for the message's FAQ intent, with related-topic buttons.

    A message that asks several questions gets one message per topic, in the order
    asked, with the buttons once, on the last answer. Then the light "Was this
    helpful?" (not after the honest "not covered" reply, which ends with buttons of its
    own). When the safety layer marked the message with ``safety_caution`` (only the
    classifier took it for a personal risk, or it is about a school-age child), that
    caution's "check with a healthcare professional" line comes after the answers. The
    events record what was answered, for the staff report.
    """

    def name(self) -> Text:
        return "action_answer_faq"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        knowledge = get_knowledge()
        latest = tracker.latest_message or {}
        topics = requested_topics(tracker.get_intent_of_latest_message(), latest.get("entities") or [])
        answers = [knowledge.for_intent(intent) for intent in topics]
        found = [topic for topic in answers if topic is not None]
        not_covered = NOT_COVERED_INTENT in topics
        if not found and not not_covered:
            # Reached through a story or a stale button payload: ask again, don't guess.
            logger.warning("No knowledge entry for intent %s", topics[:1])
            dispatcher.utter_message(response="utter_default")
            return []
        logger.info("Answering FAQ topics %s", [topic.key for topic in found])
        answered = {topic.key for topic in found}
        for index, topic in enumerate(found):
            if index < len(found) - 1 or not_covered:
                dispatcher.utter_message(text=topic.text)
                continue
            related = [key for key in topic.related if key not in answered]
            if len(related) < 2:  # keep two or three buttons
                related = [key for key in knowledge.topics if key not in answered][:3]
            dispatcher.utter_message(text=topic.text, buttons=topic_buttons(knowledge, related[:3]))
        events: List[Dict[Text, Any]] = []
        if found:
            events.append(SlotSet(ANSWERED_TOPICS_SLOT, [topic.key for topic in found]))
        for caution in dict.fromkeys(
            str(e.get("value")) for e in latest.get("entities") or [] if e.get("entity") == CAUTION_ENTITY
        ):
            dispatcher.utter_message(response=CAUTION_RESPONSES.get(caution, GENERAL_CAUTION))
        if not_covered:
            # Its reply ends with the topic buttons.
            dispatcher.utter_message(response="utter_not_covered")
        else:
            # Light: the patient can just ask the next question.
            feedback = knowledge.feedback
            buttons = [
                {"title": feedback.helpful, "payload": HELPFUL_PAYLOAD},
                {"title": feedback.not_helpful, "payload": UNHELPFUL_PAYLOAD},
            ]
            dispatcher.utter_message(text=feedback.question, buttons=buttons)
        return events
