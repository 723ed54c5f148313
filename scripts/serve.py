"""Starts the assistant: action server, Rasa server (REST channel) and the widget page.

    .venv/bin/python scripts/serve.py            # what `make run` does
    .venv/bin/python scripts/serve.py --no-web   # without the demo page
    .venv/bin/python scripts/serve.py --log-dir var/log   # each process's output to a file

Ports and stores come from environment variables (see README, "Settings"); this
script fills in the defaults so `endpoints.yml` always resolves. It checks what it
can before starting (the model, the clinic settings, the settings' values, free
ports) and says what to do when something is wrong.

It supervises what it started (:class:`Supervisor`): a process that exits is
restarted after a delay that doubles with each crash (1 s, 2 s, 4 s ... up to 30 s)
while the others keep serving, and each restart is logged (name, exit code, attempt).
A process that keeps failing (more than ``--max-restarts`` crashes within
``--restart-window`` seconds) stops everything with exit code 1, with where its logs
are and a hint. Ctrl-C (SIGINT), SIGTERM or SIGHUP stops every process, exit code 0.

Rasa runs through ``scripts/run_rasa.py``, which reads the API token and the
interface from the environment, so the token is on no command line. The end-to-end
tests reuse :class:`Stack` to start the same servers on free ports.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.ports import free_port  # noqa: E402,F401  (used by the tests through this module)
from core.settings import ServerSettings, SettingsError, environment, load_settings  # noqa: E402

VENV_BIN = Path(sys.executable).parent
DEFAULT_MODEL = ROOT / "models" / "current.tar.gz"
VAR = ROOT / "var"
RUN_RASA = ROOT / "scripts" / "run_rasa.py"
#: Secrets only the Rasa server needs (its plug-ins): kept out of the other processes'
#: environment.
RASA_ONLY = ("RASA_API_TOKEN", "TELEGRAM_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "STAFF_TOKEN")
#: Each process's port and interface variables (the web page always binds loopback).
ADDRESS_VARIABLES: Dict[str, Tuple[str, Optional[str]]] = {
    "actions": ("ACTION_PORT", "ACTION_HOST"),
    "rasa": ("RASA_PORT", "RASA_HOST"),
    "web": ("WEB_PORT", None),
}


def default_env(overrides: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment the servers run with: this process's, plus ``overrides``, with
    the defaults of ``core.settings.DEFAULTS`` for whatever is unset (README, "Settings")."""
    return environment(overrides=overrides)


def action_server_env(env: Dict[str, str]) -> Dict[str, str]:
    """The action server's environment: ``env`` plus what only it should see.

    rasa_sdk 3.6 has no ``--host`` option; it binds to ``$SANIC_HOST`` (default
    0.0.0.0, every interface), so ACTION_HOST reaches it as SANIC_HOST. Its requests
    come from Rasa and carry the whole conversation and domain, so they may be larger
    than the 1 MB allowed for patients' requests. Rasa's secrets are not its business.
    """
    action_env = without_rasa_secrets(env)
    action_env["SANIC_HOST"] = env["ACTION_HOST"]
    action_env["SANIC_REQUEST_MAX_SIZE"] = env["ACTION_REQUEST_MAX_SIZE"]
    return action_env


def without_rasa_secrets(env: Dict[str, str]) -> Dict[str, str]:
    """``env`` without the variables only the Rasa server needs (:data:`RASA_ONLY`)."""
    return {key: value for key, value in env.items() if key not in RASA_ONLY}


