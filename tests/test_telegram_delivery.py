"""Telegram delivery when the Bot API fails (issue 11): retries, the escalation's harder
policy, and the honest record of a reply that could not be delivered.

* ``core/delivery.py``, the pure policy: backoff with jitter, what is retried, Telegram's
  ``retry_after``, attempts and budgets, one budget per turn, the delivery report;
* the output channel (``addons/telegram.py``) in this process against the fake Bot API
  (``tests/telegram_fake_api.py``) with faults: server errors, dropped connections,
  429s, refused markup, permanent 4xx;
* end to end: an action server + Rasa server whose Telegram channel points at the fake
  Bot API, with small backoff delays (the ``TELEGRAM_*SEND*`` settings): a reply arrives
  after a blip (500s, a 429 with ``retry_after``, the Bot API unreachable), an
  emergency is tried harder than an ordinary answer, and a reply that could not be
  delivered is marked ``{"delivery": "failed"}`` in the tracker store and logged as an
  ERROR without its text or the chat id.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any, Callable, Coroutine, Dict, Iterator, List, Optional

import pytest

from addons.patches import install_delivery_record
from addons.telegram import ClinicTelegramOutput
from core import delivery
from core.delivery import Attempts, RetryPolicy, Turn, Verdict
from core.settings import ServerSettings

from serve import Stack, local_env
from telegram_fake_api import Call, FakeBotAPI, Fault

TOKEN = "123456:TEST"
SECRET = "test-secret_0123456789"
WEBHOOK_PATH = "/webhooks/telegram/webhook"
EMERGENCY = {"escalation": {"level": "emergency", "reason": "chest_pain", "phone": "911"}}
URGENT = {"escalation": {"level": "urgent", "reason": "pregnancy", "phone": "+1 555 010 0100"}}


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fixed(value: float) -> Callable[[], float]:
    return lambda: value


# --- core/delivery.py -----------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_with_equal_jitter() -> None:
    policy = RetryPolicy(attempts=10, budget=60, base_delay=0.5, max_delay=4)
    lowest = [policy.backoff(retry, fixed(0.0)) for retry in range(1, 7)]
    highest = [policy.backoff(retry, fixed(1.0)) for retry in range(1, 7)]
    assert highest == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert lowest == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]  # jitter keeps at least half
    assert policy.backoff(3, fixed(0.5)) == 1.5


@pytest.mark.parametrize(
    "status, body, delivered, retryable",
    [
        (200, {"ok": True, "result": {}}, True, False),
        (200, None, False, True),  # a proxy's page, not the Bot API's answer
        (429, {"ok": False, "error_code": 429}, False, True),
        (500, None, False, True),
        (502, None, False, True),
        (503, {"ok": False}, False, True),
        (504, None, False, True),
        (400, {"ok": False, "description": "Bad Request: chat not found"}, False, False),
        (401, None, False, False),
        (403, {"ok": False, "description": "Forbidden: bot was blocked by the user"}, False, False),
        (404, None, False, False),
        (409, None, False, False),
        (None, None, False, True),  # no answer at all: refused, reset, timed out
    ],
)
def test_what_is_retried(status: Optional[int], body: Any, delivered: bool, retryable: bool) -> None:
    answer = delivery.verdict(status, body)
    assert (answer.delivered, answer.retryable) == (delivered, retryable)
    # The reason names the status only, never Telegram's description (it may quote text).
    assert "chat not found" not in answer.reason and "blocked" not in answer.reason


def test_a_network_error_is_named_by_its_type() -> None:
    assert (
        delivery.verdict(None, error="ClientConnectorError").reason == "network error (ClientConnectorError)"
    )


@pytest.mark.parametrize(
    "body, header, expected",
    [
        ({"ok": False, "parameters": {"retry_after": 5}}, None, 5.0),
        ({"parameters": {"retry_after": 2.5}}, None, 2.5),
        ({"parameters": {"retry_after": "7"}}, None, 7.0),
        ({"parameters": {"retry_after": 0}}, None, 0.0),
        ({"parameters": {"retry_after": -3}}, None, None),
        ({"parameters": {"retry_after": True}}, None, None),
        ({"parameters": {"retry_after": "soon"}}, None, None),
        ({"parameters": {"retry_after": float("nan")}}, None, None),
        ({"parameters": "retry_after"}, None, None),
        ({"parameters": {"migrate_to_chat_id": -100}}, None, None),
        (None, "4", 4.0),
        ("not json", " 3 ", 3.0),
        ({}, "Wed, 21 Oct 2026 07:28:00 GMT", None),  # an HTTP date: not seconds
        ({"parameters": {"retry_after": 6}}, "1", 6.0),  # Telegram's own field first
    ],
)
def test_retry_after_is_read_from_telegrams_parameters(
    body: Any, header: Optional[str], expected: Any
) -> None:
    assert delivery.parse_retry_after(body, header) == expected
    assert delivery.verdict(429, body, header).retry_after == expected


def test_only_a_429_carries_retry_after_into_the_wait() -> None:
    assert delivery.verdict(500, {"parameters": {"retry_after": 9}}).retry_after is None


def test_attempts_stop_at_the_policy_s_count() -> None:
    clock = FakeClock()
    attempts = Attempts(RetryPolicy(3, 60, 1, 8), clock=clock, rng=fixed(1.0))
    server_error = delivery.verdict(500)
    waits = []
    for _ in range(5):
        attempts.begin()
        wait = attempts.retry_in(server_error)
        if wait is None:
            break
        waits.append(wait)
        clock.now += wait
    assert waits == [1.0, 2.0]
    assert attempts.made == 3


def test_attempts_stop_when_the_wait_would_end_past_the_budget() -> None:
    clock = FakeClock()
    attempts = Attempts(RetryPolicy(100, 5, 1, 8), clock=clock, rng=fixed(1.0))
    waited = 0.0
    while True:
        attempts.begin()
        wait = attempts.retry_in(delivery.verdict(None))
        if wait is None:
            break
        clock.now += wait + 0.1  # the attempt itself took a little
        waited += wait
    assert waited == 1.0 + 2.0  # a 4 s wait would have ended past 5 s
    assert clock.now - attempts.started <= 5


def test_a_permanent_error_or_a_delivery_is_never_retried() -> None:
    attempts = Attempts(RetryPolicy(10, 60, 1, 8), clock=FakeClock())
    attempts.begin()
    assert attempts.retry_in(delivery.verdict(403)) is None
    assert attempts.retry_in(delivery.verdict(200, {"ok": True})) is None


def test_retry_after_is_honoured_as_given_and_too_long_a_one_gives_up() -> None:
    clock = FakeClock()
    attempts = Attempts(RetryPolicy(10, 30, 0.5, 8), clock=clock, rng=fixed(0.0))
    attempts.begin()
    assert attempts.retry_in(Verdict(False, True, "HTTP 429", retry_after=12)) == 12
    assert attempts.retry_in(Verdict(False, True, "HTTP 429", retry_after=31)) is None


def test_attempt_timeouts_shrink_with_the_budget_but_not_below_the_floor() -> None:
    clock = FakeClock()
    attempts = Attempts(RetryPolicy(5, 10, 0.5, 8), clock=clock)
    assert attempts.timeout(15) == 10
    clock.now += 7
    assert attempts.timeout(15) == 3
    clock.now += 100
    assert attempts.timeout(15) == delivery.MIN_ATTEMPT_TIMEOUT


def test_a_turn_s_replies_share_one_budget_and_an_escalation_s_is_longer() -> None:
    policies = delivery.policies(4, 10, 10, 40, 0.5)
    turn = Turn("update 1")
    assert turn.deadline_for(policies.normal, now=100.0) == 110.0
    # A later message of the same turn: the budget counts from the turn's first send.
    assert turn.deadline_for(policies.normal, now=108.0) == 110.0
    assert turn.deadline_for(policies.escalation, now=108.0) == 140.0
    # Past the deadline a message still gets its one attempt, and no retry.
    clock = FakeClock()
    clock.now = 111.0
    late = Attempts(policies.normal, deadline=110.0, clock=clock, rng=fixed(0.0))
    late.begin()
    assert late.retry_in(delivery.verdict(500)) is None


def test_escalations_are_never_tried_less_than_ordinary_answers() -> None:
    policies = delivery.policies(
        attempts=6, budget=20, escalation_attempts=2, escalation_budget=5, base_delay=1
    )
    assert (policies.escalation.attempts, policies.escalation.budget) == (6, 20)
    defaults = delivery.policies(4, 10, 10, 40, 0.5)
    assert defaults.of(delivery.ESCALATION).attempts > defaults.of(delivery.NORMAL).attempts
    assert defaults.of(delivery.ESCALATION).budget > defaults.of(delivery.NORMAL).budget
    assert defaults.of(delivery.ONCE).attempts == 1
    assert defaults.normal.max_delay == 0.5 * delivery.MAX_DELAY_FACTOR
    assert delivery.priority_of("emergency") == delivery.priority_of("urgent") == delivery.ESCALATION
    assert delivery.priority_of(None) == delivery.NORMAL


def test_the_settings_feed_the_policies() -> None:
    settings = ServerSettings.from_env({})
    assert (settings.telegram_send_attempts, settings.telegram_send_budget_seconds) == (4, 10.0)
    assert (settings.telegram_escalation_send_attempts, settings.telegram_escalation_send_budget_seconds) == (
        10,
        40.0,
    )
    assert settings.telegram_retry_delay_seconds == 0.5
    tuned = ServerSettings.from_env({"TELEGRAM_SEND_ATTEMPTS": "2", "TELEGRAM_RETRY_DELAY_SECONDS": "0.01"})
    assert (tuned.telegram_send_attempts, tuned.telegram_retry_delay_seconds) == (2, 0.01)
    from core.settings import SettingsError

    with pytest.raises(SettingsError, match="TELEGRAM_SEND_ATTEMPTS"):
        ServerSettings.from_env({"TELEGRAM_SEND_ATTEMPTS": "0"})
    with pytest.raises(SettingsError, match="TELEGRAM_ESCALATION_SEND_BUDGET_SECONDS"):
        ServerSettings.from_env({"TELEGRAM_ESCALATION_SEND_BUDGET_SECONDS": "soon"})


def test_markup_refused_with_400_is_resent_as_plain_text_once() -> None:
    params = {"chat_id": "1", "text": "hi", "reply_markup": "{}", "parse_mode": "HTML"}
    assert delivery.plain_text_retry("sendMessage", 400, params) == {"chat_id": "1", "text": "hi"}
    assert delivery.plain_text_retry("sendMessage", 400, {"chat_id": "1", "text": "hi"}) is None
    assert delivery.plain_text_retry("sendMessage", 403, params) is None
    assert delivery.plain_text_retry("sendPhoto", 400, params) is None


def test_the_report_says_failed_partial_or_nothing() -> None:
    with delivery.reporting() as report:
        delivery.record(True)
    assert report.outcome is None and report.metadata() == {}
    with delivery.reporting() as report:
        delivery.record(False, "HTTP 500")
    assert report.metadata() == {"delivery": "failed", "delivery_error": "HTTP 500"}
    with delivery.turn("update 7") as turn, delivery.reporting() as report:
        delivery.record(True)
        delivery.record(False, "network error")
    assert report.metadata() == {"delivery": "partial", "delivery_error": "network error"}
    assert turn.failed == 1
    delivery.record(False, "outside any report")  # no report, no turn: nothing to note
    assert delivery.current_turn() is None


# --- The output channel against the fake Bot API, in this process ---------------------------


#: Small delays, so the tests are quick: 3 attempts for an answer, 6 for an escalation.
FAST = delivery.policies(attempts=3, budget=10, escalation_attempts=6, escalation_budget=20, base_delay=0.01)


@pytest.fixture(scope="module")
def bot_api() -> Iterator[FakeBotAPI]:
    api = FakeBotAPI(token=TOKEN).start()
    yield api
    api.stop()


@pytest.fixture(autouse=True)
def no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "bot_api" in request.fixturenames:
        request.getfixturevalue("bot_api").clear_faults()


def run_async(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Runs a coroutine on a fresh event loop in a thread of its own (the browser
    tests' Playwright may keep a loop running in the main thread)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=120)


def send(api: FakeBotAPI, chat: str, message: Dict[str, Any]) -> delivery.Report:
    """Sends one reply through a fresh output channel; returns its delivery report."""

    async def run() -> delivery.Report:
        channel = ClinicTelegramOutput(TOKEN, api.base_url, policies=FAST)
        try:
            with delivery.turn("update 1"), delivery.reporting() as report:
                await channel.send_response(chat, message)
            return report
        finally:
            await channel.close_session()

    return run_async(run())


def statuses(api: FakeBotAPI, chat: str) -> List[int]:
    return [call.status for call in api.calls_to("sendMessage", chat)]


def test_output_retries_server_errors_and_a_dropped_connection(bot_api: FakeBotAPI) -> None:
    bot_api.fail("801", Fault(500), Fault(drop=True))
    report = send(bot_api, "801", {"text": "Sessions last 20 to 30 minutes."})
    assert statuses(bot_api, "801") == [500, 0, 200]
    assert report.outcome is None and report.delivered == 1


def test_output_waits_as_long_as_telegram_s_retry_after(bot_api: FakeBotAPI) -> None:
    bot_api.fail("802", Fault(429, retry_after=1, description="Too Many Requests: retry after 1"))
    report = send(bot_api, "802", {"text": "hello"})
    first, second = bot_api.calls_to("sendMessage", "802")
    assert (first.status, second.status) == (429, 200)
    # The backoff alone would have waited about 0.01 s.
    assert second.at - first.at >= 0.95
    assert report.outcome is None


def test_output_gives_up_at_once_when_retry_after_exceeds_the_budget(bot_api: FakeBotAPI) -> None:
    bot_api.fail("803", Fault(429, retry_after=60))
    report = send(bot_api, "803", {"text": "hello"})
    assert statuses(bot_api, "803") == [429]
    assert report.metadata() == {"delivery": "failed", "delivery_error": "HTTP 429"}


def test_output_does_not_retry_a_permanent_4xx_and_logs_it_without_text(
    bot_api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    bot_api.fail("804", forever=Fault(403, description="Forbidden: bot was blocked by the user"))
    caplog.set_level(logging.INFO, logger="addons.telegram")
    report = send(bot_api, "804", {"text": "Private words about my armpits"})
    assert statuses(bot_api, "804") == [403]
    assert report.metadata() == {"delivery": "failed", "delivery_error": "HTTP 403"}
    [error] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert re.fullmatch(
        r"Telegram reply not delivered \(update 1, normal priority\): sendMessage HTTP 403 "
        r"after 1 attempt\(s\) in \d+\.\d s",
        error.getMessage(),
    ), error.getMessage()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for private in ("armpits", "804", "blocked", TOKEN):
        assert private not in logged


def test_an_emergency_is_tried_harder_than_an_ordinary_answer(bot_api: FakeBotAPI) -> None:
    bot_api.fail("805", forever=Fault(500))
    ordinary = send(bot_api, "805", {"text": "It costs about $50 to $200."})
    bot_api.fail("806", forever=Fault(500))
    emergency = send(bot_api, "806", {"text": "Call emergency services now.", "custom": EMERGENCY})
    bot_api.fail("807", forever=Fault(500))
    urgent = send(bot_api, "807", {"text": "Please see a professional.", "custom": URGENT})
    assert len(bot_api.calls_to("sendMessage", "805")) == FAST.normal.attempts == 3
    warnings = [call for call in bot_api.calls_to("sendMessage", "806") if call.text.startswith("🚨")]
    texts = [call for call in bot_api.calls_to("sendMessage", "806") if call.text.startswith("Call")]
    assert len(warnings) == len(texts) == FAST.escalation.attempts == 6
    assert len(bot_api.calls_to("sendMessage", "807")) == 2 * 6  # the text, then the warning
    assert ordinary.outcome == emergency.outcome == urgent.outcome == "failed"


def test_a_reply_whose_warning_arrived_but_not_its_text_is_partial(bot_api: FakeBotAPI) -> None:
    bot_api.fail("808", None, forever=Fault(500))  # the warning goes through, then 500s
    report = send(bot_api, "808", {"text": "Call emergency services now.", "custom": EMERGENCY})
    assert bot_api.calls_to("sendMessage", "808")[0].text.startswith("🚨")
    assert report.metadata() == {"delivery": "partial", "delivery_error": "HTTP 500"}


def test_a_keyboard_refused_with_400_is_resent_without_it(bot_api: FakeBotAPI) -> None:
    bot_api.fail("809", Fault(400, description="Bad Request: BUTTON_DATA_INVALID"))
    report = send(
        bot_api, "809", {"text": "Pick one", "buttons": [{"title": "Is it safe?", "payload": "/ask_safety"}]}
    )
    refused, plain = bot_api.calls_to("sendMessage", "809")
    assert (refused.status, plain.status) == (400, 200)
    assert refused.keyboard and not plain.keyboard
    assert plain.text == "Pick one"
    assert report.outcome is None


def test_a_400_without_markup_is_not_retried(bot_api: FakeBotAPI) -> None:
    bot_api.fail("810", forever=Fault(400, description="Bad Request: message text is empty"))
    report = send(bot_api, "810", {"text": "hello"})
    assert statuses(bot_api, "810") == [400]
    assert report.outcome == "failed"


class Refusals(logging.Handler):
    """Notices the channel's "connection refused" retries as they are logged."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "network error (ClientConnectorError)" in record.getMessage():
            self.seen.set()


