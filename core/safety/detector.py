"""Safety rule layer: finds personal risks and emergencies in a patient's message.

Pure Python and spaCy, no Rasa types, so it is tested without a server and shared by
the Rasa NLU component (``addons/safety.py``) and the action server.

How a message is checked:

1. ``normalise``: lowercase, straight apostrophes, phone slang expanded ("im", "dont",
   "preggo", "kms"), and misspelt words that are close to a risk word corrected
   ("pacemker" -> "pacemaker"). Only words that are not English words are corrected.
2. A blank English spaCy pipeline with lookup lemmas tokenises the text; a ``Matcher``
   built from ``knowledge/risk_patterns.yml`` finds risk phrases over lemmas.
3. Each finding is dropped when it is negated in its own clause ("I don't have a
   pacemaker", "never had a seizure") but kept when the "negation" only expresses
   doubt ("I don't know if I'm pregnant", "can't stop sweating at night"). A denial
   that refers back ("can people with pacemakers do it? I don't have one") negates
   too, and so does a personal denial of a risk that is otherwise only mentioned
   about other people ("is it safe for pregnant women? I'm not pregnant").
4. The highest level wins (emergency over urgent); within a level the category listed
   first in the patterns file names the reason.
"""

from __future__ import annotations

import itertools
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import yaml

PATTERNS_PATH = Path(__file__).resolve().parents[2] / "knowledge" / "risk_patterns.yml"

EMERGENCY = "emergency"
URGENT = "urgent"
LEVELS = (EMERGENCY, URGENT)

#: Only this much of a message is checked: longer messages are refused by the channel
#: before NLU, and the cap keeps one huge message from stalling the server.
MAX_CHECKED_CHARS = 5000

#: Words that negate what follows them in the same clause (compared on lemma/key).
NEGATION_CUES = frozenset(
    {"no", "not", "never", "without", "none", "neither", "nor", "nothing", "nobody"}
)
#: A cue followed by one of these expresses doubt or persistence, not absence:
#: "not sure if I'm pregnant", "don't know", "can't stop sweating", "no idea".
PSEUDO_NEGATION_NEXT = frozenset(
    {
        "sure", "know", "certain", "idea", "stop", "think", "only", "just", "doubt",
        "remember", "matter", "wait", "mind", "rule", "tell", "even", "understand",
        "realise", "realize", "clue", "positive", "confirm", "check", "test", "yet",
    }
)
#: How many tokens before a finding a negation cue may stand.
NEGATION_WINDOW = 5
#: Words that end a clause, so a negation before them does not reach past them.
CLAUSE_BREAKS = frozenset(
    {
        ".", ",", ";", ":", "!", "?", "-", "--", "(", ")", "/", "but", "and", "however",
        "although", "though", "while", "because", "since", "so", "if", "when", "whether",
        "cause", "cos", "as", "yet", "except", "plus", "also",
    }
)

#: Phone slang and dropped apostrophes, expanded before spaCy sees the text.
SLANG = {
    "u": "you", "ur": "your", "r": "are", "pls": "please", "plz": "please",
    "im": "i'm", "ive": "i've", "id": "i'd", "ill": "i'll",
    "dont": "don't", "doesnt": "doesn't", "didnt": "didn't", "cant": "can't",
    "cnt": "can't", "couldnt": "couldn't", "wont": "won't", "isnt": "isn't",
    "arent": "aren't", "wasnt": "wasn't", "werent": "weren't", "havent": "haven't",
    "hasnt": "hasn't", "hadnt": "hadn't", "aint": "ain't", "shouldnt": "shouldn't",
    "wouldnt": "wouldn't", "dnt": "don't", "dint": "didn't", "nope": "no", "nah": "no",
    "wanna": "want to", "gonna": "going to", "gotta": "got to", "idk": "i don't know",
    "dunno": "don't know", "w/": "with", "w/o": "without", "b/c": "because",
    "bc": "because", "cuz": "because", "coz": "because", "bcoz": "because",
    "ppl": "people", "abt": "about", "rn": "right now", "atm": "right now",
    "preggo": "pregnant", "preggers": "pregnant", "prego": "pregnant", "preg": "pregnant",
    "ttc": "trying to conceive", "bfing": "breastfeeding", "bf'ing": "breastfeeding",
    "kms": "kill myself", "unalive": "kill", "sui": "suicide", "a-fib": "afib",
    "heatstroke": "heat stroke", "sunstroke": "sun stroke", "selfharm": "self harm",
    "self-harm": "self harm", "pacemaker's": "pacemaker", "yrs": "years", "yr": "year",
    "wks": "weeks", "wk": "week", "hrs": "hours", "bday": "birthday",
    "cannot": "can not", "can't": "can not", "won't": "will not",
}

