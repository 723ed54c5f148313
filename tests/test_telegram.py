"""The Telegram channel (addons/telegram.py) and its webhook script.

Unit tests cover the pure helpers, the configuration checks and the output channel
against a fake Bot API (tests/telegram_fake_api.py). The end-to-end tests start their
own action server + Rasa server whose TELEGRAM_* settings point at the fake Bot API,
post updates to the webhook as Telegram would, and check what the bot sent back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from addons.telegram import (
    CALLBACK_DATA_LIMIT,
    ERROR_REPLY,
    EXPIRED_BUTTON_REPLY,
    TEXT_ONLY_REPLY,
    CallbackPayloads,
    ClinicTelegramInput,
    ClinicTelegramOutput,
    RecentUpdates,
    content_type,
    format_escalation,
    normalise_command,
    secret_matches,
    split_message,
    update_type,
)
from serve import Stack, local_env
from telegram_fake_api import Call, FakeBotAPI
import telegram_webhook

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
        {"level": "urgent", "reason": "pregnancy", "phone": "+1 555 010 0100",
         "booking_url": "https://sweatclinic.example/book"}
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


def test_normalise_command() -> None:
    assert normalise_command("/start") == "/greet"
    assert normalise_command("/start deep-link") == "/greet"
    assert normalise_command(f"/start@{BOT_USERNAME}", BOT_USERNAME) == "/greet"
    assert normalise_command(f"/ask_cost@{BOT_USERNAME.lower()}", BOT_USERNAME) == "/ask_cost"
    assert normalise_command("/ask_cost@OtherBot", BOT_USERNAME) == "/ask_cost@OtherBot"
    assert normalise_command("how much? /start") == "how much? /start"


def test_content_and_update_types() -> None:
    assert content_type({"text": "hi"}) == "text"
    assert content_type({"photo": [], "caption": "hi"}) == "photo"
    assert content_type({"sticker": {}}) == "sticker"
    assert content_type({"new_chat_members": []}) == "service"
    assert update_type({"update_id": 1, "message": {"voice": {}}}) == "message/voice"
    assert update_type({"update_id": 1, "edited_message": {}}) == "edited_message"
    assert update_type({"update_id": 1}) == "empty"


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


def run_async(coroutine: Awaitable[Any]) -> Any:
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
    output = with_output(bot_api, lambda channel: channel.send_response(
        "501",
        {"text": "Pick one", "buttons": [
            {"title": "Does insurance cover it?", "payload": "/ask_insurance"},
            {"title": "Long", "payload": long_payload},
        ]},
    ))
    [call] = bot_api.calls_to("sendMessage", "501")
    assert call.text == "Pick one"
    assert "parse_mode" not in call.params  # plain text: nothing to escape
    assert call.keyboard[0] == [
        {"text": "Does insurance cover it?", "callback_data": "/ask_insurance"}
    ]
    hashed = call.callback_data[1]
    assert len(hashed.encode()) <= 64 and output.callbacks.decode(hashed) == long_payload


def test_output_splits_long_text_and_keeps_the_keyboard_last(bot_api: FakeBotAPI) -> None:
    with_output(bot_api, lambda channel: channel.send_text_with_buttons(
        "502", "word " * 2000, [{"title": "Is it safe?", "payload": "/ask_safety"}]
    ))
    calls = bot_api.calls_to("sendMessage", "502")
    assert len(calls) == 3 and all(len(call.text) <= 4000 for call in calls)
    assert [bool(call.keyboard) for call in calls] == [False, False, True]


def test_output_emergency_warning_comes_first(bot_api: FakeBotAPI) -> None:
    with_output(bot_api, lambda channel: channel.send_response(
        "503",
        {"text": "Call emergency services now: 911 in the US.",
         "custom": {"escalation": {"level": "emergency", "reason": "chest_pain", "phone": "911"}}},
    ))
    texts = [call.text for call in bot_api.calls_to("sendMessage", "503")]
    assert texts[0].startswith("🚨 EMERGENCY: call 911 now")
    assert texts[1] == "Call emergency services now: 911 in the US."


def test_output_urgent_warning_follows_and_other_custom_json_uses_rasa(
    bot_api: FakeBotAPI,
) -> None:
    async def scenario(channel: ClinicTelegramOutput) -> None:
        await channel.send_response(
            "504",
            {"text": "Please see a healthcare professional.",
             "custom": {"escalation": {"level": "urgent", "phone": "+1 555 010 0100"}}},
        )
        await channel.send_custom_json("504", {"text": "custom text"})

    with_output(bot_api, scenario)
    texts = [call.text for call in bot_api.calls_to("sendMessage", "504")]
    assert texts[0] == "Please see a healthcare professional."
    assert texts[1].startswith("⚠️") and "+1 555 010 0100" in texts[1]
    assert texts[2] == "custom text"


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

    update = json.dumps({"update_id": 4242, "message": {
        "message_id": 1, "date": 1700000000, "text": "Secret-phrase about my armpits",
        "chat": {"id": 606, "type": "private", "first_name": "Zelda"},
        "from": {"id": 606, "is_bot": False, "first_name": "Zelda", "username": "zelda_q"}}})
    caplog.set_level("DEBUG", logger="addons.telegram")
    statuses = receive_all(
        channel,
        [StubRequest(update.encode()), StubRequest(update.encode()),
         StubRequest(b"{}", secret="nope")],
        on_new_message,
    )
    assert statuses == [200, 200, 403]
    [message] = received
    assert (message.text, message.sender_id, message.input_channel) == (
        "Secret-phrase about my armpits", "606", "telegram")
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


def test_handler_answers_200_when_the_assistant_fails(bot_api: FakeBotAPI) -> None:
    channel = ClinicTelegramInput(TOKEN, None, None, SECRET, bot_api.base_url)

    async def on_new_message(message: Any) -> None:
        raise RuntimeError("Rasa broke")

    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "hi",
                                          "chat": {"id": 607, "type": "private"}}}
    statuses = receive_all(channel, [StubRequest(json.dumps(update).encode())], on_new_message)
    assert statuses == [200]  # a retry would only repeat the failure
    assert [call.text for call in bot_api.calls_to("sendMessage", "607")] == [ERROR_REPLY]


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
        "allowed_updates": ["message", "callback_query"],
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


@pytest.fixture(scope="module")
def telegram_stack(
    trained_model: Path, bot_api: FakeBotAPI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Action server + Rasa server with the Telegram channel pointed at the fake Bot API."""
    workdir = tmp_path_factory.mktemp("telegram")
    env = local_env(
        workdir,
        {
            "TELEGRAM_TOKEN": TOKEN,
            "TELEGRAM_BOT_USERNAME": BOT_USERNAME,
            "TELEGRAM_WEBHOOK_URL": "https://bot.sweatclinic.example/webhooks/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_BASE_URL": bot_api.base_url,
        },
    )
    stack = Stack(env, model=trained_model, with_web=False, log_dir=workdir / "logs")
    stack.start_all(timeout=240)
    stack.log_path = workdir / "logs" / "rasa.log"  # type: ignore[attr-defined]
    yield stack
    stack.stop_all()