def test_an_unreachable_bot_api_that_comes_back_gets_the_reply(bot_api: FakeBotAPI) -> None:
    policies = delivery.policies(
        attempts=3, budget=10, escalation_attempts=40, escalation_budget=30, base_delay=0.01
    )
    refusals = Refusals()
    channel_logger = logging.getLogger("addons.telegram")
    channel_logger.addHandler(refusals)
    level = channel_logger.level
    channel_logger.setLevel(logging.INFO)

    def come_back_after_a_refusal() -> None:
        # The fake cannot see refused connections; the channel's log can. The policy
        # keeps trying for seconds, much longer than this thread needs to notice.
        assert refusals.seen.wait(60)
        bot_api.come_back()

    async def run() -> delivery.Report:
        channel = ClinicTelegramOutput(TOKEN, bot_api.base_url, policies=policies)
        try:
            with delivery.reporting() as report:
                await channel.send_response(
                    "811", {"text": "Call emergency services now.", "custom": EMERGENCY}
                )
            return report
        finally:
            await channel.close_session()

    bot_api.go_down()
    watcher = threading.Thread(target=come_back_after_a_refusal)
    watcher.start()
    try:
        report = run_async(run())
    finally:
        watcher.join(60)
        channel_logger.removeHandler(refusals)
        channel_logger.setLevel(level)
        if not bot_api.up:
            bot_api.come_back()
    assert [call.text[:12] for call in bot_api.calls_to("sendMessage", "811")] == [
        "🚨 EMERGENCY:",
        "Call emergen",
    ]
    assert report.outcome is None


