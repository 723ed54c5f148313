"""The conversation lock store, chosen by LOCK_STORE_TYPE (endpoints.yml, ``lock_store``).

Rasa handles one message of a conversation at a time by taking a ticket from the
conversation's lock. With several Rasa instances the lock lives in Redis, but Rasa
3.6's ``RedisLockStore`` changes it with a plain GET, change, SET: two instances that
take a ticket at the same moment can both get ticket 0, handle two messages of one
conversation at once, and one turn is lost from the tracker store (seen in
tests/test_scale_out.py; RasaHQ/rasa#9213). :class:`AtomicRedisLockStore` makes every
change of a lock one Redis transaction (WATCH / MULTI / EXEC, retried on conflict).

``in_memory`` (the default) is Rasa's own store, right for a single instance.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Optional, Text, Tuple

from rasa.core.lock import TicketLock
from rasa.core.lock_store import (
    LOCK_LIFETIME,
    InMemoryLockStore,
    LockError,
    LockStore,
    RedisLockStore,
)
from rasa.utils.endpoints import EndpointConfig

Change = Callable[[Optional[TicketLock]], Tuple[Any, Optional[TicketLock]]]


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's Redis lock store, with each read-change-write of a lock atomic."""

    def _change(self, conversation_id: Text, change: Change) -> Any:
        """Applies ``change`` to the stored lock in one transaction; returns its result.

        ``change`` gets the lock (or None) and returns (result, lock to store); a lock
        without tickets is deleted. The key expires with its last ticket, so a crashed
        instance leaves nothing behind.
        """
        key = self.key_prefix + conversation_id

        def attempt(pipe: Any) -> Any:
            raw = pipe.get(key)
            lock = TicketLock.from_dict(json.loads(raw)) if raw else None
            result, lock = change(lock)
            pipe.multi()
            if lock is not None:
                lock.remove_expired_tickets()
            if lock is None or not lock.tickets:
                pipe.delete(key)
            else:
                ttl = max(t.expires for t in lock.tickets) - time.time()
                pipe.set(key, lock.dumps(), px=max(1, int(ttl * 1000)) + 1000)
            return result

        return self.red.transaction(attempt, key, value_from_callable=True)

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def issue(lock: Optional[TicketLock]) -> Tuple[int, TicketLock]:
            lock = lock or TicketLock(conversation_id)
            return lock.issue_ticket(lock_lifetime), lock

        try:
            return self._change(conversation_id, issue)
        except Exception as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: Text) -> None:
        self._change(conversation_id, lambda lock: (None, lock))  # drops expired tickets

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        def finish(lock: Optional[TicketLock]) -> Tuple[None, Optional[TicketLock]]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return None, lock

        self._change(conversation_id, finish)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        # finishing and deleting the lock when nobody waits, in one step: a ticket
        # issued in between is never deleted with it
        self.finish_serving(conversation_id, ticket_number)


class ClinicLockStore(LockStore):
    """What endpoints.yml names: builds the store its ``store`` key asks for.

    ``store: in_memory`` (default): Rasa's in-memory store, for one Rasa instance.
    ``store: redis``: :class:`AtomicRedisLockStore` on ``url`` / ``port`` / ``db``.
    """

    def __new__(cls, endpoint_config: Optional[EndpointConfig] = None) -> LockStore:  # type: ignore[misc]
        settings = dict(endpoint_config.kwargs) if endpoint_config else {}
        store = str(settings.pop("store", None) or "in_memory").strip().lower()
        if store == "in_memory":
            return InMemoryLockStore()
        if store == "redis":
            host = endpoint_config.url if endpoint_config else None
            return AtomicRedisLockStore(host=host or "localhost", **settings)
        raise ValueError(f"LOCK_STORE_TYPE must be 'in_memory' or 'redis', not {store!r}")
