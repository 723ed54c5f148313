"""The risk patterns file: loading, validating and compiling it to spaCy Matcher patterns.

``knowledge/risk_patterns.yml`` lists, per level and category, phrases in a small
pattern syntax (described at the top of that file). :func:`load_patterns` checks the
file and turns every phrase into spaCy ``Matcher`` patterns over *match keys*: the
lookup lemma of each token, lowercase, with contraction pieces mapped back
(:func:`token_key`). The key is stored in the token's ``NORM`` attribute before
matching, so the Matcher compares it in C rather than through a Python extension.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Set, Tuple

import yaml

from core.safety.findings import LEVELS
from core.safety.lexicon import KEY_FIXES

if TYPE_CHECKING:  # spaCy is imported when a detector is built, not at import time
    from spacy.language import Language
    from spacy.matcher import Matcher
    from spacy.tokens import Token

PATTERNS_PATH = Path(__file__).resolve().parents[2] / "knowledge" / "risk_patterns.yml"

#: The token attribute that holds the match key while the Matcher runs.
KEY_ATTR = "NORM"

#: Words of at least this many letters in the patterns feed the spelling corrector.
MIN_VOCABULARY_LENGTH = 5

TokenPattern = List[Dict[str, Any]]


class PatternFileError(ValueError):
    """The risk patterns file (or the multilingual phrases file) is missing or malformed."""


@dataclass
class Rule:
    """What one compiled pattern reports, and the conditions attached to it.

    Attributes:
        level: ``"emergency"`` or ``"urgent"``.
        reason: the category name.
        priority: the category's rank in the file (1 = first = most important).
        requires_any: match keys, one of which must occur elsewhere in the message.
        not_followed_by: words that cancel the match when they come right after it.
        is_exception: True for an ``except:`` phrase, which cancels overlapping findings.
    """

    level: str
    reason: str
    priority: int
    requires_any: Set[str] = field(default_factory=set)
    not_followed_by: Set[str] = field(default_factory=set)
    is_exception: bool = False


@dataclass
class CompiledPatterns:
    """The patterns file, ready to run.

    Attributes:
        matcher: spaCy Matcher with one entry per phrase, named ``reason#index``.
        rules: the rule behind each Matcher entry name.
        regexes: ``regex:`` patterns, run over the normalised text.
        priorities: each category's rank, 1 for the first one in the file.
        vocabulary: the words of the patterns, for the spelling corrector.
        domain_only: categories marked ``only_in_domain: true``: a finding counts only
            in a message about the domain (``core.domain``); "a joke for my 5 year old"
            is not about a child patient.
        caution_only: categories marked ``answer_with_caution: true``: a finding alone
            does not escalate; the FAQ answer comes with that category's caution line
            (a school-age child: children can have it, with the clinic's advice).
    """

    matcher: "Matcher"
    rules: Dict[str, Rule] = field(default_factory=dict)
    regexes: List[Tuple["re.Pattern[str]", Rule]] = field(default_factory=list)
    priorities: Dict[str, int] = field(default_factory=dict)
    vocabulary: Set[str] = field(default_factory=set)
    domain_only: Set[str] = field(default_factory=set)
    caution_only: Set[str] = field(default_factory=set)

    def category_levels(self) -> Dict[str, str]:
        """Each category's level, keyed by reason."""
        levels: Dict[str, str] = {}
        for rule in self.rules.values():
            levels.setdefault(rule.reason, rule.level)
        for _, rule in self.regexes:
            levels.setdefault(rule.reason, rule.level)
        return levels


def token_key(token: "Token") -> str:
    """The match key of a token: its lowercase lookup lemma, contraction pieces fixed.

    Args:
        token: a token of the detector's pipeline (lemmatised).

    Returns:
        The key, e.g. ``"pacemaker"`` for "pacemakers", ``"can"`` for the "ca" of "can't".
    """
    lemma = token.lemma_.lower() or token.lower_
    return KEY_FIXES.get(lemma, KEY_FIXES.get(token.lower_, lemma))


def key_of(nlp: "Language", word: str) -> str:
    """The match key of one word, as :func:`token_key` gives it in a message."""
    doc = nlp(word.lower())
    return token_key(doc[0]) if len(doc) else word.lower()


def read_yaml(path: Path, what: str) -> Any:
    """Reads a YAML file, raising :class:`PatternFileError` when it is absent or invalid.

    Args:
        path: the file.
        what: how error messages name the file, e.g. ``"Risk patterns file"``.

    Returns:
        The parsed document.

    Raises:
        PatternFileError: the file does not exist or is not valid YAML.
    """
    if not path.is_file():
        raise PatternFileError(f"{what} not found: {path}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise PatternFileError(f"{what} is not valid YAML: {error}") from error


def load_patterns(path: Path, nlp: "Language") -> CompiledPatterns:
    """Loads, validates and compiles the risk patterns file.

    Args:
        path: the patterns file (``knowledge/risk_patterns.yml``).
        nlp: the detector's pipeline, used to tokenise and lemmatise the phrases.

    Returns:
        The compiled patterns.

    Raises:
        PatternFileError: the file is missing, not YAML, lacks a level section, or
            has a category without patterns or an empty pattern.
    """
    from spacy.matcher import Matcher

    data = read_yaml(path, "Risk patterns file")
    if not isinstance(data, dict) or any(level not in data for level in LEVELS):
        raise PatternFileError(f"{path} must have the sections {LEVELS}")
    compiler = _Compiler(nlp, CompiledPatterns(Matcher(nlp.vocab)))
    priority = 0
    for level in LEVELS:
        categories = data[level]
        if not isinstance(categories, dict) or not categories:
            raise PatternFileError(f"{path}: section '{level}' has no categories")
        for reason, spec in categories.items():
            if not isinstance(spec, dict) or not spec.get("patterns"):
                raise PatternFileError(f"{path}: category '{reason}' has no patterns")
            priority += 1
            compiler.out.priorities[reason] = priority
            if spec.get("only_in_domain", False) is True:
                compiler.out.domain_only.add(reason)
            if spec.get("answer_with_caution", False) is True:
                compiler.out.caution_only.add(reason)
            for index, item in enumerate(spec["patterns"]):
                compiler.add_pattern(level, reason, priority, index, item)
            for index, phrase in enumerate(spec.get("except") or []):
                rule = Rule(level, reason, priority, is_exception=True)
                compiler.add_phrase(f"{reason}#except{index}", rule, phrase)
    return compiler.out


class _Compiler:
    """Turns pattern-file entries into Matcher patterns, collecting them in ``out``."""

    def __init__(self, nlp: "Language", out: CompiledPatterns) -> None:
        self.nlp = nlp
        self.out = out

    def add_pattern(self, level: str, reason: str, priority: int, index: int, item: Any) -> None:
        """Adds one entry of a category's ``patterns:`` list (a phrase or a mapping)."""
        rule = Rule(level, reason, priority)
        if isinstance(item, dict):
            rule.requires_any = {key_of(self.nlp, w) for w in item.get("requires_any", [])}
            rule.not_followed_by = {w.lower() for w in item.get("not_followed_by", [])}
            if "regex" in item:
                try:
                    self.out.regexes.append((re.compile(item["regex"]), rule))
                except (re.error, TypeError) as error:
                    raise PatternFileError(
                        f"category '{reason}': pattern {index} is not a valid regex: {error}"
                    ) from error
                return
            phrase = item.get("match")
        else:
            phrase = item
        if not isinstance(phrase, str) or not phrase.strip():
            raise PatternFileError(f"category '{reason}': pattern {index} is empty")
        self.add_phrase(f"{reason}#{index}", rule, phrase)

    def add_phrase(self, name: str, rule: Rule, phrase: str) -> None:
        """Adds one phrase of the pattern syntax under the Matcher entry ``name``."""
        self.out.rules[name] = rule
        self.out.matcher.add(name, self.compile(phrase))

    def compile(self, phrase: str) -> List[TokenPattern]:
        """Turns one line of the pattern syntax into spaCy Matcher patterns."""
        slots: List[List[TokenPattern]] = []  # per slot: alternative token lists
        for raw in re.findall(r"\([^)]*\)\??|~|\S+", phrase):
            if raw == "~":
                gap = {"IS_PUNCT": False, "OP": "?"}
                slots.append([[dict(gap), dict(gap), dict(gap)]])
                continue
            optional = raw.endswith("?") and raw.startswith("(")
            body = raw[1:-2] if optional else raw.strip("()")
            alternatives = [self.compile_words(a) for a in body.split("|") if a.strip()]
            if optional:
                alternatives.append([])
            slots.append(merge_single_words(alternatives))
        patterns = []
        for combination in itertools.product(*slots):
            pattern = [token for part in combination for token in part]
            if pattern:
                patterns.extend(expand_first_token(pattern))
        return patterns

    def compile_words(self, words: str) -> TokenPattern:
        """The token tests for one alternative: keys, or exact words after ``=``."""
        tokens: TokenPattern = []
        for word in words.split():
            if word.startswith("="):
                for piece in self.nlp(word[1:]):
                    tokens.append({"LOWER": piece.lower_})
                    self.remember(piece.lower_)
                continue
            for piece in self.nlp(word):
                tokens.append({KEY_ATTR: token_key(piece)})
                self.remember(piece.lower_)
        return tokens

    def remember(self, word: str) -> None:
        """Adds a pattern word to the spelling corrector's vocabulary."""
        if len(word) >= MIN_VOCABULARY_LENGTH and word.isalpha():
            self.out.vocabulary.add(word)


def expand_first_token(pattern: TokenPattern) -> List[TokenPattern]:
    """Splits a pattern whose first token is an ``IN`` test into one pattern per value.

    The Matcher tries every pattern's first token at every token of a message. A plain
    ``{"NORM": "x"}`` test runs in C; an ``IN`` test is a Python predicate, and the
    hundreds of them made matching cost tens of milliseconds on a long message. Later
    tokens keep their ``IN`` tests: they run only once the first token has matched.
    The matches are the same, since a token has one value per attribute.

    Args:
        pattern: one Matcher pattern.

    Returns:
        The equivalent patterns.
    """
    first = pattern[0]
    if len(first) != 1:
        return [pattern]
    ((attr, value),) = first.items()
    if not isinstance(value, dict) or set(value) != {"IN"}:
        return [pattern]
    return [[{attr: item}] + pattern[1:] for item in value["IN"]]


def merge_single_words(alternatives: List[TokenPattern]) -> List[TokenPattern]:
    """Folds one-token alternatives on the same attribute into a single ``IN`` test.

    Args:
        alternatives: the alternatives of one group, each a list of token tests.

    Returns:
        The same alternatives, with the single-token ones merged per attribute.
    """
    merged: Dict[str, List[str]] = {}
    rest = []
    for alt in alternatives:
        if len(alt) == 1 and "OP" not in alt[0]:
            ((attr, value),) = alt[0].items()
            merged.setdefault(attr, []).append(value)
            continue
        rest.append(alt)
    for attr, values in merged.items():
        rest.append([{attr: {"IN": sorted(set(values))}}])
    return rest
