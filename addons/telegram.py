"""The assistant's Telegram channel: Rasa's Telegram connector, made safe for a clinic.

Enabled in ``credentials.yml`` as ``addons.telegram.ClinicTelegramInput`` and configured
from ``TELEGRAM_*`` environment variables (docs/telegram.md). It subclasses Rasa's
``TelegramInput``/``TelegramOutput`` (aiogram) and changes what a clinic needs:

* every update must carry Telegram's ``X-Telegram-Bot-Api-Secret-Token`` header with
  the configured secret (constant-time compare), else 403 and the assistant never sees
  it; without a token *and* a valid secret the channel stays off (503, no Bot API call),
  so Rasa and the REST channel start as usual;
* malformed JSON gets 400; every well-formed update it does not handle (channel posts,
  member changes, group chats, service messages...) gets 200, so Telegram does not retry;
* the patient's own words go to Rasa as they are (``UserMessage(text, output, chat_id,
  input_channel="telegram", message_id="telegram-<update id>")``): a text message's
  text, the caption of a photo, document, video, animation, audio file or voice note,
  and the new text or caption of an edited message, which is a turn like any other (an
  edit that reveals a risk gets the escalation). Commands ("/start", "/help@Bot ...")
  are not mapped or stripped here: the turn guard (addons/guard.py, around
  ``Agent.handle_message``) does that for every channel, with the sender id namespacing
  (``telegram:<chat id>``), rate limit, "no reply" apology and "delete my data";
* photos, stickers, voice notes... without a caption get "Sorry, I can only read text
  messages. If this is an emergency, call <emergency number> now." (clinic.yml);
* an update_id seen before (Telegram retries on timeout) is answered only once; a turn
  that fails still answers Telegram 200 (a retry would repeat it), logging only the
  exception's type;
* quick-reply buttons become an inline keyboard; a tap is acknowledged with
  ``answerCallbackQuery`` and its payload goes to Rasa like typed text; payloads over
  Telegram's 64-byte ``callback_data`` limit travel as a short hash;
* ``{"escalation": {...}}`` custom payloads become a plain-text warning; an emergency
  warning ("🚨 EMERGENCY: call 911 now") is sent *before* the reply's text; the
  ``{"privacy": ...}`` payload of "delete my data" is an instruction, never shown;
* messages are plain text (no parse mode, so nothing needs escaping), split below
  Telegram's 4096-character limit;
* every Bot API call is retried on network errors, 5xx and 429 (after Telegram's
  ``retry_after``) with exponential backoff and jitter, within a number of attempts
  and a time budget per turn (``core/delivery.py``; the ``TELEGRAM_*SEND*`` and
  ``TELEGRAM_RETRY_DELAY_SECONDS`` settings); an escalation (emergency or referral) is
  tried hardest. Other 4xx are not retried, except a ``sendMessage`` refused with 400
  for its keyboard, which is sent once more as plain text;
* a reply that could not be delivered is logged as an ERROR (update id, method and
  status: no text, no chat id) and its bot event in the tracker says so:
  ``metadata: {"delivery": "failed" | "partial", "delivery_error": "HTTP 500"}``
  (``addons.patches.install_delivery_record``). The webhook still answers 200: a retried update
  would repeat the whole turn;
* no Bot API call at start-up (the webhook is registered by scripts/telegram_webhook.py)
  and an optional self-hosted Bot API server (``api_base_url``);
* logs carry update ids and types only, never message text or user names.

Only private chats are answered: a group would share one conversation (and its health
details) between its members.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple

import aiohttp
from aiogram import Bot
from aiogram.bot.api import TELEGRAM_PRODUCTION, TelegramAPIServer, check_token, compose_data
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.exceptions import TelegramAPIError, ValidationError
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.telegram import TelegramInput, TelegramOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from addons.privacy import ERASE_KEY
from core import delivery
from core.settings import get_server_settings, get_settings

logger = logging.getLogger(__name__)
# aiogram logs every Bot API request with its parameters (message text) at DEBUG,
# which `rasa run --debug` would otherwise write out.
_aiogram_logger = logging.getLogger("aiogram")
if _aiogram_logger.level < logging.INFO:  # including NOTSET: inherited
    _aiogram_logger.setLevel(logging.INFO)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: What Telegram allows as a webhook secret_token.
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
#: The only update types the webhook is registered for (scripts/telegram_webhook.py).
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
#: The update types that carry a patient's message; an edit is handled like a message.
MESSAGE_UPDATES = ("message", "edited_message")
#: Telegram's limit is 4096 characters (UTF-16 code units) per message; keep a margin.
MESSAGE_LIMIT = 4000
CALLBACK_DATA_LIMIT = 64
#: Marks callback_data that is a hash of a longer payload.
HASH_PREFIX = "#"
#: Filled with clinic.yml's emergency_number when the reply is sent (text_only_reply).
TEXT_ONLY_REPLY = (
    "Sorry, I can only read text messages. If this is an emergency, call {emergency_number} now."
)
EXPIRED_BUTTON_REPLY = "Sorry, that button has expired. Please type your question."
#: Message contents that get the "text only" reply; any other message without text is
#: a service message (member joined, title changed, pinned...) and is ignored.
NON_TEXT_CONTENT = (
    "photo",
    "sticker",
    "voice",
    "audio",
    "document",
    "video",
    "video_note",
    "animation",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
)
#: Contents whose caption is the patient's text (Telegram allows captions on these).
CAPTIONED_CONTENT = ("photo", "document", "video", "animation", "audio", "voice")
EMERGENCY = "emergency"
#: How the turn guard namespaces a Telegram conversation's sender id.
SENDER_PREFIX = "telegram:"
BOT_API_TIMEOUT = 15  # seconds per Bot API attempt (less when the turn's budget is nearly spent)


# --- Pure helpers ---------------------------------------------------------------------


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> List[str]:
    """Splits ``text`` into parts of at most ``limit`` UTF-16 code units (as Telegram
    counts), cutting at a paragraph, line, sentence or word break when there is one in
    the second half of the part. Returns no parts for blank text."""
    text = text.strip()
    parts: List[str] = []
    while _utf16_len(text) > limit:
        # The longest prefix within the limit (astral characters count twice).
        units, end = 0, 0
        for end, char in enumerate(text):  # noqa: B007 - end is read after the loop
            units += 2 if ord(char) > 0xFFFF else 1
            if units > limit:
                break
        # One character more, so a break right after the limit counts: the separators
        # end in whitespace, which rstrip() drops from the part.
        window = text[: end + 1]
        cut = end
        for separator in ("\n\n", "\n", ". ", " "):
            position = window.rfind(separator)
            if position >= end // 2:
                cut = position + len(separator)
                break
        part = text[:cut].rstrip()
        if part:
            parts.append(part)
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def format_escalation(escalation: Any) -> Optional[str]:
    """The plain-text warning for an ``{"escalation": {...}}`` payload, or None if it is
    not one. ``emergency`` leads with the number to call; any other level is shown as
    urgent: see a professional, with the clinic's phone and booking link."""
    if not isinstance(escalation, dict):
        return None
    phone = str(escalation.get("phone") or "").strip()
    if str(escalation.get("level", "")).lower() == EMERGENCY:
        if phone:
            return f"🚨 EMERGENCY: call {phone} now (or your local emergency number)."
        return "🚨 EMERGENCY: call your local emergency number now."
    warning = "⚠️ IMPORTANT: please see a healthcare professional before using iontophoresis."
    booking_url = str(escalation.get("booking_url") or "").strip()
    contacts = [f"call {phone}" if phone else "", f"book at {booking_url}" if booking_url else ""]
    contact = " or ".join(item for item in contacts if item)
    if contact:
        warning += f" {contact[0].upper()}{contact[1:]}."
    return warning