def test_acknowledging_a_tap_is_tried_once(bot_api: FakeBotAPI) -> None:
    bot_api.fail("cbq", forever=Fault(500), method="answerCallbackQuery")

    async def run() -> Any:
        channel = ClinicTelegramOutput(TOKEN, bot_api.base_url, policies=FAST)
        try:
            with delivery.turn("update 2") as turn, delivery.reporting() as report:
                await channel.acknowledge("cbq-1")
            return turn, report
        finally:
            await channel.close_session()

    before = len(bot_api.calls_to("answerCallbackQuery"))
    turn, report = run_async(run())
    assert len(bot_api.calls_to("answerCallbackQuery")) == before + 1
    # No reply failed, and the turn's budget starts with its first reply, not the tap.
    assert report.outcome is None and turn.failed == 0 and turn.started is None


def test_the_processor_marks_the_bot_event_it_could_not_deliver() -> None:
    """The hook on Rasa's processor: each bot event's send is reported, and a failed
    one's metadata says so; a delivered one is left alone."""
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.events import BotUttered, SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    install_delivery_record()
    install_delivery_record()  # idempotent

    class Output:
        sent: List[Dict[str, Any]] = []

        async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
            self.sent.append(message)
            delivery.record(message["text"] != "lost", "HTTP 500")

    events = [
        BotUttered("kept", metadata={"utter_action": "utter_a"}),
        SlotSet("x", 1),
        BotUttered("lost", metadata={"utter_action": "utter_b"}),
    ]
    tracker = DialogueStateTracker("telegram:1", [])
    run_async(MessageProcessor._send_bot_messages(events, tracker, Output()))
    assert [message["text"] for message in Output.sent] == ["kept", "lost"]
    assert events[0].metadata == {"utter_action": "utter_a"}
    assert events[2].metadata == {
        "utter_action": "utter_b",
        "delivery": "failed",
        "delivery_error": "HTTP 500",
    }
    assert events[2].as_dict()["metadata"]["delivery"] == "failed"  # what the store saves


