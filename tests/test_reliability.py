"""Reliability, load and security of the running assistant (issue 6), over REST.

* Bad input: one table of raw requests, each with the status and reply it must get.
* Faults: the action server slow, failing or answering garbage; Rasa killed with
  SIGKILL and restarted; the tracker store unreachable.
* Load: 50 senders x 20 checked messages; a flooding sender against 10 normal ones.
* Security and privacy: the HTTP API, the action server's interface, CORS, logs,
  "delete my data".

Most tests use the session's ``assistant`` (tests/conftest.py: SQLite store, default
settings). The fault tests need other settings and share one more stack, ``faulty``:
its action endpoint is a fake under the test's control (tests/faults.py) that
forwards to the assistant's action server, its tracker store is PostgreSQL reached
through a TCP proxy the test can cut, its action timeout is 2 s and its HTTP API is
on with a token. Load figures are printed (``pytest -s``), never asserted.
"""

from __future__ import annotations

import itertools
import json
import signal
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

import pytest

from core.settings import get_settings
from scripts.loadtest import percentile, report, run_flood, run_load
from scripts.serve import Stack, default_env
from tests.faults import (
    POSTGRES,
    Answer,
    FakeActionServer,
    TcpProxy,
    ensure_service,
    free_port,
    get,
    listening_addresses,
    non_loopback_addresses,
    port_open,
    request,
    send,
)

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]
#: Personal data the tests send and the logs must never contain.
MARKER = f"zqmarker{RUN}"
PHONE = "+44 7700 900123"
EMAIL = f"jo.bloggs.{RUN}@example.com"
ACTION_TIMEOUT = 2  # seconds, for the faulty stack
_count = itertools.count()


def sender(prefix: str) -> str:
    return f"rel-{RUN}-{prefix}-{next(_count)}"


def webhook(stack: Stack) -> str:
    return f"{stack.rasa_url}/webhooks/rest/webhook"


def escalation(answer: Answer) -> Dict[str, Any]:
    for message in answer.json or []:
        if "escalation" in (message.get("custom") or {}):
            return message["custom"]["escalation"]
    return {}


def sqlite_file(stack: Stack) -> str:
    url = stack.env["TRACKER_STORE_URL"]
    assert url.startswith("sqlite:///"), url
    return url[len("sqlite:///") :]


def stored_events(stack: Stack, sender_id: str) -> List[tuple]:
    """(type_name, action_name, intent_name) of a conversation in the SQLite store."""
    with closing(sqlite3.connect(sqlite_file(stack), timeout=10)) as db:
        return db.execute(
            "SELECT type_name, action_name, intent_name FROM events WHERE sender_id = ? ORDER BY id",
            ("rest:" + sender_id,),  # the guard namespaces REST senders
        ).fetchall()


def user_events(events: List[tuple]) -> int:
    return sum(1 for event in events if event[0] == "user")


def greets(answer: Answer) -> bool:
    return answer.status == 200 and "automated assistant" in answer.texts()


def apologises(answer: Answer) -> bool:
    """The guard's apology: the clinic's and the emergency number."""
    settings = get_settings()
    texts = answer.texts()
    return "Sorry, I can't answer that right now" in texts and settings.emergency_number in texts


# -- bad input: one table ------------------------------------------------------------------


@dataclass
class Burst:
    """Many different senders at once, one message each."""

    senders: int
    threads: int


@dataclass
class WithQuery:
    """A body sent to the webhook URL with a query string."""

    query: str
    body: Dict[str, Any]


Body = Union[bytes, Dict[str, Any], List[Any], str, None, Burst, WithQuery]
Expect = Union[str, Callable[[Answer, str], None], None]


def reply_of(fragment: str, most: int = 1) -> Callable[[Answer, str], None]:
    """The reply contains ``fragment`` and has at most ``most`` messages."""

    def check(answer: Answer, _: str) -> None:
        assert fragment in answer.texts(), answer
        assert len(answer.json) <= most, f"{len(answer.json)} messages: {answer}"

    return check


def answered_without(*echoes: str) -> Callable[[Answer, str], None]:
    """A normal one-message reply that does not repeat the markup it was sent."""

    def check(answer: Answer, _: str) -> None:
        assert len(answer.json) == 1, answer
        for echo in echoes:
            assert echo.lower() not in answer.raw.decode().lower(), answer

    return check


ENGLISH_ONLY = reply_of("I can only answer in English")
COST = "$50 to $200"
S = "{sender}"  # replaced with a fresh sender id per case


def case(name: str, body: Body, status: int, expect: Expect) -> Any:
    return pytest.param(body, status, expect, id=name)


