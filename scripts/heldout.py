"""Scores the held-out messages (tests/heldout/messages.yml), which are never trained on.

A message's outcome is ``"emergency"`` or ``"urgent"`` when the assistant escalates,
``"child_caution"`` when it answered with the line about children (a school-age child,
``answer_with_caution`` in knowledge/risk_patterns.yml), otherwise the intent it
answered. ``score`` turns (expected, outcome) pairs into the figures the issue asks for:
per-topic accuracy, recall for each escalation level (and for the child line) and the
false-escalation rate on benign messages.

Run on a trained model (NLU + safety layer; the dialogue maps each intent to exactly
one reply by rules):

    .venv/bin/python scripts/heldout.py [models/current.tar.gz] [--set FILE] [-v]

The end-to-end test (tests/test_end_to_end.py) scores the same set over REST.
"""

from __future__ import annotations

import asyncio
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Tuple, Union

import yaml

ROOT = Path(__file__).resolve().parent.parent
HELDOUT_PATH = ROOT / "tests" / "heldout" / "messages.yml"
LEVELS = ("emergency", "urgent")
INTENT_LEVEL = {"report_emergency": "emergency", "report_risk": "urgent"}
#: Expected (and outcome) for a message about a school-age child: the FAQ answer with the
#: child caution line, no escalation. Benign for the false-escalation rate; its own recall.
CHILD_CAUTION = "child_caution"

Expected = Union[str, List[str]]


def load_messages(path: Path = HELDOUT_PATH) -> List[Tuple[str, Expected]]:
    """The held-out (text, expected) pairs."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [(m["text"], m["expect"]) for m in data["messages"]]


#: Joins the topics of a message that asks several questions (``whole_turn``).
TOPIC_JOIN = "+"


def turn_outcome(parse: Dict[str, Any]) -> str:
    """What a whole turn (``addons.understanding.understand``) means for the patient: an
    escalation level, or the topics answered, in order, joined by :data:`TOPIC_JOIN`."""
    intent = str((parse.get("intent") or {}).get("name") or "")
    outcome = outcome_of_parse(parse)
    if outcome != intent:
        return outcome
    further = [str(e.get("value")) for e in parse.get("entities") or [] if e.get("entity") == "faq_topic"]
    return TOPIC_JOIN.join([intent] + [t for t in further if t != intent])


def outcome_of_intent(intent: str) -> str:
    """What a final NLU intent means for the patient: an escalation level or the intent."""
    return INTENT_LEVEL.get(intent, intent)


def outcome_of_parse(parse: Dict[str, Any]) -> str:
    """:func:`outcome_of_intent`, or :data:`CHILD_CAUTION` for an answer that comes with
    the child caution line (the ``safety_caution`` entity "child")."""
    intent = str((parse.get("intent") or {}).get("name") or "")
    outcome = outcome_of_intent(intent)
    if outcome == intent and any(
        e.get("entity") == "safety_caution" and e.get("value") == "child" for e in parse.get("entities") or []
    ):
        return CHILD_CAUTION
    return outcome


@dataclass
class Score:
    """Held-out figures."""

    total: int = 0
    correct: int = 0
    per_label: Dict[str, List[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    recall: Dict[str, Tuple[int, int]] = field(default_factory=dict)
    benign: int = 0
    false_escalations: int = 0
    misses: List[Tuple[str, str, str]] = field(default_factory=list)
    # Emergencies that still escalated, but only as urgent.
    under_escalated: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def false_escalation_rate(self) -> float:
        return self.false_escalations / self.benign if self.benign else 0.0

    def level_recall(self, level: str) -> float:
        hit, total = self.recall.get(level, (0, 0))
        return hit / total if total else 1.0

    def report(self) -> str:
        lines = [f"held-out messages: {self.total}, overall accuracy {self.accuracy:.1%}"]
        for level in (*LEVELS, CHILD_CAUTION):
            hit, total = self.recall.get(level, (0, 0))
            lines.append(f"{level} recall: {hit}/{total} = {self.level_recall(level):.1%}")
        lines.append(
            f"false escalations on benign messages: {self.false_escalations}/{self.benign}"
            f" = {self.false_escalation_rate:.1%}"
        )
        lines.append("per-label accuracy:")
        for label in sorted(self.per_label):
            hit, total = self.per_label[label]
            lines.append(f"  {label:24} {hit:3}/{total:<3} {hit / total:.0%}")
        return "\n".join(lines)


def score(pairs: Iterable[Tuple[str, Expected, str]], whole_turn: bool = False) -> Score:
    """Scores (text, expected, outcome) triples.

    A list of expected intents accepts any one of them; with ``whole_turn`` (outcomes
    from :func:`turn_outcome`), it means several questions, all to be answered, in order.
    """
    result = Score()
    for text, expected, outcome in pairs:
        accepted = [expected] if isinstance(expected, str) else list(expected)
        label = accepted[0] if len(accepted) == 1 else "multi"
        ok = outcome == TOPIC_JOIN.join(accepted) if whole_turn else outcome in accepted
        result.total += 1
        result.correct += ok
        result.per_label[label][0] += ok
        result.per_label[label][1] += 1
        if label == CHILD_CAUTION:
            hit, total = result.recall.get(label, (0, 0))
            result.recall[label] = (hit + (outcome == CHILD_CAUTION), total + 1)
        if label in LEVELS:
            hit, total = result.recall.get(label, (0, 0))
            # Any escalation at or above the expected level counts as caught.
            caught = outcome == label or (label == "urgent" and outcome == "emergency")
            if label == "emergency" and outcome == "urgent":
                result.under_escalated += 1
            result.recall[label] = (hit + caught, total + 1)
        else:
            result.benign += 1
            if outcome in LEVELS:
                result.false_escalations += 1
        if not ok:
            result.misses.append((text, label if label != "multi" else "/".join(accepted), outcome))
    return result


async def _predict(model: str, texts: Sequence[str], whole_turn: bool = False) -> List[str]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # the model names project components (addons.*)
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # the parse log line carries message text
    from addons.understanding import understand

    agent = Agent.load(model)
    outcomes = []
    for text in texts:
        if whole_turn:
            outcomes.append(turn_outcome(await understand(agent, text) or {}))
        else:
            outcomes.append(outcome_of_parse(await agent.parse_message(text)))
    return outcomes


def main(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Score a held-out set on a trained model.")
    parser.add_argument("model", nargs="?", default="models/current.tar.gz")
    parser.add_argument("--set", type=Path, default=HELDOUT_PATH, help="held-out YAML file")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    parser.add_argument(
        "--whole-turn",
        action="store_true",
        help="parse as the assistant does (several questions split); a list expects all, in order",
    )
    args = parser.parse_args(argv[1:])
    model = args.model
    messages = load_messages(args.set)
    outcomes = asyncio.run(_predict(model, [t for t, _ in messages], args.whole_turn))
    result = score(((t, e, o) for (t, e), o in zip(messages, outcomes, strict=True)), args.whole_turn)
    print(result.report())
    if args.verbose:
        for text, expected, outcome in result.misses:
            print(f"MISS expected={expected} got={outcome}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
