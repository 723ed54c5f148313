"""Calibrates the semantic safety net (core/semantic_safety.py) on the project's own data.

What the net is for is the risks the rule layer misses, so every figure here is about
the rules and the net together, the way addons/safety.py combines them: the net's
finding counts when the rules found no active risk (or only an urgent one and the net
says emergency) and the rules did not negate that same category.

Data (each message: text, expected outcome):

* the NLU training examples, data/nlu/*.yml: ``report_emergency`` -> emergency,
  ``report_risk`` -> urgent, every other intent -> safe;
* the regression sets tests/heldout/messages.yml, blind.yml and final.yml
  (``expect``: emergency / urgent / a topic, i.e. safe).

tests/heldout/sealed.yml is NOT used for calibration: ``--final`` reports its figures
once, with the values in the exemplars file. (real_patients.yml is never read.)

For a grid of thresholds (emergency, urgent) and margins it prints the recall the net
adds on risks the rules miss and the false escalations it adds on safe messages, then
picks the values with the most added recall (an emergency counts twice) whose added
false escalations stay within ``--budget`` (0.5 % of the safe messages; the whole
system's budget is 1 %), ties going to the stricter values. The chosen values are
printed as YAML for the ``calibration:`` section of knowledge/risk_exemplars.yml; copy
them there by hand.

    .venv/bin/python scripts/calibrate_semantic_safety.py [--budget 0.005] [--final]
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.semantic_safety import (  # noqa: E402
    EMERGENCY,
    URGENT,
    Calibration,
    Scores,
    SemanticFinding,
    SemanticSafetyNet,
    checked_text,
    excluded_reasons,
    overrides_rules,
)

HELDOUT = ROOT / "tests" / "heldout"
CALIBRATION_SETS = ("messages.yml", "blind.yml", "final.yml")
FINAL_SET = "sealed.yml"
NLU_LEVEL = {"report_emergency": EMERGENCY, "report_risk": URGENT}
SAFE = "safe"

EMERGENCY_GRID = [0.54, 0.56, 0.58, 0.60, 0.62, 0.64, 0.66, 0.68, 0.70, 0.72, 0.75]
URGENT_GRID = [0.58, 0.60, 0.62, 0.64, 0.66, 0.68, 0.70, 0.72, 0.75, 0.78, 0.80]
MARGIN_GRID = [0.0, 0.02, 0.04, 0.06, 0.08, 0.10]

_ANNOTATION = re.compile(r"\[([^\]]+)\]\{[^}]*\}|\[([^\]]+)\]\([^)]*\)")


@dataclass
class Item:
    source: str
    text: str
    expected: str  # emergency / urgent / safe
    rules_level: Optional[str]
    negated: frozenset
    units: List[Scores]
    assessment: Any


def nlu_examples() -> List[Tuple[str, str, str]]:
    """(source, text, expected) for every NLU training example."""
    out = []
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            intent = block.get("intent")
            if not intent:
                continue
            expected = NLU_LEVEL.get(intent, SAFE)
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    text = _ANNOTATION.sub(lambda m: m.group(1) or m.group(2), line[2:]).strip()
                    if text:
                        out.append((f"nlu/{path.name}", text, expected))
    return out


def heldout(name: str) -> List[Tuple[str, str, str]]:
    data = yaml.safe_load((HELDOUT / name).read_text(encoding="utf-8"))
    out = []
    for message in data["messages"]:
        expect = message["expect"]
        expected = expect if isinstance(expect, str) and expect in (EMERGENCY, URGENT) else SAFE
        out.append((name, message["text"], expected))
    return out


def build_items(net: SemanticSafetyNet, rows: Sequence[Tuple[str, str, str]]) -> List[Item]:
    from core.safety import get_detector

    detector = get_detector()
    items = []
    for source, text, expected in rows:
        assessment = detector.assess(text)
        # what addons/safety.py checks (SemanticSafetyNet.check_beside_rules)
        negated = frozenset(excluded_reasons(assessment, net.levels))
        scores = net.scores(checked_text(text, assessment))
        items.append(Item(source, text, expected, assessment.level, negated, scores, assessment))
    return items


def combine(item: Item, finding: Optional[SemanticFinding]) -> Optional[str]:
    """The level of the rules and the net together (the rule addons/safety.py applies)."""
    override = overrides_rules(item.assessment, finding)
    return override.level if override else item.rules_level


@dataclass
class Figures:
    emergencies: int = 0
    emergency_hits: int = 0
    urgents: int = 0
    urgent_hits: int = 0
    safe: int = 0
    false_escalations: int = 0

    def add(self, expected: str, level: Optional[str]) -> None:
        if expected == EMERGENCY:
            self.emergencies += 1
            self.emergency_hits += level == EMERGENCY
        elif expected == URGENT:
            self.urgents += 1
            self.urgent_hits += level is not None
        else:
            self.safe += 1
            self.false_escalations += level is not None

    def line(self) -> str:
        def pct(a: int, b: int) -> str:
            return f"{a}/{b} = {a / b:.1%}" if b else "-"

        return (
            f"emergency recall {pct(self.emergency_hits, self.emergencies):>16}   "
            f"urgent recall {pct(self.urgent_hits, self.urgents):>16}   "
            f"false escalations {pct(self.false_escalations, self.safe):>14}"
        )


def figures(net: SemanticSafetyNet, items: Sequence[Item], calibration: Optional[Calibration]) -> Figures:
    result = Figures()
    for item in items:
        level = item.rules_level
        if calibration is not None:
            level = combine(item, net.decide(item.units, calibration, exclude=item.negated))
        result.add(item.expected, level)
    return result


LevelHits = Callable[[float, float], Any]


def _level_matrices(net: SemanticSafetyNet, items: Sequence[Item]) -> Dict[str, LevelHits]:
    """Per level, a function (threshold, margin) -> which items the net escalates at that level.

    The same rule as SemanticSafetyNet.decide (categories the rules negated left out),
    vectorised over the items so the grid runs in seconds.
    """
    out: Dict[str, LevelHits] = {}
    for level in (EMERGENCY, URGENT):
        reasons = [r for r in net.reasons if net.levels[r] == level]
        pairs = []
        for item in items:
            row = [
                (unit.categories[r], unit.categories[r] - unit.safe)
                for unit in item.units
                for r in reasons
                if r not in item.negated
            ]
            pairs.append(row or [(-9.0, -9.0)])
        width = max(len(p) for p in pairs)
        scores = np.full((len(items), width), -9.0)
        margins = np.full((len(items), width), -9.0)
        for i, row in enumerate(pairs):
            scores[i, : len(row)] = [s for s, _ in row]
            margins[i, : len(row)] = [m for _, m in row]

        def hits(threshold: float, margin: float, s: Any = scores, m: Any = margins) -> Any:
            return ((s >= threshold) & (m >= margin)).any(axis=1)

        out[level] = hits
    return out


def grid(net: SemanticSafetyNet, items: Sequence[Item], budget: float) -> Calibration:
    base = net.calibration
    rules = figures(net, items, None)
    allowed = int(budget * rules.safe)
    print(
        f"calibration data: {len(items)} messages, {rules.emergencies} emergencies, {rules.urgents} urgent, "
        f"{rules.safe} safe; budget {budget:.1%} of safe = {allowed} added false escalations"
    )
    print(f"rules only: {rules.line()}")
    missed_e = rules.emergencies - rules.emergency_hits
    missed_u = rules.urgents - rules.urgent_hits
    print(f"the rules miss {missed_e} emergencies (as emergency) and {missed_u} urgent risks\n")
    level_hits = _level_matrices(net, items)
    expected = [item.expected for item in items]
    rules_levels = [item.rules_level for item in items]
    rows = []
    for e_t, e_m, u_t, u_m in itertools.product(EMERGENCY_GRID, MARGIN_GRID, URGENT_GRID, MARGIN_GRID):
        calibration = replace(
            base, thresholds={EMERGENCY: e_t, URGENT: u_t}, margins={EMERGENCY: e_m, URGENT: u_m}
        )
        hit_e = level_hits[EMERGENCY](e_t, e_m)
        hit_u = level_hits[URGENT](u_t, u_m)
        both = Figures()
        for i, rules_level in enumerate(rules_levels):
            level = rules_level
            if hit_e[i] and rules_level != EMERGENCY:
                level = EMERGENCY
            elif hit_u[i] and rules_level is None:
                level = URGENT
            both.add(expected[i], level)
        added_e = both.emergency_hits - rules.emergency_hits
        added_u = both.urgent_hits - rules.urgent_hits
        added_f = both.false_escalations - rules.false_escalations
        rows.append((e_t, e_m, u_t, u_m, added_e, added_u, added_f, calibration))
    # the frontier: for each (emergency threshold, emergency margin), the setting with
    # the most added recall within twice the budget (then fewest false escalations)
    print(
        f"{'e.thr':>6} {'e.mrg':>6} {'u.thr':>6} {'u.mrg':>6} | {'+emerg':>7} {'+urgent':>7} |"
        f" {'+false':>6} {'rate':>6}"
    )
    for e_t, e_m in itertools.product(EMERGENCY_GRID, MARGIN_GRID):
        group = [r for r in rows if r[0] == e_t and r[1] == e_m and r[6] <= 2 * allowed]
        if not group:
            continue
        r = max(group, key=lambda r: (2 * r[4] + r[5], -r[6], r[2] + r[3]))
        print(
            f"{r[0]:6.2f} {r[1]:6.2f} {r[2]:6.2f} {r[3]:6.2f} |"
            f" {r[4]:3}/{missed_e:<3} {r[5]:3}/{missed_u:<3} |"
            f" {r[6]:6} {r[6] / rules.safe:6.2%}"
        )
    feasible = [r for r in rows if r[6] <= allowed]
    if not feasible:
        print("\nno setting stays within the budget; keeping the file's values")
        return base
    # most added recall (an emergency counts twice), then fewest false escalations, then
    # the loosest emergency and strictest urgent values among the equals (a missed
    # emergency costs more than a needless urgent escalation)
    best = max(feasible, key=lambda r: (2 * r[4] + r[5], -r[6], -r[0] - r[1], r[2] + r[3]))
    print(
        f"\nchosen: emergency threshold {best[0]:.2f} margin {best[1]:.2f}, urgent threshold {best[2]:.2f}"
        f" margin {best[3]:.2f}: +{best[4]} emergencies, +{best[5]} urgent, +{best[6]} false escalations"
    )
    return best[7]


def report(net: SemanticSafetyNet, by_set: Dict[str, List[Item]], calibration: Calibration) -> None:
    for name, items in by_set.items():
        print(f"{name}")
        print(f"  rules only:  {figures(net, items, None).line()}")
        print(f"  rules + net: {figures(net, items, calibration).line()}")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=0.005, help="added false escalations allowed")
    parser.add_argument("--final", action="store_true", help="also report sealed.yml once (file's values)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list what the net changes on NLU data")
    args = parser.parse_args(argv[1:])

    from core.embeddings import get_encoder

    net = SemanticSafetyNet(get_encoder())
    by_set: Dict[str, List[Item]] = {"nlu training examples": build_items(net, nlu_examples())}
    for name in CALIBRATION_SETS:
        by_set[name] = build_items(net, heldout(name))
    items = [item for group in by_set.values() for item in group]
    chosen = grid(net, items, args.budget)
    print("\nfor knowledge/risk_exemplars.yml:")
    print("calibration:")
    print("  thresholds:")
    print(f"    emergency: {chosen.thresholds[EMERGENCY]:.2f}")
    print(f"    urgent: {chosen.thresholds[URGENT]:.2f}")
    print("  margin:")
    print(f"    emergency: {chosen.margin(EMERGENCY):.2f}")
    print(f"    urgent: {chosen.margin(URGENT):.2f}")
    print("\nper set, chosen values:")
    report(net, by_set, chosen)
    print("\nper set, the file's values:")
    report(net, by_set, net.calibration)
    if args.verbose:
        # only the NLU training data's texts: the regression sets' messages are not printed
        print("\nNLU examples the net changes (file's values):")
        for item in by_set["nlu training examples"]:
            finding = net.decide(item.units, exclude=item.negated)
            level = combine(item, finding)
            if level != item.rules_level and finding is not None:
                print(
                    f"  [{item.expected:9}] -> {level:9} {finding.reason:16} {finding.score:.2f} {item.text}"
                )
    if args.final:
        print(f"\n{FINAL_SET} (not used for calibration), the file's values:")
        report(net, {FINAL_SET: build_items(net, heldout(FINAL_SET))}, net.calibration)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
