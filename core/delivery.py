"""Getting a reply to the patient over a channel that pushes it (Telegram's Bot API):
when to try again, how long to wait, and what became of each reply.

Framework-free: no Rasa, Sanic or aiogram types. ``addons/telegram.py`` runs the loop
(one HTTP call per attempt) and asks this module what to do after each answer:

* **what is worth retrying** (:func:`verdict`): network errors, timeouts, HTTP 5xx and
  429 (after Telegram's ``parameters.retry_after``, :func:`parse_retry_after`). Any
  other 4xx will not get better (a blocked bot, a wrong chat id, a bad request) and is
  not retried, except that a ``sendMessage`` refused with 400 while it carried markup
  (a keyboard, a parse mode) is sent once more as plain text (:func:`plain_text_retry`);
* **how long to wait** (:class:`RetryPolicy`): exponential backoff with jitter, within
  a number of attempts and a time budget. An escalation (an emergency or a referral to
  a professional) gets the :data:`ESCALATION` policy, more attempts and a longer budget
  than an ordinary answer (:data:`NORMAL`);
* **one budget per turn** (:class:`Turn`): the replies of one patient message share the
  budget, counted from the turn's first send, so a turn with several messages during
  an outage does not wait several budgets (the conversation's lock is held meanwhile);
* **what became of a reply** (:class:`Report`, :func:`reporting`, :func:`record`): how
  many of its Bot API messages were delivered and how many failed, so the bot event in
  the tracker can say ``{"delivery": "failed"}`` instead of passing for sent.

The turn, the priority and the report live in context variables: set around a turn or
a reply by the channel, read by the sending code below it in the same task.
"""

from __future__ import annotations

import contextvars
import math
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

NORMAL = "normal"
ESCALATION = "escalation"
#: One attempt only: acknowledging a button tap, which only stops a spinner.
ONCE = "once"

#: Metadata key of a bot event whose reply was not (fully) delivered, and its values.
DELIVERY_KEY = "delivery"
DELIVERY_ERROR_KEY = "delivery_error"
FAILED = "failed"
#: Some of the reply's messages arrived (the emergency warning, say), not all.
PARTIAL = "partial"

#: Attempts made when the turn's budget is already spent still get this long.
MIN_ATTEMPT_TIMEOUT = 2.0
#: The longest backoff wait, as a multiple of the first one.
MAX_DELAY_FACTOR = 16
#: A 400 on these parameters of sendMessage may be the markup's fault.
MARKUP_PARAMETERS = ("reply_markup", "parse_mode", "entities")

Random = Callable[[], float]
Clock = Callable[[], float]


# --- Policy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one Bot API message is tried.

    Attributes:
        attempts: attempts in all, the first included (at least 1).
        budget: seconds from the turn's first send within which retries may start.
        base_delay: the wait before the first retry, before jitter (seconds).
        max_delay: the longest wait between two attempts, before jitter.
    """

    attempts: int
    budget: float
    base_delay: float
    max_delay: float

    def backoff(self, retry: int, rng: Random = random.random) -> float:
        """The wait before retry number ``retry`` (1 after the first failure):
        ``base_delay * 2**(retry - 1)``, capped at ``max_delay``, with "equal jitter"
        (between half of it and all of it), so clients that failed together do not
        come back together and the wait still grows."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(0, retry - 1))
        return ceiling / 2 + rng() * ceiling / 2


@dataclass(frozen=True)
class Policies:
    """The retry policy for each priority."""

    normal: RetryPolicy
    escalation: RetryPolicy

    def of(self, priority: str) -> RetryPolicy:
        if priority == ESCALATION:
            return self.escalation
        if priority == ONCE:
            return RetryPolicy(1, self.normal.budget, self.normal.base_delay, self.normal.max_delay)
        return self.normal


