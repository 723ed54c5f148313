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
from core.faq_languages import Language, get_languages
from core.settings import get_settings

logger = logging.getLogger(__name__)

# Loaded when the action server imports this module: a broken knowledge file stops
# the server at start-up rather than failing a patient's question later.
get_knowledge()
get_languages()


#: Entity carrying the further topics of a message that asks several questions
#: (set by the Rasa server, addons/understanding.py), in the order asked.
TOPIC_ENTITY = "faq_topic"
#: The honest "I don't have that answer" (a domain response, with the clinic's contacts).
NOT_COVERED_INTENT = "ask_not_covered"
#: Set by the safety layer when only the classifier took the message for a risk.
CAUTION_ENTITY = "safety_caution"
#: Set by the safety layer on a message answered in another language (its code).
LANGUAGE_ENTITY = "answer_language"
#: The caution line for each value of the ``safety_caution`` entity (addons/safety.py);
#: any other value gets the general one.
CAUTION_RESPONSES = {"child": "utter_child_caution"}
GENERAL_CAUTION = "utter_safety_caution"
MAX_TOPICS = 3
#: The slot the staff report reads (scripts/report.py): the topics answered this turn,
#: in order. (The "not covered" replies it counts by their response name.)
ANSWERED_TOPICS_SLOT = "answered_topics"
#: Set when the honest "not covered" reply was given (in English or another language).
NOT_COVERED_SLOT = "not_covered"
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
        code = next(
            (str(e.get("value")) for e in latest.get("entities") or [] if e.get("entity") == LANGUAGE_ENTITY),
            "",
        )
        language = get_languages().get(code)
        if language is not None:
            return answer_in_language(dispatcher, language, topics, latest)
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
            # Its reply ends with the topic buttons; counted for the staff report.
            dispatcher.utter_message(response="utter_not_covered")
            events.append(SlotSet(NOT_COVERED_SLOT, True))
        else:
            # Light: the patient can just ask the next question.
            feedback = knowledge.feedback
            buttons = [
                {"title": feedback.helpful, "payload": HELPFUL_PAYLOAD},
                {"title": feedback.not_helpful, "payload": UNHELPFUL_PAYLOAD},
            ]
            dispatcher.utter_message(text=feedback.question, buttons=buttons)
        return events


def answer_in_language(
    dispatcher: CollectingDispatcher, language: Language, intents: List[Text], latest: Dict[Text, Any]
) -> List[Dict[Text, Any]]:
    """The answers to a message written in another language (core/faq_languages.py), as
    in English: one message per topic in the order asked, the buttons once at the end,
    the caution lines, then the feedback question or the honest "not covered" reply.

    The buttons send their titles as typed messages, so a tap is answered in the same
    language and passes the safety check like any message.
    """
    knowledge = get_knowledge()
    keys = [topic.key for intent in intents for topic in [knowledge.for_intent(intent)] if topic is not None]
    not_covered = NOT_COVERED_INTENT in intents
    related: List[Text] = []
    if keys:
        related = [key for key in knowledge[keys[-1]].related if key not in keys]
    if len(related) < 2:
        related = [key for key in knowledge.topics if key not in keys][:3]
    buttons = [{"title": language.titles[key], "payload": language.titles[key]} for key in related[:3]]
    logger.info("Answering FAQ topics %s in %s", keys, language.code)
    for index, key in enumerate(keys):
        last = index == len(keys) - 1 and not not_covered
        dispatcher.utter_message(text=language.texts[key], buttons=buttons if last else [])
    cautions = dict.fromkeys(
        str(e.get("value")) for e in latest.get("entities") or [] if e.get("entity") == CAUTION_ENTITY
    )
    contacts = get_settings().as_dict()
    for caution in cautions:
        line = language.replies["child"] if caution == "child" else language.replies["caution"]
        dispatcher.utter_message(text=line.format(**contacts))
    events: List[Dict[Text, Any]] = []
    if keys:
        events.append(SlotSet(ANSWERED_TOPICS_SLOT, keys))
    if not_covered:
        # counted for the staff report like the English reply (core/report.py)
        dispatcher.utter_message(text=language.replies["not_covered"].format(**contacts), buttons=buttons)
        events.append(SlotSet(NOT_COVERED_SLOT, True))
    else:
        feedback = [
            {"title": language.replies["helpful"], "payload": HELPFUL_PAYLOAD},
            {"title": language.replies["not_helpful"], "payload": UNHELPFUL_PAYLOAD},
        ]
        dispatcher.utter_message(text=language.replies["feedback_question"], buttons=feedback)
    return events
