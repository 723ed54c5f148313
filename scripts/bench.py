"""A/B benchmark: the assistant as shipped (A) against stock Rasa 3.6 (B).

    .venv/bin/python scripts/bench.py            # what `make bench` runs
    .venv/bin/python scripts/bench.py --quick    # short passes while developing

A is ``config.yml`` + ``endpoints.yml`` (``models/current.tar.gz``, built like
``make train``). B is the same domain, data, actions, channels and response generator
trained with the configuration ``rasa init`` writes (``bench/baseline-config.yml``)
and served with Rasa's stock SQL tracker store and action endpoint settings
(``bench/baseline-endpoints.yml``). Both run at the same time, each an action server
plus a Rasa server on free loopback ports with its own throw-away SQLite tracker
store; every load phase alternates between them (A, B, B, A) so both see the same
background load.

Measured for each: training time (a cold training: empty Rasa cache), time from
process start to the first answer, held-out accuracy over the HTTP API's ``/model/parse``
(the same scoring as ``scripts/heldout.py``), latency percentiles and messages per
second for 1, 10 and 50 concurrent senders over the REST channel (closed loop, short
conversations drawn from ``bench/messages.yml``), latency of messages 1, 100 and 500 of
one 500-message conversation, and the resident memory of each server after the load.

Trained models are kept in ``.build/bench/`` with their training time and reused while
their inputs are unchanged (``--retrain`` forces new trainings). Results also go to
``.build/bench/results.json``. Nothing leaves the machine: every request goes to
127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from core.settings import environment  # noqa: E402
from core.stats import percentile  # noqa: E402

from heldout import load_messages, outcome_of_intent, score  # noqa: E402
from serve import Stack, local_env  # noqa: E402

BUILD = ROOT / ".build" / "bench"
BENCH = ROOT / "bench"
MODEL_A = ROOT / "models" / "current.tar.gz"
CONFIG_B = BENCH / "baseline-config.yml"
ENDPOINTS_B = BENCH / "baseline-endpoints.yml"
MIX_PATH = BENCH / "messages.yml"
TRAINING_INPUTS = [ROOT / "domain.yml", *sorted((ROOT / "data").glob("*/*.yml"))]
LEVELS = (1, 10, 50)
SYSTEMS = ("A", "B")
APOLOGY_START = "Sorry, I can't answer that right now"
#: Replies that mean the turn was not answered: the channel's apology, its rate limit.
NOT_ANSWERED = (APOLOGY_START, "You're sending messages faster")


# -- small helpers ---------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (from /proc)."""
    total_kb = 0
    pending = [pid]
    seen = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending.extend(int(child) for child in task.read_text().split())
            except OSError:
                pass
    return total_kb / 1024


def digest(paths: Iterable[Path], extra: str = "") -> str:
    sha = hashlib.sha256(extra.encode())
    for path in paths:
        sha.update(str(path.relative_to(ROOT)).encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


def rasa_version() -> str:
    from importlib.metadata import version

    return version("rasa")


# -- training --------------------------------------------------------------------------


def load_records() -> Dict[str, Any]:
    path = BUILD / "training.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def save_records(records: Dict[str, Any]) -> None:
    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / "training.json").write_text(json.dumps(records, indent=2))


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class Training:
    """A cold, timed training run in the background."""

    def __init__(self, command: List[str], log_path: Path) -> None:
        self.cache = Path(tempfile.mkdtemp(prefix="bench-rasa-cache-"))
        env = environment(overrides={"RASA_CACHE_DIRECTORY": str(self.cache)})
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.command = command
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait(self) -> float:
        """Waits for the end; returns the wall time in seconds."""
        try:
            code = self.process.wait()
        finally:
            self._log.close()
            shutil.rmtree(self.cache, ignore_errors=True)
        if code != 0:
            raise SystemExit(f"training failed ({' '.join(self.command)}); see {self.log_path}")
        return time.monotonic() - self.started

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait()
        self._log.close()
        shutil.rmtree(self.cache, ignore_errors=True)