BAD_INPUT = [
    # empty and whitespace-only
    case("empty", {"sender": S, "message": ""}, 200, "looks empty"),
    case("whitespace", {"sender": S, "message": "  \n\t  "}, 200, "looks empty"),
    case("unicode-spaces", {"sender": S, "message": "\u00a0\u3000\u2003"}, 200, "looks empty"),
    case("control-chars-only", {"sender": S, "message": "\u0000\u0007\u001b"}, 200, "looks empty"),
    # long
    case("100k-chars", {"sender": S, "message": "x" * 100_000}, 200, "keep your message shorter"),
    case(
        "100k-non-latin-utf8",
        json.dumps({"sender": S, "message": "漢" * 100_000}, ensure_ascii=False).encode(),
        200,
        "keep your message shorter",
    ),
    # emoji
    case("emoji-only", {"sender": S, "message": "🙂🙂🙂"}, 200, reply_of("didn't quite catch that")),
    case("emoji-and-question", {"sender": S, "message": "how much does it cost? 💸💸"}, 200, COST),
    # the languages the safety layer reads: answered in them (core/faq_languages.py)
    case(
        "spanish",
        {"sender": S, "message": "hola, tengo las manos muy sudadas, que puedo hacer"},
        200,
        reply_of("no tengo esa respuesta", most=1),
    ),
    case(
        "french",
        {"sender": S, "message": "je transpire beaucoup des mains, est-ce que ça marche pour moi"},
        200,
        reply_of("hyperhidrose", most=2),
    ),
    case(
        "german",
        {"sender": S, "message": "ich habe sehr nasse Hände, was kostet das"},
        200,
        reply_of("$50 bis $200", most=2),
    ),
    # other scripts: the English-only reply, with the emergency number
    case("russian", {"sender": S, "message": "Мои руки сильно потеют"}, 200, ENGLISH_ONLY),
    case("chinese", {"sender": S, "message": "我的手出汗很多"}, 200, ENGLISH_ONLY),
    case("japanese", {"sender": S, "message": "手汗がひどいです"}, 200, ENGLISH_ONLY),
    case("arabic", {"sender": S, "message": "يدي تتعرق كثيرا"}, 200, ENGLISH_ONLY),
    case("hindi", {"sender": S, "message": "मेरे हाथों में बहुत पसीना आता है"}, 200, ENGLISH_ONLY),
    # markup and injection: answered normally, never echoed
    case(
        "script-tag",
        {"sender": S, "message": "<script>alert('pwned')</script>"},
        200,
        answered_without("<script", "pwned"),
    ),
    case(
        "img-onerror",
        {"sender": S, "message": '<img src=x onerror="alert(1)">'},
        200,
        answered_without("onerror", "<img"),
    ),
    case("html-around-question", {"sender": S, "message": "<b>how much</b> does it cost?"}, 200, COST),
    case(
        "sql-drop", {"sender": S, "message": "'; DROP TABLE events; --"}, 200, answered_without("drop table")
    ),
    case(
        "sql-union",
        {"sender": S, "message": "1' UNION SELECT sender_id FROM events --"},
        200,
        answered_without("union select"),
    ),
    case(
        "template",
        {"sender": S, "message": "{{7*7}} ${7*7} {clinic_phone}"},
        200,
        answered_without("{{", "${"),
    ),
    # control characters and odd code points
    case(
        "control-chars-around-text",
        {"sender": S, "message": "\u0000\u0007 hi \u001b[31m"},
        200,
        "automated assistant",
    ),
    case(
        "lone-surrogate",
        b'{"sender": "' + S.encode() + b'", "message": "\\ud800 hi"}',
        200,
        "automated assistant",
    ),
    case("zero-width", {"sender": S, "message": "\u200b\u200b\ufeff"}, 200, "looks empty"),
    case("rtl-override", {"sender": S, "message": "\u202ehow much does it cost?"}, 200, COST),
    # bytes that are not UTF-8 JSON
    case(
        "invalid-utf8",
        b'{"sender": "' + S.encode() + b'", "message": "hi \xff\xfe there"}',
        400,
        "not valid JSON",
    ),
    case("overlong-utf8", b'{"sender": "' + S.encode() + b'", "message": "\xc0\xaf"}', 400, "not valid JSON"),
    case("latin1-body", '{"sender": "x", "message": "café"}'.encode("latin-1"), 400, "not valid JSON"),
    case("utf16-body", json.dumps({"sender": "x", "message": "hi"}).encode("utf-16"), 400, "not valid JSON"),
    # malformed JSON
    case("truncated-json", b'{"sender": "x", "message": "hi', 400, "not valid JSON"),
    case("trailing-garbage", b'{"sender": "x", "message": "hi"} and more', 400, "not valid JSON"),
    case("single-quotes", b"{'sender': 'x', 'message': 'hi'}", 400, "not valid JSON"),
    case("plain-text", b"hello, is anyone there?", 400, "not valid JSON"),
    case("empty-body", b"", 400, "JSON object"),
    case("deeply-nested", b"[" * 100_000, 400, "not valid JSON"),
    case("json-array", [{"sender": "x", "message": "hi"}], 400, "JSON object"),
    case("json-string", "hi", 400, "JSON object"),
    case("json-null", None, 400, "JSON object"),
    # missing fields and wrong types
    case("no-sender", {"message": "hi"}, 400, "'sender'"),
    case("no-message", {"sender": "x"}, 400, "'message'"),
    case("empty-sender", {"sender": "", "message": "hi"}, 400, "'sender'"),
    case("blank-sender", {"sender": "   ", "message": "hi"}, 400, "'sender'"),
    case("sender-bool", {"sender": True, "message": "hi"}, 400, "'sender'"),
    case("sender-object", {"sender": {"id": 1}, "message": "hi"}, 400, "'sender'"),
    case("sender-too-long", {"sender": "x" * 129, "message": "hi"}, 400, "at most"),
    case(
        "sender-with-newline",
        {"sender": "a\n2026-01-01 ERROR forged", "message": "hi"},
        400,
        "control characters",
    ),
    case("message-number", {"sender": "x", "message": 42}, 400, "'message'"),
    case("message-null", {"sender": "x", "message": None}, 400, "'message'"),
    case("message-list", {"sender": "x", "message": ["hi"]}, 400, "'message'"),
    case("message-object", {"sender": "x", "message": {"text": "hi"}}, 400, "'message'"),
    case("metadata-not-object", {"sender": S, "message": "hi", "metadata": "x"}, 400, "'metadata'"),
    case(
        "unknown-fields",
        {"sender": S, "message": "hi", "input_channel": "telegram", "extra": [1]},
        200,
        "automated assistant",
    ),
    case("stream-mode", WithQuery("?stream=true", {"sender": S, "message": "hi"}), 400, "not supported"),
    # a body over SANIC_REQUEST_MAX_SIZE (1 MB)
    case(
        "10MB-body",
        b'{"sender": "x", "message": "' + b"a" * 10_000_000 + b'"}',
        413,
        "Request Entity Too Large",
    ),
    # many senders at once
    case("1000-senders-burst", Burst(senders=1000, threads=32), 200, None),
]


