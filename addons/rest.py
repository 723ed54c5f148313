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
* control characters are removed before NLU, and refused in ``sender``;
* a reply carrying ``{"privacy": {"erase": true}}`` (the "delete my data" flow) erases
  the conversation from the tracker store once the turn is saved; if that fails the
  patient is told it is still stored instead of "deleted";
* ``?stream=true`` (Rasa's streamed replies, which would skip the two points above)
  is refused with a 400;
* ``GET /webhooks/rest/health`` reports whether the tracker store and the action
  server answer (503 when the store is down: Rasa would otherwise silently fall back
  to memory and start fresh conversations);
* nothing about the message text is logged (Rasa's channel logs the text on errors);
* two fixes to how Rasa 3.6 calls the action server, for every channel: it waits at
  most ``ACTION_TIMEOUT`` seconds (default 10) instead of a fixed 5 minutes, so a hung
  action server costs the patient seconds before the apology; and it checks the
  action server's answers with a JSON schema validator built once, not per call.

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
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from core.language import is_probably_not_english
from core.settings import get_settings
from addons.privacy import ERASE_KEY, erase_conversation, store_is_healthy

logger = logging.getLogger(__name__)

#: Longest message the assistant reads; override with MAX_MESSAGE_CHARS.
DEFAULT_MAX_MESSAGE_CHARS = 2000
#: Seconds Rasa waits for a custom action; override with ACTION_TIMEOUT.
DEFAULT_ACTION_TIMEOUT = 10.0
MAX_SENDER_CHARS = 128
#: Control characters other than tab and newline, and lone surrogates.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: Control characters including tab and newlines, and lone surrogates (for sender ids).
_SENDER_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


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


def apply_action_timeout() -> float:
    """Makes Rasa wait at most ACTION_TIMEOUT seconds for the action server.

    Rasa 3.6 calls the action server with ``timeout=DEFAULT_REQUEST_TIMEOUT`` (300 s),
    a module constant of ``rasa.core.actions.action``, and ignores a ``timeout`` key
    under ``action_endpoint`` in endpoints.yml. A timed-out action raises inside Rasa,
    which logs it and continues; the channel then sends the apology.
    """
    import rasa.core.actions.action as rasa_action

    seconds = float(os.environ.get("ACTION_TIMEOUT") or DEFAULT_ACTION_TIMEOUT)
    if seconds <= 0:
        raise ValueError(f"ACTION_TIMEOUT must be positive, not {seconds}")
    rasa_action.DEFAULT_REQUEST_TIMEOUT = seconds
    return seconds


def validate_action_results_faster() -> None:
    """Makes Rasa check action server responses with a validator built once.

    Rasa 3.6 checks every response with ``jsonschema.validate``, which first checks
    the schema itself against the JSON Schema meta-schema; with jsonschema 4.x that
    was about half of the Rasa server's CPU time for a FAQ answer. Valid responses
    take the fast path; anything else goes through Rasa's own check and error.
    """
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    original = RemoteAction._validate_action_result
    if getattr(original, "cached_validator", False):
        return
    spec = RemoteAction.action_response_format_spec
    schema = spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    def validate(self: RemoteAction, result: Dict[Text, Any]) -> bool:
        if type(self).action_response_format_spec is spec and (
            best_match(validator.iter_errors(result)) is None
        ):
            return True
        return original(self, result)

    validate.cached_validator = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = validate  # type: ignore[method-assign]


def max_message_chars() -> int:
    """The configured message length limit."""
    return int(os.environ.get("MAX_MESSAGE_CHARS", DEFAULT_MAX_MESSAGE_CHARS))


def check_request(body: Any) -> Optional[str]:
    """Why a webhook body is unusable, or None when it is fine."""
    if not isinstance(body, dict):
        return "The body must be a JSON object with 'sender' and 'message'."
    sender = body.get("sender")
    if isinstance(sender, bool) or not isinstance(sender, (str, int)) or str(sender).strip() == "":
        return "'sender' must be a non-empty string."
    if len(str(sender)) > MAX_SENDER_CHARS:
        return f"'sender' must be at most {MAX_SENDER_CHARS} characters."
    if _SENDER_FORBIDDEN.search(str(sender)):
        # Sender ids appear in Rasa's log lines: no forged lines, no invisible ids.
        return "'sender' must not contain control characters."
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


def erase_failed() -> str:
    """What the patient reads when "delete my data" could not be carried out."""
    settings = get_settings()
    return (
        "Sorry, I couldn't delete this conversation just now, so it is still stored. "
        f"Please try again in a few minutes, or call {settings.clinic_name} on "
        f"{settings.clinic_phone} and ask them to delete it."
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
        apply_action_timeout()
        validate_action_results_faster()
        self._limiter = rate_limiter_from_env()
        self._app: Any = None

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[None]]
    ) -> Blueprint:
        blueprint = super().blueprint(self._never_silent(on_new_message))

        # Sanic tags handlers with attributes, which bound methods cannot carry.
        async def check(request: Request) -> Optional[HTTPResponse]:
            return await self._check(request)

        async def health(request: Request) -> HTTPResponse:
            return await self._health(request)

        blueprint.middleware("request")(check)
        blueprint.route("/health", methods=["GET"])(health)
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
        if bool_arg(request, "stream", default=False):
            # Rasa's streamed replies bypass the checks below the pipeline: no apology,
            # and "delete my data" would answer "deleted" without erasing anything.
            return response.json({"error": "Streamed replies are not supported."}, status=400)
        try:
            body = request.json
        except Exception:  # sanic raises InvalidUsage for malformed JSON
            body = None
            reason: Optional[str] = "The body is not valid JSON."
        else:
            reason = check_request(body)
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
                    if not await self._erase(message.sender_id):
                        # Never tell the patient it is gone when it is not.
                        collector.messages[:] = [
                            {"recipient_id": message.sender_id, "text": erase_failed()}
                        ]

        return handle

    async def _erase(self, sender_id: str) -> bool:
        """Erases the conversation; False (logged) when that failed."""
        agent = getattr(getattr(self._app, "ctx", None), "agent", None)
        if agent is None:
            logger.error("Could not erase a conversation: no agent")
            return False
        try:
            deleted = await asyncio.get_running_loop().run_in_executor(
                None, erase_conversation, agent.tracker_store, sender_id
            )
        except Exception as error:  # the store is down: the data is still there
            logger.error("Could not erase a conversation: %s", type(error).__name__)
            return False
        logger.info("Erased a conversation on the patient's request (%d records)", deleted)
        return True

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        metadata = request.json.get("metadata")
        return metadata if isinstance(metadata, dict) else None