def model_a_is_stale() -> bool:
    """Whether `make train` would rebuild models/current.tar.gz."""
    return (
        not MODEL_A.is_file()
        or subprocess.run(
            ["make", "-s", "-q", str(MODEL_A.relative_to(ROOT))],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ).returncode
        != 0
    )


def baseline_key() -> str:
    return digest([CONFIG_B, *TRAINING_INPUTS], extra=rasa_version())


def ensure_models(rasa: str, retrain: bool) -> Dict[str, Dict[str, Any]]:
    """Builds what is missing; returns per system: model, seconds, measured now, note.

    A is models/current.tar.gz exactly as `make train` builds it. B is trained from
    bench/baseline-config.yml into .build/bench/ when its inputs changed. When both need
    training they train at the same time (one core each: Rasa's training is mostly
    single-threaded); A's time is then marked, being measured beside B's training.
    """
    records = load_records()
    key = baseline_key()
    model_b = BUILD / f"baseline-{key}.tar.gz"
    need_b = retrain or not model_b.is_file() or records.get("B", {}).get("key") != key
    need_a = model_a_is_stale()
    time_a = (
        need_a
        or retrain
        or records.get("A", {}).get("model") != (file_sha(MODEL_A) if MODEL_A.is_file() else None)
    )
    training_b = None
    if need_b:
        for old in BUILD.glob("baseline-*.tar.gz"):
            old.unlink()
        log("training B: stock config, DIET/TED/UnexpecTED 100 epochs each, empty cache (the slow part) ...")
        training_b = Training(
            [
                rasa,
                "train",
                "--config",
                str(CONFIG_B.relative_to(ROOT)),
                "--domain",
                "domain.yml",
                "--data",
                "data",
                "--out",
                str(BUILD),
                "--fixed-model-name",
                f"baseline-{key}",
            ],
            BUILD / "train-B.log",
        )
    result: Dict[str, Dict[str, Any]] = {}
    try:
        if time_a:
            if need_a:
                log("training A: make train, empty cache ...")
                command = ["make", "-s", "train"]
            else:
                # Current model whose training was not timed here: time a cold training
                # of the same inputs into a scratch file; the served model stays.
                log("timing a cold training of A (config.yml) ...")
                command = [
                    rasa,
                    "train",
                    "--config",
                    "config.yml",
                    "--out",
                    str(BUILD / "scratch"),
                    "--fixed-model-name",
                    "a",
                ]
            seconds = Training(command, BUILD / "train-A.log").wait()
            shutil.rmtree(BUILD / "scratch", ignore_errors=True)
            records["A"] = {
                "model": file_sha(MODEL_A),
                "seconds": seconds,
                "beside_b": training_b is not None,
                "when": time.ctime(),
            }
            save_records(records)
        if training_b is not None:
            seconds = training_b.wait()
            training_b = None
            records["B"] = {"key": key, "seconds": seconds, "when": time.ctime()}
            save_records(records)
    finally:
        if training_b is not None:
            training_b.stop()
    measured = {"A": time_a, "B": need_b}
    for name, model in (("A", MODEL_A), ("B", model_b)):
        record = records[name]
        note = "measured in this run" if measured[name] else f"recorded {record['when']}"
        if name == "A" and record.get("beside_b"):
            note += " (beside B's training)"
        result[name] = {"model": model, "seconds": record["seconds"], "note": note}
    return result


# -- servers ---------------------------------------------------------------------------


@dataclass
class BenchStack(Stack):
    """serve.Stack with a choice of endpoints file."""

    endpoints: str = "endpoints.yml"

    def commands(self) -> Dict[str, List[str]]:
        commands = super().commands()
        rasa = commands["rasa"]
        rasa[rasa.index("--endpoints") + 1] = self.endpoints
        return commands


@dataclass
class System:
    name: str
    stack: BenchStack
    token: str
    ready_seconds: float = float("nan")

    @property
    def webhook(self) -> str:
        return f"{self.stack.rasa_url}/webhooks/rest/webhook"

    @property
    def parse_url(self) -> str:
        return f"{self.stack.rasa_url}/model/parse?token={self.token}"


