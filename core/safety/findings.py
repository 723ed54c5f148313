"""What the safety layer reports: escalation levels, findings and the assessment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

EMERGENCY = "emergency"
URGENT = "urgent"
#: Every escalation level, most severe first.
LEVELS = (EMERGENCY, URGENT)


@dataclass(frozen=True)
class Finding:
    """One risk phrase found in a message.

    Attributes:
        level: ``"emergency"`` or ``"urgent"``.
        reason: the category name from the patterns file, e.g. ``"pregnancy"``.
        start: index of the first token of the phrase (for a finding of the
            multilingual layer, of the first word of the accent-folded message).
        end: index after the last token.
        negated: True when a negation in the same clause cancels it.
        language: None for the English rules, else the language code of the
            multilingual phrase that matched (``"es"``, ``"de"``...).
    """

    level: str
    reason: str
    start: int
    end: int
    negated: bool = False
    language: Optional[str] = None


@dataclass(frozen=True)
class Assessment:
    """What the safety layer concluded about one message.

    Attributes:
        level: the escalation level, or None when the message reveals no risk.
        reason: the category behind ``level``, or None.
        findings: every finding, negated ones included.
        undenied_text: see the attribute.
        cautions: see the attribute.
    """

    level: Optional[str]
    reason: Optional[str]
    findings: Tuple[Finding, ...] = field(default_factory=tuple)
    #: The normalised message without its denied mentions ("i'm not diabetic" and
    #: "no pacemaker" cut out), when it has any; else None. What the semantic net reads:
    #: a sentence embedding barely sees a "not", so the denied words would still pull
    #: it towards their category or a neighbouring one.
    undenied_text: Optional[str] = None
    #: Categories found that call for a caution line beside the answer, not an
    #: escalation (``answer_with_caution`` in the patterns file: a school-age child),
    #: when nothing else in the message escalates; most severe first.
    cautions: Tuple[str, ...] = ()
    #: The writer says the question is not about their own health ("not asking for me",
    #: "I'm a nurse and patients keep asking me") and nothing active was found: the
    #: classifier's risk intents alone do not escalate it.
    not_about_writer: bool = False

    @property
    def negated_only(self) -> bool:
        """True when risks were mentioned but every mention was negated."""
        return bool(self.findings) and all(f.negated for f in self.findings)

    @property
    def reasons(self) -> List[str]:
        """Every non-negated reason, most severe first, without repeats."""
        seen: List[str] = []
        for finding in self.findings:
            if not finding.negated and finding.reason not in seen:
                seen.append(finding.reason)
        return seen
