"""The launcher (`make run`, scripts/serve.py) as a supervisor, and scripts/run_rasa.py.

* Real launchers, each as its own process on free ports with a throw-away SQLite store:
  the action server killed with SIGKILL is restarted while Rasa and the web page keep
  serving (emergencies escalate at once, FAQ answers come back within seconds); the
  restart is logged; SIGTERM stops everything with exit code 0; a process that keeps
  failing stops everything with exit code 1 and a hint; a taken port or a missing
  model is reported before anything starts.
* The Rasa API token is on no command line (``/proc/<pid>/cmdline``, ``ps``), and the
  HTTP API still takes it; Rasa listens on 127.0.0.1 unless RASA_HOST says otherwise.
* ``scripts/run_rasa.py`` alone, as a systemd unit runs it (a minimal environment).
* The pure parts: backoff, the crash window, the refused options, the log tail.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Set

import pytest

from scripts import run_rasa
from scripts.serve import Child, RestartPolicy, Stack, address_missing, local_env, log_tail
from tests.faults import Answer, free_port, get, listening_addresses, non_loopback_addresses, port_open, send

ROOT = Path(__file__).resolve().parent.parent
SERVE = ROOT / "scripts" / "serve.py"
RUN = uuid.uuid4().hex[:8]
EMERGENCY = "I have crushing chest pain and can't breathe"
ANSWER = "mild electric current"  # from the answer to "how does it work?"
#: An address of no machine (TEST-NET-1, RFC 5737): nothing can listen on it.
NOT_HERE = "192.0.2.1"


def sender(prefix: str) -> str:
    return f"sup-{RUN}-{prefix}"


def escalation_level(answer: Answer) -> Optional[str]:
    for message in answer.json or []:
        if isinstance(message, dict) and "escalation" in (message.get("custom") or {}):
            return str(message["custom"]["escalation"]["level"])
    return None


# -- processes -----------------------------------------------------------------------------


def descendants(pid: int) -> Set[int]:
    """Every living process below ``pid`` (from /proc)."""
    parents: Dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) "
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found: Set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.2)


@dataclass
class Launched:
    """A launcher process (scripts/serve.py) and what it was started with."""

    process: subprocess.Popen
    out: Path
    env: Dict[str, str]
    log_dir: Path

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def pid(self, name: str) -> int:
        """The latest pid the launcher logged for a process."""
        pids = re.findall(rf"serve: {name} (?:started|restarted \(attempt \d+\)), pid (\d+)", self.output())
        assert pids, f"no pid of {name} in the launcher's output:\n{self.output()}"
        return int(pids[-1])

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.env['RASA_PORT']}"

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None:
                raise AssertionError(f"launcher exited ({self.process.returncode}):\n{self.output()[-6000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {timeout:.0f} s:\n{self.output()[-6000:]}")
            time.sleep(0.25)

    def finish(self) -> None:
        """Stops the launcher if it still runs, and anything it left behind."""
        left = descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in left:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def launch(workdir: Path, env: Dict[str, str], *args: str) -> Launched:
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "launcher.out"
    log_dir = workdir / "logs"
    with open(out, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, str(SERVE), "--log-dir", str(log_dir), *args],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return Launched(process, out, env, log_dir)


def launcher_env(workdir: Path, overrides: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Free ports, a throw-away SQLite store, RASA_HOST unset (its default applies)."""
    env = local_env(workdir, overrides)
    env.pop("RASA_HOST", None)
    return env


# -- a supervised stack -----------------------------------------------------------------------


TOKEN = f"tok{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def launched(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launched]:
    workdir = tmp_path_factory.mktemp("supervised")
    env = launcher_env(workdir, {"RASA_API_TOKEN": TOKEN})
    launcher = launch(workdir, env, "--model", str(trained_model), "--restart-delay", "1")
    try:
        launcher.wait_for("Press Ctrl-C to stop.", timeout=300)
        yield launcher
    finally:
        launcher.finish()