def make_system(name: str, model: Path, endpoints: str, workdir: Path) -> System:
    token = secrets.token_hex(16)
    env = local_env(
        workdir,
        {
            "TRACKER_STORE_URL": f"sqlite:///{workdir / f'tracker-{name}.db'}",
            "RASA_API_TOKEN": token,
            "LOG_LEVEL": "WARNING",
            # The REST channel's per-sender limit (addons/rest.py) would answer the
            # benchmark's back-to-back senders "slow down" instead of running Rasa.
            "RATE_LIMIT_MESSAGES": "1000000",
        },
    )
    stack = BenchStack(
        env, model=model, with_web=False, log_dir=workdir / f"logs-{name}", endpoints=endpoints
    )
    return System(name, stack, token)


async def post(session: aiohttp.ClientSession, url: str, payload: Dict[str, Any], timeout: float = 60) -> Any:
    async with session.post(url, json=payload, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
        r.raise_for_status()
        return await r.json(content_type=None)


async def start(system: System, timeout: float = 300) -> None:
    """Starts both servers; ready = the first FAQ answer that needed the action server."""
    started = time.monotonic()
    for name in system.stack.commands():
        system.stack.start(name)
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - started < timeout:
            for name, process in system.stack.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{system.name}: {name} exited with {process.returncode}")
            try:
                reply = await post(
                    session, system.webhook, {"sender": "bench-ready", "message": "/ask_cost"}, timeout=5
                )
                text = " ".join(m.get("text", "") for m in reply)
                if reply and not text.startswith(APOLOGY_START):
                    system.ready_seconds = time.monotonic() - started
                    return
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{system.name} did not answer within {timeout:.0f} s")


# -- workloads -------------------------------------------------------------------------


class Mix:
    """Draws patient messages by category weight."""

    def __init__(self, path: Path = MIX_PATH) -> None:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))["categories"]
        self.names = list(data)
        self.weights = [data[n]["weight"] for n in self.names]
        self.texts = {n: list(data[n]["texts"]) for n in self.names}

    def draw(self, rng: random.Random) -> str:
        category = rng.choices(self.names, self.weights)[0]
        return rng.choice(self.texts[category])


@dataclass
class LoadResult:
    latencies_ms: List[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0
    apologies: int = 0

    def merge(self, other: "LoadResult") -> None:
        self.latencies_ms += other.latencies_ms
        self.seconds += other.seconds
        self.errors += other.errors
        self.apologies += other.apologies

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


async def closed_loop(system: System, senders: int, seconds: float, seed: int, mix: Mix) -> LoadResult:
    """`senders` simulated patients, each sending its next message once answered.

    Each patient holds short conversations (3-10 messages) under fresh sender ids.
    """
    result = LoadResult()
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=senders)

    async def patient(index: int, session: aiohttp.ClientSession) -> None:
        rng = random.Random(seed * 1000 + index)
        conversation = 0
        while time.monotonic() < deadline:
            sender = f"load-{system.name}-{seed}-{index}-{conversation}"
            for _ in range(rng.randint(3, 10)):
                if time.monotonic() >= deadline:
                    return
                text = mix.draw(rng)
                sent = time.perf_counter()
                try:
                    reply = await post(session, system.webhook, {"sender": sender, "message": text})
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    result.errors += 1
                    continue
                result.latencies_ms.append((time.perf_counter() - sent) * 1000)
                if any(m.get("text", "").startswith(NOT_ANSWERED) for m in reply):
                    result.apologies += 1
            conversation += 1

    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.monotonic()
        await asyncio.gather(*(patient(i, session) for i in range(senders)))
        result.seconds = time.monotonic() - began
    return result


async def heldout(system: System) -> Tuple[Any, List[float]]:
    """Scores tests/heldout/messages.yml over /model/parse (NLU + safety layer).

    Returns the score and each parse's latency in ms.
    """
    messages = load_messages()
    outcomes, latencies = [], []
    async with aiohttp.ClientSession() as session:
        for text, _ in messages:
            sent = time.perf_counter()
            parsed = await post(session, system.parse_url, {"text": text})
            latencies.append((time.perf_counter() - sent) * 1000)
            outcomes.append(outcome_of_intent(parsed["intent"]["name"]))
    return score((t, e, o) for (t, e), o in zip(messages, outcomes, strict=True)), latencies