#: Phrases that deny what follows them, rewritten to "no" before matching:
#: "the doctor ruled out thyroid problems", "tested negative for diabetes".
NEGATING_PHRASES = re.compile(
    r"\b(?:ruled out|rule out|ruling out|tested negative for|negative for|free of|clear of)\b"
)

#: Words that are not English dictionary words but are not typos either.
NOT_TYPOS = frozenset(
    {
        "medicare", "medicaid", "iontophoresis", "hyperhidrosis", "antiperspirant",
        "antiperspirants", "deodorant", "deodorants", "drysol", "botox", "miradry",
        "hidrex", "dermadry", "saalio", "insurer", "insurers", "copay", "copays",
    }
)

#: Categories where "years ago" / "used to" / a past year means it no longer applies
#: ("was on antidepressants years ago"). Chronic conditions are never dismissed so.
PAST_DISMISSABLE = frozenset(
    {"medication", "broken_skin", "pregnancy", "feeling_unwell", "adverse_reaction"}
)

#: spaCy splits contractions into pieces whose lemmas differ from the spelt-out words;
#: the match key maps them back ("ca" from "can't" -> "can").
KEY_FIXES = {"ca": "can", "wo": "will", "sha": "shall", "nt": "not", "n't": "not", "'m": "be"}

_WORD_RE = re.compile(r"\d+(?:\.\d+)?(?![a-z0-9'])|[a-z0-9']+(?:[-/][a-z0-9']+)*|[^\sa-z0-9']")

#: Nouns that make a mention generic: "people with pacemakers", "pregnant women".
GENERIC_PEOPLE = frozenset(
    {
        "people", "person", "someone", "somebody", "anyone", "anybody", "those", "patient",
        "woman", "women", "man", "men", "folk", "folks", "ppl", "other", "others", "user",
        "users", "lady", "ladies", "mother", "mothers", "mum", "mums", "mom", "moms",
    }
)
#: Other people whose conditions a patient may mention: "my grandad has a pacemaker".
THIRD_PARTY = frozenset(
    {
        "grandad", "granddad", "grandpa", "grandfather", "grandma", "gran", "nan", "nana",
        "granny", "grandmother", "dad", "father", "mum", "mom", "mother", "sister", "brother",
        "friend", "wife", "husband", "partner", "aunt", "auntie", "uncle", "cousin",
        "colleague", "coworker", "boss", "boyfriend", "girlfriend", "gf", "flatmate",
        "roommate", "neighbour", "neighbor", "patient", "client", "fiance", "fiancee", "mate",
        "sis", "bro", "ex",
    }
)
#: Pronouns that put a condition on someone else: "she has epilepsy", "her leg".
OTHER_PRONOUNS = frozenset({"he", "she", "her", "his", "they", "their", "him", "them"})
#: Phrases that say the question is not about the writer's own health.
NOT_ABOUT_ME = re.compile(
    r"\b(?:not|n't|isn't|is not|nothing)\s+(?:for|about|to do with)\s+me\b"
    r"|\bnot (?:me )?personally\b|\bhypothetically\b|\bin general\b|\bgenerally\b"
    r"|\bjust curious\b|\bout of curiosity\b"
    r"|\b(?:this|it|the question|question)(?:'s| is) (?:for|about) me\b|\bi'?m (?:a )?healthy\b"
    r"|\bi'?m (?:a|an) (?:nurse|doctor|gp|pharmacist|carer|caregiver|student|researcher|writer"
    r"|blogger|journalist|physio|physiotherapist)\b"
    r"|\bi'?m not\s*(?:,|\.|!|;|and\b|but\b|so\b|though\b|myself\b|$)"
    r"|\bi (?:do not|don't|do n't)\s*(?:,|\.|!|;|and\b|but\b|$)"
)
#: How far after a finding an "I don't have one" may stand and still deny it.
DENIAL_WINDOW = 12


