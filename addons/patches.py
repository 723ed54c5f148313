"""Every change this project makes to Rasa's own code, in one place.

:func:`install` applies them once per process; ``addons/__init__.py`` calls it, so any
Rasa server that loads one of our plug-ins (channels, NLU components, stores, NLG
from ``credentials.yml``, ``config.yml`` and ``endpoints.yml``) runs with them, however
it was started. Each patch is idempotent and says why it exists:

1. **The turn guard** (``addons/guard.py``) wraps ``Agent.handle_message``, the one
   call every input channel makes for every message (``rasa.core.channels.channel.
   register`` hands each channel's blueprint ``app.ctx.agent.handle_message``). A
   channel added later therefore cannot skip the guard.
2. **No fall-back to memory**: ``Agent`` wraps the tracker store in Rasa's
   ``FailSafeTrackerStore``, which silently keeps unsaved turns in memory; ours
   (``StrictTrackerStore``) raises, so the patient gets the apology and ``/health``
   reports the store down.
3. **Action server timeout**: Rasa 3.6 waits ``DEFAULT_REQUEST_TIMEOUT`` (300 s) for
   an action and ignores a ``timeout`` key in ``endpoints.yml``; ACTION_TIMEOUT
   seconds (default 10) instead, then the apology.
4. **Action response check built once**: Rasa 3.6 validates every action server
   response with ``jsonschema.validate``, which re-checks the schema itself each time
   (about half the server's CPU for a FAQ answer with jsonschema 4.x).
5. **No message text in logs**: a log record factory replaces the text of the
   message being handled (raw and normalised) in any record at INFO or above, from
   Rasa's own code paths too (its warnings about unparsable "/" messages, errors that
   quote the message...). DEBUG is left alone: it is for development only.
6. **Delivery recorded**: Rasa logs a turn's bot events before it sends them; a reply
   the Telegram channel could not deliver (``core.delivery``) is marked
   ``"delivery": "failed"`` in its event's metadata instead of passing for sent.
"""

from __future__ import annotations

import contextvars
import logging
import traceback
from typing import Any, Callable, Dict, List, Optional, Text, Tuple

from core.settings import get_server_settings

_INSTALLED = False
#: Texts of the message the current task is handling, to keep out of the logs.
CURRENT_TEXTS: "contextvars.ContextVar[Tuple[str, ...]]" = contextvars.ContextVar(
    "clinic_current_texts", default=()
)
REDACTED = "[message text]"
#: Shorter texts are not redacted: "ok" or "yes" would blank out ordinary log words.
MIN_REDACTED_CHARS = 4


def install() -> None:
    """Applies every patch once (see the module docstring)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    install_turn_guard()
    install_strict_tracker_store()
    apply_action_timeout()
    validate_action_results_faster()
    install_log_redaction()
    install_delivery_record()


def install_turn_guard() -> None:
    """Wraps ``Agent.handle_message`` with the turn guard."""
    from rasa.core.agent import Agent

    from addons.guard import guarded

    original = Agent.handle_message
    if getattr(original, "clinic_guard", False):
        return
    Agent.handle_message = guarded(original)  # type: ignore[method-assign]


def install_strict_tracker_store() -> None:
    """Makes ``Agent`` wrap its tracker store in ``StrictTrackerStore``."""
    from rasa.core.agent import Agent
    from rasa.core.tracker_store import InMemoryTrackerStore, TrackerStore
    from rasa.shared.core.domain import Domain

    from addons.tracker_store import StrictTrackerStore

    def create(store: Optional[TrackerStore], domain: Domain) -> TrackerStore:
        if store is not None:
            store.domain = domain
        else:
            store = InMemoryTrackerStore(domain)
        return StrictTrackerStore(store)

    Agent._create_tracker_store = staticmethod(create)  # type: ignore[assignment]


def apply_action_timeout() -> float:
    """Makes Rasa wait at most ACTION_TIMEOUT seconds for the action server."""
    import rasa.core.actions.action as rasa_action

    seconds = get_server_settings().action_timeout
    rasa_action.DEFAULT_REQUEST_TIMEOUT = seconds
    return seconds


def validate_action_results_faster() -> None:
    """Makes Rasa check action server responses with a validator built once.

    Valid responses take the fast path; anything else goes through Rasa's own check
    and error.
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
        return bool(original(self, result))

    validate.cached_validator = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = validate  # type: ignore[method-assign]


def redact(message: str, texts: Tuple[str, ...]) -> str:
    """``message`` with every occurrence of the given texts replaced."""
    for text in sorted(texts, key=len, reverse=True):
        if len(text) >= MIN_REDACTED_CHARS and text in message:
            message = message.replace(text, REDACTED)
    return message


def install_log_redaction() -> None:
    """Installs the log record factory that keeps message texts out of the logs."""
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    if getattr(previous, "clinic_redaction", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        texts = CURRENT_TEXTS.get()
        if not texts or record.levelno < logging.INFO:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error path
            return record
        cleaned = redact(message, texts)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # An exception's message may quote the text: format it here, redacted.
            formatted = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.msg = f"{record.getMessage()}\n{redact(formatted, texts)}"
            record.args, record.exc_info, record.exc_text = None, None, None
        return record

    factory.clinic_redaction = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def install_delivery_record() -> None:
    """Makes Rasa's processor note on each bot event whether the channel delivered it.

    Rasa 3.6 logs a turn's bot events on the tracker *before* it sends them
    (``MessageProcessor._run_action``: ``_log_action_on_tracker``, then
    ``execute_side_effects`` -> ``_send_bot_messages``) and saves the tracker once the
    turn is over, so an event can still be amended while it is sent. This replaces
    ``_send_bot_messages`` with the same loop, each send inside
    ``core.delivery.reporting()``: an event whose reply the channel could not deliver
    gets ``{"delivery": "failed", "delivery_error": "HTTP 500"}`` in its metadata
    (``"partial"`` when only some of its messages arrived), saved with the turn.
    Channels that report nothing (REST) are unaffected.
    """
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.events import BotUttered, Event
    from rasa.shared.core.trackers import DialogueStateTracker

    from core import delivery

    if getattr(MessageProcessor._send_bot_messages, "clinic_delivery", False):
        return

    async def send_bot_messages(
        events: List[Event], tracker: DialogueStateTracker, output_channel: Any
    ) -> None:
        for event in events:
            if not isinstance(event, BotUttered):
                continue
            with delivery.reporting() as report:
                await output_channel.send_response(tracker.sender_id, event.message())
            event.metadata.update(report.metadata())

    send_bot_messages.clinic_delivery = True  # type: ignore[attr-defined]
    MessageProcessor._send_bot_messages = staticmethod(send_bot_messages)  # type: ignore[method-assign,assignment]
