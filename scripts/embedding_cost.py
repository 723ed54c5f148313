"""Measures what the sentence encoder (core/embeddings.py) costs.

For each backend (numpy, onnx, onnx-int8; those installed), in a fresh process of its
own so that memory figures don't mix: the load time (read + sha256 + weight layout +
tokenizer, and for ONNX the imports, the graph build, int8 quantisation and the ONNX
Runtime session), the resident memory it adds, and per-call p50 / p95 / min in
milliseconds for: one sentence, a batch of three, and a 2,000-character message
(truncated to 128 tokens). Every timed text is new to the encoder (its cache is
bypassed), so each call runs the forward pass.

    .venv/bin/python scripts/embedding_cost.py [--calls 40] [--seed 7] [--backend onnx]

The NumPy backend limits BLAS to one thread while encoding, ONNX Runtime runs with one
thread; the script prints OPENBLAS_NUM_THREADS and the load average (on a busy machine
the figures move by tens of percent). No assertions: the figures go into reports.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
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


def measure(backend: str, calls: int, seed: int) -> None:
    """One backend's figures, in this process."""
    rng = random.Random(seed)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    before = rss_mb()
    start = time.perf_counter()
    from core.embeddings import SentenceEncoder

    encoder = SentenceEncoder.load(backend=backend)
    load_ms = (time.perf_counter() - start) * 1000
    print(
        f"backend {encoder.backend}: load {load_ms:.0f} ms; RSS +{rss_mb() - before:.0f} MB "
        f"(peak {rss_mb('VmHWM'):.0f} MB total)"
    )

    def sentence(i: int) -> str:
        return f"{rng.choice(QUESTIONS)} {i} {rng.choice(WORDS)}"

    long_text = " ".join(rng.choice(WORDS) for _ in range(400))[:2000]
    print(f"2,000-character message: {len(encoder.tokenizer.encode(long_text))} tokens after truncation")

    report("1 sentence", timed(lambda i: encoder.encode([sentence(i)], use_cache=False), calls))
    batch = timed(lambda i: encoder.encode([sentence(i), sentence(i), sentence(i)], use_cache=False), calls)
    report("batch of 3 (whole call)", batch)
    report("batch of 3 (per sentence)", [t / 3 for t in batch])
    report(
        "2,000 characters (128 tokens)",
        timed(lambda i: encoder.encode([f"{i} {long_text}"], use_cache=False), max(10, calls // 2)),
    )
    report("cached sentence", timed(lambda i: encoder.encode([QUESTIONS[0]]), calls))
    print(f"RSS after use: +{rss_mb() - before:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--backend",
        choices=["numpy", "onnx", "onnx-int8", "auto"],
        help="measure only this backend (default: each installed one, one process each)",
    )
    args = parser.parse_args()
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}  cpus={os.cpu_count()}")
    if args.backend:
        measure(args.backend, args.calls, args.seed)
        return
    from core.onnx_graph import available

    backends = ["numpy", "onnx", "onnx-int8"] if available() else ["numpy"]
    if not available():
        print("onnx/onnxruntime not installed: NumPy backend only")
    for backend in backends:
        print(f"\n== {backend}", flush=True)
        command = [sys.executable, __file__, "--backend", backend, "--calls", str(args.calls)]
        subprocess.run([*command, "--seed", str(args.seed)], check=True)


if __name__ == "__main__":
    main()