def escalation_level(custom: Any) -> Optional[str]:
    """The escalation level of a custom payload, or None."""
    if isinstance(custom, dict) and isinstance(custom.get("escalation"), dict):
        return str(custom["escalation"].get("level", "")).lower() or None
    return None


def chat_id_of(recipient_id: Any) -> str:
    """The Telegram chat id for a Rasa recipient id. The turn guard keeps conversations
    as ``telegram:<chat id>`` and its output wrapper already sends to the plain id;
    this only makes sure a namespaced id never reaches the Bot API (a chat id is a
    number, so the prefix cannot be part of a real one)."""
    recipient = str(recipient_id)
    return recipient[len(SENDER_PREFIX) :] if recipient.startswith(SENDER_PREFIX) else recipient


def secret_matches(expected: Optional[str], given: Optional[str]) -> bool:
    """Constant-time comparison of the webhook secret; False when either is missing."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def text_only_reply() -> str:
    """The reply to a message without text or caption, naming the emergency number (read
    from the clinic settings now, so it is the one the server runs with)."""
    return TEXT_ONLY_REPLY.format(emergency_number=get_settings().emergency_number)


def content_type(message: Dict[str, Any]) -> str:
    """``text``, the kind of non-text content (``photo``, ``sticker``...), or ``service``."""
    if isinstance(message.get("text"), str):
        return "text"
    for key in NON_TEXT_CONTENT:
        if key in message:
            return key
    return "service"


def message_text(message: Dict[str, Any]) -> Optional[str]:
    """What the patient wrote, raw: a text message's text, or the caption of a photo,
    document, video, animation, audio file or voice note; None when there is neither
    (a blank caption counts as none)."""
    kind = content_type(message)
    if kind == "text":
        return message["text"]
    caption = message.get("caption")
    if kind in CAPTIONED_CONTENT and isinstance(caption, str) and caption.strip():
        return caption
    return None


def update_type(update: Dict[str, Any]) -> str:
    """The update's kind for logs and dispatch: ``message/text``, ``message/photo+caption``,
    ``edited_message/text``, ``callback_query``..."""
    kinds = [key for key in update if key != "update_id"]
    if not kinds:
        return "empty"
    kind = kinds[0]
    message = update[kind]
    if kind in MESSAGE_UPDATES and isinstance(message, dict):
        content = content_type(message)
        if content != "text" and message_text(message) is not None:
            content += "+caption"
        return f"{kind}/{content}"
    return kind


class CallbackPayloads:
    """Maps button payloads to Telegram ``callback_data`` (at most 64 bytes) and back.

    Short payloads travel as they are. Longer ones (and any starting with the hash
    marker) travel as ``#`` plus a 24-character hash, remembered here for the last
    ``capacity`` payloads; a hash that was forgotten (restart, eviction) decodes to None.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._payloads: "OrderedDict[str, str]" = OrderedDict()

    def encode(self, payload: str) -> str:
        if len(payload.encode("utf-8")) <= CALLBACK_DATA_LIMIT and not payload.startswith(HASH_PREFIX):
            return payload
        digest = hashlib.sha256(payload.encode("utf-8")).digest()[:18]
        key = HASH_PREFIX + base64.urlsafe_b64encode(digest).decode("ascii")
        self._payloads[key] = payload
        self._payloads.move_to_end(key)
        while len(self._payloads) > self.capacity:
            self._payloads.popitem(last=False)
        return key

    def decode(self, data: str) -> Optional[str]:
        if not data.startswith(HASH_PREFIX):
            return data
        return self._payloads.get(data)


