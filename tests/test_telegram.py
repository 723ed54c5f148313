"""The Telegram channel (addons/telegram.py) and its webhook script.

Unit tests cover the pure helpers, the configuration checks and the output channel
against a fake Bot API (tests/telegram_fake_api.py). The end-to-end tests start their
own action server + Rasa server whose TELEGRAM_* settings point at the fake Bot API,
post updates to the webhook as Telegram would, and check what the bot sent back.

The channel passes the patient's raw text to Rasa; the turn guard (addons/guard.py,
installed by addons/patches.py around Agent.handle_message) handles commands, button
payloads, the sender id namespacing (``telegram:<chat id>``), the "no reply" apology and
"delete my data". The end-to-end tests marked "NEEDS THE GUARD" check that contract
through the real server: they fail until addons/guard.py says ``GUARD_READY = True``.
They are requirements, so they are neither skipped nor xfail'ed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any, Awaitable, Callable, Coroutine, Dict, Iterator, List, Optional, Tuple

import pytest

from addons.telegram import (
    CALLBACK_DATA_LIMIT,
    EXPIRED_BUTTON_REPLY,
    CallbackPayloads,
    ClinicTelegramInput,
    ClinicTelegramOutput,
    RecentUpdates,
    chat_id_of,
    content_type,
    format_escalation,
    message_text,
    secret_matches,
    split_message,
    text_only_reply,
    update_type,
)
from core.settings import get_settings

import telegram_webhook
from serve import Stack, local_env
from telegram_fake_api import Call, FakeBotAPI

TOKEN = "123456:TEST"
SECRET = "test-secret_0123456789"
BOT_USERNAME = "SweatClinicTestBot"
WEBHOOK_PATH = "/webhooks/telegram/webhook"


# --- Pure helpers -----------------------------------------------------------------------


def test_split_message_keeps_short_text_whole() -> None:
    assert split_message("  Hello there.  ") == ["Hello there."]
    assert split_message("   ") == []


def test_split_message_cuts_long_text_at_breaks_below_the_limit() -> None:
    paragraph = ("Iontophoresis uses a mild current. " * 30).strip()
    text = "\n\n".join([paragraph] * 12)  # about 12 x 1050 characters
    parts = split_message(text)
    assert len(parts) > 1
    assert all(len(part) <= 4000 for part in parts)
    assert all(part == part.strip() and part.endswith(".") for part in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())


def test_split_message_without_spaces_and_with_emoji() -> None:
    assert [len(part) for part in split_message("x" * 9000)] == [4000, 4000, 1000]
    # Emoji outside the BMP count twice, as Telegram counts UTF-16 code units.
    parts = split_message("😀" * 3000)
    assert [len(part) for part in parts] == [2000, 1000]
    assert split_message("a b c d e f", limit=5) == ["a b c", "d e f"]


def test_callback_payloads_short_ones_travel_as_they_are() -> None:
    callbacks = CallbackPayloads()
    assert callbacks.encode("/ask_insurance") == "/ask_insurance"
    assert callbacks.decode("/ask_insurance") == "/ask_insurance"


def test_callback_payloads_long_ones_are_hashed_within_64_bytes() -> None:
    callbacks = CallbackPayloads()
    long_payload = '/ask_cost{"topic": "' + "é" * 60 + '"}'
    assert len(long_payload.encode()) > CALLBACK_DATA_LIMIT
    data = callbacks.encode(long_payload)
    assert len(data.encode()) <= CALLBACK_DATA_LIMIT
    assert data == callbacks.encode(long_payload)  # stable
    assert callbacks.decode(data) == long_payload
    # A payload that looks like a hash is hashed too, so it cannot be confused.
    assert callbacks.decode(callbacks.encode("#abc")) == "#abc"
    assert callbacks.decode("#unknown") is None


def test_callback_payloads_memory_is_bounded() -> None:
    callbacks = CallbackPayloads(capacity=3)
    data = [callbacks.encode("/x" * 40 + str(number)) for number in range(5)]
    assert callbacks.decode(data[0]) is None
    assert callbacks.decode(data[4]) == "/x" * 40 + "4"


def test_recent_updates_answers_a_repeat_once_with_bounded_memory() -> None:
    recent = RecentUpdates(capacity=2)
    assert recent.seen(1) is False
    assert recent.seen(1) is True
    recent.seen(2)
    recent.seen(3)
    assert recent.seen(1) is False  # forgotten: only the last two are kept


def test_format_escalation_emergency_leads_with_the_number() -> None:
    warning = format_escalation({"level": "emergency", "reason": "chest_pain", "phone": "911"})
    assert warning is not None and warning.startswith("🚨 EMERGENCY: call 911 now")
    assert "chest_pain" not in warning
    assert "EMERGENCY" in format_escalation({"level": "emergency"})  # type: ignore[operator]


def test_format_escalation_urgent_gives_phone_and_booking() -> None:
    warning = format_escalation(
        {
            "level": "urgent",
            "reason": "pregnancy",
            "phone": "+1 555 010 0100",
            "booking_url": "https://sweatclinic.example/book",
        }
    )
    assert warning == (
        "⚠️ IMPORTANT: please see a healthcare professional before using iontophoresis. "
        "Call +1 555 010 0100 or book at https://sweatclinic.example/book."
    )
    bare = format_escalation({"level": "urgent"})
    assert bare is not None and bare.endswith("iontophoresis.")
    assert format_escalation("urgent") is None


def test_secret_matches() -> None:
    assert secret_matches(SECRET, SECRET)
    assert not secret_matches(SECRET, SECRET + "x")
    assert not secret_matches(SECRET, None)
    assert not secret_matches(SECRET, "")
    assert not secret_matches(None, "")
    assert not secret_matches(SECRET, "ünïcode")


def test_content_and_update_types() -> None:
    assert content_type({"text": "hi"}) == "text"
    assert content_type({"photo": [], "caption": "hi"}) == "photo"
    assert content_type({"sticker": {}}) == "sticker"
    assert content_type({"new_chat_members": []}) == "service"
    assert update_type({"update_id": 1, "message": {"voice": {}}}) == "message/voice"
    assert update_type({"update_id": 1, "message": {"photo": [], "caption": "hi"}}) == (
        "message/photo+caption"
    )
    assert update_type({"update_id": 1, "message": {"photo": [], "caption": " "}}) == ("message/photo")
    assert update_type({"update_id": 1, "edited_message": {"text": "hi"}}) == ("edited_message/text")
    assert update_type({"update_id": 1, "edited_message": {"video": {}, "caption": "hi"}}) == (
        "edited_message/video+caption"
    )
    assert update_type({"update_id": 1, "edited_message": {"location": {}}}) == ("edited_message/location")
    assert update_type({"update_id": 1, "edited_message": "?"}) == "edited_message"
    assert update_type({"update_id": 1, "channel_post": {"text": "news"}}) == "channel_post"
    assert update_type({"update_id": 1}) == "empty"


@pytest.mark.parametrize("kind", ["photo", "document", "video", "animation", "audio", "voice"])
def test_a_caption_is_the_patients_text(kind: str) -> None:
    caption = "/help I have chest pain"
    assert message_text({kind: {}, "caption": caption}) == caption  # raw: commands too


def test_message_text_is_raw_and_none_without_text_or_caption() -> None:
    assert message_text({"text": f"/start@{BOT_USERNAME} hi"}) == f"/start@{BOT_USERNAME} hi"
    assert message_text({"text": ""}) == ""  # a text message: the guard decides
    assert message_text({"text": "hi", "caption": "ignored"}) == "hi"
    assert message_text({"photo": []}) is None
    assert message_text({"photo": [], "caption": "   "}) is None
    assert message_text({"photo": [], "caption": 42}) is None
    assert message_text({"sticker": {}, "caption": "stickers have none"}) is None
    assert message_text({"pinned_message": {}, "caption": "service"}) is None


def test_text_only_reply_names_the_emergency_number_read_at_reply_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert text_only_reply() == (
        "Sorry, I can only read text messages. If this is an emergency, call "
        f"{get_settings().emergency_number} now."
    )
    assert "911" in text_only_reply()
    clinic = tmp_path / "clinic.yml"
    clinic.write_text(
        'clinic_name: "Test Clinic"\nclinic_phone: "+44 20 7946 0000"\n'
        'booking_url: "https://test.example/book"\nemergency_number: "999 in the UK"\n'
        'emergency_tel: "999"\ncrisis_line: "116 123"\n',
        encoding="utf-8",
    )
    try:
        monkeypatch.setenv("CLINIC_SETTINGS", str(clinic))
        get_settings.cache_clear()
        assert text_only_reply().endswith("If this is an emergency, call 999 in the UK now.")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert "911" in text_only_reply()


def test_chat_id_of_strips_the_guards_namespace_only() -> None:
    assert chat_id_of("telegram:7001") == "7001"
    assert chat_id_of("7001") == "7001"
    assert chat_id_of(-100123) == "-100123"
    assert chat_id_of("rest:7001") == "rest:7001"


@pytest.mark.parametrize(
    "credentials, problem",
    [
        ({}, "TELEGRAM_TOKEN is not set"),
        ({"access_token": "", "secret_token": ""}, "TELEGRAM_TOKEN is not set"),
        ({"access_token": "not-a-token", "secret_token": SECRET}, "does not look like"),
        ({"access_token": TOKEN, "secret_token": ""}, "TELEGRAM_WEBHOOK_SECRET is not set"),
        ({"access_token": TOKEN, "secret_token": "has spaces"}, "must be 1-256"),
        ({"access_token": TOKEN, "secret_token": SECRET, "api_base_url": ""}, None),
    ],
)
def test_channel_stays_off_until_token_and_secret_are_valid(
    credentials: Dict[str, str], problem: Optional[str]
) -> None:
    channel = ClinicTelegramInput.from_credentials(credentials)
    assert channel.name() == "telegram"
    if problem is None:
        assert channel.enabled and channel.api_base_url is None
        assert isinstance(channel.get_output_channel(), ClinicTelegramOutput)
        assert channel.get_output_channel() is channel.get_output_channel()
    else:
        assert problem in (channel.disabled_reason or "")
        assert channel.get_output_channel() is None


# --- Output channel against the fake Bot API --------------------------------------------


@pytest.fixture(scope="module")
def bot_api() -> Iterator[FakeBotAPI]:
    api = FakeBotAPI(token=TOKEN).start()
    yield api
    api.stop()


def run_async(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Runs a coroutine on a fresh event loop in a thread of its own, whatever loop the
    session's main thread has running (the browser tests' Playwright keeps one)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)


def with_output(
    api: FakeBotAPI, scenario: Callable[[ClinicTelegramOutput], Awaitable[Any]], token: str = TOKEN
) -> ClinicTelegramOutput:
    """Runs ``scenario`` with an output channel pointed at the fake Bot API."""

    async def run() -> ClinicTelegramOutput:
        channel = ClinicTelegramOutput(token, api.base_url)
        try:
            await scenario(channel)
        finally:
            await channel.close_session()
        return channel

    return run_async(run())


def test_output_sends_buttons_as_an_inline_keyboard(bot_api: FakeBotAPI) -> None:
    long_payload = "/ask_cost" + "x" * 80
    output = with_output(
        bot_api,
        lambda channel: channel.send_response(
            "501",
            {
                "text": "Pick one",
                "buttons": [
                    {"title": "Does insurance cover it?", "payload": "/ask_insurance"},
                    {"title": "Long", "payload": long_payload},
                ],
            },
        ),
    )
    [call] = bot_api.calls_to("sendMessage", "501")
    assert call.text == "Pick one"
    assert "parse_mode" not in call.params  # plain text: nothing to escape
    assert call.keyboard[0] == [{"text": "Does insurance cover it?", "callback_data": "/ask_insurance"}]
    hashed = call.callback_data[1]
    assert len(hashed.encode()) <= 64 and output.callbacks.decode(hashed) == long_payload


def test_output_splits_long_text_and_keeps_the_keyboard_last(bot_api: FakeBotAPI) -> None:
    with_output(
        bot_api,
        lambda channel: channel.send_text_with_buttons(
            "502", "word " * 2000, [{"title": "Is it safe?", "payload": "/ask_safety"}]
        ),
    )
    calls = bot_api.calls_to("sendMessage", "502")
    assert len(calls) == 3 and all(len(call.text) <= 4000 for call in calls)
    assert [bool(call.keyboard) for call in calls] == [False, False, True]


def test_output_emergency_warning_comes_first(bot_api: FakeBotAPI) -> None:
    with_output(
        bot_api,
        lambda channel: channel.send_response(
            "503",
            {
                "text": "Call emergency services now: 911 in the US.",
                "custom": {"escalation": {"level": "emergency", "reason": "chest_pain", "phone": "911"}},
            },
        ),
    )
    texts = [call.text for call in bot_api.calls_to("sendMessage", "503")]
    assert texts[0].startswith("🚨 EMERGENCY: call 911 now")
    assert texts[1] == "Call emergency services now: 911 in the US."


def test_output_urgent_warning_follows_and_other_custom_json_uses_rasa(
    bot_api: FakeBotAPI,
) -> None:
    async def scenario(channel: ClinicTelegramOutput) -> None:
        await channel.send_response(
            "504",
            {
                "text": "Please see a healthcare professional.",
                "custom": {"escalation": {"level": "urgent", "phone": "+1 555 010 0100"}},
            },
        )
        await channel.send_custom_json("504", {"text": "custom text"})

    with_output(bot_api, scenario)
    texts = [call.text for call in bot_api.calls_to("sendMessage", "504")]
    assert texts[0] == "Please see a healthcare professional."
    assert texts[1].startswith("⚠️") and "+1 555 010 0100" in texts[1]
    assert texts[2] == "custom text"


def test_output_hides_the_erase_instruction_and_sends_to_the_plain_chat_id(
    bot_api: FakeBotAPI,
) -> None:
    async def scenario(channel: ClinicTelegramOutput) -> None:
        # What Rasa sends for utter_conversation_deleted, to a namespaced recipient.
        await channel.send_response(
            "telegram:506",
            {"text": "Done: I've deleted this conversation.", "custom": {"privacy": {"erase": True}}},
        )
        await channel.send_response(
            "telegram:506",
            {
                "text": "Call emergency services now.",
                "custom": {"escalation": {"level": "emergency", "phone": "911"}},
                "buttons": [{"title": "Contact the clinic", "payload": "/request_human"}],
            },
        )

    with_output(bot_api, scenario)
    assert bot_api.calls_to("sendMessage", "telegram:506") == []
    calls = bot_api.calls_to("sendMessage", "506")
    assert [call.text for call in calls] == [
        "Done: I've deleted this conversation.",
        "🚨 EMERGENCY: call 911 now (or your local emergency number).",
        "Call emergency services now.",
    ]
    assert [call.callback_data for call in calls] == [[], [], ["/request_human"]]
    assert not any("privacy" in json.dumps(call.params) for call in bot_api.calls)


def test_output_survives_bot_api_errors(bot_api: FakeBotAPI) -> None:
    async def scenario(channel: ClinicTelegramOutput) -> None:
        await channel.send_text_message("505", "hello")  # the fake answers 401
        await channel.acknowledge("cb-1")

    with_output(bot_api, scenario, token="999:WRONG")
    assert bot_api.calls_to("sendMessage", "505") == []


# --- The webhook handler in-process (no Rasa) --------------------------------------------


class StubRequest:
    """What the handler reads from a Sanic request."""

    def __init__(self, body: bytes, secret: Optional[str] = SECRET) -> None:
        self.body = body
        self.headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}


def receive_all(
    channel: ClinicTelegramInput,
    requests: List[StubRequest],
    on_new_message: Callable[[Any], Awaitable[Any]],
) -> List[int]:
    """Hands the requests to the webhook handler in turn; returns the HTTP statuses."""

    async def run() -> List[int]:
        try:
            statuses = []
            for request in requests:
                answer = await channel.receive(request, on_new_message)  # type: ignore[arg-type]
                statuses.append(answer.status)
            return statuses
        finally:
            output = channel.get_output_channel()
            if output is not None:
                await output.close_session()

    return run_async(run())


def test_handler_logs_update_ids_and_types_only(
    bot_api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    channel = ClinicTelegramInput(TOKEN, BOT_USERNAME, None, SECRET, bot_api.base_url)
    received: List[Any] = []

    async def on_new_message(message: Any) -> None:
        received.append(message)

    update = json.dumps(
        {
            "update_id": 4242,
            "message": {
                "message_id": 1,
                "date": 1700000000,
                "text": "Secret-phrase about my armpits",
                "chat": {"id": 606, "type": "private", "first_name": "Zelda"},
                "from": {"id": 606, "is_bot": False, "first_name": "Zelda", "username": "zelda_q"},
            },
        }
    )
    caplog.set_level("DEBUG", logger="addons.telegram")
    statuses = receive_all(
        channel,
        [StubRequest(update.encode()), StubRequest(update.encode()), StubRequest(b"{}", secret="nope")],
        on_new_message,
    )
    assert statuses == [200, 200, 403]
    [message] = received
    assert (message.text, message.sender_id, message.input_channel) == (
        "Secret-phrase about my armpits",
        "606",
        "telegram",
    )
    assert message.metadata is None  # no names in the tracker either
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Telegram update 4242 (message/text)" in logged and "duplicate" in logged
    for private in ("Secret-phrase", "armpits", "Zelda", "zelda_q", "606", SECRET, TOKEN):
        assert private not in logged


def test_handler_is_off_without_settings() -> None:
    channel = ClinicTelegramInput.from_credentials(
        dict.fromkeys(["access_token", "verify", "webhook_url", "secret_token", "api_base_url"], "")
    )

    async def on_new_message(message: Any) -> None:
        raise AssertionError("the assistant must not see it")

    assert receive_all(channel, [StubRequest(b'{"update_id": 1}')], on_new_message) == [503]


def test_handler_answers_200_when_the_assistant_fails(
    bot_api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    channel = ClinicTelegramInput(TOKEN, None, None, SECRET, bot_api.base_url)

    async def on_new_message(message: Any) -> None:
        raise RuntimeError(f"Rasa broke on {message.text!r}")

    update = {
        "update_id": 1,
        "message": {"message_id": 1, "date": 0, "text": "my armpits", "chat": {"id": 607, "type": "private"}},
    }
    caplog.set_level("DEBUG", logger="addons.telegram")
    statuses = receive_all(channel, [StubRequest(json.dumps(update).encode())], on_new_message)
    assert statuses == [200]  # a retry would only repeat the failure
    # The turn guard apologises (it never raises); the channel adds no reply of its own.
    assert bot_api.calls_to("sendMessage", "607") == []
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Telegram update 1: failed with RuntimeError" in logged
    assert "armpits" not in logged and "Rasa broke" not in logged
    assert not any(record.exc_info for record in caplog.records)


def _private(chat: int) -> Dict[str, Any]:
    return {"id": chat, "type": "private", "first_name": "Zelda"}


def test_handler_passes_raw_text_captions_and_edits_to_rasa(bot_api: FakeBotAPI) -> None:
    """Texts, captions and edits reach Rasa as the patient wrote them (commands too: the
    turn guard handles them); media without a caption get the text-only reply; edits
    without text (live locations) and group messages are ignored."""
    chat = 608
    channel = ClinicTelegramInput(TOKEN, BOT_USERNAME, None, SECRET, bot_api.base_url)
    received: List[Any] = []

    async def on_new_message(message: Any) -> None:
        received.append(message)

    base = {"message_id": 5, "date": 1700000000, "chat": _private(chat)}
    edit = {**base, "edit_date": 1700000100}
    group = {"id": -chat, "type": "group", "title": "Sweaty hands"}
    updates = [
        (11, "message", {**base, "text": f"/start@{BOT_USERNAME}"}),
        (12, "message", {**base, "text": "/help I have chest pain"}),
        (13, "message", {**base, "photo": [{"file_id": "p"}], "caption": "crushing chest pain"}),
        (14, "message", {**base, "document": {"file_id": "d"}, "caption": "is this rash normal?"}),
        (15, "edited_message", {**edit, "text": "I'm pregnant, can I use it?"}),
        (16, "edited_message", {**edit, "video": {"file_id": "v"}, "caption": "edited caption"}),
        (17, "edited_message", {**edit, "location": {"latitude": 1.0, "longitude": 2.0}}),
        (18, "edited_message", {**edit, "chat": group, "text": "I'm pregnant"}),
        (19, "message", {**base, "photo": [{"file_id": "p"}]}),
        (20, "message", {**base, "voice": {"file_id": "v"}, "caption": "  "}),
    ]
    requests = [
        StubRequest(json.dumps({"update_id": update_id, kind: message}).encode())
        for update_id, kind, message in updates
    ]
    assert receive_all(channel, requests, on_new_message) == [200] * len(updates)
    assert [(m.text, m.sender_id, m.input_channel, m.message_id, m.metadata) for m in received] == [
        (f"/start@{BOT_USERNAME}", "608", "telegram", "telegram-11", None),
        ("/help I have chest pain", "608", "telegram", "telegram-12", None),
        ("crushing chest pain", "608", "telegram", "telegram-13", None),
        ("is this rash normal?", "608", "telegram", "telegram-14", None),
        ("I'm pregnant, can I use it?", "608", "telegram", "telegram-15", None),
        ("edited caption", "608", "telegram", "telegram-16", None),
    ]
    assert all(isinstance(m.output_channel, ClinicTelegramOutput) for m in received)
    # Only the photo and the voice note without a (real) caption were answered here.
    assert [call.text for call in bot_api.calls_to("sendMessage", "608")] == ([text_only_reply()] * 2)
    assert bot_api.calls_to("sendMessage", str(-chat)) == []


# --- The webhook script -----------------------------------------------------------------


def script_env(api: FakeBotAPI, **overrides: str) -> Dict[str, str]:
    env = {
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_URL": "https://bot.sweatclinic.example/webhooks/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_BASE_URL": api.base_url,
    }
    env.update(overrides)
    return env


def test_webhook_script_registers_url_secret_and_update_types(
    bot_api: FakeBotAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    assert telegram_webhook.main(["set", "--drop-pending-updates"], script_env(bot_api)) == 0
    params = bot_api.calls_to("setWebhook")[-1].params
    assert params == {
        "url": "https://bot.sweatclinic.example/webhooks/telegram/webhook",
        "secret_token": SECRET,
        "allowed_updates": ["message", "edited_message", "callback_query"],
        "drop_pending_updates": True,
    }
    assert telegram_webhook.main(["info"], script_env(bot_api)) == 0
    assert telegram_webhook.main(["delete"], script_env(bot_api)) == 0
    out = capsys.readouterr().out
    assert "Webhook set" in out and "Pending updates" in out and "Webhook deleted" in out
    assert SECRET not in out and TOKEN not in out


def test_webhook_script_agrees_with_the_channel() -> None:
    import addons.telegram as channel

    assert telegram_webhook.ALLOWED_UPDATES == list(channel.ALLOWED_UPDATES)
    assert telegram_webhook.SECRET_PATTERN.pattern == channel.SECRET_PATTERN.pattern


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"TELEGRAM_WEBHOOK_SECRET": ""}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"TELEGRAM_WEBHOOK_SECRET": "bad secret!"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"TELEGRAM_WEBHOOK_URL": ""}, "TELEGRAM_WEBHOOK_URL is not set"),
        (
            {"TELEGRAM_WEBHOOK_URL": "http://x.example/hook", "TELEGRAM_API_BASE_URL": ""},
            "https://",
        ),
        ({"TELEGRAM_TOKEN": ""}, "TELEGRAM_TOKEN"),
        ({"TELEGRAM_TOKEN": "123456:WRONG"}, "HTTP 401 Unauthorized"),
    ],
)
def test_webhook_script_refuses_bad_settings(
    bot_api: FakeBotAPI, capsys: pytest.CaptureFixture[str], overrides: Dict[str, str], message: str
) -> None:
    before = len(bot_api.calls_to("setWebhook"))
    assert telegram_webhook.main(["set"], script_env(bot_api, **overrides)) == 1
    assert message in capsys.readouterr().err
    assert len(bot_api.calls_to("setWebhook")) == before


# --- End to end: Rasa with the Telegram channel -----------------------------------------


def post_json(url: str, payload: Any, timeout: float = 30) -> Any:
    status, answer = post_raw(url, json.dumps(payload).encode(), secret=None, timeout=timeout)
    assert status == 200, (status, answer)
    return answer


chat_ids = itertools.count(7_000_001)
update_ids = itertools.count(900_001)


def telegram_env(workdir: Path, api: FakeBotAPI) -> Dict[str, str]:
    """The servers' environment with the Telegram channel pointed at the fake Bot API."""
    return local_env(
        workdir,
        {
            "TELEGRAM_TOKEN": TOKEN,
            "TELEGRAM_BOT_USERNAME": BOT_USERNAME,
            "TELEGRAM_WEBHOOK_URL": "https://bot.sweatclinic.example/webhooks/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_BASE_URL": api.base_url,
        },
    )


