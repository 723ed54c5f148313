"""Scores the real-patient held-out set over REST, as a patient would meet the assistant.

    .venv/bin/python scripts/score_real_patients.py                  # own servers, free ports
    .venv/bin/python scripts/score_real_patients.py --url URL        # a running server
    .venv/bin/python scripts/score_real_patients.py --set FILE       # another set, same format

The set (``tests/heldout/real_patients.yml``, issue 10) was written blind from public
patient questions; each message has a ``kind`` and an ``expect``. Each message goes to a
fresh conversation over the REST channel and the reply is classified:

* an escalation: the ``{"escalation": {"level": ...}}`` payload;
* FAQ topics answered: every knowledge-file answer text found in the reply, in English
  or in one of its translations (``knowledge/answers_multilingual.yml``);
* "not covered": the honest "I don't have that answer" reply (in English or translated),
  or the rephrase fallback (neither is an unrelated FAQ answer);
* out of scope: the out-of-scope reply.

Prints one figure per row of issue 10's table and nothing about single messages:
the set stays blind, its failures are not shown (there is no option to show them).
Exits 0 whatever the figures: it reports, it does not enforce.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_SET = ROOT / "tests" / "heldout" / "real_patients.yml"
#: Fragments of the domain replies that mean "not an FAQ answer, and honest about it".
NOT_COVERED_MARKERS = ("don't have that answer", "don't have an answer")
FALLBACK_MARKER = "didn't quite catch that"
OUT_OF_SCOPE_MARKER = "I can only help with questions about hyperhidrosis"
#: The opening of utter_child_caution: the line after an answer about a school-age child.
CHILD_LINE_MARKER = "About children:"


@dataclass
class Reply:
    """What the assistant did with one message."""

    level: Optional[str]
    topics: List[str]
    not_covered: bool
    fallback: bool
    out_of_scope: bool
    child_line: bool = False


@dataclass
class Row:
    """One figure: ``hits`` of ``total``."""

    name: str
    hits: int = 0
    total: int = 0
    target: str = ""

    def add(self, ok: bool) -> None:
        self.total += 1
        self.hits += int(ok)

    def line(self) -> str:
        share = 100 * self.hits / self.total if self.total else float("nan")
        return f"| {self.name} ({self.total}) | {share:.1f} % | {self.target} |"


@dataclass
class Scores:
    rows: Dict[str, Row] = field(default_factory=dict)

    def row(self, key: str, name: str, target: str) -> Row:
        if key not in self.rows:
            self.rows[key] = Row(name, target=target)
        return self.rows[key]


def answer_topics() -> Dict[str, List[str]]:
    """The answer texts of each FAQ intent: the knowledge file's, and its translations
    (``knowledge/answers_multilingual.yml``)."""
    from actions.knowledge import get_knowledge
    from core.faq_languages import get_languages

    languages = get_languages().values()
    return {
        topic.intent: [topic.text] + [language.texts[topic.key] for language in languages]
        for topic in get_knowledge().topics.values()
    }


def _opening(text: str, stop: str) -> str:
    """A reply's opening, up to ``stop``: the part without placeholders."""
    return text.split(stop, 1)[0].strip()


def language_markers() -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """The openings of the "not covered" reply and of the child line in each language."""
    from core.faq_languages import get_languages

    languages = get_languages().values()
    return (
        tuple(_opening(language.replies["not_covered"], ".") for language in languages),
        tuple(_opening(language.replies["child"], ":") + ":" for language in languages),
    )


def classify(messages: List[Dict[str, Any]], answers: Dict[str, List[str]]) -> Reply:
    """What a REST reply did."""
    level = None
    texts: List[str] = []
    for message in messages:
        custom = message.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("escalation"), dict):
            level = str(custom["escalation"].get("level") or "") or level
        if isinstance(message.get("text"), str):
            texts.append(message["text"])
    joined = "\n".join(texts)
    topics: List[Tuple[int, str]] = []
    for intent, versions in answers.items():
        positions = [p for p in (joined.find(text) for text in versions) if p >= 0]
        if positions:
            topics.append((min(positions), intent))
    not_covered, child = language_markers()
    return Reply(
        level=level,
        topics=[intent for _, intent in sorted(topics)],
        not_covered=any(marker in joined for marker in NOT_COVERED_MARKERS + not_covered),
        fallback=FALLBACK_MARKER in joined,
        out_of_scope=OUT_OF_SCOPE_MARKER in joined,
        child_line=any(marker in joined for marker in (CHILD_LINE_MARKER,) + child),
    )