def run_burst(stack: Stack, burst: Burst) -> None:
    """Every sender gets its own non-empty, right reply."""
    cost = "/ask_cost"

    def one(i: int) -> str:
        who = sender(f"burst{i}")
        message = cost if i % 2 else "hello"
        try:
            answer = send(stack.rasa_url, who, message)
        except ConnectionError as error:
            return f"{who}: {error}"
        if answer.status != 200 or not isinstance(answer.json, list) or not answer.texts():
            return f"{who}: {answer}"
        recipients = {str(m.get("recipient_id")) for m in answer.json}
        if recipients != {who}:
            return f"{who}: addressed to {recipients}"
        expected = COST if message == cost else "automated assistant"
        return "" if expected in answer.texts() else f"{who}: wrong reply {answer}"

    with ThreadPoolExecutor(burst.threads) as pool:
        problems = [p for p in pool.map(one, range(burst.senders)) if p]
    assert not problems, f"{len(problems)} of {burst.senders} went wrong, e.g. {problems[:5]}"


@pytest.mark.parametrize("body, status, expect", BAD_INPUT)
def test_bad_input_gets_a_polite_reply_or_a_json_4xx(
    assistant: Stack, body: Body, status: int, expect: Expect
) -> None:
    if isinstance(body, Burst):
        run_burst(assistant, body)
    else:
        who = sender("bad")
        url = webhook(assistant)
        if isinstance(body, WithQuery):
            url, body = url + body.query, body.body
        if isinstance(body, bytes):
            raw = body.replace(S.encode(), who.encode())
        else:
            raw = json.dumps(body).replace(S, who).encode()
        answer = request(url, raw)

        assert answer.status == status, answer
        assert answer.is_json, f"not JSON: {answer}"
        if status == 200:
            assert isinstance(answer.json, list) and answer.json, answer
            assert answer.texts().strip(), f"silent reply: {answer}"
            assert {str(m.get("recipient_id")) for m in answer.json} == {who}, answer
        else:
            assert isinstance(answer.json, dict), answer
            assert answer.json.get("error") or answer.json.get("description"), answer
        if isinstance(expect, str):
            assert expect in (answer.texts() if status == 200 else answer.raw.decode()), answer
        elif expect is not None:
            expect(answer, who)

    # and the server still serves everyone else
    assert greets(send(assistant.rasa_url, sender("after"), "hello"))


def test_sql_in_a_message_leaves_the_store_alone(assistant: Stack) -> None:
    """The store still holds conversations after the injection attempts above."""
    who = sender("sql")
    send(assistant.rasa_url, who, "'); DELETE FROM events; --")
    assert COST in send(assistant.rasa_url, who, "/ask_cost").texts()
    assert user_events(stored_events(assistant, who)) == 2


