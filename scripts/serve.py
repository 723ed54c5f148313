"""Starts the assistant: action server, Rasa server (REST channel) and the widget page.

    .venv/bin/python scripts/serve.py            # what `make run` does
    .venv/bin/python scripts/serve.py --no-web   # without the demo page

Ports and stores come from environment variables (see README, "Settings"); this
script fills in the defaults so `endpoints.yml` always resolves. Ctrl-C stops every
process it started. The end-to-end tests reuse :class:`Stack` to start the same
servers on free ports.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.ports import free_port  # noqa: E402,F401  (used by the tests through this module)
from core.settings import environment  # noqa: E402

VENV_BIN = Path(sys.executable).parent
DEFAULT_MODEL = ROOT / "models" / "current.tar.gz"
VAR = ROOT / "var"


def default_env(overrides: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment the servers run with: this process's, plus ``overrides``, with
    the defaults of ``core.settings.DEFAULTS`` for whatever is unset (README, "Settings")."""
    return environment(overrides=overrides)


def action_server_env(env: Dict[str, str]) -> Dict[str, str]:
    """The action server's environment: ``env`` plus what only it should see.

    rasa_sdk 3.6 has no ``--host`` option; it binds to ``$SANIC_HOST`` (default
    0.0.0.0, every interface), so ACTION_HOST reaches it as SANIC_HOST. Its requests
    come from Rasa and carry the whole conversation and domain, so they may be larger
    than the 1 MB allowed for patients' requests.
    """
    action_env = dict(env)
    action_env["SANIC_HOST"] = env["ACTION_HOST"]
    action_env["SANIC_REQUEST_MAX_SIZE"] = env["ACTION_REQUEST_MAX_SIZE"]
    return action_env


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


def wait_for_http(url: str, timeout: float, process: Optional[subprocess.Popen] = None) -> None:
    """Waits until ``url`` answers 200, or raises ``RuntimeError``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


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
        return f"http://127.0.0.1:{self.env['RASA_PORT']}"

    @property
    def action_url(self) -> str:
        return f"http://127.0.0.1:{self.env['ACTION_PORT']}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.env['WEB_PORT']}"

    def commands(self) -> Dict[str, List[str]]:
        """The command line of each process, by name."""
        rasa = str(VENV_BIN / "rasa")
        commands = {}
        if self.with_actions:
            commands["actions"] = [
                rasa,
                "run",
                "actions",
                "--actions",
                "actions",
                "--port",
                self.env["ACTION_PORT"],
            ]
        rasa_cmd = [
            rasa,
            "run",
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
        token = self.env.get("RASA_API_TOKEN")
        if token:
            # The HTTP API (trackers, model control) only with a token.
            rasa_cmd += ["--enable-api", "--auth-token", token]
        commands["rasa"] = rasa_cmd
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

    def start(self, name: str) -> subprocess.Popen:
        """Starts one process by name (see :meth:`commands`)."""
        VAR.mkdir(exist_ok=True)
        stdout: Optional[IO[bytes]] = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            stdout = open(self.log_dir / f"{name}.log", "ab")
            self._logs.append(stdout)
        process = subprocess.Popen(
            self.commands()[name],
            cwd=ROOT,
            env=action_server_env(self.env) if name == "actions" else self.env,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout else None,
            start_new_session=True,  # its own process group: stopped as a whole
        )
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
        checks = {
            "actions": f"{self.action_url}/health",
            "rasa": f"{self.rasa_url}/",
            "web": f"{self.web_url}/",
        }
        for name, process in self.processes.items():
            wait_for_http(checks[name], timeout, process)

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


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-web", action="store_true", help="don't serve the widget demo page")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args(argv)
    if not args.model.is_file():
        print(f"No model at {args.model}: run `make train` first.", file=sys.stderr)
        return 1

    stack = Stack(default_env(), model=args.model, with_web=not args.no_web)
    stopping = False

    def handle(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    try:
        print("Starting the assistant (Rasa needs about 10-20 s to load)...", flush=True)
        stack.start_all()
        print("\nListening:")
        print(f"  Rasa REST channel  {stack.rasa_url}/webhooks/rest/webhook")
        if "actions" in stack.processes:
            print(f"  Action server      {stack.action_url}/webhook")
        if "web" in stack.processes:
            print(f"  Widget demo page   {stack.web_url}/")
        print("Press Ctrl-C to stop.\n", flush=True)
        while not stopping:
            for name, process in stack.processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with code {process.returncode}; stopping.", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    except RuntimeError as error:
        print(f"Could not start: {error}", file=sys.stderr)
        return 1
    finally:
        print("Stopping...", flush=True)
        stack.stop_all()
        print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