def policies(
    attempts: int,
    budget: float,
    escalation_attempts: int,
    escalation_budget: float,
    base_delay: float,
) -> Policies:
    """The policies from the settings. An escalation is never tried less hard than an
    ordinary answer: its attempts and budget are at least the normal ones."""
    max_delay = base_delay * MAX_DELAY_FACTOR
    normal = RetryPolicy(max(1, attempts), max(0.0, budget), base_delay, max_delay)
    escalation = RetryPolicy(
        max(normal.attempts, escalation_attempts),
        max(normal.budget, escalation_budget),
        base_delay,
        max_delay,
    )
    return Policies(normal, escalation)


def priority_of(escalation_level: Optional[str]) -> str:
    """The priority of a reply with this escalation level (None: not an escalation)."""
    return ESCALATION if escalation_level else NORMAL


# --- What an answer means ------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What one attempt's answer means.

    Attributes:
        delivered: the Bot API took the message.
        retryable: another attempt may work.
        reason: what went wrong, for logs and the tracker ("HTTP 500", "network
            error"); never the message or Telegram's description, which may quote it.
        retry_after: seconds Telegram asked to wait (429), if it said.
    """

    delivered: bool
    retryable: bool
    reason: str
    retry_after: Optional[float] = None


def parse_retry_after(body: Any, header: Optional[str] = None) -> Optional[float]:
    """Telegram's ``parameters.retry_after`` (seconds) from a JSON answer, else an HTTP
    ``Retry-After`` header given in seconds; None when neither is a usable number."""
    parameters = body.get("parameters") if isinstance(body, Mapping) else None
    value = parameters.get("retry_after") if isinstance(parameters, Mapping) else None
    for candidate in (value, header):
        seconds = _seconds(candidate)
        if seconds is not None:
            return seconds
    return None


def _seconds(value: Any) -> Optional[float]:
    if isinstance(value, bool) or value is None:
        return None
    try:
        seconds = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def verdict(
    status: Optional[int], body: Any = None, retry_after_header: Optional[str] = None, error: str = ""
) -> Verdict:
    """What an attempt's answer means. ``status`` is None when no HTTP answer came back
    (connection refused or reset, DNS, timeout; ``error`` names the exception type):
    that is worth another attempt."""
    if status is None:
        return Verdict(False, True, f"network error ({error})" if error else "network error")
    reason = f"HTTP {status}"
    if 200 <= status < 300:
        if isinstance(body, Mapping) and body.get("ok") is True:
            return Verdict(True, False, reason)
        # A proxy's page, not the Bot API's answer: the message may not have arrived.
        return Verdict(False, True, f"{reason} without a Bot API answer")
    if status == 429:
        return Verdict(False, True, reason, parse_retry_after(body, retry_after_header))
    if status >= 500:
        return Verdict(False, True, reason)
    return Verdict(False, False, reason)


def plain_text_retry(
    method: str, status: Optional[int], params: Mapping[str, Any]
) -> Optional[Dict[str, Any]]:
    """The parameters to send once more without markup, when a ``sendMessage`` with a
    keyboard or a parse mode was refused with 400 (the markup may be what Telegram
    could not take; the text matters more); None when that does not apply."""
    if method != "sendMessage" or status != 400:
        return None
    if not any(key in params for key in MARKUP_PARAMETERS):
        return None
    return {key: value for key, value in params.items() if key not in MARKUP_PARAMETERS}


# --- The retry loop's state ------------------------------------------------------------


class Attempts:
    """The state of the retry loop for one Bot API message.

    Usage::

        attempts = Attempts(policy, deadline=turn.deadline_for(policy))
        while True:
            attempts.begin()
            answer = ...one HTTP call, with timeout attempts.timeout(cap)...
            wait = attempts.retry_in(verdict(...))
            if wait is None: give up
            sleep(wait)
    """

    def __init__(
        self,
        policy: RetryPolicy,
        deadline: Optional[float] = None,
        clock: Clock = time.monotonic,
        rng: Random = random.random,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.rng = rng
        self.started = clock()
        self.deadline = self.started + policy.budget if deadline is None else deadline
        self.made = 0

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def begin(self) -> None:
        """Counts an attempt about to be made."""
        self.made += 1

    def timeout(self, cap: float) -> float:
        """The timeout for the attempt about to be made: at most ``cap``, at most what
        is left of the budget, but never less than :data:`MIN_ATTEMPT_TIMEOUT`."""
        return min(cap, max(MIN_ATTEMPT_TIMEOUT, self.deadline - self.clock()))

    def retry_in(self, answer: Verdict) -> Optional[float]:
        """Seconds to wait before the next attempt after a failed one, or None to give
        up: not retryable, out of attempts, or the wait would end past the deadline.
        Telegram's ``retry_after`` is honoured as given (it is the earliest a retry
        can work), so a wait longer than the budget left means giving up now."""
        if answer.delivered or not answer.retryable or self.made >= self.policy.attempts:
            return None
        if answer.retry_after is not None:
            wait = answer.retry_after
        else:
            wait = self.policy.backoff(self.made, self.rng)
        if self.clock() + wait > self.deadline:
            return None
        return wait


# --- Context: the turn, the priority, the report -----------------------------------------


@dataclass
class Turn:
    """One patient message's replies.

    Attributes:
        label: how logs name the turn (``update 123``): never a chat id or text.
        started: when its first Bot API message was sent (monotonic clock).
        failed: how many of its Bot API messages could not be delivered.
    """

    label: str
    started: Optional[float] = None
    failed: int = 0

    def deadline_for(self, policy: RetryPolicy, now: float) -> float:
        """The latest time a retry of this turn may start under ``policy``: the turn's
        first send plus the policy's budget, so the turn's replies share one budget
        and an escalation's is the larger."""
        if self.started is None:
            self.started = now
        return self.started + policy.budget


