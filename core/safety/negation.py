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
from typing import TYPE_CHECKING, FrozenSet, List, Optional, Sequence, Set

from core.safety.findings import URGENT, Finding
from core.safety.lexicon import (
    CLAUSE_BREAKS,
    EXAMPLE_LIST_JOINERS,
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
    cue = negation_cue_before(doc, keys, start)
    if cue is None:
        return False
    following = {keys[i] for i in range(cue + 1, min(cue + 3, start))}
    return not following & PSEUDO_NEGATION_NEXT


def negation_cue_before(doc: "Doc", keys: Sequence[str], start: int) -> Optional[int]:
    """The index of the nearest negation cue before ``start`` in the same clause, within
    :data:`NEGATION_WINDOW` tokens, or None."""
    for index in range(start - 1, max(0, start - NEGATION_WINDOW) - 1, -1):
        if doc[index].lower_ in CLAUSE_BREAKS or keys[index] in CLAUSE_BREAKS:
            return None
        if keys[index] in NEGATION_CUES:
            return index
    return None


#: Between a mention and its "ruled out" (read as "no", NEGATING_PHRASES): "pregnancy
#: (has been) ruled out by my GP".
_BEFORE_RULED_OUT = frozenset(
    {"be", "have", "get", "now", "already", "definitely", "completely", "also", "'s"}
)
_AFTER_RULED_OUT = frozenset(
    {"by", ",", ".", "!", "and", "so", "now", "already", "for", "too", "-", ";", ":"}
)
#: Before a mention, what makes its "ruled out" uncertain or about one kind of it.
_NOT_RULED_OUT_BEFORE = frozenset(
    {"if", "whether", "not", "n't", "nt", "molar", "ectopic", "twin", "chemical", "couldn't", "can't"}
)


def _ruled_out_after(keys: Sequence[str], start: int, end: int) -> bool:
    """ "pregnancy ruled out by my GP": the message reads "pregnancy no by my gp"; not
    "couldn't say if pregnancy was ruled out", "molar pregnancy ruled out"."""
    if set(keys[max(0, start - 5) : start]) & _NOT_RULED_OUT_BEFORE:
        return False
    for index in range(end, min(len(keys), end + 4)):
        if keys[index] == "no":
            between_ok = all(k in _BEFORE_RULED_OUT for k in keys[end:index])
            return between_ok and (index + 1 == len(keys) or keys[index + 1] in _AFTER_RULED_OUT)
        if keys[index] not in _BEFORE_RULED_OUT:
            return False
    return False


def denied_later(keys: Sequence[str], start: int, end: int) -> bool:
    """An "I don't have one" / "was ruled out" / "came back negative" after a mention."""
    stop = min(len(keys), end + DENIAL_WINDOW)
    if _ruled_out_after(keys, start, end):
        return True
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


#: Words right before "removed" / "taken out" that say it did not happen.
_NEVER_DONE = frozenset({"never", "not", "n't", "nt", "didnt", "wasnt", "hasnt", "havent", "yet"})

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


def removed_later(doc: "Doc", start: int, end: int) -> bool:
    """A past, affirmative "had it removed" / "was taken out" shortly after a mention of
    a removable device; not a plan ("can I have it removed?") or a question. Also
    "they took it out", "it's out now", "long gone" and "no metal now" (:func:`_gone_later`)."""
    words = [token.lower_ for token in doc]
    stop = min(len(words), end + DENIAL_WINDOW)
    for index in range(end, stop):
        word = words[index]
        taken_out = word == "taken" and "out" in words[index + 1 : index + 3]
        if word not in ("removed", "extracted") and not taken_out:
            continue
        between = words[end:index]
        if set(between) & {"and", ",", "but", ";", ".", "then", "&"}:
            # "Had my ICD fitted and the drain taken out": something else was removed
            continue
        # "Had the pin in my left wrist taken out": the "had" may open the mention
        before = words[max(0, min(index - 5, start - 2)) : index]
        after = words[index + 1 : index + 4]
        if not set(before) & {"had", "got", "was", "were", "been", "'ve"}:
            continue
        if set(before) & _NOT_DONE or "?" in after or "still" in words[index:stop]:
            continue
        if _STILL_IN.search(_NONE_LEFT.sub(" ", " ".join(words[index:]))):
            # "... taken out, but the one in my ankle is still there", "a new one put in"
            continue
        if set(words[max(0, index - 3) : index]) & _NEVER_DONE:
            # "the plate was never taken out", "they didn't remove it"
            continue
        return True
    return _gone_later(words, start, end)


#: After a removal, what says metal or a device is still there or came back.
_STILL_IN = re.compile(
    r"\b(?:still|new one|new ones|replacement|replaced|another one|put back|refitted|left (?:\w+ ){0,2}in)\b"
)

#: "no metal now", "nothing metal in me", "no implants left" after a removable device.
_NONE_LEFT = re.compile(
    r"\b(?:no|nothing|zero|not any|none of the)\s+(?:more\s+)?(?:metal|metallic|implants?|hardware)\b"
    # "surgeon confirmed there's nothing left in there"
    r"|\bnothing (?:is )?(?:left|remaining) (?:in there|inside|in me|behind)\b"
)


#: Words that can stand for the mention just made: "... a plate, but it's out now".
_BACK_REFERENCES = frozenset({"it", "they", "that", "these", "those", "both", "them", "which", "all", "one"})


def _refers_to_the_mention(after: Sequence[str], verb: int) -> bool:
    """The words before ``after[verb]`` (an "is" / "'s" ...) are the mention itself or a
    word standing for it, not another subject: "the coil ('s) out now", "but it's gone",
    and not "a plate in my wrist but the pain is gone"."""
    if verb <= 0:
        return True
    return bool(set(after[max(0, verb - 2) : verb]) & _BACK_REFERENCES) or after[verb - 1] == "long"


#: Words that keep a device in place whatever else is said about it.
_STILL_THERE = frozenset({"still", "new", "another", "replacement", "replaced", "fitted", "again", "put"})


def _gone_later(words: Sequence[str], start: int, end: int) -> bool:
    """ "they took the plate out", "the coil is out now", "long gone", "no metal now"; not
    "the pacemaker is out of date" or "took the old one out and fitted a new one"."""
    stop = min(len(words), end + DENIAL_WINDOW)
    if set(words[start:stop]) & _STILL_THERE:
        # "still there", "took the old one out and put a new one in"
        return False
    before = words[max(0, start - 4) : start]
    after = words[end:stop]
    # "took the plate out", "took out my coil", "pulled it out"
    if set(before) & {"took", "pulled", "removed"} and not set(before) & _NOT_DONE:
        if "out" in words[max(0, start - 3) : end + 3] or "removed" in before:
            return True
    for index, word in enumerate(after[:6]):
        if (
            word in ("out", "gone")
            and index > 0
            and after[index - 1] in ("'s", "is", "are", "'re", "was", "were", "long", "all", "been", "now")
            and _refers_to_the_mention(after, index - 1)
        ):
            # "the coil is out of place" is still there
            return "?" not in after[index : index + 3] and after[index + 1 : index + 2] != ["of"]
    return bool(_NONE_LEFT.search(" ".join(after)))


def is_generic(keys: Sequence[str], start: int, end: int, examples: bool = False) -> bool:
    """A mention about people in general: "people with X", "X women".

    With ``examples``, "things like X" / "conditions such as X" count too.
    """
    window = range(max(0, start - 3), start)
    before = {keys[i] for i in window}
    around = before | set(keys[end : end + 2])
    if around & GENERIC_PEOPLE:
        return True
    # "sweating like mad": a simile, not "things like X"
    markers = {keys[i] for i in window if keys[i] in EXAMPLE_MARKERS and not _simile(keys, i)}
    return examples and bool(markers)


#: "like mad", "like crazy", "like a tap": how much, not examples.
_SIMILE_NEXT = frozenset(
    {"mad", "crazy", "hell", "nuts", "anything", "a pig", "a tap", "a faucet", "a waterfall"}
)


def _simile(keys: Sequence[str], index: int) -> bool:
    if keys[index] != "like" or index + 1 >= len(keys):
        return False
    following = keys[index + 1]
    pair = " ".join(keys[index + 1 : index + 3])
    return following in _SIMILE_NEXT or pair in _SIMILE_NEXT


#: A question about a condition in general opens with one of these: "are metal implants a
#: problem?", "can diabetes cause sweating?".
_QUESTION_OPENERS = frozenset({"are", "is", "do", "does", "can", "could", "will", "would", "should", "might"})


#: A sentence that opens with one of these has dropped its "I": "Started sweating out of
#: nowhere this year.", "Been on oxycodone since the op.", "Had a plate put in."
DROPPED_I_OPENERS = frozenset(
    {
        "started", "been", "had", "got", "woke", "took", "taking", "noticed", "tried", "went",
        "feeling", "felt", "getting", "kept", "diagnosed", "fitted", "suffering", "suffered",
        "living", "pregnant",
    }
)  # fmt: skip
#: ... unless it goes on as a request: "Got a quick question: can people with implants ...".
_REQUEST_AFTER = frozenset({"a", "question", "questions", "query", "quick", "wondering", "curious"})


def drops_the_i(doc: "Doc") -> bool:
    """A sentence of the message tells about the writer without saying "I"."""
    for token in doc:
        if token.lower_ not in DROPPED_I_OPENERS:
            continue
        if token.i > 0 and doc[token.i - 1].text not in (".", "!", "?", ";"):
            continue
        following = [t.lower_ for t in doc[token.i + 1 : token.i + 3]]
        if token.lower_ in ("had", "got") and following and following[0] in _REQUEST_AFTER:
            if following[0] != "a" or (len(following) > 1 and following[1] in _REQUEST_AFTER):
                continue
        return True
    return False


def is_general_question(doc: "Doc", start: int) -> bool:
    """The mention is the subject of a yes/no question: "are implants a problem?"."""
    index = start - 1
    while index >= 0 and doc[index].lower_ in ("a", "an", "the", "any", "having"):
        index -= 1
    if (
        index >= 1
        and doc[index].lower_ == "of"
        and doc[index - 1].lower_ in ("kind", "kinds", "type", "types", "sort")
    ):
        # "which kinds of implants are a problem?"
        return index >= 2 and doc[index - 2].lower_ in ("which", "what")
    if index < 0 or doc[index].lower_ not in _QUESTION_OPENERS:
        return False
    return index == 0 or doc[index - 1].text in (".", "?", "!", ",", ";", ":")


def _the_one_with(keys: Sequence[str], start: int) -> Optional[int]:
    """The index of the "with" of a "the one with" just before a mention, or None."""
    return next(
        (i for i in range(start - 1, max(0, start - 4), -1) if keys[i - 2 : i + 1] == ["the", "one", "with"]),
        None,
    )


def is_someone_else(keys: Sequence[str], start: int, end: int) -> bool:
    """A mention about another person: "my sister's pregnant", "a plate in her leg",
    "the hip replacement in our family is my mum's"."""
    before = set(keys[max(0, start - 4) : start])
    after = set(keys[end : end + 3])
    # "... is my mum's": a possessive of another person shortly after
    later = keys[end : end + 7]
    owned = any(k in THIRD_PARTY and later[i + 1 : i + 2] in (["'s"], ["have"]) for i, k in enumerate(later))
    # "my dad's the one with the defibrillator": the person named before "the one with"
    one = _the_one_with(keys, start)
    theirs = one is not None and bool(set(keys[max(0, one - 6) : one - 2]) & THIRD_PARTY)
    return (
        bool(before & (THIRD_PARTY | OTHER_PRONOUNS))
        or bool(after & {"her", "his", "their"})
        or owned
        or theirs
    )


def pointed_elsewhere(keys: Sequence[str], start: int, end: int) -> bool:
    """ "my sister's the one with the pacemaker, I'm fine": the writer points the mention
    at another person ("the one with") and does not go on about them ("is it safe for
    my dad?", "he'd like to try it")."""
    if set(keys[end:]) & (OTHER_PRONOUNS | THIRD_PARTY | {"he'd", "she'd"}):
        return False
    one = _the_one_with(keys, start)
    return one is not None and bool(set(keys[max(0, one - 8) : one - 2]) & THIRD_PARTY)


#: After a mention, the writer saying it is theirs after all: "I ask because I have
#: one", "Mine was fitted in June", "Have had one since 2019", "they're still in".
_CLAIMED = re.compile(
    r"\bi (?:have|'ve|ve|had|got|'d)(?: got| had| been)? (?:one|it|them|two|three|both)\b"
    r"|(?:^|[.!?;,:] )(?:have|had|got) (?:had )?(?:one|them|it|two|both)\b"
    r"|\bmine (?:is|was|'s|got|has|were|are)\b|\bmy (?:one|own)\b|\buser\b|\basking as\b"
    r"|\bbecause i (?:have|had|'ve)\b|\b(?:they|it) (?:'re|are|'s|is) still\b|\bstill in\b"
    r"|\b(?:broke|broken|shattered|fractured) (?:my|the|both)\b|\bme too\b"
    r"|\b(?:got|had|have) (?:one|it|them) (?:fitted|put in|implanted|inserted|installed)\b"
    r"|\b(?:just |only )?found out\b"
)


#: Right after a mention, the writer's own: "a pacemaker fitted in March", "... since 2019".
_RIGHT_AFTER = re.compile(r"(?:fitted|put in|implanted|inserted|placed|installed|since|put)\b")


def _claimed_right_after(doc: "Doc", end: int) -> bool:
    return end < len(doc) and bool(_RIGHT_AFTER.match(" ".join(t.lower_ for t in doc[end : end + 2])))


def claimed_later(doc: "Doc", end: int) -> bool:
    """The writer claims the mention as theirs after it (see :data:`_CLAIMED`). Searched
    in the whole message from there, so that "^" is the message's start, not the cut
    ("can people with a pacemaker have it" claims nothing)."""
    if end >= len(doc):
        return False
    words = [t.lower_ for t in doc]
    return _claimed_right_after(doc, end) or bool(
        _CLAIMED.search(" ".join(words), len(" ".join(words[:end])) + 1 if end else 0)
    )


#: A question asked for the other person: "can he use it?", "is it safe for her?".
_ASKED_FOR_THEM = re.compile(
    r"\b(?:can|could|should|would|will|may|might|does|do|is|would it be|is it (?:ok|okay|safe|fine|alright)"
    r" for|safe for|ok for|okay for) (?:he|she|they|him|her|them)\b"
)


def asked_for_them(doc: "Doc", end: int) -> bool:
    """After a mention of someone else's condition, the message asks on their behalf."""
    return bool(_ASKED_FOR_THEM.search(" ".join(t.lower_ for t in doc[end:])))


#: Words before a plural device or implant that make it a class of things: "does it
#: interfere with pacemakers?", "is it bad for implants?".
_CLASS_BEFORE = frozenset(
    {
        "with",
        "for",
        "affect",
        "affects",
        "interfere",
        "around",
        "near",
        "about",
        "and",
        "or",
        "re",
        "to",
        "on",
    }
)
#: Categories a plural mention of which can be a class of things.
_CLASS_CATEGORIES = frozenset({"implanted_device", "metal_implant"})


def is_class_of_things(doc: "Doc", keys: Sequence[str], finding: Finding) -> bool:
    """A plural device or implant after a preposition or verb: a kind of thing, asked
    about by someone who says nothing of themselves ("would it mess with pacemakers?")."""
    if finding.reason not in _CLASS_CATEGORIES or finding.start < 1:
        return False
    last = doc[finding.end - 1].lower_
    plural = last.endswith("s") and last != keys[finding.end - 1]
    return plural and doc[finding.start - 1].lower_ in _CLASS_BEFORE


_NOT_FOR_ME = (
    r"|(?:is|'s|was) (?:not|n't) (?:a thing|an issue|a problem|a concern|relevant|possible) (?:for|with) me"
)
_HEALED = (
    r"healed|healed up|cleared up|all gone|gone now|(?:is|are|was|were|'s|'re) (?:all |long )?gone|intact"
)
#: What says a mention is over or was cleared, per category: "the cuts healed weeks ago",
#: "the test was negative", "my cardiologist discharged me". A pregnancy is denied only by
#: a test or by "not a thing for me" ("the nausea is gone" says nothing about it).
_CLEARED = {
    "broken_skin": _HEALED,
    "adverse_reaction": _HEALED,
    "secondary_signs": _HEALED,
    "heart_condition": r"discharged me|cleared me|nothing wrong with|all clear",
    "epilepsy": r"(?:is|was|'s) not epilepsy|nothing to worry about|all clear",
    "pregnancy": r"(?:was|were|came back|came up|is) negative|(?:test|tested)\b[^.!?]{0,40}?\bnegative"
    # "negative pregnancy test", "my pregnancy is behind me"
    r"|negative (?:pregnancy |preg |home )?tests?|pregnanc\w* (?:is|'s|was) (?:all |long |well )?behind me"
    + _NOT_FOR_ME,
}
CLEARABLE = frozenset(_CLEARED)
#: After a pregnancy mention, what says it is one after all.
_STILL_PREGNANT = re.compile(
    r"\bpositive\b|\b\d+ weeks\b|\b(?:got|am|'m|be|now) pregnant\b|\b(?:late|overdue)\b"
)
#: A check-up found nothing: "cardiologist checked me, heart totally normal". Clears only a
#: mention of the check-up itself (a named condition, "afib", "a stent", stays one).
_CHECKUP_MENTIONS = frozenset({"cardiologist", "cardiology", "ecg", "ekg", "heart check", "heart scan"})
_CHECKUP_NORMAL = re.compile(
    r"\b(?:heart|ecg|ekg|echo|tests?|results?|scans?|everything)"
    r"(?: (?:is|was|'s|are|were|came back|looked|looks|turned out))?"
    r" (?:totally |completely |perfectly |all |absolutely )?(?:normal|fine|healthy|clear)\b"
)
_CHECKUP_NORMAL_NOW = re.compile(
    r"\b(?:heart|ecg|ekg|echo|tests?|results?|scans?|everything) (?:is|'s|are)"
    r" (?:totally |completely |perfectly |all |absolutely )?(?:normal|fine|healthy|clear)\b"
)
_CONTRAST = re.compile(
    r"\b(?:but|until|till|now|again|still|wait|waiting|back|more|another|next|skips?|worse|yet|though"
    r"|apart|except|besides|other than|watching)\b"
)
#: A negative test or a discharge clears the mention wherever it is said.
_CLEARED_ANYWHERE = frozenset({"pregnancy", "heart_condition", "epilepsy"})
_CLEARED_RE = {reason: re.compile(rf"\b(?:{words})\b") for reason, words in _CLEARED.items()}
#: Before a "healed": it is not, or not quite ("hasn't healed", "half healed").
_NOT_CLEARED = frozenset(
    {"not", "n't", "never", "nt", "hasnt", "havent", "isnt", "wont", "still", "barely", "half", "partly"}
    | {"partially", "mostly", "almost", "nearly", "only", "yet", "hardly"}
)


def cleared_later(doc: "Doc", start: int, end: int, reason: str) -> bool:
    """ "... healed up weeks ago", "... was negative", "... nothing wrong with my heart"
    shortly after a mention of ``reason``, in the same sentence or the next, not negated."""
    words = [token.lower_ for token in doc]
    stop = min(len(words), end + DENIAL_WINDOW + 4)
    # a pregnancy may be cleared just before the mention, in its sentence ("Negative
    # pregnancy test this morning"); not a heart ("nothing wrong with me but my afib")
    first = end
    if reason == "pregnancy":
        if _STILL_PREGNANT.search(" ".join(words[start:])):
            # "negative test, then got pregnant - now 10 weeks", "a positive one this morning"
            return False
        first = start
        while first > max(0, start - 6) and words[first - 1] not in (".", "!", "?", ";", ",", "but", "then"):
            first -= 1
    text = " ".join(words[first:stop])
    if reason == "heart_condition" and " ".join(words[start:end]) in _CHECKUP_MENTIONS:
        # "my heart is fine, had a full check with the cardiologist": before it, too,
        # said in the present, with nothing after that takes it back ("... but the
        # cardiologist wants me back", "was fine until last year")
        before = _CHECKUP_NORMAL_NOW.search(" ".join(words[:start]))
        if _CHECKUP_NORMAL.search(text) or (before and not _CONTRAST.search(" ".join(words)[before.end() :])):
            return True
    match = _CLEARED_RE[reason].search(text)
    if match is None:
        return False
    preceding = text[: match.start()].split()
    if set(preceding[-3:]) & _NOT_CLEARED:
        return False
    # about the mention: right after it ("cuts on my hands healed up"), or after a word
    # standing for it ("... but it healed"); not another subject ("the itch is gone")
    same_phrase = len(preceding) <= 6 and not set(preceding) & {",", ".", "but", "and", ";", "?", "!"}
    return same_phrase or bool(set(preceding[-3:]) & _BACK_REFERENCES) or reason in _CLEARED_ANYWHERE


def is_adult_child(doc: "Doc", start: int, end: int) -> bool:
    """An adult son or daughter ("my son's 25", "my daughter's at uni now") is not a child
    patient."""
    window = doc[max(0, start - 3) : min(len(doc), end + 5)]  # "my son, who's 25"
    for token in window:
        if token.text.isdigit() and 18 <= int(token.text) <= 99:
            return True
    return bool(_ADULT_LIFE.search(window.text))


#: Where an adult son or daughter is: "at uni", "at university", "in college".
_ADULT_LIFE = re.compile(r"\b(?:at|in|to|started|starting|left for) (?:uni|university|college)\b")


#: Words next to a mention that put it in the past (match keys: lemmas, "used" -> "use").
PAST_MARKERS = ("year ago", "age ago", "long time ago", "use to", "no longer", "in the past", "previously")
#: Right before a pregnancy mention: it is over ("stopped breastfeeding"). Not for a
#: medicine: a stopped medicine is a risk of its own.
ENDED_BEFORE = frozenset({"stopped", "quit", "finished"})
#: The same, as plain lowercase words (the lemma table reads "as" as "a").
PAST_WORDS = re.compile(
    r"\b(?:as an? (?:baby|toddler|kid|child|infant)|when i was (?:little|a baby|small|a toddler))\b"
)


def ended_before(doc: "Doc", keys: Sequence[str], start: int) -> bool:
    """ "stopped breastfeeding", "finished breastfeeding" (said as done, not "should I
    stop" or "haven't stopped")."""
    if start < 1 or doc[start - 1].lower_ not in ENDED_BEFORE:
        return False
    return negation_cue_before(doc, keys, start - 1) is None


def is_past(doc: "Doc", keys: Sequence[str], start: int, end: int) -> bool:
    """ "years ago", "used to", "no longer", "in 2018" next to a mention."""
    window = " ".join(list(keys[max(0, start - 5) : start]) + list(keys[end : end + 6]))
    if any(m in window for m in PAST_MARKERS):
        return True
    # "had my baby last year" is over; "on it since last year" is not
    if re.search(r"(?<!since )(?<!from )\blast year\b", window):
        return True
    words = " ".join(t.lower_ for t in doc[max(0, start - 5) : min(len(doc), end + 6)])
    if PAST_WORDS.search(words):
        return True
    return any(re.fullmatch(r"(19|20)\d\d", t.text) for t in doc[end : end + 6])


def next_in_list(
    doc: "Doc", previous: Finding, finding: Finding, joiners: FrozenSet[str] = LIST_JOINERS
) -> bool:
    """``finding`` is the next item of a plain list after ``previous``: only ``joiners``
    stand between them ("thyroid problems and diabetes")."""
    return previous.end <= finding.start and all(
        t.lower_ in joiners for t in doc[previous.end : finding.start]
    )


def inherit_list_negation(doc: "Doc", findings: List[Finding]) -> List[Finding]:
    """ "no thyroid problems and diabetes": a negation covers a plain list of risks."""
    result: List[Finding] = []
    for finding in findings:
        previous = result[-1] if result else None
        if (
            previous is not None
            and previous.negated
            and not finding.negated
            and next_in_list(doc, previous, finding)
        ):
            finding = replace(finding, negated=True)
        result.append(finding)
    return result


#: Medicines for sweating itself, and the plain words for them: asked about as one of the
#: treatments ("is oxybutynin better than Robinul?", "what's glycopyrrolate?") by someone
#: who says nothing of themselves, they are the "not covered" reply's other treatments.
SWEAT_MEDICINES = frozenset(
    {
        "glycopyrrolate", "glycopyrronium", "glyco", "robinul", "oxybutynin", "propantheline",
        "qbrexza", "sofdra", "cuvposa", "ditropan", "tablet", "tablets", "pill", "pills",
        "medication", "medications", "medicine", "medicines", "meds", "drug", "drugs",
    }
)  # fmt: skip
#: ... unless the question is how to take it, or with the treatment: that is for a
#: healthcare professional whoever asks.
_TAKING = re.compile(
    r"\b(?:with (?:it|this|that|ionto\w*|iontophoresis"
    r"|the (?:treatment|machine|device|sessions?|trays?|current)"
    r"|sessions?|treatment)|while|whilst|together|alongside|during"
    r"|before|after|instead|dose|doses|dosage|mg|how much|how many|amount|a day|per day|daily"
    r"|stop|stopping|quit|switch|combine|combined|mix|safe to take|take|takes|taken|taking|on top"
    r"|mess|interact\w*|interfere\w*|clash\w*|react\w*)\b"
)


#: The shapes of a question about a medicine as one of the treatments.
_GENERAL_FRAME = re.compile(
    r"\b(?:what(?:'s| 's| is| are| exactly is)|whats"
    r"|which (?:\w+ )?(?:tablets|pills|medications|medicines|meds)"
    r"|(?:better|worse|stronger|weaker|more effective) than|compare[sd]?|comparison|vs|versus"
    r"|any good|(?:does|do) (?:\w+ ){0,3}(?:work|help)|how (?:well|good|effective)|available|sold in"
    r"|options|exist|work(?:s)? better|covered|cost|price"
    r"|where (?:can|do|could) (?:you|one|people) (?:get|buy))\b"
)
#: A terse message about someone's own course ("On robinul. Ok?", "glyco and alcohol?"),
#: a condition beside it, a child: no general question.
_PERSONAL_HINT = re.compile(
    r"^on\b|\b(?:ok|okay|fine|safe|same|alcohol|drink|drinking|plus|since|started|prescribed|stopped"
    r"|coming off|if|kids?|child|children|elderly|glaucoma|pregnan\w*|heart|patients?|pee|constipat\w*"
    r"|eye|pupil|hubby|husband|wife|son|daughter|mum|dad|split|crush\w*)\b|[+&]"
)


def about_taking_it(text: str) -> bool:
    """The message asks how to take a medicine, or tells of someone's own course of one
    (:data:`_TAKING`, :data:`_PERSONAL_HINT`; ``text`` is the normalised, lowercase message)."""
    return bool(_TAKING.search(text) or _PERSONAL_HINT.search(text))


def is_general_medicine_question(doc: "Doc", keys: Sequence[str], finding: Finding) -> bool:
    """A medicine for sweating asked about in general: what it is, whether it works, how it
    compares, where to get it; the writer says nothing of themselves and asks nothing
    about taking it ("can you take glyco while doing ionto?" is no general question)."""
    if finding.reason != "medication":
        return False
    words = {keys[i] for i in range(finding.start, finding.end)} | {
        doc[i].lower_ for i in range(finding.start, finding.end)
    }
    if not words <= SWEAT_MEDICINES:
        return False
    if any(token.lower_ in FIRST_PERSON for token in doc) or drops_the_i(doc):
        return False
    return bool(_GENERAL_FRAME.search(doc.text)) and not about_taking_it(doc.text)


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
    says_nothing_of_self = not any(token.lower_ in FIRST_PERSON for token in doc) and not drops_the_i(doc)
    result = []
    examples: Set[int] = set()  # starts of findings negated as examples ("things like X")
    for finding in findings:
        if finding.reason == "child" and is_adult_child(doc, finding.start, finding.end):
            continue
        if finding.reason in PAST_DISMISSABLE and is_past(doc, keys, finding.start, finding.end):
            finding = replace(finding, negated=True)
        if finding.reason == "pregnancy" and ended_before(doc, keys, finding.start):
            finding = replace(finding, negated=True)
        example = is_generic(keys, finding.start, finding.end, examples=True)
        generic = example or is_general_question(doc, finding.start)
        if finding.reason == "medication" and about_taking_it(doc.text):
            # "does robinul mess with iontophoresis?", "can the tablets be crushed?": how
            # to take a medicine is for a healthcare professional, however it is asked
            generic = False
        someone_else = is_someone_else(keys, finding.start, finding.end)
        class_of_things = is_class_of_things(doc, keys, finding)
        impersonal = (
            finding.level == URGENT
            and finding.reason not in ("child", "young_child")
            and not (someone_else and asked_for_them(doc, finding.end))
            and not claimed_later(doc, finding.end)
            and (
                (not_about_me and (generic or someone_else or class_of_things))
                or (says_nothing_of_self and (generic or class_of_things))
                or pointed_elsewhere(keys, finding.start, finding.end)
                or is_general_medicine_question(doc, keys, finding)
            )
        )
        if not finding.negated and impersonal and example:
            examples.add(finding.start)
        if not finding.negated and (
            impersonal
            or denied_later(keys, finding.start, finding.end)
            or (finding.reason in REMOVABLE and removed_later(doc, finding.start, finding.end))
            or (
                finding.reason in CLEARABLE and cleared_later(doc, finding.start, finding.end, finding.reason)
            )
            or (finding.reason in denied_reasons and is_generic(keys, finding.start, finding.end))
        ):
            finding = replace(finding, negated=True)
        result.append(finding)
    # "things like thyroid problems or the menopause": the examples share the first one's
    # reading, unless the writer claims the next as theirs ("... and a pacemaker fitted in March")
    for index in range(1, len(result)):
        previous, finding = result[index - 1], result[index]
        if (
            previous.start in examples
            and not finding.negated
            and next_in_list(doc, previous, finding, EXAMPLE_LIST_JOINERS)
            and not _claimed_right_after(doc, finding.end)
        ):
            result[index] = replace(finding, negated=True)
            examples.add(finding.start)
    # "metal implants" negated as a whole: its "implants" is the same mention
    negated_spans = [(f.reason, f.start, f.end) for f in result if f.negated]
    return [
        replace(f, negated=True)
        if not f.negated and any(r == f.reason and s <= f.start and f.end <= e for r, s, e in negated_spans)
        else f
        for f in result
    ]


def without_denied(doc: "Doc", keys: Sequence[str], findings: Sequence[Finding]) -> Optional[str]:
    """The message without its denied English mentions, or None when it has none.

    Each negated finding is cut out with the negation cue before it in its clause
    ("i'm not diabetic , is it safe" -> "i'm , is it safe"); the multilingual layer's
    findings (indices of another tokenisation) are left as they are.
    """
    cut = [False] * len(doc)
    found = False
    for finding in findings:
        if not finding.negated or finding.language is not None:
            continue
        found = True
        cue = negation_cue_before(doc, keys, finding.start)
        for index in range(finding.start if cue is None else cue, min(finding.end, len(doc))):
            cut[index] = True
    if not found:
        return None
    return " ".join(token.text for token, gone in zip(doc, cut, strict=True) if not gone)