@pytest.fixture(scope="module")
def telegram_stack(
    trained_model: Path, bot_api: FakeBotAPI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Action server + Rasa server with the Telegram channel pointed at the fake Bot API."""
    workdir = tmp_path_factory.mktemp("telegram")
    env = telegram_env(workdir, bot_api)
    stack = Stack(env, model=trained_model, with_web=False, log_dir=workdir / "logs")
    stack.start_all(timeout=240)
    stack.log_path = workdir / "logs" / "rasa.log"  # type: ignore[attr-defined]
    yield stack
    stack.stop_all()


def post_raw(url: str, body: bytes, secret: Optional[str] = SECRET, timeout: float = 60) -> Tuple[int, Any]:
    """POSTs ``body`` as Telegram would; returns (status, decoded JSON answer)."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def send_update(stack: Stack, update: Dict[str, Any], secret: Optional[str] = SECRET) -> int:
    status, _ = post_raw(stack.rasa_url + WEBHOOK_PATH, json.dumps(update).encode(), secret)
    return status


def user(chat_id: int) -> Dict[str, Any]:
    return {
        "id": chat_id,
        "is_bot": False,
        "first_name": "Zelda",
        "last_name": "Quixotic",
        "username": "zelda_q",
    }


def message_update(chat_id: int, chat_type: str = "private", **content: Any) -> Dict[str, Any]:
    chat = {"id": chat_id, "type": chat_type}
    if chat_type == "private":
        chat.update(first_name="Zelda")
    return {
        "update_id": next(update_ids),
        "message": {"message_id": 1, "date": 1700000000, "chat": chat, "from": user(chat_id), **content},
    }


def edited_update(chat_id: int, message_id: int = 1, **content: Any) -> Dict[str, Any]:
    """The patient edited an earlier message (``message_id``) of the chat."""
    update = message_update(chat_id, message_id=message_id, edit_date=1700000100, **content)
    update["edited_message"] = update.pop("message")
    return update


def button_tap(chat_id: int, data: str) -> Dict[str, Any]:
    return {
        "update_id": next(update_ids),
        "callback_query": {
            "id": f"cbq-{chat_id}-{data}",
            "from": user(chat_id),
            "chat_instance": "42",
            "data": data,
            "message": {
                "message_id": 7,
                "date": 1700000000,
                "text": "earlier answer",
                "chat": {"id": chat_id, "type": "private"},
            },
        },
    }


def replies(api: FakeBotAPI, chat_id: int) -> List[Call]:
    return api.calls_to("sendMessage", str(chat_id))


FEEDBACK_QUESTION = "Was this helpful?"


def answer_and_feedback(api: FakeBotAPI, chat_id: int) -> Call:
    """The one answer to an FAQ question, checking that the light "Was this helpful?"
    with its 👍 / 👎 keyboard follows it."""
    answer, feedback = replies(api, chat_id)
    assert feedback.text == FEEDBACK_QUESTION
    assert feedback.callback_data == ["/rate_helpful", "/rate_unhelpful"]
    assert [row[0]["text"] for row in feedback.keyboard] == ["👍 Yes", "👎 No"]
    return answer


def stored_events(stack: Stack, sender_id: str) -> List[Tuple[Any, ...]]:
    """The tracker store's rows for one conversation (its SQLite file, read directly)."""
    url = stack.env["TRACKER_STORE_URL"]
    assert url.startswith("sqlite:///"), url
    with closing(sqlite3.connect(url[len("sqlite:///") :], timeout=10)) as db:
        return db.execute(
            "SELECT id, type_name, intent_name, action_name FROM events WHERE sender_id = ? ORDER BY id",
            (sender_id,),
        ).fetchall()


def stored_sender(chat_id: int) -> str:
    """The guard's tracker sender id for a Telegram chat."""
    return f"telegram:{chat_id}"


PHOTO = [{"file_id": "p", "file_unique_id": "p", "width": 90, "height": 90}]


@pytest.mark.e2e
def test_text_message_gets_the_answer_with_an_inline_keyboard(
    telegram_stack: Stack, bot_api: FakeBotAPI
) -> None:
    chat = next(chat_ids)
    assert send_update(telegram_stack, message_update(chat, text="how much does it cost?")) == 200
    reply = answer_and_feedback(bot_api, chat)
    assert "$50 to $200" in reply.text
    assert "/ask_insurance" in reply.callback_data
    assert all(len(row) == 1 for row in reply.keyboard)


# NEEDS THE GUARD: the channel passes "/start" as it is; the guard maps it to the greeting.
@pytest.mark.e2e
@pytest.mark.parametrize("command", ["/start", f"/start@{BOT_USERNAME}", "/help"])
def test_start_command_greets(telegram_stack: Stack, bot_api: FakeBotAPI, command: str) -> None:
    chat = next(chat_ids)
    assert send_update(telegram_stack, message_update(chat, text=command)) == 200
    [reply] = replies(bot_api, chat)
    assert "automated assistant" in reply.text and "not a doctor" in reply.text
    assert get_settings().emergency_number in reply.text
    assert reply.callback_data == ["/ask_how_it_works", "/ask_safety", "/ask_cost"]


# NEEDS THE GUARD: it strips the command word and sends the rest through NLU and the
# safety check, so a risk after a command is escalated like any other message.
@pytest.mark.e2e
def test_start_with_a_risk_after_it_gets_the_urgent_escalation(
    telegram_stack: Stack, bot_api: FakeBotAPI
) -> None:
    chat = next(chat_ids)
    update = message_update(chat, text="/start I'm pregnant, is it safe?")
    assert send_update(telegram_stack, update) == 200
    first, warning = replies(bot_api, chat)
    assert "pregnancy" in first.text and "see a healthcare professional" in first.text
    assert first.callback_data == ["/request_human"]
    assert warning.text.startswith("⚠️ IMPORTANT") and "+1 555 010 0100" in warning.text


# NEEDS THE GUARD (command stripping, as above; "/ask_cost@1.0" would otherwise be read
# as the intent ask_cost with confidence 1.0, skipping the safety check).
@pytest.mark.e2e
@pytest.mark.parametrize("text", ["/help I have chest pain", "/ask_cost@1.0 I have crushing chest pain"])
def test_a_command_with_an_emergency_after_it_gets_the_emergency_warning(
    telegram_stack: Stack, bot_api: FakeBotAPI, text: str
) -> None:
    chat = next(chat_ids)
    assert send_update(telegram_stack, message_update(chat, text=text)) == 200
    warning, reply = replies(bot_api, chat)
    assert warning.text.startswith("🚨 EMERGENCY: call 911 now")
    assert "Call emergency services now" in reply.text and "911" in reply.text


# NEEDS THE GUARD: only exact button payloads of the domain are read as intents, so a
# typed payload cannot forge an escalation (or fill the risk_reason slot).
@pytest.mark.e2e
def test_a_typed_intent_payload_does_not_forge_an_emergency(
    telegram_stack: Stack, bot_api: FakeBotAPI
) -> None:
    chat = next(chat_ids)
    forged = '/report_emergency{"risk_reason": "pregnancy"}'
    assert send_update(telegram_stack, message_update(chat, text=forged)) == 200
    texts = [call.text for call in replies(bot_api, chat)]
    assert texts, "the patient got no reply"
    assert not any(text.startswith("🚨") or "Call emergency services now" in text for text in texts), texts
    # The guard may answer it itself ("unknown command": nothing stored) or pass what is
    # left to NLU; either way no report_emergency intent and no emergency escalation.
    rows = stored_events(telegram_stack, stored_sender(chat))
    assert stored_events(telegram_stack, str(chat)) == []
    assert not any(row[2] == "report_emergency" for row in rows), rows
    assert not any(row[3] == "utter_escalate_emergency" for row in rows), rows


@pytest.mark.e2e
def test_urgent_message_gets_escalation_text_then_warning(telegram_stack: Stack, bot_api: FakeBotAPI) -> None:
    chat = next(chat_ids)
    update = message_update(chat, text="I'm pregnant, how much does it cost?")
    assert send_update(telegram_stack, update) == 200
    first, warning = replies(bot_api, chat)
    assert "see a healthcare professional" in first.text
    assert first.callback_data == ["/request_human"]
    assert warning.text.startswith("⚠️ IMPORTANT") and "+1 555 010 0100" in warning.text


@pytest.mark.e2e
def test_emergency_message_gets_the_emergency_warning_first(
    telegram_stack: Stack, bot_api: FakeBotAPI
) -> None:
    chat = next(chat_ids)
    update = message_update(chat, text="my chest hurts and I'm sweating")
    assert send_update(telegram_stack, update) == 200
    warning, text = replies(bot_api, chat)
    assert warning.text.startswith("🚨 EMERGENCY: call 911 now")
    assert "Call emergency services now" in text.text and "911" in text.text


@pytest.mark.e2e
@pytest.mark.parametrize(
    "text, level",
    [
        ("tengo un dolor fuerte en el pecho", "emergency"),
        ("ich bin schwanger, geht das?", "urgent"),
        ("quanto costa il trattamento per le mani?", "it"),  # safe, in Italian: answered in Italian
        ("Мои руки сильно потеют", None),  # another script: the English-only reply
    ],
)
def test_other_languages_over_telegram(
    telegram_stack: Stack, bot_api: FakeBotAPI, text: str, level: Optional[str]
) -> None:
    chat = next(chat_ids)
    assert send_update(telegram_stack, message_update(chat, text=text)) == 200
    sent = " ".join(call.text for call in replies(bot_api, chat))
    if level == "emergency":
        assert "🚨 EMERGENCY: call 911 now" in sent
    elif level == "urgent":
        assert "⚠️ IMPORTANT" in sent and "healthcare professional" in sent
    elif level == "it":
        assert "costa di solito circa da $50 a $200" in sent and "IMPORTANT" not in sent
    else:
        assert "only answer in English" in sent and "911" in sent


@pytest.mark.e2e
def test_button_tap_is_acknowledged_and_answered(telegram_stack: Stack, bot_api: FakeBotAPI) -> None:
    chat = next(chat_ids)
    update = {
        "update_id": next(update_ids),
        "callback_query": {
            "id": f"cbq-{chat}",
            "from": user(chat),
            "chat_instance": "42",
            "data": "/ask_insurance",
            "message": {
                "message_id": 7,
                "date": 1700000000,
                "text": "earlier answer",
                "chat": {"id": chat, "type": "private"},
            },
        },
    }
    assert send_update(telegram_stack, update) == 200
    assert [
        call.params["callback_query_id"]
        for call in bot_api.calls_to("answerCallbackQuery")
        if call.params["callback_query_id"] == f"cbq-{chat}"
    ] == [f"cbq-{chat}"]
    reply = answer_and_feedback(bot_api, chat)
    assert "insurance" in reply.text.lower() and "Some health insurance plans" in reply.text


@pytest.mark.e2e
def test_unknown_hashed_button_says_it_expired(telegram_stack: Stack, bot_api: FakeBotAPI) -> None:
    chat = next(chat_ids)
    update = {
        "update_id": next(update_ids),
        "callback_query": {
            "id": f"cbq-{chat}",
            "from": user(chat),
            "chat_instance": "42",
            "data": "#not-a-known-hash",
            "message": {"message_id": 7, "date": 1700000000, "chat": {"id": chat, "type": "private"}},
        },
    }
    assert send_update(telegram_stack, update) == 200
    assert [call.text for call in replies(bot_api, chat)] == [EXPIRED_BUTTON_REPLY]


@pytest.mark.e2e
@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
def test_missing_or_forged_secret_is_refused(
    telegram_stack: Stack, bot_api: FakeBotAPI, secret: Optional[str]
) -> None:
    chat = next(chat_ids)
    update = message_update(chat, text="how much does it cost?")
    assert send_update(telegram_stack, update, secret=secret) == 403
    assert replies(bot_api, chat) == []
    # The refused request did not mark the update as seen: the real one is answered.
    assert send_update(telegram_stack, update) == 200
    assert "$50 to $200" in answer_and_feedback(bot_api, chat).text


@pytest.mark.e2e
@pytest.mark.parametrize(
    "content",
    [
        {
            "sticker": {
                "file_id": "s",
                "file_unique_id": "s",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            }
        },
        {"photo": PHOTO},
        {"photo": PHOTO, "caption": "   "},
        {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3}},
        {"document": {"file_id": "d", "file_unique_id": "d"}},
    ],
    ids=["sticker", "photo", "photo-blank-caption", "voice", "document"],
)
def test_non_text_messages_without_caption_get_the_text_only_reply(
    telegram_stack: Stack, bot_api: FakeBotAPI, content: Dict[str, Any]
) -> None:
    chat = next(chat_ids)
    assert send_update(telegram_stack, message_update(chat, **content)) == 200
    [reply] = replies(bot_api, chat)
    assert reply.text == text_only_reply()
    assert reply.text.startswith("Sorry, I can only read text messages.")
    assert f"If this is an emergency, call {get_settings().emergency_number} now." in reply.text
    assert stored_events(telegram_stack, stored_sender(chat)) == []  # Rasa never saw it
    assert stored_events(telegram_stack, str(chat)) == []


