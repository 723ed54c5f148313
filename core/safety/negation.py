"""When a risk phrase does not apply: negation, later denials, other people, the past.

The English rules' scope logic, over a spaCy ``Doc`` and its match keys (one per
token, see :func:`core.safety.patterns.token_key`):

* :func:`is_negated`: a negation cue shortly before, in the same clause ("I don't
  have a pacemaker"), unless it only expresses doubt ("not sure if I'm pregnant");
* :func:`denied_later`: "... I don't have one", "was ruled out", "came back normal";
* :func:`is_generic` / :func:`is_someone_else`: "people with pacemakers", "my sister
  is pregnant", which count only when the writer says it is not about them;
* :func:`is_past`: "years ago", "used to" for the categories that can be over;
* :func:`inherit_list_negation`: "no epilepsy, pacemaker or heart disease".

:func:`apply_denials` applies all but the first to a message's findings.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, List, Sequence

from core.safety.findings import URGENT, Finding
from core.safety.lexicon import (
    CLAUSE_BREAKS,
    EXAMPLE_MARKERS,
    FIRST_PERSON,
    GENERIC_PEOPLE,
    LIST_JOINERS,
    NEGATION_CUES,
    NOT_ABOUT_ME,
    OTHER_PRONOUNS,
    PAST_DISMISSABLE,
    PSEUDO_NEGATION_NEXT,
    THIRD_PARTY,
)

if TYPE_CHECKING:
    from spacy.tokens import Doc

#: How many tokens before a finding a negation cue may stand.
NEGATION_WINDOW = 5
#: How far after a finding an "I don't have one" may stand and still deny it.
DENIAL_WINDOW = 12


def is_negated(doc: "Doc", keys: Sequence[str], start: int, end: int) -> bool:
    """True when a negation cue in the same clause, shortly before, negates the span.

    Args:
        doc: the message.
        keys: the match key of each token of ``doc``.
        start: the first token of the finding.
        end: the token after the finding.

    Returns:
        True for "I don't have a pacemaker", False for "not sure if I'm pregnant"
        (doubt) and for a cue in an earlier clause ("not pregnant but trying").
    """
    first = max(0, start - NEGATION_WINDOW)
    for index in range(start - 1, first - 1, -1):
        key = keys[index]
        if doc[index].lower_ in CLAUSE_BREAKS or key in CLAUSE_BREAKS:
            return False
        if key in NEGATION_CUES:
            following = {keys[i] for i in range(index + 1, min(index + 3, start))}
            if following & PSEUDO_NEGATION_NEXT:
                return False
            return True
    return False


def denied_later(keys: Sequence[str], end: int) -> bool:
    """An "I don't have one" / "was ruled out" / "came back negative" after a mention."""
    stop = min(len(keys), end + DENIAL_WINDOW)
    for index in range(end, stop):
        pair = tuple(keys[index : index + 2])
        if pair == ("rule", "out") or (
            pair == ("come", "back")
            and index + 2 < len(keys)
            and keys[index + 2] in ("negative", "normal", "clear", "fine", "ok")
        ):
            return True
        if keys[index] in ("not", "never"):
            after = [k for k in keys[index + 1 : index + 3]]
            if after and after[0] in ("one", "any"):
                return True
            if len(after) == 2 and after[0] in ("have", "get", "be") and after[1] in ("one", "any"):
                return True
    return False


#: Categories a patient can say are gone: "had the plate removed", "coil taken out".
REMOVABLE = frozenset({"metal_implant", "implanted_device"})


#: Words before "removed" that make it a plan or a question, not a fact.
_NOT_DONE = frozenset(
    {
        "can",
        "could",
        "will",
        "would",
        "should",
        "shall",
        "might",
        "may",
        "want",
        "wants",
        "need",
        "needs",
        "going",
        "gonna",
        "planning",
        "plan",
        "hoping",
        "if",
        "whether",
        "before",
    }
)


def removed_later(doc: "Doc", end: int) -> bool:
    """A past, affirmative "had it removed" / "was taken out" shortly after a mention of
    a removable device; not a plan ("can I have it removed?") or a question."""
    words = [token.lower_ for token in doc]
    stop = min(len(words), end + DENIAL_WINDOW)
    for index in range(end, stop):
        word = words[index]
        taken_out = word == "taken" and "out" in words[index + 1 : index + 3]
        if word not in ("removed", "extracted") and not taken_out:
            continue
        before = words[max(0, index - 5) : index]
        after = words[index + 1 : index + 4]
        if not set(before) & {"had", "got", "was", "were", "been", "'ve"}:
            continue
        if set(before) & _NOT_DONE or "?" in after or "still" in words[index:stop]:
            continue
        return True
    return False


def is_generic(keys: Sequence[str], start: int, end: int, examples: bool = False) -> bool:
    """A mention about people in general: "people with X", "X women".

    With ``examples``, "things like X" / "conditions such as X" count too.
    """
    before = set(keys[max(0, start - 3) : start])
    around = before | set(keys[end : end + 2])
    return bool(around & GENERIC_PEOPLE) or (examples and bool(before & EXAMPLE_MARKERS))


def is_someone_else(keys: Sequence[str], start: int, end: int) -> bool:
    """A mention about another person: "my sister's pregnant", "a plate in her leg"."""
    before = set(keys[max(0, start - 4) : start])
    after = set(keys[end : end + 3])
    return bool(before & (THIRD_PARTY | OTHER_PRONOUNS)) or bool(after & {"her", "his", "their"})


def is_adult_child(doc: "Doc", start: int, end: int) -> bool:
    """An adult son or daughter ("my son's 25") is not a child patient."""
    for token in doc[max(0, start - 3) : min(len(doc), end + 3)]:
        if token.text.isdigit() and 18 <= int(token.text) <= 99:
            return True
    return False


def is_past(doc: "Doc", keys: Sequence[str], start: int, end: int) -> bool:
    """ "years ago", "used to", "no longer", "in 2018" next to a mention."""
    window = " ".join(list(keys[max(0, start - 5) : start]) + list(keys[end : end + 6]))
    if any(m in window for m in ("year ago", "use to", "no longer", "in the past", "previously")):
        return True
    return any(re.fullmatch(r"(19|20)\d\d", t.text) for t in doc[end : end + 6])


def inherit_list_negation(doc: "Doc", findings: List[Finding]) -> List[Finding]:
    """ "no thyroid problems and diabetes": a negation covers a plain list of risks."""
    result: List[Finding] = []
    for finding in findings:
        previous = result[-1] if result else None
        if (
            previous is not None
            and previous.negated
            and not finding.negated
            and previous.end <= finding.start
            and all(t.lower_ in LIST_JOINERS for t in doc[previous.end : finding.start])
        ):
            finding = replace(finding, negated=True)
        result.append(finding)
    return result


def apply_denials(doc: "Doc", keys: Sequence[str], findings: List[Finding]) -> List[Finding]:
    """Negates mentions that a later denial or a personal denial makes impersonal.

    Emergencies and children are never negated this way: an emergency is one whoever
    it happens to, and a child is the patient the parent is asking about. An adult
    "son" or "daughter" is dropped; a past mention of a dismissable category negated.

    Args:
        doc: the message.
        keys: the match key of each token of ``doc``.
        findings: the findings, each already negated or not by :func:`is_negated`.

    Returns:
        The findings in message order, with the negations these rules add.
    """
    findings = inherit_list_negation(doc, sorted(findings, key=lambda f: f.start))
    denied_reasons = {f.reason for f in findings if f.negated}
    not_about_me = bool(denied_reasons) or bool(NOT_ABOUT_ME.search(doc.text))
    # "is it true people with implants can't do it?": a question about people in
    # general, by someone who says nothing about themselves.
    says_nothing_of_self = not any(token.lower_ in FIRST_PERSON for token in doc)
    result = []
    for finding in findings:
        if finding.reason == "child" and is_adult_child(doc, finding.start, finding.end):
            continue
        if finding.reason in PAST_DISMISSABLE and is_past(doc, keys, finding.start, finding.end):
            finding = replace(finding, negated=True)
        generic = is_generic(keys, finding.start, finding.end, examples=True)
        impersonal = (
            finding.level == URGENT
            and finding.reason != "child"
            and (
                (not_about_me and (generic or is_someone_else(keys, finding.start, finding.end)))
                or (says_nothing_of_self and generic)
            )
        )
        if not finding.negated and (
            impersonal
            or denied_later(keys, finding.end)
            or (finding.reason in REMOVABLE and removed_later(doc, finding.end))
            or (finding.reason in denied_reasons and is_generic(keys, finding.start, finding.end))
        ):
            finding = replace(finding, negated=True)
        result.append(finding)
    return result
