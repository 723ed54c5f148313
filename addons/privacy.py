"""Erasing conversations: a patient's own on request, and everything past retention.

Works on the tracker store the Rasa server uses (SQL or in-memory), unwrapping Rasa's
``FailSafeTrackerStore``. ``scripts/retention.py`` runs the retention purge.
"""

from __future__ import annotations

import logging
import time
from typing import Any, List, Optional

from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore, SQLTrackerStore

logger = logging.getLogger(__name__)

#: A domain response carries this custom payload to ask the channel to erase the
#: conversation once the turn is saved (utter_conversation_deleted).
ERASE_KEY = "privacy"


def unwrap(store: Any) -> Any:
    """The real store behind Rasa's fail-safe wrapper."""
    while isinstance(store, FailSafeTrackerStore):
        store = store._tracker_store
    return store


def erase_conversation(store: Any, sender_id: str) -> int:
    """Deletes every stored event of one conversation; returns how many went.

    Also drops the copy Rasa's fail-safe wrapper keeps in memory for turns it could
    not save while the real store was down.
    """
    fallback_deleted = 0
    wrapper = store
    while isinstance(wrapper, FailSafeTrackerStore):
        fallback = getattr(wrapper, "_fallback_tracker_store", None)
        if isinstance(fallback, InMemoryTrackerStore):
            fallback_deleted += int(fallback.store.pop(sender_id, None) is not None)
        wrapper = wrapper._tracker_store
    return fallback_deleted + _erase_from(unwrap(store), sender_id)


def _erase_from(inner: Any, sender_id: str) -> int:
    if isinstance(inner, SQLTrackerStore):
        with inner.session_scope() as session:
            deleted = (
                session.query(inner.SQLEvent)
                .filter(inner.SQLEvent.sender_id == sender_id)
                .delete(synchronize_session=False)
            )
            session.commit()
        return int(deleted)
    if isinstance(inner, InMemoryTrackerStore):
        return 1 if inner.store.pop(sender_id, None) is not None else 0
    raise NotImplementedError(f"Cannot erase from a {type(inner).__name__}")


def _delete_conversations(session: Any, event: Any, senders: List[str]) -> None:
    """Deletes every event of the given conversations and commits, 500 ids a query."""
    for start in range(0, len(senders), 500):
        session.query(event).filter(event.sender_id.in_(senders[start : start + 500])).delete(
            synchronize_session=False
        )
    session.commit()


def purge_older_than(store: Any, days: float, now: Optional[float] = None) -> int:
    """Deletes conversations whose latest event is older than ``days``; returns how many."""
    inner = unwrap(store)
    cutoff = (now if now is not None else time.time()) - days * 86400
    if not isinstance(inner, SQLTrackerStore):
        raise NotImplementedError(f"Retention needs an SQL tracker store, not {type(inner).__name__}")
    from sqlalchemy import func

    event = inner.SQLEvent
    with inner.session_scope() as session:
        stale = [
            sender
            for (sender,) in session.query(event.sender_id)
            .group_by(event.sender_id)
            .having(func.max(event.timestamp) < cutoff)
            .all()
        ]
        _delete_conversations(session, event, stale)
    logger.info("Retention: deleted %d conversations older than %s days", len(stale), days)
    return len(stale)


def purge_unnamespaced(store: Any) -> int:
    """Deletes conversations stored under a plain sender id (no ``<channel>:`` prefix),
    from before the guard namespaced them; returns how many. No channel reaches them."""
    inner = unwrap(store)
    if not isinstance(inner, SQLTrackerStore):
        raise NotImplementedError(f"Needs an SQL tracker store, not {type(inner).__name__}")
    event = inner.SQLEvent
    with inner.session_scope() as session:
        plain = [
            sender
            for (sender,) in session.query(event.sender_id)
            .filter(~event.sender_id.like("%:%"))
            .distinct()
            .all()
        ]
        _delete_conversations(session, event, plain)
    logger.info("Deleted %d conversations stored under plain sender ids", len(plain))
    return len(plain)


def store_is_healthy(store: Any) -> bool:
    """True when the tracker store answers (an SQL ``SELECT 1``)."""
    inner = unwrap(store)
    if not isinstance(inner, SQLTrackerStore):
        return True
    from sqlalchemy import text

    try:
        with inner.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception as error:  # any driver error means "down"
        logger.error("Tracker store unreachable: %s", type(error).__name__)
        return False