@pytest.mark.e2e
def test_the_token_is_on_no_command_line_and_still_opens_the_api(launched: Launched) -> None:
    pids = descendants(launched.process.pid)
    names = {launched.pid(name) for name in ("actions", "rasa", "web")}
    assert names <= pids, (names, pids)
    for pid in pids | {launched.process.pid}:
        assert TOKEN not in cmdline(pid), (pid, cmdline(pid).replace(TOKEN, "<token>"))
    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert TOKEN not in listing
    # Rasa got it all the same: the HTTP API is on, and only with the token.
    assert get(f"{launched.rasa_url}/status?token={TOKEN}").status == 200
    assert get(f"{launched.rasa_url}/status").status == 401
    assert get(f"{launched.rasa_url}/status?token=wrong").status == 401
    # Only Rasa's environment holds it.
    for name in ("actions", "web"):
        environ = Path(f"/proc/{launched.pid(name)}/environ").read_bytes()
        assert TOKEN.encode() not in environ, name


@pytest.mark.e2e
def test_rasa_listens_on_loopback_by_default(launched: Launched) -> None:
    port = int(launched.env["RASA_PORT"])
    assert "RASA_HOST" not in launched.env
    assert listening_addresses(port) == ["127.0.0.1"]
    for address in non_loopback_addresses():
        assert not port_open(address, port), f"Rasa reachable on {address}:{port}"


@pytest.mark.e2e
def test_the_turn_guard_is_installed_through_run_rasa(launched: Launched) -> None:
    """addons/patches.py still loads: "/ask_cost@1.0 ..." is text only with the guard."""
    answer = send(launched.rasa_url, sender("guard"), "/ask_cost@1.0 I have crushing chest pain")
    assert escalation_level(answer) == "emergency", answer