def test_an_unexpected_yes_does_not_loop_the_fallback(assistant: Stack) -> None:
    who = sender("loop")
    assert send(assistant.rasa_url, who, "yes").status == 200
    bot_turns = [e for e in stored_events(assistant, who) if e[0] == "bot"]
    assert len(bot_turns) == 1, f"{len(bot_turns)} bot messages stored for one 'yes'"


# -- a second stack with its dependencies under the test's control --------------------------


@dataclass
class Faulty:
    stack: Stack
    fake: FakeActionServer
    proxy: Optional[TcpProxy]
    no_postgres: Optional[str]  # why the store is SQLite, when it is
    token: str
    log_dir: Path

    @property
    def url(self) -> str:
        return self.stack.rasa_url

    def health(self) -> Answer:
        return get(f"{self.url}/webhooks/rest/health")


@pytest.fixture(scope="module")
def faulty(assistant: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    workdir = tmp_path_factory.mktemp("faulty")
    fake = FakeActionServer(f"{assistant.action_url}/webhook", delay=ACTION_TIMEOUT + 4).start()
    no_postgres = ensure_service(POSTGRES, "PostgreSQL")
    proxy = None
    if no_postgres is None:
        proxy = TcpProxy(POSTGRES).start()
        store = {
            "TRACKER_DIALECT": "postgresql",
            "TRACKER_STORE_URL": f"postgresql://postgres@127.0.0.1:{proxy.port}/test",
        }
    else:
        print(f"faulty stack on SQLite: {no_postgres}")
        store = {"TRACKER_DIALECT": "sqlite", "TRACKER_STORE_URL": f"sqlite:///{workdir / 'tracker.db'}"}
    token = uuid.uuid4().hex
    env = default_env(
        overrides={
            "ACTION_PORT": str(free_port()),
            "RASA_PORT": str(free_port()),
            "WEB_PORT": str(free_port()),
            "ACTION_ENDPOINT_URL": fake.url,
            "ACTION_TIMEOUT": str(ACTION_TIMEOUT),
            "RASA_API_TOKEN": token,
            **store,
        }
    )
    stack = Stack(env, model=assistant.model, with_actions=False, with_web=False, log_dir=workdir / "logs")
    try:
        stack.start_all(timeout=240)
        yield Faulty(stack, fake, proxy, no_postgres, token, workdir / "logs")
    finally:
        stack.stop_all()
        fake.stop()
        if proxy is not None:
            proxy.stop()
            _delete_postgres_rows(f"rest:rel-{RUN}-%")


def _delete_postgres_rows(pattern: str) -> None:
    import psycopg2

    db = psycopg2.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="test")
    try:
        with db, db.cursor() as cursor:
            cursor.execute("DELETE FROM events WHERE sender_id LIKE %s", (pattern,))
    finally:
        db.close()


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["slow", "error", "garbage"])
def test_action_server_fault_gets_the_apology_and_recovers(faulty: Faulty, mode: str) -> None:
    """Slow (beyond ACTION_TIMEOUT), 500, or a 200 that is not JSON."""
    settings = get_settings()
    who = sender(f"action-{mode}")
    assert COST in send(faulty.url, who, "/ask_cost").texts()
    faulty.fake.mode = mode
    try:
        calls = len(faulty.fake.calls)
        faq = send(faulty.url, who, f"how does it work? {MARKER}")
        assert faq.status == 200
        assert "can't answer that right now" in faq.texts(), faq
        assert settings.clinic_phone in faq.texts() and settings.emergency_number in faq.texts()
        assert faulty.fake.calls[calls:] == [mode]  # the action server was really asked

        urgent = send(faulty.url, who, "i have a pacemaker, can i use this?")
        assert escalation(urgent)["level"] == "urgent", urgent
        emergency = send(faulty.url, who, "i just fainted and im drenched in sweat")
        assert escalation(emergency)["level"] == "emergency", emergency

        health = faulty.health()
        assert health.status == 200 and health.json["action_server"] == "down", health
    finally:
        faulty.fake.mode = "forward"
    # back: the same conversation gets answers again
    assert "mild electric current" in send(faulty.url, who, "how does it work?").texts()
    assert faulty.health().json["action_server"] == "ok"