class RecentUpdates:
    """The last ``capacity`` update ids, to answer a retried update only once."""

    def __init__(self, capacity: int = 2048) -> None:
        self.capacity = capacity
        self._ids: "OrderedDict[int, None]" = OrderedDict()

    def seen(self, update_id: int) -> bool:
        """Remembers ``update_id``; True if it was already remembered."""
        if update_id in self._ids:
            return True
        self._ids[update_id] = None
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return False


# --- Output ---------------------------------------------------------------------------


class DeliveryFailed(TelegramAPIError):
    """A Bot API call that could not be made to work (already logged and recorded)."""

    def __init__(self, method: str, reason: str) -> None:
        super().__init__(f"{method}: {reason}")
        self.method = method
        self.reason = reason


def delivery_policies() -> delivery.Policies:
    """The retry policies from the server settings (``TELEGRAM_*SEND*``)."""
    settings = get_server_settings()
    return delivery.policies(
        settings.telegram_send_attempts,
        settings.telegram_send_budget_seconds,
        settings.telegram_escalation_send_attempts,
        settings.telegram_escalation_send_budget_seconds,
        settings.telegram_retry_delay_seconds,
    )


def is_reply(method: str) -> bool:
    """Whether a Bot API method puts something in the chat (``sendMessage``,
    ``send_photo``...), as opposed to acknowledging a button tap."""
    return method.lower().startswith("send")


