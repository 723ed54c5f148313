"""The turn guard: every user message, on every channel, passes here before and after
Rasa handles it.

``addons/patches.py`` wraps ``rasa.core.agent.Agent.handle_message`` with
:func:`guarded`; every input channel hands its messages to that method, so REST,
Telegram and any channel added later get the same checks. The pure decisions live in
``core/guard.py``; this module applies them to Rasa's objects.

Before Rasa:

* **rate limit** per sender (``RATE_LIMIT_MESSAGES`` per ``RATE_LIMIT_SECONDS``), on
  every channel, with a polite reply that names the emergency number;
* **screening** (``core.guard.screen``): Unicode normalisation (NFKC, invisible
  characters removed, look-alike letters folded), empty and over-long messages,
  and "/" messages: only the exact payloads of the assistant's own buttons (from the
  domain) are passed as intents; any other "/command ..." becomes its text, which goes
  through NLU and the safety check. Entities and slots never come from a patient's
  text, and a channel cannot hand Rasa ready-made ``parse_data``;
* **sender ids** are namespaced per channel (``rest:<id>``, ``telegram:<chat id>``),
  so no request on one channel can read, write or erase another channel's
  conversation; replies still go to the channel's own id;
* **metadata**: only the keys in ``METADATA_KEYS``, at most ``METADATA_MAX_BYTES``;
* **several questions** in one message are parsed one by one
  (``addons/understanding.py``) and handed to Rasa as the message's parse;
* **fairness** (:class:`Lanes`): messages of ``LONG_MESSAGE_CHARS`` or more are
  handled one at a time, and each starts only when no short message is being handled
  (or after ``LONG_MESSAGE_MAX_WAIT`` seconds). Rasa runs NLU on the event loop, so a
  short message (an emergency) otherwise waits for a long message's NLU at each of
  its own awaits; now it waits for at most the one long message already running.

After Rasa:

* **erasure**: a reply carrying ``{"privacy": {"erase": true}}`` ("delete my data",
  confirmed) is held back; the conversation is erased from the tracker store once the
  turn is saved, under the conversation's lock, and only then is the patient told it
  is deleted (or, when erasing failed, that it is still stored);
* **never silent**: a turn that sent nothing, or failed (action server down, tracker
  store down, an error inside Rasa), gets the apology with the clinic's and the
  emergency number. Errors are logged by type only.

The texts of the message being handled are kept out of every log line at INFO and
above (``addons.patches.CURRENT_TEXTS``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage

from addons.patches import CURRENT_TEXTS
from addons.privacy import ERASE_KEY, erase_conversation
from addons.understanding import understand
from core import replies
from core.guard import (
    EMPTY,
    PASS,
    TOO_LONG,
    Payloads,
    RateLimiter,
    filter_metadata,
    namespaced,
    screen,
)
from core.settings import get_server_settings

logger = logging.getLogger(__name__)

#: Colleagues' tests look for this to know the guard is in place.
GUARD_READY = True

#: A long message waits at most this long for short ones to finish, then goes anyway.
LONG_MESSAGE_MAX_WAIT = 5.0

HandleMessage = Callable[[Any, UserMessage], Awaitable[Optional[List[Dict[Text, Any]]]]]


class GuardedOutput(OutputChannel):
    """The channel's output, seen by Rasa: replies go to the channel's own recipient
    id, are counted (for "never silent"), and erasure confirmations are held back."""

    def __init__(self, inner: OutputChannel, recipient_id: Text) -> None:
        self.inner = inner
        self.recipient_id = recipient_id
        self.sent = 0
        self.held: List[Dict[Text, Any]] = []

    def name(self) -> Text:  # type: ignore[override]
        return self.inner.name()

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        custom = message.get("custom")
        if isinstance(custom, dict) and ERASE_KEY in custom:
            self.held.append(dict(message))
            return
        await self.deliver(message)

    async def deliver(self, message: Dict[Text, Any]) -> None:
        """Sends one message to the patient through the channel's own output."""
        self.sent += 1
        await self.inner.send_response(self.recipient_id, dict(message))

    async def say(self, text: Text) -> None:
        """Sends a plain text reply."""
        await self.deliver({"text": text})

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.say(text)


def button_payloads(domain: Any) -> Payloads:
    """The payloads of the buttons the assistant sends: those of its domain responses,
    and ``/<intent>`` for its FAQ and feedback intents (the action server's topic and
    "Was this helpful?" buttons)."""
    payloads = set()
    for variations in (getattr(domain, "responses", None) or {}).values():
        for variation in variations or []:
            for button in variation.get("buttons") or []:
                payload = button.get("payload")
                if isinstance(payload, str):
                    payloads.add(payload.strip())
    for intent in getattr(domain, "intents", None) or []:
        if isinstance(intent, str) and intent.startswith(("ask_", "rate_")):
            payloads.add(f"/{intent}")
    return Payloads.of(payloads)


class Lanes:
    """Short messages first; long ones one at a time, when no short one is running."""

    def __init__(self) -> None:
        self.short_running = 0
        self._long: Optional[asyncio.Semaphore] = None
        self._idle: Optional[asyncio.Event] = None

    def _primitives(self) -> Tuple[asyncio.Semaphore, asyncio.Event]:
        # Created inside the running loop, on first use.
        if self._long is None or self._idle is None:
            self._long, self._idle = asyncio.Semaphore(1), asyncio.Event()
            self._idle.set()
        return self._long, self._idle

    async def run(self, long: bool, turn: Awaitable[Any]) -> Any:
        """Runs one turn in its lane."""
        lane, idle = self._primitives()
        if not long:
            self.short_running += 1
            idle.clear()
            try:
                return await turn
            finally:
                self.short_running -= 1
                if self.short_running == 0:
                    idle.set()
        async with lane:
            try:
                await asyncio.wait_for(idle.wait(), LONG_MESSAGE_MAX_WAIT)
            except asyncio.TimeoutError:
                pass
            return await turn


