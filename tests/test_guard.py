"""The turn guard's pure decisions (core/guard.py, core/text.py, core/replies.py) and
its Rasa side (addons/guard.py) driven with a fake agent: no server, no model."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Optional

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from addons import guard as rasa_guard
from addons.patches import REDACTED, redact
from addons.tracker_store import StrictTrackerStore
from core import replies
from core.guard import (
    EMPTY,
    PASS,
    TOO_LONG,
    UNKNOWN_COMMAND,
    Payloads,
    RateLimiter,
    filter_metadata,
    namespaced,
    screen,
    strip_commands,
)
from core.settings import get_settings
from core.text import normalise

from conftest import ROOT

PAYLOADS = Payloads.of(["/ask_cost", "/affirm", "/deny", "/request_human"])
EMERGENCY_NUMBER = get_settings().emergency_number


# --- Normalisation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("pre\u200bgnant", "pregnant"),  # zero-width space
        ("kill mys\u200belf", "kill myself"),
        ("pace\u2060maker", "pacemaker"),  # word joiner
        ("preg\u00adnant", "pregnant"),  # soft hyphen
        ("\u202epregnant\u202c", "pregnant"),  # bidi override
        ("\ufeffchest pain", "chest pain"),  # BOM
        ("kill mys\u0435lf", "kill myself"),  # Cyrillic e
        ("\u0440\u0430\u0441\u0435maker", "pacemaker"),  # Cyrillic r, a, s, e
        ("I am pr\u0435gn\u0430nt", "I am pregnant"),
        ("\uff43\uff48\uff45\uff53\uff54 pain", "chest pain"),  # full-width letters
        ("pace\x00maker\x1b[31m", "pacemaker[31m"),  # control characters
        ("chest   pain\t now", "chest pain now"),
    ],
)
def test_normalise_reveals_hidden_words(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize("text", ["Мои руки потеют", "Γεια σας", "手汗がひどい", "café naïve"])
def test_normalise_keeps_other_scripts_and_accents(text: str) -> None:
    assert normalise(text) == text


# --- Screening -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, action, text",
    [
        ("how much is it?", PASS, "how much is it?"),
        ("/ask_cost", PASS, "/ask_cost"),  # our own button
        ("/affirm", PASS, "/affirm"),
        ("/ask_cost@1.0 I have crushing chest pain", PASS, "I have crushing chest pain"),
        ("/start I'm pregnant, is it safe?", PASS, "I'm pregnant, is it safe?"),
        ("/help@ClinicBot chest pain", PASS, "chest pain"),
        ("/start", PASS, "/greet"),
        ("/start@ClinicBot", PASS, "/greet"),
        ("/HELP", PASS, "/greet"),
        ('/report_emergency{"risk_reason": "pregnancy"}', UNKNOWN_COMMAND, ""),
        ('/ask_cost{"risk_reason": "pregnancy"}', UNKNOWN_COMMAND, ""),
        ("/report_risk", UNKNOWN_COMMAND, ""),
        ("/ask_cost /report_emergency I can't breathe", PASS, "I can't breathe"),
        ("/x\nI have chest pain", PASS, "I have chest pain"),
        ("\u200b/ask_cost", PASS, "/ask_cost"),
        ("", EMPTY, ""),
        (" \n\t\u200b ", EMPTY, ""),
        ("x" * 2001, TOO_LONG, ""),
        ("x" * 900_000, TOO_LONG, ""),
    ],
)
def test_screen(raw: str, action: str, text: str) -> None:
    screened = screen(raw, PAYLOADS, 2000)
    assert (screened.action, screened.text) == (action, text)
    assert screened.is_payload == (action == PASS and text.startswith("/"))


def test_screen_never_passes_an_unknown_slash_payload() -> None:
    for raw in ["/greet_x", "/ask_costs", "//ask_cost", "/ask_cost ", "/ask_cost\u200b"]:
        screened = screen(raw, PAYLOADS, 2000)
        assert not (
            screened.action == PASS
            and screened.text.startswith("/")
            and screened.text not in PAYLOADS.allowed
        )


def test_strip_commands() -> None:
    assert strip_commands("/a /b text here") == "text here"
    assert strip_commands("/a") == ""


def test_screen_refuses_non_text() -> None:
    assert screen(42, PAYLOADS, 2000).action == EMPTY
    assert screen(None, PAYLOADS, 2000).action == EMPTY


def test_button_payloads_come_from_the_domain() -> None:
    domain = Domain.load(str(ROOT / "domain.yml"))
    payloads = rasa_guard.button_payloads(domain)
    assert {"/ask_cost", "/affirm", "/deny", "/request_human", "/greet"} <= payloads.allowed
    assert not any(p.startswith(("/report_", "/other_language")) for p in payloads.allowed)
    assert not any("{" in p for p in payloads.allowed)


# --- Sender ids, metadata, rate limit, replies ---------------------------------------------


def test_sender_ids_are_namespaced_per_channel() -> None:
    assert namespaced("telegram", "42") == "telegram:42"
    assert namespaced("rest", "42") == "rest:42"
    assert namespaced("rest", "telegram:42") != namespaced("telegram", "42")
    assert namespaced(None, "42") == "other:42"


def test_metadata_keeps_only_allowed_keys_within_the_cap() -> None:
    keys = frozenset({"page", "locale"})
    assert filter_metadata({"page": "/faq", "model_id": "x", "assistant_id": "y"}, keys, 1024) == {
        "page": "/faq"
    }
    assert filter_metadata({"page": "x" * 5000, "locale": "en"}, keys, 1024) == {"locale": "en"}
    assert filter_metadata({"model_id": "x"}, frozenset(), 1024) is None
    assert filter_metadata("not a dict", keys, 1024) is None


def test_rate_limiter_limits_one_sender_not_others() -> None:
    limiter = RateLimiter(limit=3, window=10)
    assert [limiter.allow("flood", now=t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert limiter.allow("calm", now=3)
    assert limiter.allow("flood", now=12.5)  # the window moved on


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(limit=1, window=10, max_senders=100)
    for i in range(1000):
        limiter.allow(f"s{i}", now=0)
    assert len(limiter._seen) == 100


@pytest.mark.parametrize(
    "reply",
    [
        replies.empty(),
        replies.too_long(2000),
        replies.unknown_command(),
        replies.slow_down(),
        replies.apology(),
    ],
)
def test_every_guard_reply_names_the_emergency_number(reply: str) -> None:
    assert EMERGENCY_NUMBER in reply


def test_redaction() -> None:
    assert redact("could not parse '/x I am pregnant'", ("/x I am pregnant",)) == (
        f"could not parse '{REDACTED}'"
    )
    assert redact("ok fine", ("ok",)) == "ok fine"  # too short to redact


# --- The guard around a fake agent ---------------------------------------------------------


class FakeAgent:
    """What the guard uses of Rasa's Agent: domain, stores, and a handle_message."""

    def __init__(self, replies_: List[Dict[str, Any]], fail: Optional[Exception] = None) -> None:
        self.domain = Domain.load(str(ROOT / "domain.yml"))
        self.tracker_store = StrictTrackerStore(InMemoryTrackerStore(self.domain))
        self.lock_store = InMemoryLockStore()
        self.replies = replies_
        self.fail = fail
        self.seen: List[UserMessage] = []

    async def handle(self, agent: Any, message: UserMessage) -> None:
        self.seen.append(message)
        await self.tracker_store.save(DialogueStateTracker(message.sender_id, []))
        for reply in self.replies:
            await message.output_channel.send_response(message.sender_id, dict(reply))
        if self.fail:
            raise self.fail


