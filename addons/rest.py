"""The REST channel the widget talks to: Rasa's, made safe for patients.

Same URL and message format as Rasa's built-in channel
(``POST /webhooks/rest/webhook`` with ``{"sender": ..., "message": ...}``), plus:

* bad requests get a 400 with a JSON error instead of a 500 (not JSON, not an object,
  missing or wrongly typed ``sender`` / ``message``);
* an empty message or one longer than ``MAX_MESSAGE_CHARS`` gets a polite reply
  without running the NLU pipeline (the long-message reply still names the
  emergency number);
* a turn that produced no reply at all (the action server down, slow or failing, or
  an error inside Rasa) gets a short apology with the clinic's and the emergency
  number instead of a silent ``[]``;
* nothing about the message text is logged (Rasa's channel logs the text on errors).

Registered in ``credentials.yml`` as ``addons.rest.ClinicRestInput``.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.settings import get_settings

logger = logging.getLogger(__name__)

#: Longest message the assistant reads; override with MAX_MESSAGE_CHARS.
DEFAULT_MAX_MESSAGE_CHARS = 2000
MAX_SENDER_CHARS = 128


def max_message_chars() -> int:
    """The configured message length limit."""
    return int(os.environ.get("MAX_MESSAGE_CHARS", DEFAULT_MAX_MESSAGE_CHARS))


def check_request(body: Any, limit: int) -> Optional[str]:
    """Why a webhook body is unusable, or None when it is fine."""
    if not isinstance(body, dict):
        return "The body must be a JSON object with 'sender' and 'message'."
    sender = body.get("sender")
    if isinstance(sender, bool) or not isinstance(sender, (str, int)) or str(sender).strip() == "":
        return "'sender' must be a non-empty string."
    if len(str(sender)) > MAX_SENDER_CHARS:
        return f"'sender' must be at most {MAX_SENDER_CHARS} characters."
    if not isinstance(body.get("message"), str):
        return "'message' must be a string."
    return None


def polite_reply(text: str, limit: int) -> Optional[str]:
    """The reply for a message the assistant should not process, or None."""
    settings = get_settings()
    if not text.strip():
        return "Your message looks empty. What would you like to know about sweating or iontophoresis?"
    if len(text) > limit:
        return (
            f"Please keep your message shorter (under {limit:,} characters) so I can help. "
            f"If this is an emergency, call {settings.emergency_number} now."
        )
    return None


def apology() -> str:
    """What the patient reads when a turn produced no reply."""
    settings = get_settings()
    return (
        "Sorry, I can't answer that right now. Please try again in a moment, or call "
        f"{settings.clinic_name} on {settings.clinic_phone}. In an emergency, call "
        f"{settings.emergency_number}."
    )


class ClinicRestInput(RestInput):
    """Rasa's REST channel with input checks and a reply for every message."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[None]]
    ) -> Blueprint:
        blueprint = super().blueprint(self._never_silent(on_new_message))
        blueprint.middleware("request")(self._check)
        return blueprint

    async def _check(self, request: Request) -> Optional[HTTPResponse]:
        if request.method != "POST" or not request.path.endswith("/webhook"):
            return None
        try:
            body = request.json
        except Exception:  # sanic raises InvalidUsage for malformed JSON
            body = None
            reason: Optional[str] = "The body is not valid JSON."
        else:
            reason = check_request(body, max_message_chars())
        if reason:
            logger.info("Rejected a malformed REST request: %s", reason)
            return response.json({"error": reason}, status=400)
        reply = polite_reply(body["message"], max_message_chars())
        if reply:
            return response.json([{"recipient_id": str(body["sender"]), "text": reply}])
        return None

    @staticmethod
    def _never_silent(
        on_new_message: Callable[[UserMessage], Awaitable[None]]
    ) -> Callable[[UserMessage], Awaitable[None]]:
        async def handle(message: UserMessage) -> None:
            failed = False
            try:
                await on_new_message(message)
            except Exception as error:  # logged without the message text
                failed = True
                logger.error("Handling a message failed: %s", type(error).__name__)
            collector = message.output_channel
            if isinstance(collector, CollectingOutputChannel) and isinstance(collector.messages, list):
                if failed or not collector.messages:
                    logger.warning("Turn produced no reply; sending the apology")
                    await collector.send_text_message(message.sender_id, apology())

        return handle

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        metadata = request.json.get("metadata")
        return metadata if isinstance(metadata, dict) else None