# --- End to end: Rasa's Telegram channel against the faulty fake Bot API ----------------------

#: The Rasa server's retry settings: small delays, 4 attempts for an answer, 8 for an
#: escalation (whose waits add up to more than a second, see the unreachable test).
E2E_SETTINGS = {
    "TELEGRAM_SEND_ATTEMPTS": "4",
    "TELEGRAM_SEND_BUDGET_SECONDS": "20",
    "TELEGRAM_ESCALATION_SEND_ATTEMPTS": "8",
    "TELEGRAM_ESCALATION_SEND_BUDGET_SECONDS": "40",
    "TELEGRAM_RETRY_DELAY_SECONDS": "0.05",
}
chat_ids = itertools.count(8_100_001)
update_ids = itertools.count(950_001)


@pytest.fixture(scope="module")
def stack(
    trained_model: Path, bot_api: FakeBotAPI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Action server + Rasa server with the Telegram channel pointed at the fake Bot API."""
    workdir = tmp_path_factory.mktemp("telegram-delivery")
    env = local_env(
        workdir,
        {
            "TELEGRAM_TOKEN": TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_BASE_URL": bot_api.base_url,
            **E2E_SETTINGS,
        },
    )
    servers = Stack(env, model=trained_model, with_web=False, log_dir=workdir / "logs")
    servers.start_all(timeout=240)
    yield servers
    servers.stop_all()


def rasa_log(stack: Stack) -> str:
    assert stack.log_dir is not None
    return (stack.log_dir / "rasa.log").read_text(errors="replace")


def post_update(stack: Stack, chat: int, text: str) -> int:
    """Posts a private text message as Telegram would; returns the webhook's status."""
    update = {
        "update_id": next(update_ids),
        "message": {
            "message_id": 1,
            "date": 1700000000,
            "text": text,
            "chat": {"id": chat, "type": "private", "first_name": "Zelda"},
            "from": {"id": chat, "is_bot": False, "first_name": "Zelda"},
        },
    }
    request = urllib.request.Request(
        stack.rasa_url + WEBHOOK_PATH,
        data=json.dumps(update).encode(),
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def bot_events(stack: Stack, chat: int) -> List[Dict[str, Any]]:
    """The conversation's stored bot events (the tracker store's SQLite file)."""
    url = stack.env["TRACKER_STORE_URL"]
    assert url.startswith("sqlite:///"), url
    with closing(sqlite3.connect(url[len("sqlite:///") :], timeout=10)) as db:
        rows = db.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'bot' ORDER BY id",
            (f"telegram:{chat}",),
        ).fetchall()
    return [json.loads(row[0]) for row in rows]


def sent(api: FakeBotAPI, chat: int, status: Optional[int] = None) -> List[Call]:
    return [
        call for call in api.calls_to("sendMessage", str(chat)) if status is None or call.status == status
    ]


#: The light question sent after every FAQ answer (knowledge/answers.yml).
FEEDBACK_QUESTION = "Was this helpful?"


def answer_calls(api: FakeBotAPI, chat: int, status: Optional[int] = None) -> List[Call]:
    """The attempts to send the answer itself, not the "Was this helpful?" after it."""
    return [call for call in sent(api, chat, status) if call.text != FEEDBACK_QUESTION]


@pytest.mark.e2e
def test_the_answer_arrives_after_server_errors(stack: Stack, bot_api: FakeBotAPI) -> None:
    chat = next(chat_ids)
    bot_api.fail(chat, Fault(500), Fault(502), Fault(drop=True))
    assert post_update(stack, chat, "how much does it cost?") == 200
    [reply] = answer_calls(bot_api, chat, 200)
    assert "$50 to $200" in reply.text and "/ask_insurance" in reply.callback_data
    assert [call.status for call in answer_calls(bot_api, chat)] == [500, 502, 0, 200]
    events = bot_events(stack, chat)
    assert len(events) == 2  # the answer and the feedback question, both delivered
    assert all("delivery" not in event["metadata"] for event in events)  # nothing to say


@pytest.mark.e2e
def test_the_answer_arrives_after_a_429_with_retry_after(stack: Stack, bot_api: FakeBotAPI) -> None:
    chat = next(chat_ids)
    bot_api.fail(chat, Fault(429, retry_after=1, description="Too Many Requests: retry after 1"))
    assert post_update(stack, chat, "is it safe?") == 200
    limited, delivered = answer_calls(bot_api, chat)
    assert (limited.status, delivered.status) == (429, 200)
    assert delivered.at - limited.at >= 0.95  # Telegram's wait, not the 0.05 s backoff
    assert "delivery" not in bot_events(stack, chat)[-1]["metadata"]


@pytest.mark.e2e
def test_an_emergency_reply_arrives_after_the_bot_api_was_unreachable(
    stack: Stack, bot_api: FakeBotAPI
) -> None:
    chat = next(chat_ids)
    refused = "network error (ClientConnectorError)"
    before = rasa_log(stack).count(refused)
    bot_api.go_down()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            status = pool.submit(post_update, stack, chat, "my chest hurts and I'm sweating")
            # Back once the server has logged a refused attempt (its retries go on for
            # more than a second: 8 attempts, 0.05 s doubling).
            wait_for_log(stack, lambda log: log.count(refused) > before)
            bot_api.come_back()
            assert status.result(timeout=120) == 200
    finally:
        if not bot_api.up:
            bot_api.come_back()
    warning, text = sent(bot_api, chat)
    assert warning.text.startswith("🚨 EMERGENCY: call 911 now")
    assert "Call emergency services now" in text.text
    [event] = bot_events(stack, chat)
    assert event["data"]["custom"]["escalation"]["level"] == "emergency"
    assert "delivery" not in event["metadata"]


def wait_for_log(stack: Stack, condition: Callable[[str], bool], timeout: float = 60) -> None:
    """Waits until the Rasa log meets ``condition`` (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition(rasa_log(stack)):
        assert time.monotonic() < deadline, "the Rasa log never showed a refused attempt"
        time.sleep(0.02)


@pytest.mark.e2e
def test_an_emergency_is_retried_harder_than_an_ordinary_answer(stack: Stack, bot_api: FakeBotAPI) -> None:
    ordinary, emergency = next(chat_ids), next(chat_ids)
    bot_api.fail(ordinary, forever=Fault(500))
    bot_api.fail(emergency, forever=Fault(500))
    assert post_update(stack, ordinary, "how much does it cost?") == 200
    assert post_update(stack, emergency, "my chest hurts and I'm sweating") == 200
    answer_attempts = len(answer_calls(bot_api, ordinary))
    warning_attempts = len([call for call in sent(bot_api, emergency) if call.text.startswith("🚨")])
    assert answer_attempts == 4 and warning_attempts == 8
    assert not sent(bot_api, ordinary, 200) and not sent(bot_api, emergency, 200)
    for chat in (ordinary, emergency):
        event = bot_events(stack, chat)[0]
        assert event["metadata"]["delivery"] == "failed"
        assert event["metadata"]["delivery_error"] == "HTTP 500"


@pytest.mark.e2e
def test_a_reply_that_cannot_be_delivered_is_recorded_and_logged_without_its_text(
    stack: Stack, bot_api: FakeBotAPI
) -> None:
    chat = next(chat_ids)
    bot_api.fail(chat, forever=Fault(403, description="Forbidden: bot was blocked by the user"))
    assert post_update(stack, chat, "does insurance pay for it?") == 200
    [refused] = answer_calls(bot_api, chat)  # a 403 will not get better: not retried
    assert refused.status == 403
    event = bot_events(stack, chat)[0]
    assert event["metadata"]["delivery"] == "failed"
    assert event["metadata"]["delivery_error"] == "HTTP 403"
    log = rasa_log(stack)
    errors = [line for line in log.splitlines() if "Telegram reply not delivered" in line]
    assert any("ERROR" in line and "HTTP 403 after 1 attempt(s)" in line for line in errors), errors
    for private in (event["text"][:40], refused.text[:40], "insurance pay", str(chat), "Zelda", TOKEN):
        assert private not in log


@pytest.mark.e2e
def test_an_emergency_whose_text_was_lost_after_its_warning_is_partial(
    stack: Stack, bot_api: FakeBotAPI
) -> None:
    chat = next(chat_ids)
    bot_api.fail(chat, None, forever=Fault(503))
    assert post_update(stack, chat, "I can't breathe and I'm drenched in sweat") == 200
    warning = sent(bot_api, chat)[0]
    assert warning.status == 200 and warning.text.startswith("🚨 EMERGENCY")
    [event] = bot_events(stack, chat)
    assert event["metadata"]["delivery"] == "partial"
    assert event["metadata"]["delivery_error"] == "HTTP 503"


@pytest.mark.e2e
def test_rest_replies_carry_no_delivery_record(stack: Stack) -> None:
    request = urllib.request.Request(
        stack.rasa_url + "/webhooks/rest/webhook",
        data=json.dumps({"sender": "delivery-rest", "message": "how much does it cost?"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert any("$50 to $200" in message.get("text", "") for message in json.loads(answer.read()))
    url = stack.env["TRACKER_STORE_URL"][len("sqlite:///") :]
    with closing(sqlite3.connect(url, timeout=10)) as db:
        rows = db.execute(
            "SELECT data FROM events WHERE sender_id = 'rest:delivery-rest' AND type_name = 'bot'"
        ).fetchall()
    assert rows and all("delivery" not in json.loads(row[0])["metadata"] for row in rows)