def expected_set(expect: Any) -> Set[str]:
    return set(expect) if isinstance(expect, list) else {str(expect)}


def score(items: List[Tuple[Dict[str, Any], Reply]]) -> Scores:
    """The issue's table from (message, reply) pairs."""
    scores = Scores()
    faq = scores.row("faq", "FAQ topic answered with the right facts", ">= 95 %")
    urgent = scores.row("urgent", "urgent recall", "100 %")
    emergency = scores.row("emergency", "emergency recall", "100 %")
    false_esc = scores.row("false", "false escalations on safe FAQ questions", "<= 1 %")
    negated = scores.row("negated", "a risk mentioned only to deny it, not escalated", "100 %")
    multi = scores.row("multi", "several questions in one message, all answered", ">= 85 %")
    covered = scores.row(
        "not_covered", "in-domain questions the article doesn't answer, answered honestly", ">= 90 %"
    )
    oos = scores.row("out_of_scope", "chatter outside the domain recognised as such", ">= 90 %")
    child = None
    for item, reply in items:
        kind, expect = item["kind"], item["expect"]
        if kind == "faq":
            faq.add(reply.level is None and bool(set(reply.topics[:1]) & expected_set(expect)))
            false_esc.add(reply.level is not None)
        elif kind == "urgent":
            urgent.add(reply.level in ("urgent", "emergency"))
        elif kind == "emergency":
            emergency.add(reply.level == "emergency")
        elif kind == "negated":
            negated.add(reply.level is None)
            false_esc.add(reply.level is not None)
        elif kind == "multi":
            multi.add(reply.level is None and set(expect) <= set(reply.topics))
        elif kind == "not_covered":
            covered.add(reply.level is None and not reply.topics and (reply.not_covered or reply.fallback))
        elif kind == "out_of_scope":
            oos.add(reply.level is None and not reply.topics and reply.out_of_scope)
        elif kind == "child":
            # a school-age child (relabelled from urgent on 2026-12-03): the answer with
            # the line about children, no escalation
            if child is None:
                child = scores.row(
                    "child", "a school-age child: the answer with the child line, not escalated", "100 %"
                )
            child.add(reply.level is None and reply.child_line)
    return scores


def ask(url: str, text: str) -> List[Dict[str, Any]]:
    body = json.dumps({"sender": f"real-{uuid.uuid4().hex}", "message": text}).encode()
    request = urllib.request.Request(
        f"{url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        messages = json.loads(answer.read())
    return messages if isinstance(messages, list) else []


def run(url: str, path: Path) -> Scores:
    items = yaml.safe_load(path.read_text(encoding="utf-8"))["messages"]
    answers = answer_topics()
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda item: classify(ask(url, item["text"]), answers), items))
    return score(list(zip(items, replies, strict=True)))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running Rasa server (default: start our own)")
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    args = parser.parse_args(argv)
    stack = None
    url = args.url
    if not url:
        from scripts.serve import Stack, local_env

        workdir = Path(tempfile.mkdtemp(prefix="real-patients-"))
        stack = Stack(local_env(workdir), with_web=False, log_dir=workdir / "logs")
        print("Starting servers ...", flush=True)
        stack.start_all()
        url = stack.rasa_url
    try:
        scores = run(url, args.set)
    finally:
        if stack is not None:
            stack.stop_all()
    print(f"\n{args.set.name}, over REST:\n")
    print("| on the real-patient set | measured | target |")
    print("|---|---|---|")
    for row in scores.rows.values():
        print(row.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