@pytest.mark.e2e
def test_a_photo_caption_describing_an_emergency_gets_the_emergency_warning(
    telegram_stack: Stack, bot_api: FakeBotAPI
) -> None:
    chat = next(chat_ids)
    update = message_update(chat, photo=PHOTO, caption="crushing chest pain and I can't breathe")
    assert send_update(telegram_stack, update) == 200
    warning, reply = replies(bot_api, chat)
    assert warning.text.startswith("🚨 EMERGENCY: call 911 now")
    assert "Call emergency services now" in reply.text and "911" in reply.text


@pytest.mark.e2e
def test_a_document_caption_is_answered_like_text(telegram_stack: Stack, bot_api: FakeBotAPI) -> None:
    chat = next(chat_ids)
    update = message_update(
        chat, document={"file_id": "d", "file_unique_id": "d"}, caption="how much does it cost?"
    )
    assert send_update(telegram_stack, update) == 200
    reply = answer_and_feedback(bot_api, chat)
    assert "$50 to $200" in reply.text and "/ask_insurance" in reply.callback_data


@pytest.mark.e2e
def test_an_edit_that_reveals_a_risk_gets_the_urgent_escalation(
    telegram_stack: Stack, bot_api: FakeBotAPI
) -> None:
    chat = next(chat_ids)
    assert send_update(telegram_stack, message_update(chat, text="can I use it?")) == 200
    before = len(replies(bot_api, chat))
    assert before >= 1
    assert not any(call.text.startswith("⚠️") for call in replies(bot_api, chat))
    edit = edited_update(chat, message_id=1, text="I'm pregnant, can I use it?")
    assert send_update(telegram_stack, edit) == 200
    first, warning = replies(bot_api, chat)[before:]
    assert "pregnancy" in first.text and "see a healthcare professional" in first.text
    assert first.callback_data == ["/request_human"]
    assert warning.text.startswith("⚠️ IMPORTANT") and "+1 555 010 0100" in warning.text
    # Telegram retries the edit: answered once.
    assert send_update(telegram_stack, edit) == 200
    assert len(replies(bot_api, chat)) == before + 2