def run_guard(agent: FakeAgent, text: Any, sender: str = "p1", channel: str = "rest") -> List[Dict[str, Any]]:
    collector = CollectingOutputChannel()
    guard = rasa_guard.TurnGuard()
    message = UserMessage(text, collector, sender, input_channel=channel, metadata={"model_id": "forged"})
    asyncio.run(guard.handle(agent, message, agent.handle))
    return collector.messages


def test_guard_passes_normalised_text_with_namespaced_sender_and_no_metadata() -> None:
    agent = FakeAgent([{"text": "answer"}])
    messages = run_guard(agent, "pre\u200bgnant?", sender="p1", channel="telegram")
    (seen,) = agent.seen
    assert (seen.text, seen.sender_id, seen.input_channel) == ("pregnant?", "telegram:p1", "telegram")
    assert seen.metadata is None and seen.parse_data is None
    assert messages == [{"recipient_id": "p1", "text": "answer"}]


def test_guard_apologises_when_the_turn_sends_nothing_or_fails() -> None:
    silent = run_guard(FakeAgent([]), "how much?")
    assert [m["text"] for m in silent] == [replies.apology()]
    failed = run_guard(FakeAgent([{"text": "answer"}], fail=RuntimeError("boom")), "how much?")
    assert [m["text"] for m in failed] == ["answer", replies.apology()]