@dataclass
class Report:
    """What became of one reply's Bot API messages (warning, text parts, ...)."""

    delivered: int = 0
    failed: int = 0
    reasons: List[str] = field(default_factory=list)

    @property
    def outcome(self) -> Optional[str]:
        """None when nothing failed, else :data:`FAILED` or :data:`PARTIAL`."""
        if not self.failed:
            return None
        return PARTIAL if self.delivered else FAILED

    def metadata(self) -> Dict[str, str]:
        """What the reply's bot event gets in its metadata: ``{"delivery": "failed",
        "delivery_error": "HTTP 500"}``, or nothing when it was delivered."""
        outcome = self.outcome
        if outcome is None:
            return {}
        return {DELIVERY_KEY: outcome, DELIVERY_ERROR_KEY: self.reasons[-1] if self.reasons else ""}


_TURN: "contextvars.ContextVar[Optional[Turn]]" = contextvars.ContextVar("clinic_delivery_turn", default=None)
_PRIORITY: "contextvars.ContextVar[str]" = contextvars.ContextVar("clinic_delivery_priority", default=NORMAL)
_REPORT: "contextvars.ContextVar[Optional[Report]]" = contextvars.ContextVar(
    "clinic_delivery_report", default=None
)


@contextmanager
def turn(label: str) -> Iterator[Turn]:
    """The replies sent inside share one :class:`Turn`."""
    current = Turn(label)
    token = _TURN.set(current)
    try:
        yield current
    finally:
        _TURN.reset(token)


def current_turn() -> Optional[Turn]:
    return _TURN.get()


@contextmanager
def priority(level: str) -> Iterator[str]:
    """Messages sent inside are tried under ``level``'s policy."""
    token = _PRIORITY.set(level)
    try:
        yield level
    finally:
        _PRIORITY.reset(token)


def current_priority() -> str:
    return _PRIORITY.get()


@contextmanager
def reporting() -> Iterator[Report]:
    """Collects what becomes of the messages sent inside (one reply)."""
    report = Report()
    token = _REPORT.set(report)
    try:
        yield report
    finally:
        _REPORT.reset(token)


def record(delivered: bool, reason: str = "") -> None:
    """Notes one Bot API message's fate in the current report and turn (if any)."""
    report = _REPORT.get()
    if report is not None:
        if delivered:
            report.delivered += 1
        else:
            report.failed += 1
            report.reasons.append(reason)
    current = _TURN.get()
    if current is not None and not delivered:
        current.failed += 1
