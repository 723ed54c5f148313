"""The staff report: what patients asked, what went unanswered, and whether answers helped.

Reads the events table that Rasa's ``SQLTrackerStore`` (and the project's
``RecentEventsSQLTrackerStore``, the same table) writes, on SQLite or PostgreSQL, and
computes for a period ``[since, until)``:

* ``conversations``: Rasa sessions with at least one patient message in the period (a
  sender's messages with no gap longer than the domain's session expiry); ``senders``:
  distinct patients (``rest:<id>``, ``telegram:<chat id>``); ``messages``: user events;
  ``by_channel``: both counts per channel (the user event's ``input_channel``, which
  the turn guard sets; else the sender id's ``<channel>:`` prefix);
* ``topics``: FAQ answers per topic id (``knowledge/answers.yml``), from the
  ``answered_topics`` slot action_answer_faq sets; turns stored before that slot
  existed count the topics the action was asked for (the intent and ``faq_topic``
  entities) if it answered (a failed action answered nothing);
* ``escalations``: safety replies per level and reason, from the bot events'
  ``{"escalation": {...}}`` payload (what the patient was shown), else from the
  response name (``utter_escalate_urgent`` / ``utter_escalate_emergency``) and the
  ``risk_reason`` slot;
* ``fallback``: turns answered with "could you say it another way?" (``nlu_fallback``,
  Rasa's ``action_default_fallback``, the ``utter_default`` response);
  ``not_covered``: turns answered with the honest "I don't have that answer" (the
  ``not_covered`` slot, or the ``utter_not_covered`` response);
* ``unanswered``: the patients' messages of those turns, personal data masked
  (:func:`mask_personal_data`), grouped by similarity (:func:`group_unanswered`), most
  frequent first;
* ``feedback``: 👍 / 👎 per topic, from the ``feedback`` slot;
* ``timeline``: topics and escalations per hour (periods up to two days) or per day.

Erased conversations ("delete my data") and expired ones (``scripts/retention.py``) are
deleted from the table, so they cannot appear: the report is computed from what is
stored at the moment it is asked for, and keeps nothing.

Framework-free: no Rasa types (SQLAlchemy and the events' JSON only). Nothing here logs
message text.
"""

from __future__ import annotations

import json
import math
import re
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import sqlalchemy as sa

#: Rasa's SQLTrackerStore table.
EVENTS_TABLE = "events"
#: Events of one turn are stored within seconds of its user event (actions time out
#: after ACTION_TIMEOUT); rows this long after ``until`` are read to finish a turn.
TURN_SLACK_SECONDS = 600.0
#: Default length of a period that names no start.
DEFAULT_DAYS = 30
#: Periods up to this long get an hourly timeline, longer ones a daily one.
HOURLY_UP_TO = timedelta(days=2)
#: Unanswered questions listed, most frequent first.
DEFAULT_UNANSWERED_LIMIT = 20
#: Longest unanswered text shown (characters, after masking).
MAX_TEXT_CHARS = 300
#: Two unanswered questions whose sentence vectors are at least this similar (cosine)
#: are one group. Measured with all-MiniLM-L6-v2: rewordings of one question 0.74-0.99
#: ("should I use tap water or distilled?" / "is tap water ok or do I need distilled?"
#: 0.91, / "Can I use TAP water??" 0.74; two parking questions 0.93), different
#: questions on one subject 0.5-0.6 ("...in the trays?" 0.58), unrelated ones below 0.3.
SIMILARITY_THRESHOLD = 0.72

FAQ_ACTION = "action_answer_faq"
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = frozenset({"action_default_fallback", "utter_default"})
NOT_COVERED_ACTION = "utter_not_covered"
NOT_COVERED_INTENT = "ask_not_covered"
ESCALATION_ACTIONS = {"utter_escalate_urgent": "urgent", "utter_escalate_emergency": "emergency"}
LEVELS = ("urgent", "emergency")
TOPIC_ENTITY = "faq_topic"
GENERAL_REASON = "general"
SLOT_TOPICS = "answered_topics"
SLOT_NOT_COVERED = "not_covered"
SLOT_FEEDBACK = "feedback"
SLOT_REASON = "risk_reason"

#: Takes texts, returns one unit-length vector per text (core.embeddings' ``encode``).
Encoder = Callable[[Sequence[str]], Any]


class ReportError(RuntimeError):
    """The tracker store cannot be read (unreachable, or not a tracker store)."""