def test_rasa_killed_mid_conversation_continues_after_restart(assistant: Stack) -> None:
    who = sender("kill")
    url = assistant.rasa_url
    assert "mild electric current" in send(url, who, "how does it work?").texts()
    assert COST in send(url, who, "/ask_cost").texts()
    thanks = send(url, who, "thanks!")
    assert "anything else" in thanks.texts().lower()
    assert {b["payload"] for b in thanks.json[0]["buttons"]} == {"/affirm", "/deny"}

    assistant.stop("rasa", signal.SIGKILL)
    assert not port_open("127.0.0.1", int(assistant.env["RASA_PORT"]))
    assistant.start("rasa")
    assistant.wait_ready(timeout=240)

    # "yes" is only understood because the stored conversation ends with the question
    after = send(url, who, "/affirm")
    assert after.json[0]["text"] == "Sure, what would you like to know?", after
    assert user_events(stored_events(assistant, who)) == 4


def test_tracker_store_unreachable_gets_the_apology_and_is_reported(faulty: Faulty) -> None:
    """No fall-back to memory: while the store is down each turn gets the apology, an
    ERROR is logged and /health says down, until a save succeeds again."""
    if faulty.proxy is None:
        pytest.skip(f"needs PostgreSQL behind a proxy: {faulty.no_postgres}")
    health = faulty.health()
    assert health.status == 200 and health.json["tracker_store"] == "ok", health
    who = sender("store")
    assert greets(send(faulty.url, who, "hello"))

    log = faulty.log_dir / "rasa.log"
    offset = log.stat().st_size
    faulty.proxy.stop()
    try:
        health = faulty.health()
        assert health.status == 503 and health.json["tracker_store"] == "down", health
        for text in (f"hello {MARKER}", "/ask_cost", "I have crushing chest pain"):
            reply = send(faulty.url, who, text)
            assert reply.status == 200 and apologises(reply), reply
        with open(log, "rb") as lines:
            lines.seek(offset)
            errors = [
                line for line in lines.read().decode(errors="replace").splitlines() if " ERROR " in line
            ]
        assert any("Tracker store" in line for line in errors), errors[:5]
        assert not any("InMemoryTrackerStore" in line for line in errors), errors[:5]
        print("\n".join(["rasa.log while the store was down:"] + errors[:3]))
    finally:
        faulty.proxy.start()

    # Still reported down until a save succeeds: the pool reconnects on its next use.
    for _ in range(40):
        reply = send(faulty.url, sender("store"), "hello")
        if greets(reply):
            break
        time.sleep(0.25)
    assert greets(reply), reply
    health = faulty.health()
    assert health.status == 200 and health.json["tracker_store"] == "ok", health
    # The conversation was never replaced by a fresh in-memory one.
    assert greets(send(faulty.url, who, "hello"))


# -- the turn guard over REST ------------------------------------------------------------


def send_to(url: str, body: Any) -> Answer:
    return request(url, json.dumps(body).encode(), timeout=60)


@pytest.mark.parametrize("suffix", ["/webhooks/rest/webhook", "/webhooks/rest/webhook/"])
def test_both_webhook_routes_have_every_check(assistant: Stack, suffix: str) -> None:
    url = assistant.rasa_url + suffix
    assert send_to(url, [1]).status == 400
    assert send_to(url, {"sender": "x", "message": 42}).status == 400
    long = send_to(url, {"sender": sender("long"), "message": "word " * 180_000})
    assert long.status == 200 and "keep your message shorter" in long.texts(), long
    who = sender("slash")
    answer = send_to(url, {"sender": who, "message": "i have crushing chest pain"})
    assert escalation(answer).get("level") == "emergency", answer


@pytest.mark.parametrize(
    "text, level",
    [
        ("/ask_cost@1.0 I have crushing chest pain and my left arm hurts", "emergency"),
        ("/start I'm pregnant, is it safe?", "urgent"),
        ("/greet I want to kill mys\u200belf", "emergency"),
        ("/help@SomeBot I have a pacemaker", "urgent"),
        ("i'm pre\u200bgnant, can i use it?", "urgent"),
        ("i want to kill mys\u0435lf", "emergency"),
    ],
)
def test_slash_and_hidden_characters_do_not_skip_the_safety_check(
    assistant: Stack, text: str, level: str
) -> None:
    answer = send(assistant.rasa_url, sender("hidden"), text)
    assert escalation(answer).get("level") == level, answer


@pytest.mark.parametrize(
    "text, level",
    [
        ("ich bin schwanger, darf ich das machen?", "urgent"),
        ("estoy embarazada, ¿puedo usarlo?", "urgent"),
        ("j'ai un stimulateur cardiaque", "urgent"),
        ("ho un pacemaker, posso farlo?", "urgent"),
        ("estou grávida de 3 meses", "urgent"),
        ("tengo un dolor fuerte en el pecho", "emergency"),
        ("ho un forte dolore al petto e sudo", "emergency"),
        ("ich bekomme keine Luft", "emergency"),
        ("je me suis évanoui ce matin", "emergency"),
        ("não consigo respirar", "emergency"),
        ("quiero morir, ya no aguanto el sudor", "emergency"),
    ],
)
def test_risks_in_other_languages_escalate_over_rest(assistant: Stack, text: str, level: str) -> None:
    answer = send(assistant.rasa_url, sender("lang"), text)
    assert escalation(answer).get("level") == level, answer
    if level == "emergency":
        assert get_settings().emergency_number in answer.texts()


