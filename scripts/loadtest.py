"""Load test of the REST channel: many concurrent conversations, and one flooding sender.

    .venv/bin/python scripts/loadtest.py                 # against http://127.0.0.1:5005
    .venv/bin/python scripts/loadtest.py --url URL       # another running server
    .venv/bin/python scripts/loadtest.py --start         # starts its own servers
    make loadtest                                        # the same as --start

1. **Concurrent conversations**: ``--senders`` (50) senders, all at once, each sending
   ``--messages`` (20) messages one after the other: FAQ button payloads
   (``/ask_cost``, ``/ask_insurance``, ...) in an order shifted per sender, with a typed
   question every fifth message. Every reply is checked: HTTP 200, addressed to its own
   sender (``recipient_id``), and the expected answer for that step. Each sender waits
   ``--pace`` seconds (1.1) between its messages so it stays under the channel's rate
   limit (10 messages per 10 s per sender by default).
2. **Flood**: ``--normal`` (10) senders each ask ``--per-sender`` (5) questions, once
   alone and once while one sender floods the server from 4 threads (at least
   ``--flood`` (300) messages). The flooder must be told to slow down; the others must
   still get the right answers. Prints the others' latencies with and without the flood.

3. **Long-message flood** (fairness): ``--long-senders`` (30) senders each send
   2,000-character messages of made-up words, one after another, for
   ``--long-seconds`` (20); meanwhile a new sender every second reports an emergency.
   Every emergency must get the emergency escalation; prints their latencies (the
   target is under 2 s, as the widget gives up after 15 s).

Prints a small table; exits 1 if any reply was wrong or missing. The tests
(tests/test_reliability.py) call :func:`run_load` and :func:`run_flood` directly.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.stats import percentile  # noqa: E402

#: Typed questions and a fragment their answer must contain (the FAQ text or greeting).
TYPED = [
    ("hello", "automated assistant"),
    ("how much does it cost?", "ask_cost"),
    ("does insurance cover it?", "ask_insurance"),
    ("how does it work?", "ask_how_it_works"),
    ("is it safe?", "ask_safety"),
]
#: Rasa's per-sender rate limit defaults to 10 messages per 10 s: 1.1 s apart is under it.
DEFAULT_PACE = 1.1


@dataclass
class Reply:
    status: int
    messages: List[Dict[str, Any]]
    latency: float
    error: str = ""

    @property
    def text(self) -> str:
        return " ".join(str(m.get("text") or "") for m in self.messages)


def post(url: str, sender: str, message: str, timeout: float = 60) -> Reply:
    """One message over the REST channel; never raises."""
    body = json.dumps({"sender": sender, "message": message}).encode()
    request = urllib.request.Request(
        f"{url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except Exception as error:  # connection refused, reset, timeout
        return Reply(0, [], time.perf_counter() - start, f"{type(error).__name__}: {error}")
    latency = time.perf_counter() - start
    try:
        messages = json.loads(raw)
    except ValueError:
        return Reply(status, [], latency, f"not JSON: {raw[:80]!r}")
    if not isinstance(messages, list):
        return Reply(status, [], latency, f"not a reply list: {raw[:80]!r}")
    return Reply(status, messages, latency)


def expected_answers() -> Dict[str, str]:
    """FAQ answer text by intent, from knowledge/answers.yml."""
    from actions.knowledge import get_knowledge

    return {topic.intent: topic.text for topic in get_knowledge().topics.values()}


def conversation_plan(index: int, messages: int, answers: Dict[str, str]) -> List[Tuple[str, str]]:
    """What sender ``index`` sends, and a fragment each reply must contain."""
    intents = sorted(answers)
    plan = []
    for step in range(messages):
        if step % 5 == 4:
            text, expected = TYPED[(index + step) % len(TYPED)]
            plan.append((text, answers.get(expected, expected)))
        else:
            intent = intents[(index + step) % len(intents)]
            plan.append((f"/{intent}", answers[intent]))
    return plan


def problem(reply: Reply, sender: str, expected: Optional[str]) -> str:
    """What is wrong with a reply ('' when it is right)."""
    if reply.error:
        return reply.error
    if reply.status != 200:
        return f"HTTP {reply.status}"
    if not any(m.get("text") for m in reply.messages):
        return "empty reply"
    strangers = {m.get("recipient_id") for m in reply.messages} - {sender}
    if strangers:
        return f"addressed to {sorted(map(str, strangers))}"
    if expected and expected not in reply.text:
        return f"wrong answer: {reply.text[:90]!r}"
    return ""


@dataclass
class Result:
    name: str
    latencies: List[float] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    elapsed: float = 0.0
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def row(self) -> str:
        return (
            f"{self.name:<28} {self.count:>6} {len(self.problems):>6} {self.elapsed:>8.1f} "
            f"{self.throughput:>7.1f} {percentile(self.latencies, 50) * 1000:>7.0f} "
            f"{percentile(self.latencies, 95) * 1000:>7.0f}"
        )


HEADER = f"{'run':<28} {'msgs':>6} {'errors':>6} {'secs':>8} {'msg/s':>7} {'p50 ms':>7} {'p95 ms':>7}"


def _converse(
    url: str, sender: str, plan: List[Tuple[str, str]], pace: float, result: Result, lock: threading.Lock
) -> None:
    last = 0.0
    for step, (text, expected) in enumerate(plan):
        wait = last + pace - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        last = time.monotonic()
        reply = post(url, sender, text)
        wrong = problem(reply, sender, expected)
        with lock:
            result.latencies.append(reply.latency)
            if wrong:
                result.problems.append(f"{sender} step {step} {text!r}: {wrong}")


def run_conversations(
    url: str,
    plans: Dict[str, List[Tuple[str, str]]],
    name: str,
    pace: float = DEFAULT_PACE,
    threads: Optional[int] = None,
) -> Result:
    """Runs each sender's plan in its own thread, all at once."""
    result, lock = Result(name), threading.Lock()
    start = time.perf_counter()
    with ThreadPoolExecutor(threads or len(plans)) as pool:
        for future in [
            pool.submit(_converse, url, sender, plan, pace, result, lock) for sender, plan in plans.items()
        ]:
            future.result()
    result.elapsed = time.perf_counter() - start
    return result