@pytest.mark.e2e
def test_an_edited_caption_is_a_turn_too(telegram_stack: Stack, bot_api: FakeBotAPI) -> None:
    chat = next(chat_ids)
    edit = edited_update(chat, photo=PHOTO, caption="my chest hurts and I'm sweating")
    assert send_update(telegram_stack, edit) == 200
    warning, reply = replies(bot_api, chat)
    assert warning.text.startswith("🚨 EMERGENCY: call 911 now")
    assert "Call emergency services now" in reply.text


def _unhandled_updates(chat: int) -> Dict[str, Dict[str, Any]]:
    group = {"id": -chat, "type": "group", "title": "Sweaty hands"}
    message = {"message_id": 3, "date": 1700000000, "from": user(chat)}
    return {
        "edited_group_text": {
            "edited_message": {**message, "chat": group, "edit_date": 1700000100, "text": "I'm pregnant"}
        },
        # A live location sends an edit each time it moves: no reply to each.
        "edited_live_location": {
            "edited_message": {
                **message,
                "chat": {"id": chat, "type": "private"},
                "edit_date": 1700000100,
                "location": {"latitude": 52.5, "longitude": 13.4, "live_period": 900},
            }
        },
        "edited_channel_post": {
            "edited_channel_post": {
                "message_id": 4,
                "date": 1700000000,
                "edit_date": 1700000100,
                "text": "news",
                "chat": {"id": -100 - chat, "type": "channel"},
            }
        },
        "member_join": {"message": {**message, "chat": group, "new_chat_members": [user(chat)]}},
        "group_text": {"message": {**message, "chat": group, "text": "how much does it cost?"}},
        "channel_post": {
            "channel_post": {
                "message_id": 4,
                "date": 1700000000,
                "text": "news",
                "chat": {"id": -100 - chat, "type": "channel"},
            }
        },
        "my_chat_member": {
            "my_chat_member": {
                "chat": {"id": chat, "type": "private"},
                "from": user(chat),
                "date": 1700000000,
                "old_chat_member": {"status": "member", "user": user(1)},
                "new_chat_member": {"status": "kicked", "user": user(1), "until_date": 0},
            }
        },
        "private_service": {
            "message": {
                **message,
                "chat": {"id": chat, "type": "private"},
                "pinned_message": {"message_id": 1},
            }
        },
        "inline_query": {"inline_query": {"id": "q", "from": user(chat), "query": "cost", "offset": ""}},
    }