#: Sent at messages 1-5, 96-100 and 496-500 of the long conversation, so that the
#: latencies compared along the conversation are those of the same turn (an FAQ answer
#: from the action server, the usual reply); the other messages come from the mix.
PROBE_TEXT = "how does this iontophoresis thing actually work"
PROBE_WIDTH = 5


def probe_positions(length: int) -> List[int]:
    """1-based positions that carry PROBE_TEXT."""
    ends = [PROBE_WIDTH, 100, length]
    return sorted({p for end in ends for p in range(end - PROBE_WIDTH + 1, end + 1) if p >= 1})


async def long_conversations(
    systems: Sequence[System], length: int, mix: Mix
) -> Tuple[Dict[str, List[float]], Dict[str, int]]:
    """One conversation of `length` messages per system, message by message in turn.

    Returns each system's latencies (ms) and how many turns were not answered.
    """
    rng = random.Random(500)
    probes = set(probe_positions(length))
    texts = [PROBE_TEXT if i + 1 in probes else mix.draw(rng) for i in range(length)]
    latencies: Dict[str, List[float]] = {s.name: [] for s in systems}
    unanswered = {s.name: 0 for s in systems}
    async with aiohttp.ClientSession() as session:
        for index, text in enumerate(texts):
            order = systems if index % 2 == 0 else list(reversed(systems))
            for system in order:
                sent = time.perf_counter()
                reply = await post(
                    session, system.webhook, {"sender": f"long-{system.name}", "message": text}
                )
                latencies[system.name].append((time.perf_counter() - sent) * 1000)
                if any(m.get("text", "").startswith(NOT_ANSWERED) for m in reply):
                    unanswered[system.name] += 1
    return latencies, unanswered


def conversation_figures(latencies: Sequence[float]) -> Dict[str, float]:
    """Message 1 alone; messages 2-5; and 100 and the last as the median of the five
    probe messages ending there."""
    length = len(latencies)
    return {
        "msg1": latencies[0],
        "msg2_5": statistics.median(latencies[1:PROBE_WIDTH]),
        "msg100": statistics.median(latencies[100 - PROBE_WIDTH : 100]),
        f"msg{length}": statistics.median(latencies[length - PROBE_WIDTH : length]),
    }


async def warm_up(system: System, mix: Mix) -> None:
    rng = random.Random(7)
    async with aiohttp.ClientSession() as session:
        for i in range(30):
            await post(session, system.webhook, {"sender": f"warm-{i // 6}", "message": mix.draw(rng)})


# -- report ----------------------------------------------------------------------------


def fmt(value: float, digits: int = 0) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.{digits}f}"


def build_table(results: Dict[str, Any], args: argparse.Namespace) -> str:
    A, B = results["A"], results["B"]
    rows: List[Tuple[str, str, str, str]] = []

    def ratio(a: float, b: float, digits: int = 2) -> str:
        return fmt(a / b, digits) if a == a and b == b and b else "-"

    def add(label: str, key_a: float, key_b: float, digits: int = 0) -> None:
        rows.append((label, fmt(key_a, digits), fmt(key_b, digits), ratio(key_a, key_b)))

    add("training time, cold (s)", A["train_s"], B["train_s"], 1)
    add("start to first answer (s)", A["ready_s"], B["ready_s"], 1)
    add("RSS Rasa server after load (MB)", A["rss_rasa_mb"], B["rss_rasa_mb"])
    add("RSS action server after load (MB)", A["rss_actions_mb"], B["rss_actions_mb"])
    add("NLU only (/model/parse), p50 (ms)", A["parse_p50_ms"], B["parse_p50_ms"], 1)
    for level in LEVELS:
        la, lb = A["load"][str(level)], B["load"][str(level)]
        add(f"{level} sender(s): messages/s", la["rate"], lb["rate"], 1)
        for q in (50, 95, 99):
            add(f"{level} sender(s): p{q} (ms)", la[f"p{q}"], lb[f"p{q}"], 1)
    for label, key in (
        ("1", "msg1"),
        ("2-5", "msg2_5"),
        ("100", "msg100"),
        (str(args.long), f"msg{args.long}"),
    ):
        add(f"conversation message {label} (ms)", A["long"][key], B["long"][key], 1)
    for label, key in (
        ("held-out accuracy (%)", "accuracy"),
        ("emergency recall (%)", "emergency_recall"),
        ("urgent recall (%)", "urgent_recall"),
        ("false escalations (%)", "false_escalation_rate"),
    ):
        add(label, 100 * A["heldout"][key], 100 * B["heldout"][key], 1)
    width = max(len(r[0]) for r in rows)
    lines = [
        f"| {'':{width}} | {'A: assistant':>13} | {'B: stock Rasa':>13} | {'A/B':>6} |",
        f"|{'-' * (width + 2)}|{'-' * 15}:|{'-' * 15}:|{'-' * 7}:|",
    ]
    for label, a, b, r in rows:
        lines.append(f"| {label:{width}} | {a:>13} | {b:>13} | {r:>6} |")
    return "\n".join(lines)