def run_load(
    url: str, senders: int = 50, messages: int = 20, pace: float = DEFAULT_PACE, tag: str = ""
) -> Result:
    """``senders`` concurrent conversations of ``messages`` checked messages each."""
    answers = expected_answers()
    tag = tag or uuid.uuid4().hex[:8]
    plans = {f"load-{tag}-{i}": conversation_plan(i, messages, answers) for i in range(senders)}
    return run_conversations(url, plans, f"{senders} senders x {messages} msgs", pace)


def _flood_once(url: str, sender: str, result: Result, lock: threading.Lock) -> None:
    reply = post(url, sender, "how much does it cost?")
    with lock:
        result.latencies.append(reply.latency)
        if reply.error or reply.status != 200 or not reply.text:
            result.problems.append(f"flooder: {reply.error or reply.status or 'empty'}")
        elif "faster than I can answer" in reply.text:
            result.extra["slowed"] = result.extra.get("slowed", 0) + 1


def _flood(
    url: str, sender: str, stop: threading.Event, minimum: int, result: Result, lock: threading.Lock
) -> None:
    while True:
        with lock:
            if result.count >= minimum and stop.is_set():
                return
        _flood_once(url, sender, result, lock)


def run_flood(
    url: str,
    normal: int = 10,
    per_sender: int = 5,
    flood: int = 300,
    flood_threads: int = 4,
    pace: float = DEFAULT_PACE,
    tag: str = "",
) -> Tuple[Result, Result, Result]:
    """The normal senders alone, then with a flooder; returns (alone, flooded, flooder)."""
    answers = expected_answers()
    tag = tag or uuid.uuid4().hex[:8]

    def plans(phase: str) -> Dict[str, List[Tuple[str, str]]]:
        return {f"calm-{tag}-{phase}-{i}": conversation_plan(i, per_sender, answers) for i in range(normal)}

    alone = run_conversations(url, plans("a"), f"{normal} senders, no flood", pace)
    flooder, lock, stop = Result(f"1 flooder, {flood_threads} threads"), threading.Lock(), threading.Event()
    sender = f"flood-{tag}"
    threads = [
        threading.Thread(target=_flood, args=(url, sender, stop, flood, flooder, lock))
        for _ in range(flood_threads)
    ]
    start = time.perf_counter()
    # The flood starts with the messages the rate limit lets through, one after the
    # other (from several threads at once they would queue on the conversation's
    # lock), until the flooder is turned away; then the threads hammer.
    for _ in range(1000):
        _flood_once(url, sender, flooder, lock)
        if flooder.extra.get("slowed") or flooder.problems:
            break
    for thread in threads:
        thread.start()
    try:
        with lock:
            before = flooder.count
        flooded = run_conversations(url, plans("b"), f"{normal} senders, with flood", pace)
        with lock:
            flooder.extra["sent_during_flooded_run"] = flooder.count - before
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    flooder.elapsed = time.perf_counter() - start
    return alone, flooded, flooder


EMERGENCY_TEXT = "I have crushing chest pain and I'm sweating, my left arm hurts"