@pytest.mark.e2e
@pytest.mark.parametrize("kind", list(_unhandled_updates(0)))
def test_unhandled_updates_get_200_and_no_reply(
    telegram_stack: Stack, bot_api: FakeBotAPI, kind: str
) -> None:
    chat = next(chat_ids)
    update = {"update_id": next(update_ids), **_unhandled_updates(chat)[kind]}
    assert send_update(telegram_stack, update) == 200
    assert replies(bot_api, chat) == [] and replies(bot_api, -chat) == []


@pytest.mark.e2e
def test_repeated_update_is_answered_once(telegram_stack: Stack, bot_api: FakeBotAPI) -> None:
    chat = next(chat_ids)
    update = message_update(chat, text="how much does it cost?")
    assert send_update(telegram_stack, update) == 200
    assert send_update(telegram_stack, update) == 200
    assert "$50 to $200" in answer_and_feedback(bot_api, chat).text  # answered once


@pytest.mark.e2e
@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\xff\xfe", b"", b"[1, 2]", b'{"message": {}}', b'{"update_id": "7"}'],
    ids=["broken", "not-utf8", "empty", "list", "no-update-id", "string-update-id"],
)
def test_malformed_updates_get_400(telegram_stack: Stack, body: bytes) -> None:
    status, _ = post_raw(telegram_stack.rasa_url + WEBHOOK_PATH, body)
    assert status == 400
    # Authentication comes first: without the secret it is 403 whatever the body.
    status, _ = post_raw(telegram_stack.rasa_url + WEBHOOK_PATH, body, secret=None)
    assert status == 403


