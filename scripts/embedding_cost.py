"""Measures what the sentence encoder (core/embeddings.py) costs.

Prints the load time (read + sha256 + weight layout + tokenizer), the resident memory
it adds, and per-call p50 / p95 / min in milliseconds for: one sentence, a batch of
three, and a 2,000-character message (truncated to 128 tokens). Every timed text is
new to the encoder (its cache is bypassed), so each call runs the forward pass.

    .venv/bin/python scripts/embedding_cost.py [--calls 40] [--seed 7]

BLAS threads are whatever the environment gives (e.g. OPENBLAS_NUM_THREADS); the
script prints the setting. No assertions: the figures go into reports.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Callable, List, Sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

QUESTIONS = [
    "how much does a session cost",
    "does iontophoresis hurt",
    "can I use it during pregnancy",
    "my hands sweat all the time what can I do",
    "is botox for sweating covered by insurance",
    "how long until I see results",
    "what's the price of a session",
    "do you have appointments on saturday",
]
WORDS = "sweat hands feet treatment clinic doctor session price results night school work anxious".split()


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(call: Callable[[int], object], calls: int) -> List[float]:
    call(-1)  # warm-up
    times = []
    for i in range(calls):
        start = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - start) * 1000)
    return times


def report(label: str, times: Sequence[float]) -> None:
    p50, p95 = np.percentile(times, [50, 95])
    print(f"{label:<42} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   min {min(times):7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}  cpus={os.cpu_count()}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    before = rss_mb()
    start = time.perf_counter()
    from core.embeddings import get_encoder

    encoder = get_encoder()
    load_ms = (time.perf_counter() - start) * 1000
    print(f"load: {load_ms:.0f} ms; RSS +{rss_mb() - before:.0f} MB (peak {rss_mb('VmHWM'):.0f} MB total)")

    def sentence(i: int) -> str:
        return f"{rng.choice(QUESTIONS)} {i} {rng.choice(WORDS)}"

    long_text = " ".join(rng.choice(WORDS) for _ in range(400))[:2000]
    print(f"2,000-character message: {len(encoder.tokenizer.encode(long_text))} tokens after truncation")

    report("1 sentence", timed(lambda i: encoder.encode([sentence(i)], use_cache=False), args.calls))
    batch = timed(
        lambda i: encoder.encode([sentence(i), sentence(i), sentence(i)], use_cache=False), args.calls
    )
    report("batch of 3 (whole call)", batch)
    report("batch of 3 (per sentence)", [t / 3 for t in batch])
    report(
        "2,000 characters (128 tokens)",
        timed(lambda i: encoder.encode([f"{i} {long_text}"], use_cache=False), max(10, args.calls // 2)),
    )
    report("cached sentence", timed(lambda i: encoder.encode([QUESTIONS[0]]), args.calls))
    print(f"RSS after use: +{rss_mb() - before:.0f} MB")


if __name__ == "__main__":
    main()
