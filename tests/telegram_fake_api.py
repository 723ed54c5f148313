"""A fake Telegram Bot API server for the tests: aiohttp on a free loopback port, in a
background thread. It records every call (method and parameters, from JSON or the form
data aiogram sends) and answers like Telegram for the methods the assistant uses.

    api = FakeBotAPI(token="123456:TEST").start()
    ... point TELEGRAM_API_BASE_URL at api.base_url ...
    api.calls_to("sendMessage", chat_id="42")
    api.stop()

A test can also watch calls as they arrive (``api.listeners.append(callback)``): each
listener runs with the :class:`Call` before the fake answers it, so it can check what
was true at the moment the bot sent a message.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from aiohttp import web


@dataclass
class Call:
    method: str
    params: Dict[str, Any]

    @property
    def chat_id(self) -> Optional[str]:
        value = self.params.get("chat_id")
        return None if value is None else str(value)

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def keyboard(self) -> List[List[Dict[str, Any]]]:
        """The inline keyboard's rows, or [] without one."""
        markup = self.params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        return (markup or {}).get("inline_keyboard", [])

    @property
    def callback_data(self) -> List[Optional[str]]:
        return [button.get("callback_data") for row in self.keyboard for button in row]


def _decode(value: Any) -> Any:
    """Form fields arrive as strings; JSON-looking ones (reply_markup, lists) decoded."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class FakeBotAPI:
    """Answers ``POST /bot<token>/<method>``; records the calls in :attr:`calls`."""

    def __init__(self, token: str = "123456:TEST") -> None:
        self.token = token
        self.calls: List[Call] = []
        #: Called with each recorded call, in the server's thread, before it is answered.
        self.listeners: List[Callable[[Call], None]] = []
        self.webhook: Dict[str, Any] = {}
        self._lock = threading.Lock()
        self._message_id = 0
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._runner: Optional[web.AppRunner] = None
        self._thread: Optional[threading.Thread] = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- recording ---------------------------------------------------------------------

    def calls_to(self, method: str, chat_id: Optional[str] = None) -> List[Call]:
        with self._lock:
            return [
                call
                for call in self.calls
                if call.method == method and (chat_id is None or call.chat_id == str(chat_id))
            ]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    # -- server ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = {key: _decode(value) for key, value in (await request.post()).items()}
        call = Call(method, params)
        with self._lock:
            self.calls.append(call)
            listeners = list(self.listeners)
        for listener in listeners:
            listener(call)
        result = self._result(method, params)
        if result is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.json_response({"ok": True, "result": result})

    def _result(self, method: str, params: Dict[str, Any]) -> Any:
        if method == "sendMessage":
            with self._lock:
                self._message_id += 1
                message_id = self._message_id
            chat_id = int(params["chat_id"])
            return {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "Bot"},
                "text": params.get("text", ""),
            }
        if method in ("answerCallbackQuery", "deleteWebhook"):
            if method == "deleteWebhook":
                self.webhook = {}
            return True
        if method == "setWebhook":
            self.webhook = dict(params)
            return True
        if method == "getWebhookInfo":
            return {
                "url": self.webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": 0,
                "allowed_updates": self.webhook.get("allowed_updates", []),
            }
        if method == "getMe":
            return {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "Bot"}
        return None

    def start(self) -> "FakeBotAPI":
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            app = web.Application()
            app.router.add_post("/bot{token}/{method}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-telegram-bot-api", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Bot API did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None