def local_env(workdir: Path, overrides: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The servers' environment on free loopback ports with a throw-away SQLite store.

    For tests and benchmarks: nothing collides with a running `make run`.
    """
    env = default_env(
        overrides={
            "ACTION_ENDPOINT_URL": "",
            "WIDGET_ORIGINS": "",
            "ACTION_PORT": str(free_port()),
            "RASA_PORT": str(free_port()),
            "WEB_PORT": str(free_port()),
            "TRACKER_DIALECT": "sqlite",
            "TRACKER_STORE_URL": f"sqlite:///{workdir / 'tracker.db'}",
            **(overrides or {}),
        }
    )
    return environment(env)


def connect_host(bind_host: str) -> str:
    """The address to reach a server that listens on ``bind_host``."""
    if bind_host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{bind_host}]" if ":" in bind_host else bind_host


def answers(url: str, timeout: float = 2) -> bool:
    """Whether ``url`` answers 200 right now."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, OSError, ValueError):
        return False


def wait_for_http(url: str, timeout: float, process: Optional[subprocess.Popen] = None) -> None:
    """Waits until ``url`` answers 200, or raises ``RuntimeError``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with code {process.returncode}")
        if answers(url):
            return
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def port_taken(host: str, port: int) -> bool:
    """Whether another socket listens on ``host``:``port`` (binding it fails with
    "address in use"; SO_REUSEADDR as the servers set it, so TIME_WAIT does not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


@dataclass
class Stack:
    """The assistant's processes, started together and stopped together."""

    env: Dict[str, str]
    model: Path = DEFAULT_MODEL
    with_actions: bool = True
    with_web: bool = True
    log_dir: Optional[Path] = None
    processes: Dict[str, subprocess.Popen] = field(default_factory=dict)
    _logs: List[IO[bytes]] = field(default_factory=list)

    @property
    def rasa_url(self) -> str:
        host = connect_host(self.env.get("RASA_HOST", "127.0.0.1"))
        return f"http://{host}:{self.env['RASA_PORT']}"

    @property
    def action_url(self) -> str:
        return f"http://127.0.0.1:{self.env['ACTION_PORT']}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.env['WEB_PORT']}"

    def commands(self) -> Dict[str, List[str]]:
        """The command line of each process, by name. No secrets: Rasa's token and
        interface reach ``scripts/run_rasa.py`` through the environment."""
        commands = {}
        if self.with_actions:
            commands["actions"] = [
                str(VENV_BIN / "rasa"),
                "run",
                "actions",
                "--actions",
                "actions",
                "--port",
                self.env["ACTION_PORT"],
            ]
        commands["rasa"] = [
            sys.executable,
            str(RUN_RASA),
            "--model",
            str(self.model),
            "--port",
            self.env["RASA_PORT"],
            "--endpoints",
            "endpoints.yml",
            "--credentials",
            "credentials.yml",
            "--cors",
            *self.env["WIDGET_ORIGINS"].split(),
        ]
        if self.with_web and (ROOT / "web").is_dir():
            commands["web"] = [
                sys.executable,
                "-m",
                "http.server",
                self.env["WEB_PORT"],
                "--bind",
                "127.0.0.1",
                "--directory",
                str(ROOT / "web"),
            ]
        return commands

    def process_env(self, name: str) -> Dict[str, str]:
        """The environment of one process: only Rasa gets its secrets (:data:`RASA_ONLY`)."""
        if name == "actions":
            return action_server_env(self.env)
        if name == "rasa":
            return dict(self.env)
        return without_rasa_secrets(self.env)

    def log_path(self, name: str) -> Optional[Path]:
        """The file a process writes to, or None when it writes to this console."""
        return None if self.log_dir is None else self.log_dir / f"{name}.log"

    def health_url(self, name: str) -> str:
        """What answers 200 once the process serves."""
        return {
            "actions": f"{self.action_url}/health",
            "rasa": f"{self.rasa_url}/",
            "web": f"{self.web_url}/",
        }[name]

    def start(self, name: str) -> subprocess.Popen:
        """Starts one process by name (see :meth:`commands`)."""
        VAR.mkdir(exist_ok=True)
        stdout: Optional[IO[bytes]] = None
        log = self.log_path(name)
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            stdout = open(log, "ab")
            stdout.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} serve.py starts {name}\n".encode())
            stdout.flush()
        try:
            process = subprocess.Popen(
                self.commands()[name],
                cwd=ROOT,
                env=self.process_env(name),
                stdout=stdout,
                stderr=subprocess.STDOUT if stdout else None,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        finally:
            if stdout is not None:
                stdout.close()  # the process has its own copy
        self.processes[name] = process
        return process

    def start_all(self, timeout: float = 180) -> None:
        """Starts every process and waits until each answers.

        On failure everything is stopped and the error carries the logs' last lines.
        """
        for name in self.commands():
            self.start(name)
        try:
            self.wait_ready(timeout)
        except RuntimeError as error:
            self.stop_all()
            tails = [
                f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}"
                for log in sorted((self.log_dir or Path("/nonexistent")).glob("*.log"))
            ]
            raise RuntimeError("\n".join([str(error), *tails])) from error

    def wait_ready(self, timeout: float = 180) -> None:
        """Waits until every started process answers over HTTP."""
        for name, process in self.processes.items():
            wait_for_http(self.health_url(name), timeout, process)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        """Stops one process (its whole process group)."""
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        """Stops everything this stack started."""
        for name in list(self.processes):
            self.stop(name)
        for log in self._logs:
            log.close()
        self._logs.clear()


# -- supervision -------------------------------------------------------------------------


@dataclass(frozen=True)
class RestartPolicy:
    """When a process that exited is restarted, and when the launcher gives up.

    Attributes:
        first_delay: seconds before the first restart; doubled for each further crash
            within ``window``.
        max_delay: the longest delay.
        max_restarts: restarts of one process within ``window``; one more crash and the
            launcher stops everything and exits with code 1.
        window: seconds a crash counts for.
        ready_timeout: a (re)started process that does not answer within this many
            seconds is killed, and counts as a crash.
    """

    first_delay: float = 1.0
    max_delay: float = 30.0
    max_restarts: int = 5
    window: float = 300.0
    ready_timeout: float = 180.0

    def delay(self, attempt: int) -> float:
        """Seconds before restart number ``attempt`` (1, 2, ...) within the window."""
        return float(min(self.first_delay * 2 ** max(attempt - 1, 0), self.max_delay))


@dataclass
class Child:
    """What the supervisor knows about one process."""

    name: str
    started: float = 0.0
    pid: int = 0
    ready: bool = False
    crashes: List[float] = field(default_factory=list)  # monotonic times, within the window
    restart_at: Optional[float] = None
    last_code: Optional[int] = None

    def crashed(self, now: float, code: int, window: float) -> int:
        """Records a crash; returns how many crashes fall within the window."""
        self.crashes = [t for t in self.crashes if now - t < window] + [now]
        self.last_code = code
        self.ready = False
        return len(self.crashes)


WARNING_LINE = re.compile(r"^\S+\.py:\d+: \w*Warning: ")


def log_tail(path: Optional[Path], lines: int = 20) -> List[str]:
    """The last lines a process wrote since it was last started, without Python's
    warnings (none when it writes to the console)."""
    if path is None or not path.is_file():
        return []
    with open(path, "rb") as log:
        log.seek(max(0, path.stat().st_size - 32000))
        text = log.read().decode("utf-8", errors="replace")
    kept: List[str] = []
    warning_left = 0  # lines of a warning still to drop: it ends with its indented source line
    for line in text.splitlines():
        if line.startswith("--- ") and " serve.py starts " in line:
            kept = []
        elif WARNING_LINE.match(line):
            warning_left = 3
        elif warning_left:
            warning_left = 0 if line.startswith(" ") else warning_left - 1
        else:
            kept.append(line)
    return kept[-lines:]


def port_hint(variable: str, port: str) -> str:
    return (
        f"port {port} is taken: stop the other process (`ss -ltnp 'sport = :{port}'` shows it) "
        f"or set {variable} to a free port"
    )


def address_missing(host: str) -> bool:
    """Whether ``host`` is not an address of this machine (nothing can listen on it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, 0))
        except OSError as error:
            return error.errno == errno.EADDRNOTAVAIL
    return False


#: (text in a log, lower case; what to do), for the hints after a process kept failing.
LOG_HINTS: List[Tuple[str, str]] = [
    ("no module named", "a package is missing: run `make setup` (remove .venv/.installed to reinstall)"),
    ("settingserror", "a setting is wrong: see the error above, fix clinic.yml or the variable it names"),
    ("operationalerror", "the tracker store is unreachable: check TRACKER_STORE_URL (is PostgreSQL up?)"),
    ("redis", "the Redis lock store is unreachable: check REDIS_HOST and REDIS_PORT (is Redis up?)"),
    ("permission denied", "a file or port is not allowed to this user: see the error above"),
]


def hints(stack: Stack, name: str, code: Optional[int], tail: List[str]) -> List[str]:
    """What to do about a process that keeps failing: from its ports, the model and its log."""
    found: List[str] = []
    port_var, host_var = ADDRESS_VARIABLES[name]
    host = stack.env.get(host_var, "127.0.0.1") if host_var else "127.0.0.1"
    text = "\n".join(tail).lower()
    if port_taken(host, int(stack.env[port_var])) or "address already in use" in text:
        found.append(port_hint(port_var, stack.env[port_var]))
    if host_var and (address_missing(host) or "cannot assign requested address" in text):
        found.append(f"{host_var}={host} is not an address of this machine: use 127.0.0.1 (or 0.0.0.0)")
    if name == "rasa" and not stack.model.is_file():
        found.append(f"the model {stack.model} is missing: run `make train`")
    found += [hint for needle, hint in LOG_HINTS if needle in text]
    if code == -signal.SIGKILL:
        found.append("it was killed with SIGKILL: out of memory (see `dmesg`), or another process killed it")
    env = stack.process_env(name)
    # what serve.py adds to the action server's environment (action_server_env)
    extra = (
        [f"{key}={env[key]}" for key in ("SANIC_HOST", "SANIC_REQUEST_MAX_SIZE")] if name == "actions" else []
    )
    command = shlex.join(extra + stack.commands()[name])
    found.append(f"run it alone, in this environment, to see its error: cd {ROOT} && {command}")
    return found


def now_text() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


class Supervisor:
    """Runs a :class:`Stack`, restarting any process that exits (see
    :class:`RestartPolicy`), until :meth:`stop` is called or a process keeps failing.

    It logs only process names, ids, exit codes and attempts: it never sees a message.
    """

    TICK = 0.25  # seconds between checks

    def __init__(
        self,
        stack: Stack,
        policy: RestartPolicy = RestartPolicy(),
        say: Optional[Callable[[str], None]] = None,
    ) -> None:
        self.stack = stack
        self.policy = policy
        self.say = say or (lambda line: print(f"{now_text()} serve: {line}", file=sys.stderr, flush=True))
        self.children = {name: Child(name) for name in stack.commands()}
        self._stopping = False
        self.announced = False

    def stop(self) -> None:
        """Asks :meth:`run` to stop everything and return 0 (safe in a signal handler)."""
        self._stopping = True

    def run(self) -> int:
        """Supervises until stopped (returns 0) or a process keeps failing (returns 1).

        Every process is stopped before it returns.
        """
        try:
            for child in self.children.values():
                self._start(child)
            while not self._stopping:
                for child in self.children.values():
                    if not self._check(child, time.monotonic()):
                        return 1
                if not self.announced and all(c.ready for c in self.children.values()):
                    self.announced = True
                    self.announce()
                time.sleep(self.TICK)
            print("Stopping...", flush=True)
            return 0
        finally:
            self.stack.stop_all()

    def _start(self, child: Child) -> None:
        process = self.stack.start(child.name)
        child.pid, child.started, child.ready, child.restart_at = process.pid, time.monotonic(), False, None
        if child.crashes:
            self.say(f"{child.name} restarted (attempt {len(child.crashes)}), pid {process.pid}")
        else:
            self.say(f"{child.name} started, pid {process.pid}")

    def _check(self, child: Child, now: float) -> bool:
        """One look at a process: restart it when due, notice it is ready, or record
        its exit. False when it keeps failing."""
        if child.restart_at is not None:
            if now >= child.restart_at and not self._stopping:
                self._start(child)
            return True
        process = self.stack.processes[child.name]
        code = process.poll()
        if code is None:
            if child.ready:
                return True
            if answers(self.stack.health_url(child.name), timeout=1):
                child.ready = True
                if child.crashes:
                    self.say(f"{child.name} answers again (attempt {len(child.crashes)})")
                return True
            if now - child.started < self.policy.ready_timeout:
                return True
            self.say(
                f"{child.name} (pid {child.pid}) did not answer within {self.policy.ready_timeout:.0f} s"
            )
            self.stack.stop(child.name, signal.SIGKILL)
            code = process.returncode
        else:
            self.stack.processes.pop(child.name, None)
        if self._stopping:
            return True
        had_answered = child.ready
        attempt = child.crashed(now, code, self.policy.window)
        if attempt > self.policy.max_restarts:
            self.give_up(child)
            return False
        delay = self.policy.delay(attempt)
        child.restart_at = now + delay
        lines = [
            f"{child.name} (pid {child.pid}) exited with code {code}; restarting in {delay:g} s "
            f"(attempt {attempt} of {self.policy.max_restarts} within {self.policy.window:g} s)"
        ]
        if not had_answered:  # it failed to start: likely to fail again, say why now
            lines += [f"  it exited before it answered; {self.where_logs(child)}", "  what to do:"]
            lines += [f"  - {hint}" for hint in self.hints(child)]
        self.say("\n".join(lines))
        return True

    def where_logs(self, child: Child) -> str:
        log = self.stack.log_path(child.name)
        return f"its log: {log}" if log else "its output is above, on this console"

    def hints(self, child: Child) -> List[str]:
        return hints(self.stack, child.name, child.last_code, log_tail(self.stack.log_path(child.name)))

    def give_up(self, child: Child) -> None:
        """Says which process keeps failing, where its logs are and what to do."""
        log = self.stack.log_path(child.name)
        tail = log_tail(log)
        lines = [
            f"{child.name} keeps failing: {len(child.crashes)} exits within {self.policy.window:g} s, "
            f"the last with code {child.last_code}. Stopping everything.",
            f"  {self.where_logs(child)}",
        ]
        if tail:
            lines += [f"  last lines of {log.name if log else ''}:"] + [f"    | {line}" for line in tail]
        lines += ["  what to do:"] + [f"  - {hint}" for hint in self.hints(child)]
        self.say("\n".join(lines))

    def announce(self) -> None:
        stack = self.stack
        lines = ["", "Listening:", f"  Rasa REST channel  {stack.rasa_url}/webhooks/rest/webhook"]
        if "actions" in self.children:
            lines.append(f"  Action server      {stack.action_url}/webhook")
        if "web" in self.children:
            lines.append(f"  Widget demo page   {stack.web_url}/")
        if stack.log_dir is None:
            lines.append("Logs: on this console.")
        else:
            lines.append(f"Logs: {', '.join(str(stack.log_path(name)) for name in self.children)}")
        policy = self.policy
        lines += [
            f"A process that exits is restarted; more than {policy.max_restarts} exits of one within "
            f"{policy.window:g} s stop everything (exit code 1).",
            "Press Ctrl-C to stop.",
            "",
        ]
        print("\n".join(lines), flush=True)


# -- checks before starting ---------------------------------------------------------------


def preflight(stack: Stack) -> List[str]:
    """What would make a process fail at once, each with what to do (empty: all good)."""
    problems: List[str] = []
    if not stack.model.is_file():
        problems.append(f"No model at {stack.model}: run `make train` first.")
    configured = stack.env.get("CLINIC_SETTINGS")
    try:
        load_settings(ROOT / configured if configured else None)
    except SettingsError as error:
        problems.append(f"{error}: fix it, or point CLINIC_SETTINGS at the clinic's settings file.")
    try:
        ServerSettings.from_env(stack.env)
    except SettingsError as error:
        problems.append(f'{error} (README, "Settings").')
    for name in stack.commands():
        port_var, host_var = ADDRESS_VARIABLES[name]
        port = stack.env[port_var]
        if not port.isdigit() or not 0 < int(port) < 65536:
            problems.append(f"{port_var}={port!r} is not a port number.")
        elif port_taken(stack.env.get(host_var, "127.0.0.1") if host_var else "127.0.0.1", int(port)):
            problems.append(f"{name}: {port_hint(port_var, port)}.")
    return problems


def main(argv: Optional[List[str]] = None) -> int:
    defaults = RestartPolicy()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-web", action="store_true", help="don't serve the widget demo page")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--log-dir", type=Path, help="write each process's output to DIR/<name>.log")
    parser.add_argument(
        "--restart-delay", type=float, default=defaults.first_delay, help="first restart delay (s)"
    )
    parser.add_argument(
        "--max-restart-delay", type=float, default=defaults.max_delay, help="longest delay (s)"
    )
    parser.add_argument(
        "--max-restarts", type=int, default=defaults.max_restarts, help="per process and window"
    )
    parser.add_argument(
        "--restart-window", type=float, default=defaults.window, help="seconds a crash counts"
    )
    parser.add_argument(
        "--ready-timeout", type=float, default=defaults.ready_timeout, help="seconds to start answering"
    )
    args = parser.parse_args(argv)
    if min(args.restart_delay, args.max_restart_delay, args.restart_window, args.ready_timeout) <= 0:
        parser.error("the delays, the window and the timeout must be positive")
    if args.max_restarts < 0:
        parser.error("--max-restarts must be 0 or more")
    policy = RestartPolicy(
        first_delay=args.restart_delay,
        max_delay=args.max_restart_delay,
        max_restarts=args.max_restarts,
        window=args.restart_window,
        ready_timeout=args.ready_timeout,
    )
    log_dir = (
        args.log_dir if args.log_dir is None or args.log_dir.is_absolute() else Path.cwd() / args.log_dir
    )
    stack = Stack(default_env(), model=args.model.resolve(), with_web=not args.no_web, log_dir=log_dir)
    problems = preflight(stack)
    if problems:
        print("\n".join(["Cannot start the assistant:", *(f"  - {p}" for p in problems)]), file=sys.stderr)
        return 1

    supervisor = Supervisor(stack, policy)

    def handle(signum: int, frame: object) -> None:
        supervisor.stop()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handle)
    logs = "on this console" if log_dir is None else f"in {log_dir}/"
    print(f"Starting the assistant (Rasa needs about 10-20 s to load); logs {logs}...", flush=True)
    code = supervisor.run()
    print("Stopped." if code == 0 else "Stopped: a process kept failing (see above).", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