def post_raw(
    url: str, body: bytes, secret: Optional[str] = SECRET, timeout: float = 60
) -> Tuple[int, Any]:
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
    return {"id": chat_id, "is_bot": False, "first_name": "Zelda", "last_name": "Quixotic",
            "username": "zelda_q"}


def message_update(chat_id: int, chat_type: str = "private", **content: Any) -> Dict[str, Any]:
    chat = {"id": chat_id, "type": chat_type}
    if chat_type == "private":
        chat.update(first_name="Zelda")
    return {
        "update_id": next(update_ids),
        "message": {
            "message_id": 1, "date": 1700000000, "chat": chat, "from": user(chat_id), **content
        },
    }


def replies(api: FakeBotAPI, chat_id: int) -> List[Call]:
    return api.calls_to("sendMessage", str(chat_id))


@pytest.mark.e2e
def test_text_message_gets_the_answer_with_an_inline_keyboard(
    telegram_stack: Stack, bot_api: FakeBotAPI
) -> None:
    chat = next(chat_ids)
    assert send_update(telegram_stack, message_update(chat, text="how much does it cost?")) == 200
    [reply] = replies(bot_api, chat)
    assert "$50 to $200" in reply.text
    assert "/ask_insurance" in reply.callback_data
    assert all(len(row) == 1 for row in reply.keyboard)


@pytest.mark.e2e
def test_start_command_greets(telegram_stack: Stack, bot_api: FakeBotAPI) -> None:
    chat = next(chat_ids)
    assert send_update(telegram_stack, message_update(chat, text=f"/start@{BOT_USERNAME}")) == 200
    [reply] = replies(bot_api, chat)
    assert "automated assistant" in reply.text and reply.keyboard


