"""Scale-out on real services: one action server, two Rasa instances on different ports
sharing a PostgreSQL tracker store and a Redis lock store.

Conversations hop between the two instances on every message, including turns whose
answer depends on what the *other* instance said last (thanks -> yes, delete -> no),
an escalation, and twice four messages of one conversation sent to both instances at
the same moment (the Redis lock makes them take turns; addons/locks.py). Afterwards
PostgreSQL must hold exactly one user event per message sent: none lost, none doubled.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth, database ``test``) and
Redis on 127.0.0.1:6379; tries to start them, else skips and says why. Its rows
(sender ids ``scale-<run>-*``) are deleted at the end.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

from actions.knowledge import get_knowledge
from scripts.serve import Stack, default_env
from tests.faults import POSTGRES, REDIS, Answer, ensure_service, free_port, get, send

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]
PREFIX = f"scale-{RUN}-"
POSTGRES_URL = f"postgresql://postgres@{POSTGRES[0]}:{POSTGRES[1]}/test"
SENDERS = 10


def _postgres() -> Any:
    import psycopg2

    return psycopg2.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="test")


@pytest.fixture(scope="module")
def instances(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Stack, Stack]]:
    for address, name in ((POSTGRES, "PostgreSQL"), (REDIS, "Redis")):
        reason = ensure_service(address, name)
        if reason:
            print(f"\nSKIP scale-out: {reason}")
            pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("scale")
    action_port = str(free_port())
    shared = {
        "ACTION_PORT": action_port,
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
        "TRACKER_DIALECT": "postgresql",
        "TRACKER_STORE_URL": POSTGRES_URL,
        "LOCK_STORE_TYPE": "redis",
        "REDIS_HOST": REDIS[0],
        "REDIS_PORT": str(REDIS[1]),
        "REDIS_DB": "1",
    }
    first, second = (
        Stack(
            default_env(overrides={**shared, "RASA_PORT": str(free_port()), "WEB_PORT": str(free_port())}),
            model=trained_model,
            with_actions=with_actions,
            with_web=False,
            log_dir=workdir / name,
        )
        for name, with_actions in (("a", True), ("b", False))
    )
    try:
        # started together: the two Rasa servers load their models at the same time
        first.start("actions")
        first.start("rasa")
        second.start("rasa")
        first.wait_ready(240)
        second.wait_ready(240)
        yield first, second
    finally:
        first.stop_all()
        second.stop_all()
        db = _postgres()
        try:
            with db, db.cursor() as cursor:
                cursor.execute("DELETE FROM events WHERE sender_id LIKE %s", ("rest:" + PREFIX + "%",))
        finally:
            db.close()


def contains(fragment: str) -> Callable[[Answer], bool]:
    return lambda answer: fragment in answer.texts()


def escalates(level: str) -> Callable[[Answer], bool]:
    return lambda answer: any(
        (m.get("custom") or {}).get("escalation", {}).get("level") == level for m in answer.json or []
    )


def faq(intent: str) -> Callable[[Answer], bool]:
    text = next(t.text for t in get_knowledge().topics.values() if t.intent == intent)
    return contains(text)


#: One conversation: each message with what its reply must show. The turns marked
#: "state" are only right if the instance sees what the other one said last.
CONVERSATION: List[Tuple[str, Callable[[Answer], bool]]] = [
    ("hello", contains("automated assistant")),
    ("/ask_cost", faq("ask_cost")),
    ("thanks!", contains("anything else")),
    ("/affirm", contains("Sure, what would you like to know?")),  # state
    ("i have a pacemaker, is it safe for me?", escalates("urgent")),
    ("/ask_insurance", faq("ask_insurance")),
    ("delete my data", contains("Do you want me to delete this conversation?")),
    ("/deny", contains("nothing was deleted")),  # state
    ("thanks", contains("anything else")),
    ("/deny", contains("Take care")),  # state: goodbye, not "nothing was deleted"
]
#: Then these at the same moment, alternately to each instance.
AT_ONCE = [
    ("/ask_session", faq("ask_session")),
    ("/ask_safety", faq("ask_safety")),
    ("/ask_home_device", faq("ask_home_device")),
    ("/ask_side_effects", faq("ask_side_effects")),
]
ROUNDS = 2


def converse(stacks: Tuple[Stack, Stack], index: int) -> List[str]:
    """Runs one conversation, alternating instances; returns what went wrong."""
    who = f"{PREFIX}{index}"
    problems = []
    for step, (message, right) in enumerate(CONVERSATION):
        stack = stacks[(index + step) % 2]
        answer = send(stack.rasa_url, who, message)
        if answer.status != 200 or not right(answer):
            problems.append(f"{who} step {step} {message!r} on :{stack.env['RASA_PORT']}: {answer}")

    for round_ in range(ROUNDS):
        answers: Dict[int, Answer] = {}
        barrier = threading.Barrier(len(AT_ONCE))

        # The loop's values are bound as defaults: each round's threads see their own.
        def at_once(
            i: int,
            barrier: threading.Barrier = barrier,
            answers: Dict[int, Answer] = answers,
            round_: int = round_,
        ) -> None:
            barrier.wait()
            answers[i] = send(stacks[(i + round_) % 2].rasa_url, who, AT_ONCE[i][0])

        threads = [threading.Thread(target=at_once, args=(i,)) for i in range(len(AT_ONCE))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for i, (message, right) in enumerate(AT_ONCE):
            if answers[i].status != 200 or not right(answers[i]):
                problems.append(f"{who} round {round_} at once {message!r}: {answers[i]}")
    return problems


def test_conversations_alternating_between_two_instances(instances: Tuple[Stack, Stack]) -> None:
    with ThreadPoolExecutor(SENDERS) as pool:
        problems = [p for found in pool.map(lambda i: converse(instances, i), range(SENDERS)) for p in found]
    assert not problems, problems[:10]

    db = _postgres()
    try:
        with db, db.cursor() as cursor:
            cursor.execute(
                "SELECT sender_id, COUNT(*) FROM events WHERE sender_id LIKE %s AND type_name = 'user' "
                "GROUP BY sender_id",
                ("rest:" + PREFIX + "%",),  # the guard namespaces REST senders
            )
            counts = dict(cursor.fetchall())
    finally:
        db.close()
    sent = len(CONVERSATION) + ROUNDS * len(AT_ONCE)
    assert counts == {f"rest:{PREFIX}{i}": sent for i in range(SENDERS)}


def test_both_instances_report_healthy_shared_store(instances: Tuple[Stack, Stack]) -> None:
    for stack in instances:
        health = get(f"{stack.rasa_url}/webhooks/rest/health")
        assert health.status == 200, health
        assert health.json == {"tracker_store": "ok", "action_server": "ok"}


def _issue_concurrently(store_class: Any, conversation_id: str, per_instance: int = 25) -> List[int]:
    """Two lock stores (two Rasa instances) taking tickets for one conversation at once."""
    stores = [store_class(host=REDIS[0], port=REDIS[1], db=1) for _ in range(2)]
    tickets: List[int] = []
    barrier = threading.Barrier(8)

    def take(store: Any) -> None:
        barrier.wait()
        for _ in range(per_instance):
            tickets.append(store.issue_ticket(conversation_id, 30))

    threads = [threading.Thread(target=take, args=(stores[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stores[0].delete_lock(conversation_id)
    return tickets


def test_lock_tickets_are_unique_across_instances() -> None:
    reason = ensure_service(REDIS, "Redis")
    if reason:
        pytest.skip(reason)
    from rasa.core.lock_store import RedisLockStore

    from addons.locks import AtomicRedisLockStore

    tickets = _issue_concurrently(AtomicRedisLockStore, f"{PREFIX}lock")
    assert sorted(tickets) == list(range(200))
    # Rasa's own store, for comparison (not asserted: a race shows up only sometimes)
    rasa_tickets = _issue_concurrently(RedisLockStore, f"{PREFIX}lock-rasa")
    print(f"\nRasa's RedisLockStore: {len(rasa_tickets) - len(set(rasa_tickets))} duplicate tickets of 200")


def test_lock_store_choice() -> None:
    from rasa.core.lock_store import InMemoryLockStore
    from rasa.utils.endpoints import EndpointConfig

    from addons.locks import AtomicRedisLockStore, ClinicLockStore

    assert isinstance(ClinicLockStore(EndpointConfig(store="in_memory")), InMemoryLockStore)
    redis = ClinicLockStore(EndpointConfig(url="127.0.0.1", store="redis", port="6379", db="1"))
    assert isinstance(redis, AtomicRedisLockStore)
    with pytest.raises(ValueError, match="LOCK_STORE_TYPE"):
        ClinicLockStore(EndpointConfig(store="memcached"))