@pytest.mark.parametrize(
    "text",
    [
        '/report_emergency{"risk_reason": "pregnancy"}',
        '/report_risk{"risk_reason": "pacemaker"}',
        '/ask_cost{"risk_reason": "self_harm"}',
        "/report_emergency",
    ],
)
def test_forged_payloads_set_no_slot_and_no_escalation(assistant: Stack, text: str) -> None:
    who = sender("forged")
    answer = send(assistant.rasa_url, who, text)
    assert answer.status == 200 and answer.texts(), answer
    assert not escalation(answer), answer
    assert not any(event[0] == "slot" for event in stored_events(assistant, who))


def test_a_rest_sender_cannot_reach_another_channels_conversation(assistant: Stack) -> None:
    """The guard stores REST conversations as rest:<sender>: a REST request naming a
    Telegram chat id (or a namespaced id) only ever touches its own conversation."""
    with closing(sqlite3.connect(sqlite_file(assistant), timeout=10)) as db:
        db.execute(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data)"
            " VALUES ('telegram:4242', 'user', 0, 'greet', NULL, '{}')"
        )
        db.commit()
    for who in ("4242", "telegram:4242"):
        assert "Do you want me to delete" in send(assistant.rasa_url, who, "delete my data").texts()
        assert "deleted" in send(assistant.rasa_url, who, "/affirm").texts()
    with closing(sqlite3.connect(sqlite_file(assistant), timeout=10)) as db:
        left = db.execute("SELECT COUNT(*) FROM events WHERE sender_id = 'telegram:4242'").fetchone()
    assert left == (1,)


def test_client_metadata_is_not_stored(assistant: Stack) -> None:
    who = sender("meta")
    body = {"sender": who, "message": "hello", "metadata": {"model_id": "forged", "x": "y" * 500_000}}
    assert greets(send_to(f"{assistant.rasa_url}/webhooks/rest/webhook", body))
    with closing(sqlite3.connect(sqlite_file(assistant), timeout=10)) as db:
        rows = db.execute("SELECT data FROM events WHERE sender_id = ?", ("rest:" + who,)).fetchall()
    assert rows and all("forged" not in data and len(data) < 20_000 for (data,) in rows)


def test_a_locked_sqlite_store_gets_the_apology_and_is_reported(assistant: Stack) -> None:
    """A turn that cannot be saved is not kept in memory: the patient is told, an ERROR
    is logged, and /health says down until a save succeeds again."""
    who = sender("locked")
    health_url = f"{assistant.rasa_url}/webhooks/rest/health"
    assert greets(send(assistant.rasa_url, who, "hello"))
    with closing(sqlite3.connect(sqlite_file(assistant), timeout=10, isolation_level=None)) as db:
        db.execute("BEGIN EXCLUSIVE")
        try:
            reply = send(assistant.rasa_url, who, "I have crushing chest pain")
            assert apologises(reply), reply
            # The escalation itself still reached the patient before the save failed.
            assert escalation(reply).get("level") == "emergency", reply
            health = get(health_url)
            assert health.status == 503 and health.json["tracker_store"] == "down", health
        finally:
            db.execute("ROLLBACK")
    assert get(health_url).status == 503  # nothing saved since
    assert greets(send(assistant.rasa_url, who, "hello"))
    assert get(health_url).status == 200
    assert user_events(stored_events(assistant, who)) == 2  # the unsaved turn is not stored


# -- load ------------------------------------------------------------------------------------


def test_load_50_senders_20_messages_each(assistant: Stack) -> None:
    """Each reply is checked: status, recipient and the expected answer for that step."""
    result = run_load(assistant.rasa_url, senders=50, messages=20, tag=RUN)
    print("\n" + report([result]))
    assert result.count == 1000
    assert not result.problems, result.problems[:10]