@pytest.mark.e2e
def test_health_and_rest_channel_still_work(telegram_stack: Stack) -> None:
    health = telegram_stack.rasa_url + "/webhooks/telegram/"
    with urllib.request.urlopen(health, timeout=10) as answer:
        assert json.loads(answer.read()) == {"status": "ok"}
    answer = post_json(
        telegram_stack.rasa_url + "/webhooks/rest/webhook",
        {"sender": "telegram-rest-check", "message": "how much does it cost?"},
    )
    assert any("$50 to $200" in message.get("text", "") for message in answer)


def ask_to_delete(stack: Stack, api: FakeBotAPI, chat: int) -> Call:
    """Sends "delete my data"; returns the confirmation question (checked)."""
    before = len(replies(api, chat))
    assert send_update(stack, message_update(chat, text="delete my data")) == 200
    [question] = replies(api, chat)[before:]
    assert "Do you want me to delete this conversation?" in question.text
    assert question.keyboard == [
        [{"text": "Yes, delete it", "callback_data": "/affirm"}],
        [{"text": "No, keep it", "callback_data": "/deny"}],
    ]
    return question


# NEEDS THE GUARD: it namespaces the conversation as telegram:<chat id>, erases it on
# "Yes, delete it" and holds the "deleted" reply back until the erasure is done.
@pytest.mark.e2e
def test_delete_my_data_erases_the_telegram_conversation_before_saying_so(
    telegram_stack: Stack, bot_api: FakeBotAPI
) -> None:
    chat = next(chat_ids)
    sender = stored_sender(chat)
    assert send_update(telegram_stack, message_update(chat, text="how much does it cost?")) == 200
    ask_to_delete(telegram_stack, bot_api, chat)
    assert len(stored_events(telegram_stack, sender)) > 0, "not stored as telegram:<chat id>"
    assert stored_events(telegram_stack, str(chat)) == []

    # What the store held at the moment each message reached the patient.
    seen: List[Tuple[str, int]] = []

    def watch(call: Call) -> None:
        if call.method == "sendMessage" and call.chat_id == str(chat):
            seen.append((call.text, len(stored_events(telegram_stack, sender))))

    bot_api.listeners.append(watch)
    try:
        before = len(replies(bot_api, chat))
        assert send_update(telegram_stack, button_tap(chat, "/affirm")) == 200
    finally:
        bot_api.listeners.remove(watch)
    [done] = replies(bot_api, chat)[before:]
    assert done.text.startswith("Done: I've deleted this conversation.")
    assert seen == [(done.text, 0)], "told 'deleted' while events were still stored"
    assert stored_events(telegram_stack, sender) == []
    assert not any("privacy" in json.dumps(call.params) for call in replies(bot_api, chat))