def targets(results: Dict[str, Any], args: argparse.Namespace) -> List[Tuple[str, bool, str]]:
    A, B = results["A"], results["B"]
    checks = []
    for level in (10, 50):
        a, b = A["load"][str(level)]["rate"], B["load"][str(level)]["rate"]
        checks.append((f"throughput at {level} senders >= 2x B", a >= 2 * b, f"{a / b:.2f}x"))
    a, b = A["load"]["1"]["p50"], B["load"]["1"]["p50"]
    checks.append(("p50 at 1 sender <= 0.5x B", a <= 0.5 * b, f"{a / b:.2f}x"))
    first, early, last = A["long"]["msg1"], A["long"]["msg2_5"], A["long"][f"msg{args.long}"]
    checks.append(
        (
            f"message {args.long} <= 1.5x message 1",
            last <= 1.5 * first,
            f"{last / first:.2f}x (and {last / early:.2f}x messages 2-5)",
        )
    )
    checks.append(("Rasa server RSS < 1 GB", A["rss_rasa_mb"] < 1024, f"{A['rss_rasa_mb']:.0f} MB"))
    checks.append(("ready in < 15 s", A["ready_s"] < 15, f"{A['ready_s']:.1f} s"))
    checks.append(("training < 90 s", A["train_s"] < 90, f"{A['train_s']:.1f} s"))
    ha, hb = A["heldout"], B["heldout"]
    checks.append(
        (
            "held-out accuracy >= B",
            ha["accuracy"] >= hb["accuracy"],
            f"{100 * ha['accuracy']:.1f}% vs {100 * hb['accuracy']:.1f}%",
        )
    )
    for key in ("emergency_recall", "urgent_recall"):
        checks.append(
            (
                f"{key.replace('_', ' ')} >= B",
                ha[key] >= hb[key],
                f"{100 * ha[key]:.1f}% vs {100 * hb[key]:.1f}%",
            )
        )
    return checks