def test_a_flooding_sender_is_slowed_down_and_the_others_are_served(assistant: Stack) -> None:
    alone, flooded, flooder = run_flood(assistant.rasa_url, normal=10, per_sender=5, flood=300, tag=RUN)
    print("\n" + report([alone, flooded, flooder]))
    for run in (alone, flooded):
        print(
            f"others {run.name}: p50 {percentile(run.latencies, 50) * 1000:.0f} ms, "
            f"p95 {percentile(run.latencies, 95) * 1000:.0f} ms"
        )
    assert not alone.problems and not flooded.problems, (alone.problems + flooded.problems)[:10]
    assert alone.count == flooded.count == 50
    assert flooder.count >= 300 and not flooder.problems, flooder.problems[:10]
    # 10 messages per 10 s get through (more windows if the machine is slow)
    let_through = flooder.count - flooder.extra.get("slowed", 0)
    assert let_through <= 10 * (1 + int(flooder.elapsed // 10)), (let_through, flooder.elapsed)
    assert flooder.extra["sent_during_flooded_run"] > 0


# -- security and privacy --------------------------------------------------------------------

#: Rasa's HTTP API (``/version`` answers without a token once the API is on).
API_PATHS = ["/status", "/conversations/{who}/tracker", "/domain"]


def test_rasa_http_api_is_off_by_default(assistant: Stack) -> None:
    if assistant.env.get("RASA_API_TOKEN"):
        pytest.skip("RASA_API_TOKEN is set in this environment")
    who = sender("api")
    send(assistant.rasa_url, who, "hello")
    for path in API_PATHS + ["/version"]:
        answer = get(assistant.rasa_url + path.format(who=who))
        assert answer.status in (403, 404), (path, answer)
    assert request(f"{assistant.rasa_url}/model/parse", b'{"text": "hi"}').status in (403, 404)


def test_rasa_http_api_needs_the_token(faulty: Faulty) -> None:
    who = sender("api")
    assert greets(send(faulty.url, who, "hello"))
    for path in API_PATHS:
        url = faulty.url + path.format(who=who)
        assert get(url).status == 401, path
        assert get(f"{url}?token=wrong").status == 401, path
        assert get(f"{url}?token={faulty.token}").status == 200, path
    tracker = get(f"{faulty.url}/conversations/{who}/tracker?token={faulty.token}")
    assert tracker.json["sender_id"] == who and tracker.json["events"]


def test_action_server_listens_on_loopback_only(assistant: Stack) -> None:
    if assistant.env.get("ACTION_HOST", "127.0.0.1") != "127.0.0.1":
        pytest.skip("ACTION_HOST is set in this environment")
    port = int(assistant.env["ACTION_PORT"])
    assert listening_addresses(port) == ["127.0.0.1"]
    assert port_open("127.0.0.1", port)
    others = non_loopback_addresses()
    print(f"non-loopback addresses: {others or 'none'}")
    for address in others:
        assert not port_open(address, port), f"action server reachable on {address}:{port}"


def test_cors_allows_only_the_configured_origins(assistant: Stack) -> None:
    allowed = assistant.env["WIDGET_ORIGINS"].split()[0]
    body = json.dumps({"sender": sender("cors"), "message": "hello"}).encode()
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    for origin, expected in (("http://evil.example", None), (allowed, allowed)):
        post = request(webhook(assistant), body, headers={"Origin": origin})
        assert post.status == 200
        assert post.headers.get("access-control-allow-origin") == expected, (origin, post.headers)
        options = request(webhook(assistant), None, method="OPTIONS", headers={"Origin": origin, **preflight})
        assert options.headers.get("access-control-allow-origin") == expected, (origin, options.headers)


def _delete_conversation(stack: Stack, who: str, confirm: str) -> Answer:
    ask = send(stack.rasa_url, who, "delete my data")
    assert "Do you want me to delete this conversation?" in ask.texts(), ask
    assert {b["payload"] for b in ask.json[0]["buttons"]} == {"/affirm", "/deny"}
    return send(stack.rasa_url, who, confirm)


def test_delete_my_data_erases_the_conversation(assistant: Stack) -> None:
    who = sender("erase")
    assert escalation(send(assistant.rasa_url, who, "i have a pacemaker, is it safe?"))
    assert COST in send(assistant.rasa_url, who, "/ask_cost").texts()
    assert user_events(stored_events(assistant, who)) == 2

    done = _delete_conversation(assistant, who, "/affirm")
    assert "deleted this conversation" in done.texts(), done
    assert stored_events(assistant, who) == []
    # and the next message starts afresh
    assert greets(send(assistant.rasa_url, who, "hello"))
    assert user_events(stored_events(assistant, who)) == 1


def test_delete_my_data_declined_keeps_the_conversation(assistant: Stack) -> None:
    who = sender("keep")
    assert COST in send(assistant.rasa_url, who, "/ask_cost").texts()
    kept = _delete_conversation(assistant, who, "/deny")
    assert "nothing was deleted" in kept.texts(), kept
    assert user_events(stored_events(assistant, who)) == 3


PERSONAL = [
    f"hi, I'm {MARKER}, call me on {PHONE} or {EMAIL}",
    f"{MARKER} my number is {PHONE}, how much does it cost?",
    f"i have a pacemaker, {MARKER} {EMAIL}",
    f"chest pain and sweating {MARKER} {PHONE}",
    f"what's the best pizza {MARKER}?",
    f"{MARKER} " + "long " * 1000,
    f"hola {MARKER}, tengo las manos muy sudadas, que puedo hacer",
    # forms that Rasa's own code paths would log: unparsable "/" payloads, entities
    f"/{MARKER} {PHONE}",
    f'/ask_cost{{"risk_reason": "{MARKER}"}}',
    f"/start {MARKER} i'm pregnant",
    f"/ask_cost@1.0 {MARKER} {EMAIL}",
    f"pre\u200bgnant {MARKER}",
    f"ich bin schwanger {MARKER}",
]


def test_no_message_text_or_personal_data_in_the_logs(assistant: Stack, faulty: Faulty) -> None:
    """Runs last: the logs then also hold every fault above (tracebacks included)."""
    for stack in (assistant, faulty.stack):
        who = sender("pii")
        for text in PERSONAL:
            assert send(stack.rasa_url, who, text).status == 200
    faulty.fake.mode = "error"
    try:
        send(faulty.url, sender("pii"), f"how does it work? {MARKER} {PHONE}")
    finally:
        faulty.fake.mode = "forward"

    assert assistant.log_dir is not None  # the session's assistant logs to files
    logs = list(assistant.log_dir.glob("*.log")) + list(faulty.log_dir.glob("*.log"))
    assert {p.name for p in logs} >= {"rasa.log", "actions.log"}
    for path in logs:
        text = path.read_text(errors="replace")
        for secret in (MARKER, PHONE, PHONE.replace(" ", ""), EMAIL, "7700 900123"):
            assert secret not in text, f"{secret!r} in {path}"


# -- the fixes above, without servers ---------------------------------------------------------


def test_action_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import rasa.core.actions.action as rasa_action

    from addons.patches import apply_action_timeout
    from core.settings import SettingsError, get_server_settings

    monkeypatch.setattr(rasa_action, "DEFAULT_REQUEST_TIMEOUT", rasa_action.DEFAULT_REQUEST_TIMEOUT)
    try:
        monkeypatch.setenv("ACTION_TIMEOUT", "3.5")
        get_server_settings.cache_clear()
        assert apply_action_timeout() == 3.5 and rasa_action.DEFAULT_REQUEST_TIMEOUT == 3.5
        monkeypatch.delenv("ACTION_TIMEOUT")
        get_server_settings.cache_clear()
        assert apply_action_timeout() == 10
        monkeypatch.setenv("ACTION_TIMEOUT", "0")
        get_server_settings.cache_clear()
        with pytest.raises(SettingsError):
            apply_action_timeout()
    finally:
        monkeypatch.delenv("ACTION_TIMEOUT", raising=False)
        get_server_settings.cache_clear()


def test_fast_action_result_check_keeps_rasas_errors() -> None:
    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction

    from addons.patches import validate_action_results_faster

    validate_action_results_faster()
    action = RemoteAction("action_answer_faq", None)
    assert action._validate_action_result({"events": [], "responses": [{"text": "hi"}]})
    for bad in (None, {"events": "x"}, {"events": [{"event": "no_such_event"}]}):
        with pytest.raises(ValidationError, match="Failed to validate Action server response"):
            action._validate_action_result(bad)


def test_erase_also_drops_the_fail_safe_memory_copy(tmp_path: Path) -> None:
    import asyncio

    from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from addons.privacy import erase_conversation

    store = FailSafeTrackerStore(SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db")))
    tracker = DialogueStateTracker("alice", slots=[])
    tracker.update(UserUttered("saved while the database was down"))
    asyncio.run(store.fallback_tracker_store.save(tracker))
    assert erase_conversation(store, "alice") == 1
    assert asyncio.run(store.fallback_tracker_store.retrieve("alice")) is None


async def test_a_failed_erase_is_not_reported_as_deleted(tmp_path: Path) -> None:
    from types import SimpleNamespace

    import sqlalchemy.orm
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    from rasa.core.lock_store import InMemoryLockStore
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain

    from addons.guard import TurnGuard
    from addons.tracker_store import StrictTrackerStore

    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"))
    store.sessionmaker = sqlalchemy.orm.sessionmaker(  # the database is down
        bind=sqlalchemy.create_engine("postgresql://nobody@127.0.0.1:1/gone")
    )
    agent = SimpleNamespace(
        tracker_store=StrictTrackerStore(store), lock_store=InMemoryLockStore(), domain=Domain.empty()
    )

    async def deleted_reply(agent: object, message: UserMessage) -> None:
        await message.output_channel.send_response(
            message.sender_id,
            {"text": "Done: I've deleted this conversation.", "custom": {"privacy": {"erase": True}}},
        )

    collector = CollectingOutputChannel()
    await TurnGuard().handle(
        agent, UserMessage("yes", collector, "alice", input_channel="rest"), deleted_reply
    )
    assert len(collector.messages) == 1
    assert "couldn't delete this conversation" in collector.messages[0]["text"]
    assert get_settings().clinic_phone in collector.messages[0]["text"]
