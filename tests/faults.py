"""Fault injectors and HTTP helpers for the reliability and scale-out tests.

* :class:`TcpProxy` forwards a local port to a TCP service (PostgreSQL); stopping it
  makes the service unreachable for whoever connects through it, restarting brings
  it back on the same port.
* :class:`FakeActionServer` stands where Rasa expects the action server and forwards
  to the real one, or answers slowly, with a 500, or with a body that is not JSON.
* :func:`request` sends any bytes and returns status, headers and decoded JSON, also
  when the server refuses a huge body and resets the connection.
* :func:`ensure_service` finds PostgreSQL or Redis, tries to start it, and otherwise
  says why not (for ``pytest.skip``).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from core.ports import free_port  # noqa: F401  (re-exported for the tests)


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# -- HTTP --------------------------------------------------------------------------------


class Answer:
    """A decoded HTTP answer."""

    def __init__(self, status: int, headers: Dict[str, str], raw: bytes) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.raw = raw
        try:
            self.json: Any = json.loads(raw.decode("utf-8"))
            self.is_json = True
        except ValueError:
            self.json = None
            self.is_json = False

    def texts(self) -> str:
        """The bot's reply texts, joined (empty unless the answer is a reply list)."""
        if not isinstance(self.json, list):
            return ""
        return " ".join(str(m.get("text", "")) for m in self.json if isinstance(m, dict))

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.raw[:300]!r})"


def request(
    url: str,
    body: Optional[bytes] = None,
    method: str = "POST",
    headers: Optional[Dict[str, str]] = None,
    timeout: float = 60,
) -> Answer:
    """Sends ``body`` as is. A server may answer 413 and reset the connection while a
    huge body is still being sent; the answer is read anyway."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    all_headers = {"Content-Type": "application/json"} if body is not None else {}
    all_headers.update(headers or {})
    if parts.hostname is None:
        raise ValueError(f"no host in {url!r}")
    last_error: Optional[BaseException] = None
    for _ in range(3):
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            try:
                connection.request(method, path, body=body, headers=all_headers)
            except (BrokenPipeError, ConnectionResetError) as error:
                last_error = error  # refused mid-body: the answer may still be there
            response = connection.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as error:
            last_error = error
        finally:
            connection.close()
    raise ConnectionError(f"no answer from {url}: {last_error!r}")


def send(base_url: str, sender: Any, message: Any, timeout: float = 60) -> Answer:
    """One message over the REST channel."""
    body = json.dumps({"sender": sender, "message": message}).encode()
    return request(f"{base_url}/webhooks/rest/webhook", body, timeout=timeout)


def get(url: str, headers: Optional[Dict[str, str]] = None, timeout: float = 10) -> Answer:
    return request(url, None, method="GET", headers=headers, timeout=timeout)


# -- a TCP proxy ------------------------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``. ``stop`` cuts every connection."""

    def __init__(self, target: Tuple[str, int], port: int = 0) -> None:
        self.target = target
        self.port = port
        self._server: Optional[socket.socket] = None
        self._sockets: List[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> "TcpProxy":
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(128)
        self.port = server.getsockname()[1]
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return self

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        """Stops listening and cuts the open connections: the service is unreachable."""
        if self._server is not None:
            try:
                self._server.shutdown(socket.SHUT_RDWR)  # wakes the accept() call
            except OSError:
                pass
            self._server.close()
            self._server = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


# -- a fake action server ---------------------------------------------------------------


class FakeActionServer:
    """Where Rasa's ACTION_ENDPOINT_URL points. ``mode``:

    * ``forward``: passes the call to the real action server (``forward_url``);
    * ``slow``: waits ``delay`` seconds first (longer than Rasa's action timeout);
    * ``error``: answers 500;
    * ``garbage``: answers 200 with an HTML body instead of JSON.
    """

    def __init__(self, forward_url: str, delay: float = 6.0) -> None:
        self.forward_url = forward_url
        self.delay = delay
        self.mode = "forward"
        self.calls: List[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # Rasa gave up waiting

            def do_GET(self) -> None:  # /health
                ok = fake.mode == "forward"
                self._reply(200 if ok else 500, b'{"status": "ok"}', "application/json")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = fake.mode
                fake.calls.append(mode)
                if mode == "error":
                    return self._reply(500, b'{"error": "injected"}', "application/json")
                if mode == "garbage":
                    return self._reply(200, b"<html>upstream trouble</html>", "text/html")
                if mode == "slow":
                    time.sleep(fake.delay)
                forward = urllib.request.Request(
                    fake.forward_url, data=body, headers={"Content-Type": "application/json"}
                )
                try:
                    with urllib.request.urlopen(forward, timeout=30) as answer:
                        status, data = answer.status, answer.read()
                except urllib.error.HTTPError as error:
                    status, data = error.code, error.read()
                self._reply(status, data, "application/json")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/webhook"

    def start(self) -> "FakeActionServer":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- PostgreSQL and Redis ---------------------------------------------------------------

POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
_START = {
    POSTGRES: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -1) main start",
    REDIS: (
        "mkdir -p /var/lib/redis /var/log/redis && redis-server --daemonize yes "
        "--bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no "
        "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
    ),
}


def ensure_service(address: Tuple[str, int], name: str, wait: float = 20) -> Optional[str]:
    """None when ``address`` answers (starting the service if needed), else why not."""
    if port_open(*address):
        return None
    result = subprocess.run(["bash", "-c", _START[address]], capture_output=True, text=True)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if port_open(*address):
            return None
        time.sleep(0.5)
    detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
    return (
        f"{name} is not reachable on {address[0]}:{address[1]} and could not be started "
        f"({_START[address]!r} exited {result.returncode}: {detail[0]})"
    )


def non_loopback_addresses() -> List[str]:
    """The machine's IPv4 addresses other than loopback (``hostname -I``)."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [a for a in out.split() if "." in a and not a.startswith("127.")]


def listening_addresses(port: int) -> List[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp*)."""
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not os.path.exists(table):
            continue
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                address, hex_port = fields[1].split(":")
                if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    raw = bytes.fromhex(address)
                    if width == 8:
                        found.append(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                    else:  # four little-endian 32-bit words
                        words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                        found.append(socket.inet_ntop(socket.AF_INET6, words))
    return found