# NEEDS THE GUARD (sender id namespacing): a REST sender whose id is a Telegram chat's
# id is another conversation, and erasing it leaves the Telegram chat alone.
@pytest.mark.e2e
def test_rest_delete_with_the_same_id_leaves_the_telegram_chat_alone(
    telegram_stack: Stack, bot_api: FakeBotAPI
) -> None:
    chat = next(chat_ids)
    assert send_update(telegram_stack, message_update(chat, text="how much does it cost?")) == 200
    kept = stored_events(telegram_stack, stored_sender(chat))
    assert kept, "not stored as telegram:<chat id>"
    telegram_replies = len(replies(bot_api, chat))
    rest = telegram_stack.rasa_url + "/webhooks/rest/webhook"
    question = post_json(rest, {"sender": str(chat), "message": "delete my data"})
    assert any("Do you want me to delete" in m.get("text", "") for m in question), question
    done = post_json(rest, {"sender": str(chat), "message": "/affirm"})
    assert any("I've deleted this conversation" in m.get("text", "") for m in done), done
    assert stored_events(telegram_stack, stored_sender(chat)) == kept
    assert len(replies(bot_api, chat)) == telegram_replies  # nothing sent to Telegram


@pytest.fixture
def stack_without_actions(trained_model: Path, bot_api: FakeBotAPI, tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own whose action server has been stopped."""
    stack = Stack(
        telegram_env(tmp_path, bot_api), model=trained_model, with_web=False, log_dir=tmp_path / "logs"
    )
    stack.start_all(timeout=240)
    try:
        stack.stop("actions")
        yield stack
    finally:
        stack.stop_all()


# NEEDS THE GUARD: it apologises, with the clinic's and the emergency numbers, when a
# turn produced no reply (here: the FAQ action cannot run).
@pytest.mark.e2e
def test_with_the_action_server_down_the_patient_gets_the_emergency_number(
    stack_without_actions: Stack, bot_api: FakeBotAPI
) -> None:
    chat = next(chat_ids)
    update = message_update(chat, text="how much does it cost?")
    assert send_update(stack_without_actions, update) == 200
    texts = [call.text for call in replies(bot_api, chat)]
    assert texts, "the patient got no reply"
    settings = get_settings()
    assert any(settings.emergency_number in text for text in texts), texts
    assert any(settings.clinic_phone in text for text in texts), texts


# NEEDS THE GUARD in part: Rasa's own warning about an unknown "/start@Bot" intent
# quotes the message; the guard's log redaction (addons/patches.py) keeps it out.
@pytest.mark.e2e
def test_server_log_holds_no_message_text_or_names(telegram_stack: Stack) -> None:
    """Runs after the other end-to-end tests (file order): none of their texts, user
    names or secrets reached the Rasa server's log (at the default INFO level)."""
    log = telegram_stack.log_path.read_text(errors="replace")  # type: ignore[attr-defined]
    assert "refused a request without the right secret token" in log
    for private in (
        "how much does it cost",
        "pregnant",
        "chest hurts",
        "chest pain",
        "can't breathe",
        "can I use it",
        "delete my data",
        "risk_reason",
        "Zelda",
        "Quixotic",
        "zelda_q",
        SECRET,
        TOKEN,
    ):
        assert private not in log


# --- End to end: Rasa without any Telegram settings --------------------------------------


@pytest.mark.e2e
def test_without_settings_the_webhook_is_off_and_rest_works(assistant: Stack) -> None:
    if assistant.env.get("TELEGRAM_TOKEN"):
        pytest.skip("the shell running the tests configures Telegram")
    status, body = post_raw(
        assistant.rasa_url + WEBHOOK_PATH, json.dumps(message_update(1, text="hi")).encode()
    )
    assert status == 503 and body["ok"] is False
    with urllib.request.urlopen(assistant.rasa_url + "/webhooks/telegram/", timeout=10) as answer:
        assert json.loads(answer.read()) == {"status": "disabled"}
    answer = post_json(
        assistant.rasa_url + "/webhooks/rest/webhook",
        {"sender": "telegram-off-check", "message": "how much does it cost?"},
    )
    assert any("$50 to $200" in message.get("text", "") for message in answer)


@pytest.mark.e2e
def test_feedback_buttons_work_over_telegram(telegram_stack: Stack, bot_api: FakeBotAPI) -> None:
    chat = next(chat_ids)
    assert send_update(telegram_stack, message_update(chat, text="does insurance pay for it?")) == 200
    answer_and_feedback(bot_api, chat)
    assert send_update(telegram_stack, button_tap(chat, "/rate_unhelpful")) == 200
    sorry = replies(bot_api, chat)[-1]
    settings = get_settings()
    assert settings.clinic_phone in sorry.text and settings.booking_url in sorry.text
    url = telegram_stack.env["TRACKER_STORE_URL"]
    with closing(sqlite3.connect(url[len("sqlite:///") :], timeout=10)) as db:
        rows = db.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'slot' ORDER BY id",
            (stored_sender(chat),),
        ).fetchall()
    feedback = [json.loads(row[0])["value"] for row in rows if json.loads(row[0]).get("name") == "feedback"]
    assert feedback == [{"topic": "insurance", "helpful": False}]