def random_words(rng: random.Random, chars: int) -> str:
    """Made-up lowercase words of 5-12 letters, about ``chars`` characters in all."""
    words: List[str] = []
    size = 0
    while size < chars - 13:
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(5, 12)))
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:chars]


def run_long_flood(
    url: str, senders: int = 30, chars: int = 2000, seconds: float = 20, tag: str = ""
) -> Tuple[Result, Result]:
    """Long random-word messages from ``senders`` senders at once, and an emergency from
    a new sender every second; returns (emergencies, flood)."""
    tag = tag or uuid.uuid4().hex[:8]
    flood, emergencies = Result(f"{senders} senders x {chars} chars"), Result("emergencies in the flood")
    lock, stop = threading.Lock(), threading.Event()

    def flooder(i: int) -> None:
        rng = random.Random(i)
        who = f"long-{tag}-{i}"
        while not stop.is_set():
            reply = post(url, who, random_words(rng, chars))
            with lock:
                flood.latencies.append(reply.latency)
                if reply.error or reply.status != 200 or not reply.text:
                    flood.problems.append(f"{who}: {reply.error or reply.status or 'empty'}")

    threads = [threading.Thread(target=flooder, args=(i,)) for i in range(senders)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    try:
        time.sleep(min(3.0, seconds / 4))  # let the flood build up first
        step = 0
        while time.perf_counter() - start < seconds:
            who = f"emergency-{tag}-{step}"
            reply = post(url, who, EMERGENCY_TEXT)
            emergencies.latencies.append(reply.latency)
            levels = [
                (m.get("custom") or {}).get("escalation", {}).get("level")
                for m in reply.messages
                if isinstance(m, dict) and isinstance(m.get("custom"), dict)
            ]
            if "emergency" not in levels:
                emergencies.problems.append(f"{who}: no emergency escalation: {reply.text[:80]!r}")
            step += 1
            time.sleep(max(0.0, 1.0 - reply.latency))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    flood.elapsed = emergencies.elapsed = time.perf_counter() - start
    if emergencies.latencies:
        emergencies.extra["max_ms"] = round(max(emergencies.latencies) * 1000)
    return emergencies, flood


def report(results: List[Result]) -> str:
    lines = [HEADER] + [r.row() for r in results]
    for r in results:
        if r.extra:
            lines.append(f"  {r.name}: " + ", ".join(f"{k}={v}" for k, v in r.extra.items()))
        for p in r.problems[:10]:
            lines.append(f"  ! {r.name}: {p}")
        if len(r.problems) > 10:
            lines.append(f"  ! {r.name}: ... {len(r.problems) - 10} more")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5005", help="the Rasa server")
    parser.add_argument("--start", action="store_true", help="start own servers on free ports")
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument(
        "--pace", type=float, default=DEFAULT_PACE, help="seconds between one sender's messages"
    )
    parser.add_argument("--normal", type=int, default=10, help="normal senders in the flood run")
    parser.add_argument("--per-sender", type=int, default=5)
    parser.add_argument("--flood", type=int, default=300, help="least number of flood messages")
    parser.add_argument("--no-flood", action="store_true")
    parser.add_argument("--long-senders", type=int, default=30, help="senders in the long-message flood")
    parser.add_argument("--long-seconds", type=float, default=20)
    parser.add_argument("--no-long-flood", action="store_true")
    args = parser.parse_args(argv)

    stack = None
    url = args.url
    if args.start:
        import tempfile

        from scripts.serve import DEFAULT_MODEL, Stack, local_env

        workdir = Path(tempfile.mkdtemp(prefix="loadtest-"))
        stack = Stack(local_env(workdir), model=DEFAULT_MODEL, with_web=False, log_dir=workdir / "logs")
        print(f"Starting servers (logs in {workdir / 'logs'})...", flush=True)
        stack.start_all()
        url = stack.rasa_url
    try:
        print(f"{args.senders} senders x {args.messages} messages against {url} ...", flush=True)
        results = [run_load(url, args.senders, args.messages, args.pace)]
        if not args.no_flood:
            print(f"{args.normal} senders without, then with a flooding sender ...", flush=True)
            results += run_flood(url, args.normal, args.per_sender, args.flood, pace=args.pace)
        if not args.no_long_flood:
            print(
                f"{args.long_senders} senders flooding 2,000-character messages, and emergencies ...",
                flush=True,
            )
            results += run_long_flood(url, args.long_senders, seconds=args.long_seconds)
        print(report(results))
        failed = any(r.problems for r in results)
        flooders = [r for r in results if r.name.startswith("1 flooder")]
        if flooders and not flooders[0].extra.get("slowed"):
            print("! the flooder was never told to slow down")
            failed = True
        return 1 if failed else 0
    finally:
        if stack is not None:
            stack.stop_all()


if __name__ == "__main__":
    sys.exit(main())