# ---------------------------------------------------------------------- period
def parse_moment(value: str) -> datetime:
    """A date (``2026-12-01``, midnight UTC) or ISO time (``2026-12-01T09:30``,
    ``...+01:00``, ``...Z``) as an aware UTC datetime; naive times are UTC.

    Raises:
        ValueError: not a date or ISO time.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


@dataclass(frozen=True)
class Period:
    """The half-open period ``[since, until)``, in UTC."""

    since: datetime
    until: datetime

    @classmethod
    def of(
        cls,
        since: Optional[datetime] = None,
        until: Optional[datetime] = None,
        now: Optional[datetime] = None,
    ) -> "Period":
        """The period from ``since`` (default: ``until`` minus 30 days) to ``until``
        (default: now).

        Raises:
            ValueError: ``since`` is not before ``until``.
        """
        # Now, rounded up to the second: what was stored in the last second is in.
        end = until or now or datetime.fromtimestamp(math.ceil(time.time()), timezone.utc)
        start = since or end - timedelta(days=DEFAULT_DAYS)
        if end.tzinfo is None or start.tzinfo is None:
            raise ValueError("since and until must be timezone-aware")
        if start >= end:
            raise ValueError("since must be before until")
        return cls(start.astimezone(timezone.utc), end.astimezone(timezone.utc))

    def as_dict(self) -> Dict[str, str]:
        return {"since": _iso(self.since), "until": _iso(self.until)}


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------- masking
_EMAIL = re.compile(r"[\w.+%-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_URL = re.compile(
    r"\b(?:(?:https?|ftp)://|www\.)[^\s<>\"']+"
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|info|io|co|uk|de|fr|es|it|pt|nl|eu|us|ca|au)"
    r"(?:/[^\s<>\"']*)?\b",
    re.IGNORECASE,
)
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{3,}")
_DATE = re.compile(r"\b\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\b")
#: A run of digits with phone-number separators; a phone when it holds 7+ digits.
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{5,}\d(?![\w])")
_LONG_NUMBER = re.compile(r"\b\d{5,}\b")
_WORD = r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’-]*"
_CAPITALISED = r"[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’-]+"
#: "my name is X": the next word is a name, whatever its case, and the word after it
#: too unless it starts the rest of the sentence.
_NAME_INTRO = re.compile(
    rf"\b((?i:my name is|my name['’]?s|name['’]?s|i am called|i['’]?m called))"
    rf"(\s+)({_WORD})((?:\s+{_WORD})?)"
)
#: Words after a first name that start the rest of the sentence, not a surname.
_AFTER_NAME = frozenset(
    """and but or so i im i'm i’m my me is am was from here with in at on of to for
    age aged years year old yo have has had can could would will do does did please
    thanks thank hi hello""".split()
)
#: "I'm Anna", "this is Anna", "call me Anna": only a capitalised word is a name
#: ("I'm pregnant", "call me back" are not).
_NAME_SELF = re.compile(
    rf"\b((?i:i['’]?m|i am|this is|it['’]?s|here is|here['’]?s|call me|they call me)\s+)"
    rf"({_CAPITALISED}(?:\s+{_CAPITALISED})?)\b"
)
#: Capitalised words that follow "I'm" / "this is" and are not names.
_NOT_NAMES = frozenset(
    """a an the not so very really just still also only in on at from with sorry here
    sure fine ok okay good bad new back worried afraid scared concerned interested
    curious wondering asking looking trying thinking going pregnant diabetic english
    american british canadian australian german french spanish italian portuguese
    male female monday tuesday wednesday thursday friday saturday sunday january
    february march april may june july august september october november december
    iontophoresis hyperhidrosis botox""".split()
)
#: A sign-off and a name at the end of the message or of a line.
_SIGNATURE = re.compile(
    rf"(?m)((?:^|[\s,.!])(?i:thanks|thank you|many thanks|thx|ty|regards|kind regards|"
    rf"best regards|best wishes|best|cheers|sincerely|yours|love|xoxo)[,.!]*\s+)"
    rf"({_CAPITALISED}(?:\s+{_CAPITALISED})?)(\s*[.!]*\s*)$"
)
_DASH_SIGNATURE = re.compile(
    rf"(?m)((?:^|\s)(?:-{{1,2}}|–|—|~)\s*)({_CAPITALISED}(?:\s+{_CAPITALISED})?)\s*$"
)
#: A title or a relative followed by a capitalised name: "Dr Smith", "my son Tom".
_NAMED_PERSON = re.compile(
    rf"\b((?i:dr|doctor|mr|mrs|ms|miss|prof|nurse|my (?:son|daughter|wife|husband|partner|"
    rf"mum|mom|mother|dad|father|brother|sister|friend|boyfriend|girlfriend|child|kid|baby))"
    rf"\.?,?\s+)({_CAPITALISED}(?:\s+{_CAPITALISED})?)"
)

NAME = "[name]"


def _phone(match: "re.Match[str]") -> str:
    digits = sum(char.isdigit() for char in match.group(0))
    return "[phone]" if digits >= 7 else match.group(0)


def _self_name(match: "re.Match[str]") -> str:
    words = match.group(2).split()
    if words[0].lower() in _NOT_NAMES:
        return match.group(0)
    kept = [words[0]] + [word for word in words[1:] if word.lower() not in _NOT_NAMES]
    rest = match.group(2)[len(" ".join(kept)) :]
    return match.group(1) + NAME + rest


def _intro_name(match: "re.Match[str]") -> str:
    second = match.group(4)
    keep = second if second and second.strip().lower() in _AFTER_NAME else ""
    return match.group(1) + match.group(2) + NAME + keep


def _named_person(match: "re.Match[str]") -> str:
    return match.group(1) + NAME


def mask_personal_data(text: str) -> str:
    """``text`` with phone numbers, emails, links, @handles, dates, long numbers and
    names where detectable ("my name is X", "I'm X", "Dr X", "my son X", a signature
    after "thanks," or "- ") replaced by ``[phone]``, ``[email]``, ``[link]``,
    ``[handle]``, ``[date]``, ``[number]`` and ``[name]``; whitespace collapsed.

    Names are found by their context, not recognised: a name with no cue ("Anna has
    sweaty hands") stays. Staff see these texts only in the report.
    """
    masked = _EMAIL.sub("[email]", text)
    masked = _URL.sub("[link]", masked)
    masked = _HANDLE.sub("[handle]", masked)
    masked = _DATE.sub("[date]", masked)
    masked = _PHONE.sub(_phone, masked)
    masked = _LONG_NUMBER.sub("[number]", masked)
    masked = _NAME_INTRO.sub(_intro_name, masked)
    masked = _NAMED_PERSON.sub(_named_person, masked)
    masked = _NAME_SELF.sub(_self_name, masked)
    masked = _SIGNATURE.sub(lambda m: m.group(1) + NAME + m.group(3), masked)
    masked = _DASH_SIGNATURE.sub(lambda m: m.group(1) + NAME, masked)
    return " ".join(masked.split())


# ---------------------------------------------------------------------- grouping
_PUNCTUATION = re.compile(r"[^\w\s\[\]]+")


def normalised(text: str) -> str:
    """The grouping key of a text: case-folded, accents and punctuation removed,
    whitespace collapsed ("How much does it COST??" == "how much does it cost")."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(char for char in folded if not unicodedata.combining(char))
    return " ".join(_PUNCTUATION.sub(" ", folded).split())


def group_unanswered(
    texts: Iterable[str],
    encode: Optional[Encoder] = None,
    threshold: float = SIMILARITY_THRESHOLD,
    limit: Optional[int] = DEFAULT_UNANSWERED_LIMIT,
) -> List[Dict[str, Any]]:
    """Groups masked texts: first by their normalised text, then (with ``encode``) the
    groups whose sentence vectors are at least ``threshold`` similar to a bigger group's.

    Greedy and deterministic: groups are taken most frequent first (then shortest), each
    joins the first group taken before it that it is similar enough to, else starts one.
    A group is shown by the wording that started it: its most frequent, else shortest.

    Returns:
        ``[{"text": ..., "count": n}]``, most frequent first (ties: shortest text first),
        at most ``limit`` items.
    """
    by_key: Dict[str, Counter[str]] = {}
    for text in texts:
        key = normalised(text)
        if key:
            by_key.setdefault(key, Counter())[text] += 1
    groups = [
        (sum(wordings.values()), wordings.most_common(1)[0][0], wordings) for wordings in by_key.values()
    ]
    groups.sort(key=lambda group: (-group[0], len(group[1]), group[1]))
    if encode is not None and len(groups) > 1:
        vectors = encode([text for _, text, _ in groups])
        leaders: List[int] = []
        merged: Dict[int, Counter[str]] = {}
        for index, (_, _, wordings) in enumerate(groups):
            for leader in leaders:
                if float(np.dot(vectors[leader], vectors[index])) >= threshold:
                    merged[leader].update(wordings)
                    break
            else:
                leaders.append(index)
                merged[index] = Counter(wordings)
        groups = [(sum(merged[i].values()), groups[i][1], merged[i]) for i in leaders]
        groups.sort(key=lambda group: (-group[0], len(group[1]), group[1]))
    items = [{"text": text, "count": count} for count, text, _ in groups]
    return items if limit is None else items[:limit]


# ---------------------------------------------------------------------- reading
@dataclass
class Turn:
    """One patient message and what the assistant did with it."""

    sender: str
    session: int
    channel: str
    timestamp: float
    text: str
    intent: Optional[str]
    entities: List[Dict[str, Any]]
    topics: Optional[List[str]] = None
    faq_answered: bool = False
    #: The FAQ action set the contract's slots (answered_topics / not_covered) this turn.
    slots_set: bool = False
    #: Something was said to the patient in this turn (a failed action says nothing).
    replied: bool = False
    fallback: bool = False
    not_covered: bool = False
    reason: Optional[str] = None
    escalations: List[Tuple[str, str]] = field(default_factory=list)
    feedback: List[Tuple[str, bool]] = field(default_factory=list)

    def answered_topics(self) -> List[str]:
        """The topics answered: the slot's, else what action_answer_faq was asked, if it
        answered (with the action server down it said nothing: the apology is the
        guard's and not in the tracker)."""
        if self.topics is not None:
            return self.topics
        if not self.faq_answered or self.slots_set or not self.replied:
            return []
        names = [self.intent] + [e.get("value") for e in self.entities if e.get("entity") == TOPIC_ENTITY]
        topics: List[str] = []
        for name in names:
            if isinstance(name, str) and name.startswith("ask_") and name != NOT_COVERED_INTENT:
                topic = name[len("ask_") :]
                if topic not in topics:
                    topics.append(topic)
        return topics


def _channel(sender: str, data: Dict[str, Any]) -> str:
    channel = data.get("input_channel")
    if isinstance(channel, str) and channel.strip():
        return channel.strip().lower()
    prefix, colon, _ = sender.partition(":")
    return prefix.lower() if colon and prefix else "other"


def _escalation_of(data: Dict[str, Any], turn: Turn) -> Optional[Tuple[str, str]]:
    """(level, reason) of a bot event that is a safety reply, else None."""
    custom = (data.get("data") or {}).get("custom")
    payload = custom.get("escalation") if isinstance(custom, dict) else None
    if isinstance(payload, dict) and str(payload.get("level", "")).lower() in LEVELS:
        reason = payload.get("reason") or turn.reason or GENERAL_REASON
        return str(payload["level"]).lower(), str(reason)
    action = (data.get("metadata") or {}).get("utter_action")
    if action in ESCALATION_ACTIONS:
        return ESCALATION_ACTIONS[action], turn.reason or GENERAL_REASON
    return None


def _apply(turn: Turn, type_name: str, data: Dict[str, Any]) -> None:
    """Updates ``turn`` with one of its later events."""
    if type_name == "slot":
        name, value = data.get("name"), data.get("value")
        if name == SLOT_TOPICS and isinstance(value, list):
            turn.topics = (turn.topics or []) + [str(topic) for topic in value if isinstance(topic, str)]
            turn.slots_set = True
        elif name == SLOT_NOT_COVERED and value is True:
            turn.not_covered = turn.slots_set = True
        elif name == SLOT_FEEDBACK and isinstance(value, dict) and isinstance(value.get("topic"), str):
            turn.feedback.append((value["topic"], value.get("helpful") is True))
        elif name == SLOT_REASON and isinstance(value, str) and value:
            turn.reason = value
    elif type_name == "action":
        name = data.get("name")
        if name == FAQ_ACTION:
            turn.faq_answered = True
        elif name in FALLBACK_ACTIONS:
            turn.fallback = True
        elif name == NOT_COVERED_ACTION:
            turn.not_covered = True
    elif type_name == "bot":
        turn.replied = True
        escalation = _escalation_of(data, turn)
        if escalation is not None:
            turn.escalations.append(escalation)
        action = (data.get("metadata") or {}).get("utter_action")
        if action == NOT_COVERED_ACTION:
            turn.not_covered = True
        elif action in FALLBACK_ACTIONS:
            turn.fallback = True


def _table(name: str) -> Any:
    return sa.table(
        name,
        sa.column("id", sa.Integer),
        sa.column("sender_id", sa.String),
        sa.column("type_name", sa.String),
        sa.column("timestamp", sa.Float),
        sa.column("data", sa.Text),
    )


def read_turns(engine: Any, period: Period, table: str = EVENTS_TABLE) -> Iterator[Turn]:
    """The turns whose patient message falls in ``period``, conversation by conversation.

    Raises:
        ReportError: the store cannot be read.
    """
    events = _table(table)
    since, until = period.since.timestamp(), period.until.timestamp()
    query = (
        sa.select(events.c.sender_id, events.c.type_name, events.c.timestamp, events.c.data)
        .where(events.c.timestamp >= since, events.c.timestamp < until + TURN_SLACK_SECONDS)
        .order_by(events.c.sender_id, events.c.id)
    )
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(table):
                return
            rows = connection.execution_options(stream_results=True).execute(query)
            sender: Optional[str] = None
            session, turn, done = 0, None, False
            for row_sender, type_name, timestamp, raw in rows:
                if row_sender != sender:
                    if turn is not None:
                        yield turn
                    sender, session, turn, done = row_sender, 0, None, False
                if done:
                    continue
                if type_name == "session_started":
                    session += 1
                    continue
                if type_name != "user" and turn is None:
                    continue
                try:
                    data = json.loads(raw)
                except (TypeError, ValueError):
                    continue
                if not isinstance(data, dict):
                    continue
                if type_name == "user":
                    if turn is not None:
                        yield turn
                        turn = None
                    moment = float(timestamp if timestamp is not None else data.get("timestamp") or 0.0)
                    if moment >= until:
                        done = True
                        continue
                    parse = data.get("parse_data") or {}
                    intent = (parse.get("intent") or {}).get("name")
                    text = data.get("text")
                    turn = Turn(
                        sender=str(row_sender),
                        session=session,
                        channel=_channel(str(row_sender), data),
                        timestamp=moment,
                        text=text if isinstance(text, str) else "",
                        intent=intent if isinstance(intent, str) else None,
                        entities=[e for e in parse.get("entities") or [] if isinstance(e, dict)],
                    )
                    if turn.intent == FALLBACK_INTENT:
                        turn.fallback = True
                    for entity in turn.entities:
                        if entity.get("entity") == SLOT_REASON and isinstance(entity.get("value"), str):
                            turn.reason = entity["value"]
                    continue
                assert turn is not None
                _apply(turn, type_name, data)
            if turn is not None:
                yield turn
    except sa.exc.SQLAlchemyError as error:
        raise ReportError(f"The tracker store could not be read ({type(error).__name__})") from error


# ---------------------------------------------------------------------- the report
def _bucket_start(moment: float, hourly: bool) -> datetime:
    value = datetime.fromtimestamp(moment, timezone.utc)
    if hourly:
        return value.replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def _buckets(period: Period, hourly: bool) -> List[datetime]:
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    start = _bucket_start(period.since.timestamp(), hourly)
    count = math.ceil((period.until - start) / step)
    return [start + step * index for index in range(max(count, 1))]


@dataclass
class _Bucket:
    topics: Counter[str] = field(default_factory=Counter)
    levels: Counter[str] = field(default_factory=Counter)


def _sorted_counts(counts: Counter[str]) -> Dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def build_report(
    turns: Iterable[Turn],
    period: Period,
    encode: Optional[Encoder] = None,
    unanswered_limit: Optional[int] = DEFAULT_UNANSWERED_LIMIT,
) -> Dict[str, Any]:
    """The report (see the module docstring) for the turns of ``period``."""
    conversations, senders = set(), set()
    channel_conversations: Dict[str, set] = defaultdict(set)
    channel_messages: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    feedback: Dict[str, Counter[str]] = defaultdict(Counter)
    unanswered: List[str] = []
    hourly = period.until - period.since <= HOURLY_UP_TO
    buckets = {start: _Bucket() for start in _buckets(period, hourly)}
    messages = fallback = not_covered = 0
    for turn in turns:
        messages += 1
        key = (turn.sender, turn.session)
        conversations.add(key)
        senders.add(turn.sender)
        channel_conversations[turn.channel].add(key)
        channel_messages[turn.channel] += 1
        bucket = buckets.setdefault(_bucket_start(turn.timestamp, hourly), _Bucket())
        answered = turn.answered_topics()
        topics.update(answered)
        bucket.topics.update(answered)
        for level, reason in turn.escalations:
            levels[level] += 1
            reasons[reason] += 1
            bucket.levels[level] += 1
        for topic, helpful in turn.feedback:
            feedback[topic]["helpful" if helpful else "not_helpful"] += 1
        fallback += int(turn.fallback)
        not_covered += int(turn.not_covered)
        if (turn.not_covered or turn.fallback) and not turn.escalations:
            text = turn.text.strip()
            if text and not text.startswith("/"):
                unanswered.append(mask_personal_data(text)[:MAX_TEXT_CHARS])
    return {
        "period": period.as_dict(),
        "conversations": len(conversations),
        "senders": len(senders),
        "messages": messages,
        "by_channel": {
            channel: {"conversations": len(channel_conversations[channel]), "messages": count}
            for channel, count in sorted(channel_messages.items())
        },
        "topics": _sorted_counts(topics),
        "escalations": {
            "urgent": levels["urgent"],
            "emergency": levels["emergency"],
            "by_reason": _sorted_counts(reasons),
        },
        "fallback": fallback,
        "not_covered": not_covered,
        "unanswered": group_unanswered(unanswered, encode, limit=unanswered_limit),
        "feedback": {
            topic: {"helpful": counts["helpful"], "not_helpful": counts["not_helpful"]}
            for topic, counts in sorted(feedback.items())
        },
        "timeline": {
            "bucket": "hour" if hourly else "day",
            "points": [
                {
                    "start": _iso(start),
                    "topics": _sorted_counts(values.topics),
                    "urgent": values.levels["urgent"],
                    "emergency": values.levels["emergency"],
                }
                for start, values in sorted(buckets.items())
            ],
        },
        "grouping": "similarity" if encode is not None else "text",
    }


def report(
    engine: Any,
    period: Period,
    table: str = EVENTS_TABLE,
    encode: Optional[Encoder] = None,
    unanswered_limit: Optional[int] = DEFAULT_UNANSWERED_LIMIT,
) -> Dict[str, Any]:
    """The report for ``period`` from the events table of a tracker store's engine.

    Raises:
        ReportError: the store cannot be read.
    """
    return build_report(read_turns(engine, period, table), period, encode, unanswered_limit)


def engine_for(url: str) -> Optional[Any]:
    """An SQLAlchemy engine for a tracker store URL; None for an SQLite file that does
    not exist (nothing stored yet: the report is empty, and no file is created)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).is_file():
            return None
    return sa.create_engine(url)


def empty_report(period: Period) -> Dict[str, Any]:
    """The report of a store with nothing in it."""
    return build_report([], period)


# ---------------------------------------------------------------------- text output
def _table_lines(title: str, rows: Sequence[Tuple[str, Any]], empty: str = "none") -> List[str]:
    lines = [title]
    if not rows:
        return lines + [f"  ({empty})"]
    width = max(len(label) for label, _ in rows)
    return lines + [f"  {label:<{width}}  {value}" for label, value in rows]


def format_text(data: Dict[str, Any]) -> str:
    """The report as a plain-text table (what ``scripts/report.py`` prints)."""
    period = data["period"]
    escalations = data["escalations"]
    lines = [
        f"Sweat Clinic assistant report, {period['since']} to {period['until']} (until excluded)",
        "",
        f"conversations  {data['conversations']}  ({data.get('senders', 0)} patients)",
        f"messages       {data['messages']}",
        "",
    ]
    lines += _table_lines(
        "By channel             conversations  messages",
        [
            (f"{name:<20}", f"{values['conversations']:>13}  {values['messages']:>8}")
            for name, values in data["by_channel"].items()
        ],
    )
    lines.append("")
    lines += _table_lines("Answers per topic", [(topic, count) for topic, count in data["topics"].items()])
    lines.append("")
    lines += _table_lines(
        "Escalations",
        [("emergency", escalations["emergency"]), ("urgent", escalations["urgent"])]
        + [(f"  {reason}", count) for reason, count in escalations["by_reason"].items()],
    )
    lines.append("")
    lines += [
        f"Fallback (asked to rephrase)   {data['fallback']}",
        f"Not covered (no answer)        {data['not_covered']}",
        "",
    ]
    lines += _table_lines(
        "Most frequent unanswered questions (personal data masked)",
        [(f"{item['count']:>4}x", item["text"]) for item in data["unanswered"]],
    )
    lines.append("")
    lines += _table_lines(
        "Feedback               helpful  not helpful",
        [
            (f"{topic:<20}", f"{values['helpful']:>7}  {values['not_helpful']:>11}")
            for topic, values in data["feedback"].items()
        ],
    )
    return "\n".join(lines) + "\n"