@pytest.mark.e2e
def test_urgent_message_gets_escalation_text_then_warning(
    telegram_stack: Stack, bot_api: FakeBotAPI
) -> None:
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
def test_button_tap_is_acknowledged_and_answered(
    telegram_stack: Stack, bot_api: FakeBotAPI
) -> None:
    chat = next(chat_ids)
    update = {
        "update_id": next(update_ids),
        "callback_query": {
            "id": f"cbq-{chat}",
            "from": user(chat),
            "chat_instance": "42",
            "data": "/ask_insurance",
            "message": {"message_id": 7, "date": 1700000000, "text": "earlier answer",
                        "chat": {"id": chat, "type": "private"}},
        },
    }
    assert send_update(telegram_stack, update) == 200
    assert [call.params["callback_query_id"] for call in bot_api.calls_to("answerCallbackQuery")
            if call.params["callback_query_id"] == f"cbq-{chat}"] == [f"cbq-{chat}"]
    [reply] = replies(bot_api, chat)
    assert "insurance" in reply.text.lower() and "Some health insurance plans" in reply.text


@pytest.mark.e2e
def test_unknown_hashed_button_says_it_expired(telegram_stack: Stack, bot_api: FakeBotAPI) -> None:
    chat = next(chat_ids)
    update = {
        "update_id": next(update_ids),
        "callback_query": {"id": f"cbq-{chat}", "from": user(chat), "chat_instance": "42",
                           "data": "#not-a-known-hash",
                           "message": {"message_id": 7, "date": 1700000000,
                                       "chat": {"id": chat, "type": "private"}}},
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
    assert len(replies(bot_api, chat)) == 1


@pytest.mark.e2e
@pytest.mark.parametrize(
    "content",
    [
        {"sticker": {"file_id": "s", "file_unique_id": "s", "width": 512, "height": 512,
                     "is_animated": False, "is_video": False, "type": "regular"}},
        {"photo": [{"file_id": "p", "file_unique_id": "p", "width": 90, "height": 90}],
         "caption": "is this normal?"},
        {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3}},
        {"document": {"file_id": "d", "file_unique_id": "d"}},
    ],
    ids=["sticker", "photo", "voice", "document"],
)
def test_non_text_messages_get_the_text_only_reply(
    telegram_stack: Stack, bot_api: FakeBotAPI, content: Dict[str, Any]
) -> None:
    chat = next(chat_ids)
    assert send_update(telegram_stack, message_update(chat, **content)) == 200
    assert [call.text for call in replies(bot_api, chat)] == [TEXT_ONLY_REPLY]


def _unhandled_updates(chat: int) -> Dict[str, Dict[str, Any]]:
    group = {"id": -chat, "type": "group", "title": "Sweaty hands"}
    message = {"message_id": 3, "date": 1700000000, "from": user(chat)}
    return {
        "edited_message": {"edited_message": {**message, "chat": {"id": chat, "type": "private"},
                                              "edit_date": 1700000100, "text": "I'm pregnant"}},
        "member_join": {"message": {**message, "chat": group, "new_chat_members": [user(chat)]}},
        "group_text": {"message": {**message, "chat": group, "text": "how much does it cost?"}},
        "channel_post": {"channel_post": {"message_id": 4, "date": 1700000000, "text": "news",
                                          "chat": {"id": -100 - chat, "type": "channel"}}},
        "my_chat_member": {"my_chat_member": {
            "chat": {"id": chat, "type": "private"}, "from": user(chat), "date": 1700000000,
            "old_chat_member": {"status": "member", "user": user(1)},
            "new_chat_member": {"status": "kicked", "user": user(1), "until_date": 0}}},
        "private_service": {"message": {**message, "chat": {"id": chat, "type": "private"},
                                        "pinned_message": {"message_id": 1}}},
        "inline_query": {"inline_query": {"id": "q", "from": user(chat), "query": "cost",
                                          "offset": ""}},
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
    assert len(replies(bot_api, chat)) == 1


@pytest.mark.e2e
@pytest.mark.parametrize(
    "body", [b"{not json", b"\xff\xfe", b"", b"[1, 2]", b'{"message": {}}', b'{"update_id": "7"}'],
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


@pytest.mark.e2e
def test_server_log_holds_no_message_text_or_names(telegram_stack: Stack) -> None:
    """Runs after the other end-to-end tests (file order): none of their texts, user
    names or secrets reached the Rasa server's log (at the default INFO level)."""
    log = telegram_stack.log_path.read_text(errors="replace")  # type: ignore[attr-defined]
    assert "refused a request without the right secret token" in log
    for private in ("how much does it cost", "pregnant", "chest hurts", "is this normal",
                    "Zelda", "Quixotic", "zelda_q", SECRET, TOKEN):
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
