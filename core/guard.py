"""The turn guard's decisions, without Rasa: what a message becomes before NLU sees it.

``addons/guard.py`` runs these for every message on every channel. Here:

* :func:`screen` normalises the text (``core.text``), refuses empty and over-long
  messages, and decides what a message starting with "/" is. Only the exact payloads
  of the assistant's own buttons (:class:`Payloads`, taken from the domain) are passed
  on as intents. Anything else that starts with "/" is text: the command word (with
  any "@BotName", "{...}" or "@1.0" glued to it) is removed, and the rest goes through
  NLU and the safety check like any message. A bare "/start" or "/help" greets.
* :class:`RateLimiter`: at most N messages per window per sender.
* :func:`filter_metadata`: only the configured client metadata keys, size-capped.
* :func:`namespaced`: the tracker's sender id, prefixed with the channel, so that one
  channel can never address another channel's conversation.
"""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, FrozenSet, Iterable, Optional

from core.text import normalise

#: What the guard does with a message.
PASS = "pass"  # hand ``text`` to Rasa
EMPTY = "empty"  # nothing readable: polite reply
TOO_LONG = "too_long"  # over the limit: polite reply with the emergency number
UNKNOWN_COMMAND = "unknown_command"  # "/something" with no text: polite reply

#: Bare commands that open a conversation (Telegram sends /start when a patient opens
#: the bot) and the payload they stand for.
GREETING_COMMANDS = frozenset({"/start", "/help"})
GREETING_PAYLOAD = "/greet"
#: A command word: "/" and what follows up to a space, with a {...} or [...] block.
_COMMAND = re.compile(r"/[^\s{\[]*(?:\{[^}]*\}?|\[[^\]]*\]?)?\S*")
#: Longest sender id a channel may pass (before namespacing).
MAX_SENDER_CHARS = 128


@dataclass(frozen=True)
class Payloads:
    """The exact button payloads that are accepted as intents."""

    allowed: FrozenSet[str]

    @classmethod
    def of(cls, payloads: Iterable[str]) -> "Payloads":
        """The set, plus the greeting payload the bare commands map to."""
        return cls(frozenset(p for p in payloads if p.startswith("/")) | {GREETING_PAYLOAD})

    def accepts(self, text: str) -> bool:
        """True for an exact payload of one of the assistant's own buttons."""
        return text in self.allowed


@dataclass(frozen=True)
class Screened:
    """A message after the guard's screening.

    Attributes:
        action: :data:`PASS`, :data:`EMPTY`, :data:`TOO_LONG` or :data:`UNKNOWN_COMMAND`.
        text: what Rasa gets (for :data:`PASS`): the normalised text, or an accepted
            button payload.
        is_payload: True when ``text`` is an accepted button payload.
    """

    action: str
    text: str = ""
    is_payload: bool = False


def strip_commands(text: str) -> str:
    """The text without its leading "/command" words, each with any ``{...}`` or
    ``[...]`` block glued to it (Rasa's entity syntax, which may contain spaces)."""
    while text.startswith("/"):
        match = _COMMAND.match(text)
        end = match.end() if match else 1
        text = text[end:].strip()
    return text


def command_word(text: str) -> str:
    """The bare command of a "/command@Bot{...}" word, lower-cased."""
    first = text.split(None, 1)[0] if text.split() else text
    for separator in ("@", "{", "["):
        first = first.split(separator, 1)[0]
    return first.lower()


def screen(raw: Any, payloads: Payloads, max_chars: int) -> Screened:
    """What the guard does with one message (see the module docstring)."""
    if not isinstance(raw, str):
        return Screened(EMPTY)
    if len(raw) > max_chars * 4:
        # Not worth normalising: far over the limit whatever it holds.
        return Screened(TOO_LONG)
    text = normalise(raw)
    if not text:
        return Screened(EMPTY)
    if len(text) > max_chars:
        return Screened(TOO_LONG)
    if not text.startswith("/"):
        return Screened(PASS, text)
    if payloads.accepts(text):
        return Screened(PASS, text, is_payload=True)
    rest = strip_commands(text)
    if rest:
        return Screened(PASS, rest)
    if command_word(text) in GREETING_COMMANDS:
        return Screened(PASS, GREETING_PAYLOAD, is_payload=True)
    return Screened(UNKNOWN_COMMAND)


def namespaced(channel: Optional[str], sender_id: str) -> str:
    """The tracker's sender id for ``sender_id`` on ``channel``: ``<channel>:<id>``."""
    prefix = (channel or "other").strip().lower() or "other"
    return f"{prefix}:{sender_id}"


def filter_metadata(metadata: Any, keys: FrozenSet[str], max_bytes: int) -> Optional[Dict[str, Any]]:
    """Only the allowed keys of the client's metadata, and only while their JSON fits in
    ``max_bytes``; None when nothing is kept."""
    if not isinstance(metadata, dict) or not keys:
        return None
    kept: Dict[str, Any] = {}
    size = 2
    for key in sorted(keys):
        if key not in metadata:
            continue
        try:
            encoded = json.dumps({key: metadata[key]}, ensure_ascii=False)
        except (TypeError, ValueError):
            continue
        if size + len(encoded.encode("utf-8")) > max_bytes:
            continue
        kept[key] = metadata[key]
        size += len(encoded.encode("utf-8"))
    return kept or None


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