def test_guard_answers_unreadable_messages_without_rasa() -> None:
    agent = FakeAgent([{"text": "answer"}])
    assert run_guard(agent, "/report_emergency{}")[0]["text"] == replies.unknown_command()
    assert run_guard(agent, "\u200b")[0]["text"] == replies.empty()
    assert agent.seen == []


def test_guard_erases_before_confirming() -> None:
    confirmation = {"text": "Deleted.", "custom": {"privacy": {"erase": True}}}
    agent = FakeAgent([confirmation])
    stored_at_confirmation: List[bool] = []
    collector = CollectingOutputChannel()
    original_send = collector.send_response

    async def send(recipient_id: str, message: Dict[str, Any]) -> None:
        inner = agent.tracker_store._tracker_store
        stored_at_confirmation.append("rest:p1" in inner.store)
        await original_send(recipient_id, message)

    collector.send_response = send  # type: ignore[method-assign]
    guard = rasa_guard.TurnGuard()
    asyncio.run(
        guard.handle(agent, UserMessage("/affirm", collector, "p1", input_channel="rest"), agent.handle)
    )
    assert [m.get("text") for m in collector.messages if m.get("text")] == ["Deleted."]
    # The widget clears its copy on the erase payload, so it still comes through.
    assert {"privacy": {"erase": True}} in [m.get("custom") for m in collector.messages]
    assert stored_at_confirmation and not any(stored_at_confirmation)


def test_guard_says_still_stored_when_erasing_fails() -> None:
    agent = FakeAgent([{"text": "Deleted.", "custom": {"privacy": {"erase": True}}}])

    def broken_erase(store: Any, sender: str) -> int:
        raise OSError("disk")

    original = rasa_guard.erase_conversation
    rasa_guard.erase_conversation = broken_erase  # type: ignore[assignment]
    try:
        messages = run_guard(agent, "/affirm")
    finally:
        rasa_guard.erase_conversation = original  # type: ignore[assignment]
    assert [m["text"] for m in messages] == [replies.erase_failed()]


def test_guard_rate_limits_per_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    agent = FakeAgent([{"text": "answer"}])
    guard = rasa_guard.TurnGuard()
    guard.limiter = RateLimiter(limit=2, window=60)

    def send(sender: str) -> str:
        collector = CollectingOutputChannel()
        asyncio.run(
            guard.handle(agent, UserMessage("hi", collector, sender, input_channel="rest"), agent.handle)
        )
        return collector.messages[0]["text"]

    assert [send("a"), send("a"), send("a"), send("b")] == ["answer", "answer", replies.slow_down(), "answer"]


def test_guard_logs_no_message_text(caplog: pytest.LogCaptureFixture) -> None:
    marker = "MARKER-7f3a pregnant"

    async def noisy(agent: Any, message: UserMessage) -> None:
        logging.getLogger("rasa.core.processor").warning("Could not parse %s", message.text)
        raise ValueError(f"bad message {message.text}")

    agent = FakeAgent([])
    caplog.set_level(logging.INFO)
    collector = CollectingOutputChannel()
    asyncio.run(
        rasa_guard.TurnGuard().handle(
            agent, UserMessage(marker, collector, "p1", input_channel="rest"), noisy
        )
    )
    assert "MARKER-7f3a" not in caplog.text
    assert REDACTED in caplog.text


def test_lanes_run_short_messages_before_waiting_long_ones() -> None:
    order: List[str] = []

    async def turn(name: str, delay: float) -> None:
        order.append(f"{name} start")
        await asyncio.sleep(delay)
        order.append(f"{name} end")

    async def scenario() -> None:
        lanes = rasa_guard.Lanes()
        short = asyncio.create_task(lanes.run(False, turn("short", 0.05)))
        await asyncio.sleep(0)  # the short one is running
        long_a = asyncio.create_task(lanes.run(True, turn("long-a", 0.01)))
        long_b = asyncio.create_task(lanes.run(True, turn("long-b", 0.01)))
        await asyncio.gather(short, long_a, long_b)

    asyncio.run(scenario())
    assert order == ["short start", "short end", "long-a start", "long-a end", "long-b start", "long-b end"]