# -- main ------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> Dict[str, Any]:
    bench_started = time.monotonic()
    models = ensure_models(args.rasa, args.retrain)
    mix = Mix()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    systems = {
        "A": make_system("A", models["A"]["model"], "endpoints.yml", workdir),
        "B": make_system("B", models["B"]["model"], str(ENDPOINTS_B.relative_to(ROOT)), workdir),
    }
    results: Dict[str, Any] = {
        name: {"train_s": models[name]["seconds"], "train_note": models[name]["note"]} for name in SYSTEMS
    }
    try:
        for name in SYSTEMS:  # one at a time: start-up is measured without the other starting
            log(f"starting {name} ...")
            await start(systems[name])
            results[name]["ready_s"] = systems[name].ready_seconds
            log(f"{name} answered {systems[name].ready_seconds:.1f} s after start")
        for name in SYSTEMS:
            score_, parse_ms = await heldout(systems[name])
            results[name]["parse_p50_ms"] = percentile(parse_ms, 50)
            results[name]["heldout"] = {
                "messages": score_.total,
                "accuracy": score_.accuracy,
                "emergency_recall": score_.level_recall("emergency"),
                "urgent_recall": score_.level_recall("urgent"),
                "false_escalation_rate": score_.false_escalation_rate,
            }
            log(f"{name} held-out: {score_.accuracy:.1%} accuracy")
            await warm_up(systems[name], mix)
        half = args.seconds / 2
        for level in LEVELS:
            merged = {name: LoadResult() for name in SYSTEMS}
            for round_, name in enumerate(("A", "B", "B", "A")):
                merged[name].merge(await closed_loop(systems[name], level, half, level * 10 + round_, mix))
            for name in SYSTEMS:
                r = merged[name]
                results[name].setdefault("load", {})[str(level)] = {
                    "messages": len(r.latencies_ms),
                    "seconds": r.seconds,
                    "rate": r.rate,
                    "errors": r.errors,
                    "apologies": r.apologies,
                    **{f"p{q}": percentile(r.latencies_ms, q) for q in (50, 95, 99)},
                }
            log(f"{level} sender(s): A {merged['A'].rate:.1f} msg/s, B {merged['B'].rate:.1f} msg/s")
        log(f"one conversation of {args.long} messages each ...")
        long, unanswered = await long_conversations([systems["A"], systems["B"]], args.long, mix)
        for name in SYSTEMS:
            values = long[name]
            results[name]["long"] = conversation_figures(values)
            results[name]["long"]["unanswered"] = unanswered[name]
            results[name]["long"]["all_ms"] = [round(v, 2) for v in values]
        for name in SYSTEMS:
            processes = systems[name].stack.processes
            results[name]["rss_rasa_mb"] = rss_mb(processes["rasa"].pid)
            results[name]["rss_actions_mb"] = rss_mb(processes["actions"].pid)
    finally:
        for system in systems.values():
            system.stack.stop_all()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results["meta"] = {
        "command": " ".join(["scripts/bench.py", *sys.argv[1:]]),
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "rasa": rasa_version(),
        "cpus": os.cpu_count(),
        "seconds_per_level_per_system": args.seconds,
        "long_conversation": args.long,
        "bench_wall_s": time.monotonic() - bench_started,
        "loadavg_end": os.getloadavg(),
    }
    return results


async def ready_only(times: int) -> int:
    """Starts A ``times`` times, one after the other, and prints each start to first answer."""
    if not MODEL_A.is_file():
        print(f"{MODEL_A.relative_to(ROOT)} is missing: run `make train` first", file=sys.stderr)
        return 2
    seconds = []
    for index in range(times):
        system = make_system("A", MODEL_A, "endpoints.yml", Path(tempfile.mkdtemp(prefix="bench-ready-")))
        try:
            await start(system)
        finally:
            system.stack.stop_all()
        seconds.append(system.ready_seconds)
        print(f"A start {index + 1}: first answer after {system.ready_seconds:.1f} s", flush=True)
    print(f"A start to first answer: median {percentile(seconds, 50):.1f} s of {times}")
    return 0


