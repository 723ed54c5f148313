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

Faults, for the delivery tests (every call is recorded, faulted or not, with the status
it got and when it arrived):

    api.fail("42", Fault(500), Fault(drop=True))      # the next two calls for chat 42
    api.fail("42", Fault(429, retry_after=1))          # ... a 429 with retry_after
    api.fail("42", None, forever=Fault(403))           # one answered normally, then 403s
    api.go_down(); ...; api.come_back()                # connection refused meanwhile
    api.clear_faults()
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from aiohttp import web


@dataclass(frozen=True)
class Fault:
    """An answer the fake gives instead of Telegram's: an HTTP error (with Telegram's
    JSON, and ``parameters.retry_after`` when given) or, with ``drop``, a connection
    closed without any answer."""

    status: int = 500
    retry_after: Optional[float] = None
    drop: bool = False
    description: str = "Internal Server Error"


@dataclass
class Call:
    method: str
    params: Dict[str, Any]
    #: The HTTP status the fake answered (0: the connection was dropped).
    status: int = 200
    #: When the call arrived (time.monotonic()).
    at: float = field(default_factory=time.monotonic)

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
        #: chat id -> faults for its next calls (None: answer normally), and the fault
        #: answered once they are used up (see :meth:`fail`).
        self._faults: Dict[str, List[Optional[Fault]]] = {}
        self._forever: Dict[str, Fault] = {}
        self._fault_method = "sendMessage"
        self._site: Optional[web.TCPSite] = None
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

    # -- faults ------------------------------------------------------------------------

    def fail(
        self,
        chat_id: Any,
        *faults: Optional[Fault],
        forever: Optional[Fault] = None,
        method: str = "sendMessage",
    ) -> None:
        """The next calls of ``method`` for ``chat_id`` get ``faults`` in turn (None
        answers normally), then ``forever`` (if given) for every later one."""
        with self._lock:
            self._fault_method = method
            self._faults[str(chat_id)] = list(faults)
            if forever is None:
                self._forever.pop(str(chat_id), None)
            else:
                self._forever[str(chat_id)] = forever

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._forever.clear()

    def _fault_for(self, method: str, chat_id: Optional[str]) -> Optional[Fault]:
        with self._lock:
            if method != self._fault_method or chat_id is None:
                return None
            queued = self._faults.get(chat_id)
            if queued:
                return queued.pop(0)
            return self._forever.get(chat_id)

    @property
    def up(self) -> bool:
        """Whether it listens (see :meth:`go_down`)."""
        return self._site is not None

    def go_down(self) -> None:
        """Stops listening and drops open connections: calls get "connection refused"."""
        self._run(self._go_down())

    def come_back(self) -> None:
        """Listens again, on the same port."""
        self._run(self._listen(self.port))

    def _run(self, coroutine: Any) -> Any:
        assert self._loop is not None, "the fake Bot API is not running"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _go_down(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._runner is not None and self._runner.server is not None:
            await self._runner.server.shutdown(1)

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        site = web.TCPSite(self._runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        self._site = site
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

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
        fault = self._fault_for(method, call.chat_id)
        if fault is not None:
            call.status = 0 if fault.drop else fault.status
        with self._lock:
            self.calls.append(call)
            listeners = list(self.listeners)
        for listener in listeners:
            listener(call)
        if fault is not None:
            return self._faulty(request, fault)
        result = self._result(method, params)
        if result is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _faulty(request: web.Request, fault: Fault) -> web.Response:
        if fault.drop:
            assert request.transport is not None
            request.transport.close()  # no answer at all: the client sees a dropped connection
            return web.Response()
        answer: Dict[str, Any] = {"ok": False, "error_code": fault.status, "description": fault.description}
        if fault.retry_after is not None:
            answer["parameters"] = {"retry_after": fault.retry_after}
        return web.json_response(answer, status=fault.status)

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
            loop.run_until_complete(self._listen(0))
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
