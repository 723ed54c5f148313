"""A SQL tracker store whose cost per turn does not grow with the conversation.

Rasa's ``SQLTrackerStore`` loads every event of the current session on each message,
replays them into a tracker, and the policies and the action server call then work on
that whole tracker; saving counts the session's events again and commits with an
fsync. A patient who keeps asking questions waits longer and longer: about 0.75 ms more
per message here, 400 ms at the 500th message (docs/performance.md).

``RecentEventsSQLTrackerStore`` keeps the same table, the same rows and the same
``TRACKER_DIALECT`` / ``TRACKER_STORE_URL`` settings (SQLite or PostgreSQL), but

* loads at most ``max_events`` recent events of the latest session, starting at a turn
  boundary (an ``action_listen``), in one indexed query;
* carries over what the dropped older events still decide: the latest value of each
  slot, the active loop and a paused conversation, read with a second bounded query
  (back to the session start, restart or slot reset);
* saves only the events added since the tracker was loaded, without counting what is
  already stored;
* on SQLite, keeps the connection open between turns and uses the write-ahead log with
  ``synchronous=NORMAL`` (no fsync per message; a power cut may lose the last turns,
  never corrupts the file);
* adds indexes on ``(sender_id, type_name, id)`` (and on PostgreSQL ``(sender_id, id)``)
  so both queries stay range scans over a few rows however long the conversation.

The window must cover what the policies look at: ``MemoizationPolicy`` with
``max_history: 3`` looks at the last three actions and the longest rule spans two
turns, about ten events; a turn here is four to six events, so the default of 30 keeps
five turns or more. Each event in the window costs about 0.2 ms per message (the
policies featurise the tracker several times per turn and the action server gets it
all), so the window is no bigger than that.
Raise ``max_events`` if a form or a longer story needs more; a policy with an
unbounded ``max_history`` (Rasa's default for ``MemoizationPolicy``) would only see the
window. ``retrieve_full_tracker`` (the HTTP API's full history, ``rasa export``) still
returns every event.

Configured in ``endpoints.yml``::

    tracker_store:
      type: addons.tracker_store.RecentEventsSQLTrackerStore
      dialect: ${TRACKER_DIALECT}
      url: ${TRACKER_STORE_URL}
      max_events: 30
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any, Dict, Iterable, List, Optional, Sequence, Text, Tuple, Type

import sqlalchemy as sa
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    AllSlotsReset,
    ConversationPaused,
    ConversationResumed,
    Event,
    LegacyForm,
    Restarted,
    SessionStarted,
    SlotSet,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

logger = logging.getLogger(__name__)

DEFAULT_MAX_EVENTS = 30
#: At most this many older state events (slots, loops, pauses) are read back.
DEFAULT_MAX_STATE_EVENTS = 200

#: Attribute set on a tracker this store built: how many of its events are stored.
STORED_EVENTS_ATTRIBUTE = "_recent_events_store_stored"

#: Events after which nothing older matters for the tracker's state.
RESET_TYPES = (SessionStarted.type_name, Restarted.type_name)
#: Events whose effect outlives their turn: the latest of each kind is carried over.
SLOT_TYPE = SlotSet.type_name
LOOP_TYPES = (ActiveLoop.type_name, LegacyForm.type_name)
PAUSE_TYPES = (ConversationPaused.type_name, ConversationResumed.type_name)
SLOTS_RESET_TYPE = AllSlotsReset.type_name
STATE_TYPES = RESET_TYPES + (SLOT_TYPE, SLOTS_RESET_TYPE) + LOOP_TYPES + PAUSE_TYPES

TYPE_INDEX = "ix_events_sender_type_id"

Row = Tuple[int, str, Optional[str], str]  # id, type_name, action_name, data


def window_start(rows: Sequence[Row], full: bool) -> Tuple[int, bool]:
    """Where the loaded window starts, and whether older events still matter.

    Args:
        rows: the newest events of a conversation, oldest first.
        full: whether the query hit its limit (older events may exist).

    Returns:
        (index of the first row to load, whether to carry state over from older rows).
    """
    for index in range(len(rows) - 1, -1, -1):
        if rows[index][1] == SessionStarted.type_name:
            return index, False
        if rows[index][1] == Restarted.type_name:
            # Rasa keeps the events before a restart in the session; the tracker
            # ignores them, so loading from the restart on is equivalent.
            return index, False
    if not full:
        return 0, False
    for index, (_, type_name, action_name, _) in enumerate(rows):
        if type_name == ActionExecuted.type_name and action_name == ACTION_LISTEN_NAME:
            return index, True
    return 0, True


_EVENT_CLASSES: Dict[str, Type[Event]] = {}


def deserialise(serialised: Iterable[Dict[Text, Any]]) -> List[Event]:
    """``rasa.shared.core.events.deserialise_events`` with the class lookup cached.

    Rasa resolves each event's class by walking every ``Event`` subclass (with an
    ``inspect.isabstract`` check each) for every event it loads; the answer for a type
    name never changes, so it is looked up once per name.
    """
    events = []
    for parameters in serialised:
        name = parameters.get("event")
        if name is None:
            continue
        cls = _EVENT_CLASSES.get(name)
        if cls is None:
            cls = Event.resolve_by_type(name)  # raises for unknown names, as Rasa does
            if cls is None:  # retired types ("topic") are skipped, as Rasa does
                continue
            _EVENT_CLASSES[name] = cls
        event = cls._from_parameters(parameters)
        if event is not None:
            events.append(event)
        else:
            logger.warning("Could not deserialise a stored %s event", name)
    return events


def carried_state(older: Iterable[Tuple[str, str]]) -> List[Dict[Text, Any]]:
    """The events that rebuild the state older events left behind.

    Args:
        older: (type_name, data) of state events before the window, newest first.

    Returns:
        Serialised events, oldest first: the latest value of each slot, the latest
        loop event and the latest pause/resume, stopping at a session start or restart.
    """
    slots: Dict[str, Dict[Text, Any]] = {}
    loop: Optional[Dict[Text, Any]] = None
    pause: Optional[Dict[Text, Any]] = None
    slots_reset = False
    for type_name, data in older:
        if type_name in RESET_TYPES:
            break
        if type_name == SLOTS_RESET_TYPE:
            slots_reset = True
        elif type_name == SLOT_TYPE and not slots_reset:
            event = json.loads(data)
            slots.setdefault(event.get("name"), event)
        elif type_name in LOOP_TYPES and loop is None:
            loop = json.loads(data)
        elif type_name in PAUSE_TYPES and pause is None:
            pause = json.loads(data)
    carried = list(slots.values()) + [e for e in (loop, pause) if e is not None]
    return sorted(carried, key=lambda event: event.get("timestamp") or 0.0)


class RecentEventsSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` that loads a bounded window of recent events."""

    engine: sa.engine.Engine  # set by SQLTrackerStore.__init__, replaced by _tune_sqlite

    def __init__(
        self,
        domain: Optional[Domain] = None,
        dialect: Text = "sqlite",
        host: Optional[Text] = None,
        max_events: Any = DEFAULT_MAX_EVENTS,
        max_state_events: Any = DEFAULT_MAX_STATE_EVENTS,
        **kwargs: Any,
    ) -> None:
        super().__init__(domain=domain, dialect=dialect, host=host, **kwargs)
        self.max_events = int(max_events)
        self.max_state_events = int(max_state_events)
        self._sqlite_type_index = False
        if self.max_events < 10:
            raise ValueError("max_events must be at least 10 (two turns)")
        if self.engine.dialect.name == "sqlite":
            self._tune_sqlite()
        self._add_indexes()

    # -- setup ---------------------------------------------------------------------

    def _tune_sqlite(self) -> None:
        """One pooled connection in WAL mode instead of a new connection per query."""
        url = self.engine.url
        if url.database in (None, "", ":memory:"):
            return  # in-memory databases keep Rasa's single-connection pool
        self.engine.dispose()
        self.engine = sa.create_engine(
            url,
            poolclass=sa.pool.QueuePool,
            pool_size=1,
            max_overflow=4,
            # Rasa calls the store from its event loop thread; the pool hands a
            # connection to one caller at a time.
            connect_args={"check_same_thread": False},
        )

        @sa.event.listens_for(self.engine, "connect")
        def _pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        with self.engine.connect():
            pass  # WAL is a property of the file: switch it now
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    def _add_indexes(self) -> None:
        """Indexes that keep both queries range scans over a few rows."""
        table = self.SQLEvent.__table__
        wanted: Dict[str, Tuple[str, ...]] = {TYPE_INDEX: ("sender_id", "type_name", "id")}
        if self.engine.dialect.name != "sqlite":
            # SQLite's sender_id index already ends with the rowid (= id).
            wanted["ix_events_sender_id_id"] = ("sender_id", "id")
        existing = {index.name: index for index in table.indexes}
        for name, columns in wanted.items():
            index = existing.get(name) or sa.Index(name, *(table.c[c] for c in columns))
            try:
                index.create(bind=self.engine, checkfirst=True)
            except sa.exc.SQLAlchemyError as error:  # e.g. no CREATE privilege
                logger.warning("Could not add index %s: %s", name, type(error).__name__)
                continue
            if name == TYPE_INDEX and self.engine.dialect.name == "sqlite":
                self._sqlite_type_index = True

    # -- reading -------------------------------------------------------------------

    def _recent_rows(self, session: Any, sender_id: Text) -> Tuple[List[Row], bool]:
        events = self.SQLEvent.__table__
        query = (
            sa.select([events.c.id, events.c.type_name, events.c.action_name, events.c.data])
            .where(events.c.sender_id == sender_id)
            .order_by(events.c.id.desc())
            .limit(self.max_events)
        )
        rows = [tuple(row) for row in session.execute(query)]
        rows.reverse()
        return rows, len(rows) >= self.max_events  # type: ignore[return-value]

    def _state_rows(self, session: Any, sender_id: Text, before_id: int) -> List[Tuple[str, str]]:
        # On SQLite the planner, without statistics, would walk the sender_id index
        # back through the whole conversation; name the index that jumps to the rows.
        hint = f" INDEXED BY {TYPE_INDEX}" if self._sqlite_type_index else ""
        query = sa.text(
            f"SELECT type_name, data FROM {self.SQLEvent.__tablename__}{hint} "
            "WHERE sender_id = :sender AND type_name IN :types AND id < :before "
            "ORDER BY id DESC LIMIT :limit"
        ).bindparams(sa.bindparam("types", expanding=True))
        rows = session.execute(
            query,
            {
                "sender": sender_id,
                "types": list(STATE_TYPES),
                "before": before_id,
                "limit": self.max_state_events,
            },
        )
        return [(row[0], row[1]) for row in rows]

    def _has_events(self, sender_id: Text) -> bool:
        events = self.SQLEvent.__table__
        query = sa.select([events.c.id]).where(events.c.sender_id == sender_id).limit(1)
        with self.session_scope() as session:
            return session.execute(query).first() is not None

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """The latest session's recent events, with the older state carried over."""
        with self.session_scope() as session:
            rows, full = self._recent_rows(session, sender_id)
            if not rows:
                return None
            start, carry = window_start(rows, full)
            events = carried_state(self._state_rows(session, sender_id, rows[start][0])) if carry else []
        events.extend(json.loads(row[3]) for row in rows[start:])
        tracker = DialogueStateTracker.from_events(sender_id, deserialise(events), self.domain.slots)
        setattr(tracker, STORED_EVENTS_ATTRIBUTE, len(tracker.events))
        return tracker

    def init_tracker(self, sender_id: Text) -> DialogueStateTracker:
        """A new tracker: nothing of it is stored yet."""
        tracker = super().init_tracker(sender_id)
        setattr(tracker, STORED_EVENTS_ATTRIBUTE, 0)
        return tracker

    # -- writing -------------------------------------------------------------------

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Stores the events added since this store built the tracker."""
        stored = getattr(tracker, STORED_EVENTS_ATTRIBUTE, None)
        if stored is None:
            # Not built by retrieve(): a new conversation (Rasa's fail-safe wrapper
            # creates those itself), or events replaced through the HTTP API.
            if self._has_events(tracker.sender_id):
                await super().save(tracker)  # Rasa's way: count what is stored
                return
            stored = 0
        new_events = list(itertools.islice(tracker.events, stored, None))
        if not new_events:
            return
        if self.event_broker:
            await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
        rows = []
        for event in new_events:
            data = event.as_dict()
            rows.append(
                {
                    "sender_id": tracker.sender_id,
                    "type_name": event.type_name,
                    "timestamp": data.get("timestamp"),
                    "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                    "action_name": data.get("name"),
                    "data": json.dumps(data),
                }
            )
        with self.session_scope() as session:
            # One multi-row INSERT (same columns and values as Rasa's ORM objects).
            session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()
        setattr(tracker, STORED_EVENTS_ATTRIBUTE, len(tracker.events))


class StoreHealth:
    """Whether the last tracker store operation worked (per process).

    ``/webhooks/rest/health`` reports the store down from a failed operation until a
    save succeeds again.
    """

    def __init__(self) -> None:
        self.healthy = True

    def failed(self, operation: str, error: BaseException) -> None:
        if self.healthy:
            logger.error("Tracker store %s failed: %s", operation, type(error).__name__)
        else:
            logger.error("Tracker store %s failed again: %s", operation, type(error).__name__)
        self.healthy = False

    def saved(self) -> None:
        if not self.healthy:
            logger.info("Tracker store works again")
        self.healthy = True


STORE_HEALTH = StoreHealth()


class StoreUnavailable(RuntimeError):
    """The tracker store could not load or save a conversation."""


class StrictTrackerStore(FailSafeTrackerStore):
    """Rasa's tracker store wrapper, without the fall-back to memory.

    Rasa wraps every tracker store in a ``FailSafeTrackerStore``, which keeps a turn it
    could not save in memory (lost on restart, invisible to other instances, not
    erasable from the real store) and starts a fresh conversation when loading fails.
    Here a failure raises :class:`StoreUnavailable` instead, so the turn guard gives
    the patient the apology, and :data:`STORE_HEALTH` reports the store down.
    Installed by ``addons/patches.py``.
    """

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        try:
            return await self._tracker_store.retrieve(sender_id)
        except Exception as error:
            STORE_HEALTH.failed("retrieve", error)
            raise StoreUnavailable("retrieve") from error

    async def retrieve_full_tracker(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        try:
            return await self._tracker_store.retrieve_full_tracker(sender_id)
        except Exception as error:
            STORE_HEALTH.failed("retrieve", error)
            raise StoreUnavailable("retrieve") from error

    async def keys(self) -> Iterable[Text]:
        try:
            return await self._tracker_store.keys()
        except Exception as error:
            STORE_HEALTH.failed("keys", error)
            raise StoreUnavailable("keys") from error

    async def save(self, tracker: DialogueStateTracker) -> None:
        try:
            await self._tracker_store.save(tracker)
        except Exception as error:
            STORE_HEALTH.failed("save", error)
            raise StoreUnavailable("save") from error
        STORE_HEALTH.saved()