@dataclass(frozen=True)
class Finding:
    """One risk phrase found in a message.

    Attributes:
        level: ``"emergency"`` or ``"urgent"``.
        reason: the category name from the patterns file, e.g. ``"pregnancy"``.
        start: index of the first token of the phrase.
        end: index after the last token.
        negated: True when a negation in the same clause cancels it.
    """

    level: str
    reason: str
    start: int
    end: int
    negated: bool = False


@dataclass(frozen=True)
class Assessment:
    """What the safety layer concluded about one message.

    Attributes:
        level: the escalation level, or None when the message reveals no risk.
        reason: the category behind ``level``, or None.
        findings: every finding, negated ones included.
    """

    level: Optional[str]
    reason: Optional[str]
    findings: Tuple[Finding, ...] = field(default_factory=tuple)

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


class PatternFileError(ValueError):
    """The risk patterns file is missing or malformed."""


@dataclass
class _Rule:
    level: str
    reason: str
    priority: int
    requires_any: Set[str] = field(default_factory=set)
    not_followed_by: Set[str] = field(default_factory=set)
    is_exception: bool = False


class RiskDetector:
    """Finds risks in text with spaCy's ``Matcher`` over lemmas.

    Building one loads spaCy and the lemma tables (about a second); share one
    instance per process through :func:`get_detector`.
    """

    def __init__(self, patterns_path: Path = PATTERNS_PATH) -> None:
        import spacy
        from spacy.matcher import Matcher
        from spacy.tokens import Token

        if not Token.has_extension("key"):
            Token.set_extension("key", default=None)

        self._nlp = spacy.blank("en")
        self._nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        self._nlp.initialize()
        table = self._nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup")
        # Every English word form the lemma table knows is never "corrected". The table
        # is keyed by string hashes, so inflected forms are looked up through it.
        self._lemma_table = table
        self._known_words: Set[str] = {v for v in table.values() if isinstance(v, str)}
        self._matcher = Matcher(self._nlp.vocab)
        self._rules: Dict[str, _Rule] = {}
        self._regexes: List[Tuple[re.Pattern, _Rule]] = []
        self._priorities: Dict[str, int] = {}
        self._vocabulary: Set[str] = set()
        self._lock = threading.Lock()
        self._load(patterns_path)
        self._vocab_by_len: Dict[int, List[str]] = {}
        for word in self._vocabulary:
            self._vocab_by_len.setdefault(len(word), []).append(word)

    @property
    def categories(self) -> List[str]:
        """Every reason the detector can report, in order of precedence."""
        return sorted(self._priorities, key=self._priorities.__getitem__)

    # ------------------------------------------------------------------ loading
    def _load(self, path: Path) -> None:
        if not path.is_file():
            raise PatternFileError(f"Risk patterns file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise PatternFileError(f"Risk patterns file is not valid YAML: {error}") from error
        if not isinstance(data, dict) or any(level not in data for level in LEVELS):
            raise PatternFileError(f"{path} must have the sections {LEVELS}")
        priority = 0
        for level in LEVELS:
            categories = data[level]
            if not isinstance(categories, dict) or not categories:
                raise PatternFileError(f"{path}: section '{level}' has no categories")
            for reason, spec in categories.items():
                if not isinstance(spec, dict) or not spec.get("patterns"):
                    raise PatternFileError(f"{path}: category '{reason}' has no patterns")
                priority += 1
                self._priorities[reason] = priority
                for index, item in enumerate(spec["patterns"]):
                    self._add_pattern(level, reason, priority, index, item)
                for index, phrase in enumerate(spec.get("except") or []):
                    rule = _Rule(level, reason, priority, is_exception=True)
                    self._add_phrase(f"{reason}#except{index}", rule, phrase)

    def _add_pattern(self, level: str, reason: str, priority: int, index: int, item: Any) -> None:
        rule = _Rule(level, reason, priority)
        if isinstance(item, dict):
            rule.requires_any = {self._key_of(w) for w in item.get("requires_any", [])}
            rule.not_followed_by = {w.lower() for w in item.get("not_followed_by", [])}
            if "regex" in item:
                self._regexes.append((re.compile(item["regex"]), rule))
                return
            phrase = item.get("match")
        else:
            phrase = item
        if not isinstance(phrase, str) or not phrase.strip():
            raise PatternFileError(f"category '{reason}': pattern {index} is empty")
        self._add_phrase(f"{reason}#{index}", rule, phrase)

    def _add_phrase(self, name: str, rule: _Rule, phrase: str) -> None:
        self._rules[name] = rule
        self._matcher.add(name, self._compile(phrase))

    def _compile(self, phrase: str) -> List[List[Dict[str, Any]]]:
        """Turns one line of the pattern syntax into spaCy Matcher patterns."""
        slots: List[List[List[Dict[str, Any]]]] = []  # per slot: alternative token lists
        for raw in re.findall(r"\([^)]*\)\??|~|\S+", phrase):
            if raw == "~":
                gap = {"IS_PUNCT": False, "OP": "?"}
                slots.append([[dict(gap), dict(gap), dict(gap)]])
                continue
            optional = raw.endswith("?") and raw.startswith("(")
            body = raw[1:-2] if optional else raw.strip("()")
            alternatives = [self._compile_words(a) for a in body.split("|") if a.strip()]
            if optional:
                alternatives.append([])
            slots.append(self._merge_single_words(alternatives))
        patterns = []
        for combination in itertools.product(*slots):
            pattern = [token for part in combination for token in part]
            if pattern:
                patterns.append(pattern)
        return patterns

    @staticmethod
    def _merge_single_words(alternatives: List[List[Dict[str, Any]]]) -> List[List[Dict[str, Any]]]:
        """Folds one-token alternatives on the same attribute into a single ``IN`` test."""
        merged: Dict[str, List[str]] = {}
        rest = []
        for alt in alternatives:
            if len(alt) == 1 and "OP" not in alt[0]:
                ((attr, value),) = alt[0].items()
                if attr == "_":
                    merged.setdefault("_", []).append(value["key"])
                    continue
                merged.setdefault(attr, []).append(value)
                continue
            rest.append(alt)
        for attr, values in merged.items():
            if attr == "_":
                rest.append([{"_": {"key": {"IN": sorted(set(values))}}}])
            else:
                rest.append([{attr: {"IN": sorted(set(values))}}])
        return rest

    def _compile_words(self, words: str) -> List[Dict[str, Any]]:
        tokens: List[Dict[str, Any]] = []
        for word in words.split():
            if word.startswith("="):
                for piece in self._nlp(word[1:]):
                    tokens.append({"LOWER": piece.lower_})
                    self._remember(piece.lower_)
                continue
            for piece in self._nlp(word):
                tokens.append({"_": {"key": self._token_key(piece)}})
                self._remember(piece.lower_)
        return tokens

    def _remember(self, word: str) -> None:
        if len(word) >= 5 and word.isalpha():
            self._vocabulary.add(word)

    # --------------------------------------------------------------- utilities
    @staticmethod
    def _token_key(token) -> str:
        lemma = token.lemma_.lower() or token.lower_
        return KEY_FIXES.get(lemma, KEY_FIXES.get(token.lower_, lemma))

    def _key_of(self, word: str) -> str:
        doc = self._nlp(word.lower())
        return self._token_key(doc[0]) if len(doc) else word.lower()

    # -------------------------------------------------------------- normalising
    def normalise(self, text: str) -> str:
        """Lowercases, expands slang and corrects misspelt risk words."""
        text = unicodedata.normalize("NFKC", text)[:MAX_CHECKED_CHARS].lower()
        text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
        text = NEGATING_PHRASES.sub("no", text)
        out = []
        for piece in _WORD_RE.findall(text):
            word = piece.strip("'")
            if word in SLANG:
                out.append(SLANG[word])
            elif piece in SLANG:
                out.append(SLANG[piece])
            else:
                out.append(self._correct(word) if word else piece)
        return " ".join(out)

    def _correct(self, word: str) -> str:
        if len(word) < 5 or not word.isalpha():
            return word
        if word in self._known_words or word in self._lemma_table or word in NOT_TYPOS:
            return word
        if word in self._vocabulary:
            return word
        if word.endswith("s") and len(word) > 5:
            singular = self._correct(word[:-1])
            if singular != word[:-1]:
                return singular
        limit = 1 if len(word) < 10 else 2
        best, best_distance = word, limit + 1
        for length in range(len(word) - limit, len(word) + limit + 1):
            for candidate in self._vocab_by_len.get(length, ()):
                if candidate[0] != word[0] and limit == 1:
                    continue
                distance = _osa_distance(word, candidate, best_distance)
                if distance < best_distance:
                    best, best_distance = candidate, distance
        return best

    # --------------------------------------------------------------- assessing
    def assess(self, text: Optional[str]) -> Assessment:
        """Checks one message and returns the escalation it calls for."""
        if not text or not text.strip():
            return Assessment(None, None)
        normalised = self.normalise(text)
        with self._lock:  # spaCy's Matcher is not documented as thread-safe
            doc = self._nlp(normalised)
            for token in doc:
                token._.key = self._token_key(token)
            matches = self._matcher(doc)
        keys = [t._.key for t in doc]

        exceptions = []
        raw: List[Tuple[_Rule, int, int]] = []
        for match_id, start, end in matches:
            rule = self._rules[self._nlp.vocab.strings[match_id]]
            if rule.is_exception:
                exceptions.append((rule.reason, start, end))
            else:
                raw.append((rule, start, end))
        for pattern, rule in self._regexes:
            for m in pattern.finditer(doc.text):
                span = doc.char_span(m.start(), m.end(), alignment_mode="expand")
                if span is not None:
                    raw.append((rule, span.start, span.end))

        findings: List[Finding] = []
        for rule, start, end in raw:
            if any(r == rule.reason and s < end and start < e for r, s, e in exceptions):
                continue
            if rule.not_followed_by and end < len(doc) and doc[end].lower_ in rule.not_followed_by:
                continue
            if rule.requires_any and not (
                set(keys[:start]) | set(keys[end:])
            ) & rule.requires_any:
                continue
            findings.append(
                Finding(rule.level, rule.reason, start, end, _is_negated(doc, keys, start, end))
            )
        findings = _apply_denials(doc, keys, findings)
        findings.sort(key=lambda f: (self._priorities[f.reason], f.start))
        active = [f for f in findings if not f.negated]
        if not active:
            return Assessment(None, None, tuple(findings))
        return Assessment(active[0].level, active[0].reason, tuple(findings))


def _is_negated(doc, keys: Sequence[str], start: int, end: int) -> bool:
    """True when a negation cue in the same clause, shortly before, negates the span."""
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


def _denied_later(keys: Sequence[str], end: int) -> bool:
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


#: Words that introduce examples rather than the writer's own condition.
EXAMPLE_MARKERS = frozenset({"like", "such", "things", "thing", "conditions", "condition", "stuff"})


def _is_generic(keys: Sequence[str], start: int, end: int, examples: bool = False) -> bool:
    """A mention about people in general: "people with X", "X women".

    With ``examples``, "things like X" / "conditions such as X" count too.
    """
    before = set(keys[max(0, start - 3) : start])
    around = before | set(keys[end : end + 2])
    return bool(around & GENERIC_PEOPLE) or (examples and bool(before & EXAMPLE_MARKERS))


def _is_someone_else(keys: Sequence[str], start: int, end: int) -> bool:
    """A mention about another person: "my sister's pregnant", "a plate in her leg"."""
    before = set(keys[max(0, start - 4) : start])
    after = set(keys[end : end + 3])
    return bool(before & (THIRD_PARTY | OTHER_PRONOUNS)) or bool(after & {"her", "his", "their"})


def _is_adult_child(doc, start: int, end: int) -> bool:
    """An adult son or daughter ("my son's 25") is not a child patient."""
    for token in doc[max(0, start - 3) : min(len(doc), end + 3)]:
        if token.text.isdigit() and 18 <= int(token.text) <= 99:
            return True
    return False


def _is_past(doc, keys: Sequence[str], start: int, end: int) -> bool:
    """ "years ago", "used to", "no longer", "in 2018" next to a mention."""
    window = " ".join(list(keys[max(0, start - 5) : start]) + list(keys[end : end + 6]))
    if any(m in window for m in ("year ago", "use to", "no longer", "in the past", "previously")):
        return True
    return any(re.fullmatch(r"(19|20)\d\d", t.text) for t in doc[end : end + 6])


LIST_JOINERS = frozenset({"and", "or", "nor", ",", "/", "&", "any", "a", "an", "other"})


def _inherit_list_negation(doc, findings: List[Finding]) -> List[Finding]:
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
            finding = Finding(finding.level, finding.reason, finding.start, finding.end, True)
        result.append(finding)
    return result


def _apply_denials(doc, keys: Sequence[str], findings: List[Finding]) -> List[Finding]:
    """Negates mentions that a later denial or a personal denial makes impersonal.

    Emergencies and children are never negated this way: an emergency is one whoever
    it happens to, and a child is the patient the parent is asking about.
    """
    findings = _inherit_list_negation(doc, sorted(findings, key=lambda f: f.start))
    denied_reasons = {f.reason for f in findings if f.negated}
    not_about_me = bool(denied_reasons) or bool(NOT_ABOUT_ME.search(doc.text))
    result = []
    for finding in findings:
        if finding.reason == "child" and _is_adult_child(doc, finding.start, finding.end):
            continue
        if finding.reason in PAST_DISMISSABLE and _is_past(doc, keys, finding.start, finding.end):
            finding = Finding(finding.level, finding.reason, finding.start, finding.end, True)
        impersonal = (
            finding.level == URGENT
            and finding.reason != "child"
            and not_about_me
            and (
                _is_generic(keys, finding.start, finding.end, examples=True)
                or _is_someone_else(keys, finding.start, finding.end)
            )
        )
        if not finding.negated and (
            impersonal
            or _denied_later(keys, finding.end)
            or (finding.reason in denied_reasons and _is_generic(keys, finding.start, finding.end))
        ):
            finding = Finding(finding.level, finding.reason, finding.start, finding.end, True)
        result.append(finding)
    return result


def _osa_distance(a: str, b: str, cap: int) -> int:
    """Optimal string alignment distance (Levenshtein plus transpositions)."""
    if abs(len(a) - len(b)) >= cap:
        return cap
    previous2: List[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) >= cap:
            return cap
        previous2, previous = previous, current
    return previous[-1]


@lru_cache(maxsize=1)
def get_detector() -> RiskDetector:
    """The process-wide detector, built on first use (not at import time)."""
    return RiskDetector()


def assess(text: Optional[str]) -> Assessment:
    """Checks one message with the shared detector."""
    return get_detector().assess(text)
