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
* a message in another language gets an English "I only speak English" reply;
* one sender sending faster than ``RATE_LIMIT_MESSAGES`` per ``RATE_LIMIT_SECONDS`` gets
  a polite "slow down" reply without using the pipeline, so a flood does not slow
  everyone else;
* control characters are removed before NLU;
* a reply carrying ``{"privacy": {"erase": true}}`` (the "delete my data" flow) erases
  the conversation from the tracker store once the turn is saved;
* ``GET /webhooks/rest/health`` reports whether the tracker store and the action
  server answer (503 when the store is down: Rasa would otherwise silently fall back
  to memory and start fresh conversations);
* nothing about the message text is logged (Rasa's channel logs the text on errors).

Registered in ``credentials.yml`` as ``addons.rest.ClinicRestInput``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections import OrderedDict, deque
from typing import Any, Awaitable, Callable, Deque, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.language import is_probably_not_english
from actions.settings import get_settings
from addons.privacy import ERASE_KEY, erase_conversation, store_is_healthy

logger = logging.getLogger(__name__)

#: Longest message the assistant reads; override with MAX_MESSAGE_CHARS.
DEFAULT_MAX_MESSAGE_CHARS = 2000
MAX_SENDER_CHARS = 128
#: Control characters other than tab and newline, and lone surrogates.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class RateLimiter:
    """At most ``limit`` messages per ``window`` seconds per sender (in memory, bounded)."""

    def __init__(self, limit: int, window: float, max_senders: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_senders = max_senders
        self._seen: "OrderedDict[str, Deque[float]]" = OrderedDict()

    def allow(self, sender: str, now: Optional[float] = None) -> bool:
        """Records one message; False when the sender is over the limit."""
        now = time.monotonic() if now is None else now
        times = self._seen.pop(sender, None) or deque()
        while times and now - times[0] > self.window:
            times.popleft()
        allowed = len(times) < self.limit
        if allowed:
            times.append(now)
        self._seen[sender] = times
        while len(self._seen) > self.max_senders:
            self._seen.popitem(last=False)
        return allowed


def rate_limiter_from_env() -> RateLimiter:
    """The limiter configured by RATE_LIMIT_MESSAGES / RATE_LIMIT_SECONDS."""
    return RateLimiter(
        int(os.environ.get("RATE_LIMIT_MESSAGES", 10)),
        float(os.environ.get("RATE_LIMIT_SECONDS", 10)),
    )


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


def clean_text(text: str) -> str:
    """The message without control characters."""
    return _CONTROL.sub("", text)


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
    if is_probably_not_english(text):
        return (
            "Sorry, I can only answer in English for now. If this is an emergency, call "
            f"{settings.emergency_number}. You can also call {settings.clinic_name} on "
            f"{settings.clinic_phone}."
        )
    return None


def slow_down() -> str:
    """The reply to a sender who is sending too fast."""
    return (
        "You're sending messages faster than I can answer. Please wait a few seconds and "
        f"try again. In an emergency, call {get_settings().emergency_number}."
    )


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

    def __init__(self) -> None:
        super().__init__()
        self._limiter = rate_limiter_from_env()
        self._app: Any = None

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[None]]
    ) -> Blueprint:
        blueprint = super().blueprint(self._never_silent(on_new_message))
        blueprint.middleware("request")(self._check)
        blueprint.route("/health", methods=["GET"])(self._health)
        return blueprint

    async def _health(self, request: Request) -> HTTPResponse:
        agent = getattr(request.app.ctx, "agent", None)
        store_ok = agent is not None and await asyncio.get_running_loop().run_in_executor(
            None, store_is_healthy, agent.tracker_store
        )
        actions_ok = await self._action_server_answers(agent)
        status = {
            "tracker_store": "ok" if store_ok else "down",
            "action_server": "ok" if actions_ok else "down",
        }
        # The store is what loses conversations; the action server has a fallback reply.
        return response.json(status, status=200 if store_ok else 503)

    @staticmethod
    async def _action_server_answers(agent: Any) -> bool:
        endpoint = getattr(agent, "action_endpoint", None)
        if endpoint is None or not endpoint.url:
            return False
        import aiohttp

        url = endpoint.url.rsplit("/", 1)[0] + "/health"
        try:
            timeout = aiohttp.ClientTimeout(total=2)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(url) as answer:
                    return answer.status == 200
        except Exception:
            return False

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
        self._app = request.app
        sender = str(body["sender"])
        body["message"] = clean_text(body["message"])
        reply = polite_reply(body["message"], max_message_chars())
        if reply is None and not self._limiter.allow(sender):
            logger.warning("Rate limit: a sender is over %d messages", self._limiter.limit)
            reply = slow_down()
        if reply:
            return response.json([{"recipient_id": sender, "text": reply}])
        return None

    def _never_silent(
        self, on_new_message: Callable[[UserMessage], Awaitable[None]]
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
                if any(ERASE_KEY in (m.get("custom") or {}) for m in collector.messages):
                    await self._erase(message.sender_id)

        return handle

    async def _erase(self, sender_id: str) -> None:
        agent = getattr(getattr(self._app, "ctx", None), "agent", None)
        if agent is None:
            return
        deleted = await asyncio.get_running_loop().run_in_executor(
            None, erase_conversation, agent.tracker_store, sender_id
        )
        logger.info("Erased a conversation on the patient's request (%d records)", deleted)

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        metadata = request.json.get("metadata")
        return metadata if isinstance(metadata, dict) else None