@pytest.mark.e2e
def test_a_killed_action_server_is_restarted_and_escalations_never_stop(launched: Launched) -> None:
    url, who = launched.rasa_url, sender("kill")
    assert ANSWER in send(url, who, "how does it work?").texts()
    before = {name: launched.pid(name) for name in ("actions", "rasa", "web")}
    action_port = int(launched.env["ACTION_PORT"])

    killed = time.monotonic()
    os.kill(before["actions"], signal.SIGKILL)
    wait_until(lambda: not port_open("127.0.0.1", action_port, 0.2), 10, "the action server's port closes")
    emergency = send(url, who, EMERGENCY, timeout=10)
    assert emergency.status == 200 and escalation_level(emergency) == "emergency", emergency

    # Every reply meanwhile is the answer or the apology, never nothing; then the answer.
    # (A new sender each time: the rate limit per sender would answer "please wait".)
    replies: List[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        reply = send(url, sender(f"poll-{len(replies)}"), "how does it work?", timeout=20)
        assert reply.status == 200 and reply.texts(), reply
        replies.append(reply.texts())
        if ANSWER in reply.texts():
            break
        assert "can't answer that right now" in reply.texts(), reply
        time.sleep(0.5)
    assert ANSWER in replies[-1], replies[-3:]
    print(
        f"\naction server killed: FAQ answered again after {time.monotonic() - killed:.1f} s, "
        f"{len(replies) - 1} apologies before"
    )

    output = launched.output()
    assert re.search(
        rf"serve: actions \(pid {before['actions']}\) exited with code -9; restarting in 1 s \(attempt 1 of",
        output,
    ), output
    assert "serve: actions restarted (attempt 1)" in output
    assert launched.pid("actions") != before["actions"] and alive(launched.pid("actions"))
    # The others kept serving: never restarted.
    for name in ("rasa", "web"):
        assert launched.pid(name) == before[name] and alive(before[name]), name
        assert f"serve: {name} restarted" not in output
    assert launched.process.poll() is None
    assert EMERGENCY not in output and "how does it work" not in output  # no message text


@pytest.mark.e2e
def test_sigterm_stops_everything_with_exit_code_0(launched: Launched) -> None:
    """Runs last in this module: it stops the shared launcher."""
    pids = descendants(launched.process.pid)
    assert len(pids) >= 3
    launched.process.send_signal(signal.SIGTERM)
    assert launched.process.wait(60) == 0, launched.output()[-3000:]
    assert not [pid for pid in pids if alive(pid)]
    for variable in ("ACTION_PORT", "RASA_PORT", "WEB_PORT"):
        assert not port_open("127.0.0.1", int(launched.env[variable])), variable
    assert launched.output().rstrip().endswith("Stopped.")


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_a_process_that_keeps_failing_stops_everything_with_exit_code_1(
    trained_model: Path, tmp_path: Path
) -> None:
    if not address_missing(NOT_HERE):
        pytest.skip(f"{NOT_HERE} is an address of this machine")
    env = launcher_env(tmp_path, {"ACTION_HOST": NOT_HERE})  # the action server cannot bind
    launcher = launch(
        tmp_path,
        env,
        "--model",
        str(trained_model),
        "--no-web",
        "--restart-delay",
        "0.2",
        "--max-restarts",
        "2",
    )
    try:
        code = launcher.process.wait(240)
        output = launcher.output()
        assert code == 1, output
        exits = re.findall(r"serve: actions \(pid \d+\) exited with code", output)
        assert len(exits) == 2, output  # two restarts, then the third exit is one too many
        assert (
            "restarting in 0.2 s (attempt 1 of 2" in output
            and "restarting in 0.4 s (attempt 2 of 2" in output
        )
        # Said at the first failure already, not only when the launcher gives up:
        first = output.index("restarting in 0.2 s (attempt 1 of 2")
        assert output.index(f"ACTION_HOST={NOT_HERE} is not an address", first) < output.index(
            "attempt 2 of 2"
        )
        assert "serve: actions keeps failing: 3 exits within 300 s" in output
        assert f"its log: {launcher.log_dir / 'actions.log'}" in output
        assert f"ACTION_HOST={NOT_HERE} is not an address of this machine" in output
        assert "serve: rasa restarted" not in output
        assert not alive(launcher.pid("rasa"))  # stopped with the rest
        assert not port_open("127.0.0.1", int(env["RASA_PORT"]))
        assert output.rstrip().endswith("Stopped: a process kept failing (see above).")
    finally:
        launcher.finish()


def test_a_taken_port_is_reported_before_anything_starts(trained_model: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = launcher_env(tmp_path, {"RASA_PORT": str(port)})
        launcher = launch(tmp_path, env, "--model", str(trained_model))
        try:
            assert launcher.process.wait(60) == 1
        finally:
            launcher.finish()
    output = launcher.output()
    assert f"rasa: port {port} is taken" in output and "set RASA_PORT to a free port" in output, output
    assert "started, pid" not in output


def test_a_missing_model_says_run_make_train(tmp_path: Path) -> None:
    launcher = launch(tmp_path, launcher_env(tmp_path), "--model", str(tmp_path / "none.tar.gz"))
    try:
        assert launcher.process.wait(60) == 1
    finally:
        launcher.finish()
    output = launcher.output()
    assert f"No model at {tmp_path / 'none.tar.gz'}: run `make train` first." in output, output
    assert "started, pid" not in output


# -- run_rasa.py alone, as a systemd unit runs it ----------------------------------------------


@pytest.mark.e2e
def test_run_rasa_alone_from_a_minimal_environment(trained_model: Path, tmp_path: Path) -> None:
    """The unit's command line and an environment file's few variables; RASA_HOST=0.0.0.0
    is honoured (every interface), so the loopback default above is the setting's."""
    port = str(free_port())
    env = {
        "PATH": "/usr/bin:/bin",
        "RASA_API_TOKEN": TOKEN,
        "RASA_HOST": "0.0.0.0",
        "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
        "ACTION_PORT": str(free_port()),  # no action server: FAQ answers apologise
    }
    command = [
        sys.executable,
        "scripts/run_rasa.py",
        "--model",
        str(trained_model),
        "--port",
        port,
        "--endpoints",
        "endpoints.yml",
        "--credentials",
        "credentials.yml",
    ]
    with open(tmp_path / "rasa.log", "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: (
                process.poll() is None and port_open("127.0.0.1", int(port), 0.2) and get(url).status == 200
            ),
            240,
            f"run_rasa.py answers (log: {tmp_path / 'rasa.log'})",
        )
        assert TOKEN not in cmdline(process.pid)
        assert listening_addresses(int(port)) == ["0.0.0.0"]
        assert get(f"{url}/status?token={TOKEN}").status == 200
        assert get(f"{url}/status").status == 401
        assert escalation_level(send(url, sender("alone"), EMERGENCY)) == "emergency"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the pure parts ---------------------------------------------------------------------------------


def test_restart_delays_double_up_to_the_cap() -> None:
    policy = RestartPolicy(first_delay=1, max_delay=30)
    assert [policy.delay(attempt) for attempt in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_crashes_count_only_within_the_window() -> None:
    child = Child("actions")
    assert [child.crashed(now, 1, window=300) for now in (0, 10, 200, 305, 600)] == [1, 2, 3, 3, 2]
    assert child.last_code == 1


SYSTEMD_ARGS = [
    "--model",
    "m.tar.gz",
    "--port",
    "5005",
    "--endpoints",
    "endpoints.yml",
    "--credentials",
    "c.yml",
]


@pytest.mark.parametrize(
    "args",
    [
        ["--auth-token", "x"],
        ["--auth-token=x"],
        ["--auth", "x"],
        ["-t", "x"],
        ["-tx"],
        ["--enable-api"],
        ["--interface", "0.0.0.0"],
        ["-i", "0.0.0.0"],
        ["--jwt-secret", "s"],
        ["--ssl-password", "p"],
    ],
)
def test_run_rasa_refuses_what_the_settings_decide_and_secrets(args: List[str]) -> None:
    assert run_rasa.refused_option(SYSTEMD_ARGS + args)
    assert run_rasa.main(SYSTEMD_ARGS + args) == 2  # refused before Rasa is even imported


def test_run_rasa_builds_rasas_arguments_from_the_settings() -> None:
    assert run_rasa.refused_option(SYSTEMD_ARGS) is None
    assert run_rasa.rasa_arguments(SYSTEMD_ARGS, {"RASA_HOST": "127.0.0.1", "RASA_API_TOKEN": ""}) == [
        "run",
        "--interface",
        "127.0.0.1",
        *SYSTEMD_ARGS,
    ]
    with_token = run_rasa.rasa_arguments(["models/x.tar.gz"], {"RASA_HOST": "0.0.0.0", "RASA_API_TOKEN": "t"})
    assert with_token == [
        "run",
        "--interface",
        "0.0.0.0",
        "--enable-api",
        "--auth-token",
        "t",
        "models/x.tar.gz",
    ]


def test_the_stack_puts_the_token_only_in_rasas_environment(tmp_path: Path) -> None:
    stack = Stack(local_env(tmp_path, {"RASA_API_TOKEN": TOKEN}))
    commands = stack.commands()
    assert all(TOKEN not in " ".join(command) for command in commands.values())
    assert "--endpoints" in commands["rasa"]  # scripts/bench.py swaps the file after it
    assert stack.process_env("rasa")["RASA_API_TOKEN"] == TOKEN
    assert "RASA_API_TOKEN" not in stack.process_env("actions")
    assert "RASA_API_TOKEN" not in stack.process_env("web")


def test_the_log_tail_starts_at_the_last_start_and_skips_warnings(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text(
        "--- 2026-12-01 10:00:00 serve.py starts x\nold error\n"
        "--- 2026-12-01 10:00:05 serve.py starts x\n"
        "/v/lib/pkg_resources/__init__.py:3117: DeprecationWarning: Deprecated call\n"
        "Implementing implicit namespace packages\n"
        "  declare_namespace(pkg)\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1\n'
        "OSError: [Errno 98] address already in use\n"
    )
    assert log_tail(log) == [
        "Traceback (most recent call last):",
        '  File "x.py", line 1',
        "OSError: [Errno 98] address already in use",
    ]
    assert log_tail(None) == [] and log_tail(tmp_path / "missing.log") == []
