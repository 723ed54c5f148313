"""Answers FAQ intents from the knowledge file."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.formatting import topic_buttons
from actions.knowledge import get_knowledge

logger = logging.getLogger(__name__)

# Loaded when the action server imports this module: a broken knowledge file stops
# the server at start-up rather than failing a patient's question later.
get_knowledge()


class ActionAnswerFaq(Action):
    """Sends the answer for the message's FAQ intent, with related-topic buttons."""

    def name(self) -> Text:
        return "action_answer_faq"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        knowledge = get_knowledge()
        intent = tracker.get_intent_of_latest_message()
        topic = knowledge.for_intent(intent)
        if topic is None:
            # Reached through a story or a stale button payload: ask again, don't guess.
            logger.warning("No knowledge entry for intent %s", intent)
            dispatcher.utter_message(response="utter_default")
            return []
        logger.info("Answering FAQ topic %s", topic.key)
        dispatcher.utter_message(text=topic.text, buttons=topic_buttons(knowledge, topic.related))
        return []