class ClinicTelegramOutput(TelegramOutput):
    """Rasa's Telegram output (an aiogram ``Bot``) with inline keyboards for buttons,
    escalation warnings, message splitting, an optional self-hosted Bot API server,
    retries (``core/delivery.py``) and Bot API errors logged and recorded instead of
    breaking the conversation turn. Plain text only."""

    def __init__(
        self,
        access_token: Text,
        api_base_url: Optional[Text] = None,
        callbacks: Optional[CallbackPayloads] = None,
        policies: Optional[delivery.Policies] = None,
    ) -> None:
        server = TelegramAPIServer.from_base(api_base_url) if api_base_url else TELEGRAM_PRODUCTION
        # TelegramOutput.__init__ passes the token only; the server needs Bot's own.
        Bot.__init__(self, access_token, server=server, timeout=BOT_API_TIMEOUT)
        self.callbacks = callbacks or CallbackPayloads()
        self.policies = policies or delivery_policies()
        self._api_token = access_token

    # -- one Bot API call, retried ---------------------------------------------------------

    async def request(  # type: ignore[override]
        self,
        method: str,
        data: Optional[Dict[str, Any]] = None,
        files: Optional[Dict[str, Any]] = None,
        **kwargs: Any,
    ) -> Any:
        """Every aiogram method (``send_message``...) ends here: one Bot API call, tried
        again as ``core/delivery.py`` says for the current priority and turn. Returns
        the call's ``result``; raises :class:`DeliveryFailed` (logged, recorded) when
        it could not be made to work."""
        level = delivery.current_priority()
        # An upload cannot be re-read for a retry (the channel sends none: photos are URLs).
        policy = self.policies.of(delivery.ONCE if files else level)
        turn = delivery.current_turn()
        # A single attempt (a button's acknowledgement) does not start the turn's budget.
        shares_budget = turn is not None and policy.attempts > 1
        deadline = turn.deadline_for(policy, time.monotonic()) if shares_budget and turn else None
        attempts = delivery.Attempts(policy, deadline)
        params = dict(data or {})
        plain_tried = False
        while True:
            attempts.begin()
            status, body, header, error = await self._attempt(
                method, params, files, attempts.timeout(BOT_API_TIMEOUT)
            )
            answer = delivery.verdict(status, body, header, error)
            if answer.delivered:
                self._delivered(method, attempts)
                return body.get("result") if isinstance(body, dict) else None
            plain = None if plain_tried else delivery.plain_text_retry(method, status, params)
            if plain is not None:
                plain_tried = True
                logger.warning(
                    "Telegram %s refused its markup (%s): sending it as plain text", method, answer.reason
                )
                params = plain
                continue
            wait = attempts.retry_in(answer)
            if wait is None:
                self._undelivered(method, answer, attempts, level, turn)
                raise DeliveryFailed(method, answer.reason)
            logger.info(
                "Telegram %s: %s (attempt %d of %d), retrying in %.2f s",
                method,
                answer.reason,
                attempts.made,
                policy.attempts,
                wait,
            )
            await asyncio.sleep(wait)

    async def _attempt(
        self, method: str, params: Dict[str, Any], files: Optional[Dict[str, Any]], timeout: float
    ) -> Tuple[Optional[int], Any, Optional[str], str]:
        """One HTTP call: (status, decoded JSON body or None, Retry-After header, error
        type); the status is None when no HTTP answer came back."""
        url = self.server.api_url(token=self._api_token, method=method)
        try:
            async with self.session.post(
                url,
                data=compose_data(params, files),
                proxy=self.proxy,
                proxy_auth=self.proxy_auth,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                status, text = response.status, await response.text()
                header = response.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            # The type only: aiohttp's message names the URL, and the URL holds the token.
            return None, None, None, type(error).__name__
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        return status, body, header, ""

    @staticmethod
    def _delivered(method: str, attempts: delivery.Attempts) -> None:
        if is_reply(method):
            delivery.record(True)
        if attempts.made > 1:
            logger.info(
                "Telegram %s delivered after %d attempts in %.1f s", method, attempts.made, attempts.elapsed
            )

    @staticmethod
    def _undelivered(
        method: str,
        answer: delivery.Verdict,
        attempts: delivery.Attempts,
        level: str,
        turn: Optional[delivery.Turn],
    ) -> None:
        """Logs and records a call that failed for good: no text, no chat id."""
        where = turn.label if turn is not None else "no update"
        if not is_reply(method):
            logger.warning(
                "Telegram %s failed (%s): %s after %d attempt(s)", method, where, answer.reason, attempts.made
            )
            return
        delivery.record(False, answer.reason)
        logger.error(
            "Telegram reply not delivered (%s, %s priority): %s %s after %d attempt(s) in %.1f s",
            where,
            level,
            method,
            answer.reason,
            attempts.made,
            attempts.elapsed,
        )

    async def call(self, method: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """Runs one Bot API call (retried by :meth:`request`); returns None when it
        failed, which is logged and recorded by then."""
        try:
            return await method(*args, **kwargs)
        except DeliveryFailed:
            return None
        except (TelegramAPIError, aiohttp.ClientError, asyncio.TimeoutError) as error:
            # Failed before reaching the Bot API (aiogram refused the arguments...).
            self._failed_outside_request(method.__name__, error)
            return None

    @staticmethod
    def _failed_outside_request(method: str, error: BaseException) -> None:
        if is_reply(method):
            delivery.record(False, type(error).__name__)
            logger.error("Telegram reply not delivered: %s failed with %s", method, type(error).__name__)
        else:
            logger.warning("Telegram %s failed: %s", method, type(error).__name__)

    def keyboard(self, buttons: List[Dict[Text, Any]]) -> Optional[InlineKeyboardMarkup]:
        """One button per row: the titles are questions and would not fit side by side."""
        markup = InlineKeyboardMarkup()
        for button in buttons:
            title, payload = button.get("title"), button.get("payload")
            if title and payload:
                data = self.callbacks.encode(str(payload))
                markup.row(InlineKeyboardButton(str(title), callback_data=data))
        return markup if markup.inline_keyboard else None

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        recipient_id = chat_id_of(recipient_id)
        for part in split_message(text):
            await self.call(self.send_message, recipient_id, part)

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self.call(self.send_photo, chat_id_of(recipient_id), image)

    async def send_text_with_buttons(
        self,
        recipient_id: Text,
        text: Text,
        buttons: List[Dict[Text, Any]],
        button_type: Optional[Text] = "inline",
        **kwargs: Any,
    ) -> None:
        """The text, with the inline keyboard on its last part."""
        recipient_id = chat_id_of(recipient_id)
        parts = split_message(text or "") or ["Please choose:"]
        for part in parts[:-1]:
            await self.call(self.send_message, recipient_id, part)
        keyboard = self.keyboard(buttons)
        await self.call(self.send_message, recipient_id, parts[-1], reply_markup=keyboard)

    async def send_custom_json(
        self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any
    ) -> None:
        """Escalations become a warning; anything else goes to Rasa's Telegram mapping
        (``{"photo": url}``, ``{"text": ...}``...)."""
        recipient_id = chat_id_of(recipient_id)
        rest = dict(json_message)
        # "Delete my data": an instruction for the turn guard, which erases the
        # conversation; nothing for the patient to see.
        rest.pop(ERASE_KEY, None)
        if "escalation" in rest:
            warning = format_escalation(rest.pop("escalation"))
            if warning:
                await self.send_text_message(recipient_id, warning)
        if rest:
            try:
                await super().send_custom_json(recipient_id, rest, **kwargs)
            except DeliveryFailed:
                pass  # logged and recorded by request()
            except (TelegramAPIError, aiohttp.ClientError, asyncio.TimeoutError) as error:
                self._failed_outside_request("send_custom_json", error)

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        """An emergency warning goes out before the reply's own text. Every part of an
        escalation (warning, text, parts) is sent with the escalation retry policy."""
        recipient_id = chat_id_of(recipient_id)
        level = escalation_level(message.get("custom"))
        with delivery.priority(delivery.priority_of(level)):
            if level == EMERGENCY:
                message = dict(message)
                await self.send_custom_json(recipient_id, message.pop("custom"))
            await super().send_response(recipient_id, message)

    async def acknowledge(self, callback_query_id: Text, text: Optional[Text] = None) -> None:
        """Answers a button tap, which stops the button's loading spinner: one attempt,
        as it is no reply and the patient's question is waiting."""
        with delivery.priority(delivery.ONCE):
            await self.call(self.answer_callback_query, callback_query_id, text=text)

    async def close_session(self) -> None:
        """Closes the HTTP session, if one was opened (aiogram's close() would open one)."""
        session = self._session
        if session is not None and not session.closed:
            await session.close()


# --- Input ----------------------------------------------------------------------------


def _setting(credentials: Dict[Text, Any], key: Text) -> Optional[Text]:
    value = credentials.get(key)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


class ClinicTelegramInput(TelegramInput):
    """The Telegram webhook: POST /webhooks/telegram/webhook (see the module docstring).

    credentials.yml keys: ``access_token`` (TELEGRAM_TOKEN), ``verify``
    (TELEGRAM_BOT_USERNAME: Rasa's setting, which this channel does not need, since the
    turn guard strips any ``@username`` from a command), ``webhook_url``
    (TELEGRAM_WEBHOOK_URL), ``secret_token`` (TELEGRAM_WEBHOOK_SECRET), ``api_base_url``
    (TELEGRAM_API_BASE_URL, optional).
    """

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "ClinicTelegramInput":
        credentials = credentials or {}
        return cls(
            access_token=_setting(credentials, "access_token"),
            verify=_setting(credentials, "verify"),
            webhook_url=_setting(credentials, "webhook_url"),
            secret_token=_setting(credentials, "secret_token"),
            api_base_url=_setting(credentials, "api_base_url"),
        )

    def __init__(
        self,
        access_token: Optional[Text],
        verify: Optional[Text] = None,
        webhook_url: Optional[Text] = None,
        secret_token: Optional[Text] = None,
        api_base_url: Optional[Text] = None,
        debug_mode: bool = False,
    ) -> None:
        super().__init__(access_token, verify, webhook_url, debug_mode=debug_mode)
        self.secret_token = secret_token
        self.api_base_url = api_base_url
        self.callbacks = CallbackPayloads()
        self.recent_updates = RecentUpdates()
        self._output: Optional[ClinicTelegramOutput] = None
        self.disabled_reason = self._configuration_problem()
        if self.disabled_reason:
            log = logger.warning if access_token else logger.info
            log("Telegram channel off: %s.", self.disabled_reason)

    def _configuration_problem(self) -> Optional[str]:
        if not self.access_token:
            return "TELEGRAM_TOKEN is not set"
        try:
            check_token(self.access_token)
        except ValidationError:
            return "TELEGRAM_TOKEN does not look like a bot token (123456:ABC...)"
        if not self.secret_token:
            return "TELEGRAM_WEBHOOK_SECRET is not set, and the webhook needs one"
        if not SECRET_PATTERN.match(self.secret_token):
            return "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
        return None

    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None

    def get_output_channel(self) -> Optional[ClinicTelegramOutput]:  # type: ignore[override]
        """The output channel (created once, without calling the Bot API); None when off."""
        if not self.enabled:
            return None
        if self._output is None:
            self._output = ClinicTelegramOutput(
                self.access_token,
                self.api_base_url,
                self.callbacks,  # type: ignore[arg-type]
            )
        return self._output

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        telegram_webhook = Blueprint("clinic_telegram_webhook", __name__)

        @telegram_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.enabled else "disabled"})

        @telegram_webhook.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            return await self.receive(request, on_new_message)

        @telegram_webhook.listener("after_server_stop")
        async def close(*_: Any) -> None:
            if self._output is not None:
                await self._output.close_session()

        return telegram_webhook

    async def receive(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> HTTPResponse:
        """Checks, parses and de-duplicates one webhook request, then handles it."""
        if not self.enabled:
            return response.json({"ok": False, "error": "Telegram channel not configured"}, 503)
        if not secret_matches(self.secret_token, request.headers.get(SECRET_HEADER)):
            logger.warning("Telegram webhook: refused a request without the right secret token")
            return response.json({"ok": False, "error": "forbidden"}, 403)
        try:
            update = json.loads(request.body or b"")
        except ValueError:  # also UnicodeDecodeError
            return response.json({"ok": False, "error": "malformed JSON"}, 400)
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            return response.json({"ok": False, "error": "not a Telegram update"}, 400)

        kind = update_type(update)
        if self.recent_updates.seen(update_id):
            logger.info("Telegram update %s (%s): duplicate, ignored", update_id, kind)
            return response.json({"ok": True})
        logger.info("Telegram update %s (%s)", update_id, kind)
        try:
            with delivery.turn(f"update {update_id}"):
                await self.handle_update(update, on_new_message)
        except Exception as error:  # answer 200 all the same: a retry would repeat the turn
            # The type only: an exception's message or traceback may quote the patient.
            logger.error("Telegram update %s: failed with %s", update_id, type(error).__name__)
            if self.debug_mode:
                raise
        return response.json({"ok": True})

    async def handle_update(
        self, update: Dict[str, Any], on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        """Dispatches a well-formed update; whatever it does not handle is ignored."""
        output = self.get_output_channel()
        assert output is not None
        update_id = update["update_id"]
        if isinstance(update.get("callback_query"), dict):
            await self._handle_button(update_id, update["callback_query"], output, on_new_message)
            return
        kind = next((key for key in MESSAGE_UPDATES if key in update), None)
        message = update.get(kind) if kind else None
        if not isinstance(message, dict):
            logger.info("Telegram update %s: %s ignored", update_id, update_type(update))
            return
        chat_id = _private_chat_id(message.get("chat"))
        content = content_type(message)
        text = message_text(message)
        if chat_id is None or content == "service":
            logger.info("Telegram update %s: group or service message, ignored", update_id)
        elif text is not None:
            # Raw: the turn guard handles commands, payloads and the safety check.
            await self._ask(on_new_message, output, chat_id, text, update_id)
        elif kind == "edited_message":
            # An edit without text or caption (a live location moving...): nothing new
            # to read, and a reply to every edit would flood the chat.
            logger.info("Telegram update %s: edit without text, ignored", update_id)
        else:
            await output.send_text_message(chat_id, text_only_reply())

    async def _handle_button(
        self,
        update_id: int,
        query: Dict[str, Any],
        output: ClinicTelegramOutput,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        if query.get("id") is not None:
            await output.acknowledge(str(query["id"]))
        message = query.get("message")
        chat_id = _private_chat_id(message.get("chat") if isinstance(message, dict) else None)
        data = query.get("data")
        if chat_id is None or not isinstance(data, str):
            logger.info("Telegram update %s: button outside a private chat, ignored", update_id)
            return
        payload = self.callbacks.decode(data)
        if payload is None:
            await output.send_text_message(chat_id, EXPIRED_BUTTON_REPLY)
        else:
            await self._ask(on_new_message, output, chat_id, payload, update_id)

    async def _ask(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        output: ClinicTelegramOutput,
        chat_id: str,
        text: str,
        update_id: int,
    ) -> None:
        """One turn. No metadata (no names or profile in the tracker); the turn guard
        namespaces the sender id, answers when the turn produced nothing and never
        raises (receive() still catches, so Telegram gets 200)."""
        await on_new_message(
            UserMessage(
                text,
                output,
                chat_id,
                input_channel=self.name(),
                message_id=f"telegram-{update_id}",
            )
        )


def _private_chat_id(chat: Any) -> Optional[str]:
    """The chat id of a private chat (the Rasa sender id), else None."""
    if isinstance(chat, dict) and chat.get("type") == "private" and chat.get("id") is not None:
        return str(chat["id"])
    return None