class TurnGuard:
    """The guard's state for one Rasa server process (see the module docstring)."""

    def __init__(self) -> None:
        settings = get_server_settings()
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_limit_messages, settings.rate_limit_seconds)
        self._payloads: Dict[int, Payloads] = {}
        self.lanes = Lanes()

    def payloads(self, agent: Any) -> Payloads:
        domain = getattr(agent, "domain", None)
        key = id(domain)
        if key not in self._payloads:
            self._payloads = {key: button_payloads(domain)}
        return self._payloads[key]

    async def handle(
        self, agent: Any, message: UserMessage, original: HandleMessage
    ) -> Optional[List[Dict[Text, Any]]]:
        """Handles one message through Rasa with every check before and after."""
        inner = message.output_channel
        output = GuardedOutput(inner, str(message.sender_id))
        raw = message.text if isinstance(message.text, str) else ""
        token = CURRENT_TEXTS.set((raw,))
        try:
            await self._handle(agent, message, output, raw, original)
        finally:
            CURRENT_TEXTS.reset(token)
        return inner.messages if isinstance(inner, CollectingOutputChannel) else None

    async def _handle(
        self,
        agent: Any,
        message: UserMessage,
        output: GuardedOutput,
        raw: str,
        original: HandleMessage,
    ) -> None:
        settings = self.settings
        channel = message.input_channel or _channel_name(message.output_channel)
        sender = namespaced(channel, str(message.sender_id))
        if not self.limiter.allow(sender):
            logger.warning("Rate limit: a %s sender is over %d messages", channel, self.limiter.limit)
            await output.say(replies.slow_down())
            return
        screened = screen(raw, self.payloads(agent), settings.max_message_chars)
        if screened.action != PASS:
            logger.info("Guard answered a %s message itself: %s", channel, screened.action)
            await output.say(
                replies.empty()
                if screened.action == EMPTY
                else replies.too_long(settings.max_message_chars)
                if screened.action == TOO_LONG
                else replies.unknown_command()
            )
            return
        CURRENT_TEXTS.set((raw, screened.text))
        guarded_message = UserMessage(
            text=screened.text,
            output_channel=output,
            sender_id=sender,
            parse_data=None,
            input_channel=channel,
            message_id=message.message_id,
            metadata=filter_metadata(message.metadata, settings.metadata_keys, settings.metadata_max_bytes),
        )
        failed = False
        try:
            long = len(screened.text) >= settings.long_message_chars
            await self.lanes.run(long, self._turn(agent, guarded_message, screened.is_payload, original))
        except Exception as error:  # logged by type only: the message may be in it
            failed = True
            logger.error("Handling a %s message failed: %s", channel, type(error).__name__)
        if output.held:
            await self._erase_then_confirm(agent, sender, output)
        if failed or output.sent == 0:
            if not failed:
                logger.warning("A %s turn produced no reply; sending the apology", channel)
            await output.say(replies.apology())

    @staticmethod
    async def _turn(agent: Any, message: UserMessage, is_payload: bool, original: HandleMessage) -> None:
        """Parses a typed message question by question (``addons.understanding``), then
        lets Rasa handle it with that parse; a button payload goes to Rasa as it is."""
        if not is_payload:
            message.parse_data = await understand(agent, message.text or "")
        await original(agent, message)

    async def _erase_then_confirm(self, agent: Any, sender: str, output: GuardedOutput) -> None:
        """Erases the conversation, then sends the held confirmation; or says it is
        still stored when erasing failed."""
        held, output.held = output.held, []
        if await self._erase(agent, sender):
            for message in held:
                await output.deliver(message)
        else:
            await output.say(replies.erase_failed())

    @staticmethod
    async def _erase(agent: Any, sender: str) -> bool:
        """Erases one conversation under its lock; False (logged) when that failed."""
        store = getattr(agent, "tracker_store", None)
        if store is None:
            logger.error("Could not erase a conversation: no tracker store")
            return False
        try:
            async with agent.lock_store.lock(sender):
                deleted = await asyncio.get_running_loop().run_in_executor(
                    None, erase_conversation, store, sender
                )
        except Exception as error:  # the store is down: the data is still there
            logger.error("Could not erase a conversation: %s", type(error).__name__)
            return False
        logger.info("Erased a conversation on the patient's request (%d records)", deleted)
        return True


def _channel_name(output: Any) -> str:
    try:
        return str(output.name())
    except Exception:
        return "other"


_GUARD: Optional[TurnGuard] = None


def get_guard() -> TurnGuard:
    """The process's guard, created on first use (settings read then)."""
    global _GUARD
    if _GUARD is None:
        _GUARD = TurnGuard()
    return _GUARD


def guarded(original: HandleMessage) -> HandleMessage:
    """``Agent.handle_message`` wrapped with the turn guard."""

    async def handle_message(self: Any, message: UserMessage) -> Optional[List[Dict[Text, Any]]]:
        return await get_guard().handle(self, message, original)

    handle_message.clinic_guard = True  # type: ignore[attr-defined]
    handle_message.__doc__ = original.__doc__
    return handle_message
