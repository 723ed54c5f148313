"""The REST channel the widget talks to: Rasa's, with strict input checks.

Same URL and message format as Rasa's built-in channel
(``POST /webhooks/rest/webhook`` with ``{"sender": ..., "message": ...}``; the same URL
with a trailing slash is the same route, with the same checks). What differs:

* bad requests get a 400 with a JSON error instead of a 500 or a silent ``[]``: not
  JSON, not an object, a missing, empty, too long or control-character ``sender``, a
  ``message`` that is not a string;
* ``?stream=true`` (Rasa's streamed replies) is refused with a 400;
* ``GET /webhooks/rest/health`` reports whether the tracker store and the action
  server answer (503 while the store is down or its last save failed);
* nothing about the message text is logged.

Everything that must hold on every channel (normalisation, "/" payloads, rate limit,
sender namespacing, erasure, the apology for a turn without a reply) is the turn
guard's job (``addons/guard.py``), which this channel's messages pass through like any
other channel's.

Registered in ``credentials.yml`` as ``addons.rest.ClinicRestInput``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Awaitable, Callable, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from addons.privacy import store_is_healthy
from addons.tracker_store import STORE_HEALTH
from core.guard import MAX_SENDER_CHARS

logger = logging.getLogger(__name__)

#: Control characters including tab and newlines, and lone surrogates (for sender ids).
_SENDER_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


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
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "'metadata' must be an object."
    return None


class ClinicRestInput(InputChannel):
    """Rasa's REST channel with input checks (see the module docstring)."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        blueprint = Blueprint("clinic_rest_webhook", __name__)

        async def alive(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        async def health(request: Request) -> HTTPResponse:
            return await self._health(request)

        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request, on_new_message)

        # strict_slashes=False: ".../webhook/" is the same route, with the same checks.
        blueprint.route("/", methods=["GET"], strict_slashes=False)(alive)
        blueprint.route("/health", methods=["GET"], strict_slashes=False)(health)
        blueprint.route("/webhook", methods=["POST"], strict_slashes=False)(receive)
        return blueprint

    async def _receive(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[None]]
    ) -> HTTPResponse:
        if bool_arg(request, "stream", default=False):
            # Streamed replies would go around the collected reply list.
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
        collector = CollectingOutputChannel()
        await on_new_message(
            UserMessage(
                body["message"],
                collector,
                str(body["sender"]),
                input_channel=self.name(),
                metadata=body.get("metadata"),
            )
        )
        return response.json(collector.messages)

    async def _health(self, request: Request) -> HTTPResponse:
        agent = getattr(request.app.ctx, "agent", None)
        store_ok = (
            agent is not None
            and STORE_HEALTH.healthy
            and await asyncio.get_running_loop().run_in_executor(None, store_is_healthy, agent.tracker_store)
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
