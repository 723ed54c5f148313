"""Measures what the safety rule layer costs per message (``RiskDetector.assess``).

Builds the detector once, then times ``assess`` on seeded random-word messages of
2,000 characters (the worst case for the spelling corrector: every word is unknown)
and on a few realistic long messages, and prints p50 / p95 / max in milliseconds.

    .venv/bin/python scripts/safety_cost.py [--messages 50] [--seed 7] [--chars 2000]

No assertions: the figures go into the README / reports, the tests check behaviour.
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from pathlib import Path
from typing import Callable, List, Sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.safety import RiskDetector  # noqa: E402

#: Realistic long messages: a patient's story with risks, negations and typos.
REALISTIC = [
    (
        "Hi, I've had really sweaty hands and feet since I was a teenager and it's getting "
        "worse. I tried Drysol and a few other antiperspirants but nothing works for long. "
        "My GP mentioned iontophoresis. I'm not pregnant and I don't have a pacemaker, but "
        "I did have a knee replacement a few years ago, is that a problem? Also how much "
        "does the device cost and does insurance cover it? Thanks so much. "
    )
    * 4,
    (
        "honestly i dont know what to do anymore the sweating is ruining my life, i cant "
        "hold hands with anyone, i cant write on paper without it getting soaked, i have "
        "tried everything, botox was too expensive, my dermatologist said maybe tap water "
        "iontophoresis but im scared it will shock me or burn my skin, i have eczema on "
        "two fingers rn, is that ok?? also my mum has epilepsy but i dont "
    )
    * 4,
    (
        "Estoy embarazada de tres meses y sudo muchísimo de las manos. ¿Puedo usar la "
        "iontoforesis o es mejor esperar? Mi médico no sabe mucho del tema. Gracias. "
        "Ich habe auch eine Frage: wie funktioniert die Iontophorese und was kostet sie? "
    )
    * 5,
]


def random_words(rng: random.Random, chars: int) -> str:
    """Made-up lowercase words of 5-12 letters separated by spaces, ``chars`` long."""
    words: List[str] = []
    length = 0
    while length < chars:
        word = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 12)))
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:chars]


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile of ``values`` (``share`` between 0 and 1)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(share * len(ordered) + 0.5)) - 1))
    return ordered[index]


def time_each(assess: Callable[[str], object], texts: Sequence[str]) -> List[float]:
    """Milliseconds ``assess`` takes on each text."""
    timings = []
    for text in texts:
        begin = time.perf_counter()
        assess(text)
        timings.append((time.perf_counter() - begin) * 1000)
    return timings


def report(label: str, timings: Sequence[float]) -> None:
    """Prints one line of figures."""
    print(
        f"{label:<28} n={len(timings):<3} p50={percentile(timings, 0.5):7.2f} ms  "
        f"p95={percentile(timings, 0.95):7.2f} ms  max={max(timings):7.2f} ms"
    )


def main(argv: Sequence[str] = ()) -> int:
    """Runs the measurement; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chars", type=int, default=2000)
    args = parser.parse_args(list(argv))

    begin = time.perf_counter()
    detector = RiskDetector()
    print(f"detector built in {(time.perf_counter() - begin) * 1000:.0f} ms")
    detector.assess("warm up: i have a pacemaker")

    rng = random.Random(args.seed)
    randoms = [random_words(rng, args.chars) for _ in range(args.messages)]
    report(f"random words, {args.chars} chars", time_each(detector.assess, randoms))
    report("realistic long messages", time_each(detector.assess, REALISTIC * 3))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