async def only_a(seconds: float, length: int) -> int:
    """A's own figures, without B (no stock model to train): start to first answer,
    held-out figures, load at each level (``seconds`` per level), one conversation of
    ``length`` messages and resident memory. Printed as a list, with no A/B ratios: B's
    figures come only from a full run, in the same conditions."""
    if not MODEL_A.is_file():
        print(f"{MODEL_A.relative_to(ROOT)} is missing: run `make train` first", file=sys.stderr)
        return 2
    mix = Mix()
    workdir = Path(tempfile.mkdtemp(prefix="bench-a-"))
    system = make_system("A", MODEL_A, "endpoints.yml", workdir)
    try:
        await start(system)
        print(f"start to first answer (s): {system.ready_seconds:.1f}", flush=True)
        score_, parse_ms = await heldout(system)
        print(f"NLU only (/model/parse), p50 (ms): {percentile(parse_ms, 50):.1f}")
        print(
            f"held-out: accuracy {score_.accuracy:.1%}, emergency recall "
            f"{score_.level_recall('emergency'):.1%}, urgent recall {score_.level_recall('urgent'):.1%}, "
            f"false escalations {score_.false_escalation_rate:.1%}"
        )
        await warm_up(system, mix)
        for level in LEVELS:
            r = await closed_loop(system, level, seconds, level * 10, mix)
            print(
                f"{level} sender(s): {r.rate:.1f} msg/s, p50 {percentile(r.latencies_ms, 50):.1f} ms, "
                f"p95 {percentile(r.latencies_ms, 95):.1f} ms, errors {r.errors}, apologies {r.apologies}",
                flush=True,
            )
        long, unanswered = await long_conversations([system], length, mix)
        figures = conversation_figures(long["A"])
        print(
            "conversation: "
            + ", ".join(f"{key} {value:.1f} ms" for key, value in figures.items())
            + f"; unanswered {unanswered['A']}"
        )
        processes = system.stack.processes
        print(f"RSS Rasa server (MB): {rss_mb(processes['rasa'].pid):.0f}")
        print(f"RSS action server (MB): {rss_mb(processes['actions'].pid):.0f}")
    finally:
        system.stack.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rasa", default=str(Path(sys.executable).parent / "rasa"))
    parser.add_argument(
        "--seconds",
        type=float,
        default=12.0,
        help="load per concurrency level per system (two alternating halves)",
    )
    parser.add_argument("--long", type=int, default=500, help="messages in the long conversation")
    parser.add_argument("--quick", action="store_true", help="4 s per level, 120-message conversation")
    parser.add_argument("--retrain", action="store_true", help="retrain even if inputs are unchanged")
    parser.add_argument("--keep", action="store_true", help="keep the servers' logs and stores")
    parser.add_argument("--json", type=Path, default=BUILD / "results.json")
    parser.add_argument(
        "--ready-only",
        type=int,
        metavar="N",
        help="only start A (models/current.tar.gz) N times and print start to first answer (no B)",
    )
    parser.add_argument(
        "--only-a",
        action="store_true",
        help="A's own figures without B (no stock model to train); no A/B ratios",
    )
    args = parser.parse_args(argv)
    if args.only_a:
        if args.quick:
            args.seconds, args.long = 4.0, 120
        return asyncio.run(only_a(args.seconds, args.long))
    if args.ready_only:
        return asyncio.run(ready_only(args.ready_only))
    if args.quick:
        args.seconds, args.long = 4.0, 120
    if args.long < 100:
        parser.error("--long must be at least 100")
    results = asyncio.run(run(args))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    meta = results["meta"]
    print()
    print(
        f"Sweat Clinic Assistant benchmark, {meta['when']}, Rasa {meta['rasa']}, "
        f"{meta['cpus']} CPUs, load average at the end {meta['loadavg_end'][0]:.1f}"
    )
    print(
        "A = config.yml + endpoints.yml; B = bench/baseline-config.yml (rasa init defaults) "
        "+ bench/baseline-endpoints.yml"
    )
    print(
        f"Load: closed loop over the REST channel, {args.seconds:g} s per level per system "
        f"(A,B,B,A halves). Conversation: {args.long} messages; message 1 alone (it starts "
        f"the session), 2-5, 100 and {args.long}: medians of the same FAQ question sent as "
        f"messages 2-5, 96-100 and {args.long - 4}-{args.long}"
    )
    print("Training times: " + "; ".join(f"{n} {results[n]['train_note']}" for n in SYSTEMS))
    print()
    print(build_table(results, args))
    print()
    print("Targets for A:")
    for label, ok, detail in targets(results, args):
        print(f"  [{'x' if ok else ' '}] {label}: {detail}")
    errors = {n: sum(results[n]["load"][str(level)]["errors"] for level in LEVELS) for n in SYSTEMS}
    apologies = {
        n: sum(results[n]["load"][str(level)]["apologies"] for level in LEVELS)
        + results[n]["long"]["unanswered"]
        for n in SYSTEMS
    }
    print(f"Errors during load: {errors}; turns answered with an apology or slow-down: {apologies}")
    print(
        f"Bench wall time {meta['bench_wall_s'] / 60:.1f} min; results in "
        f"{args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
