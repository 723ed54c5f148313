"""Safety rule layer: finds personal risks and emergencies in a patient's message.

Pure Python and spaCy, no Rasa types, so it is tested without a server and shared by
the Rasa NLU component (``addons/safety.py``) and the action server.

How a message is checked (:meth:`RiskDetector.assess`):

1. :meth:`RiskDetector.normalise`: lowercase, straight apostrophes, phone slang
   expanded ("im", "dont", "preggo", "kms", see :mod:`core.safety.lexicon`), and
   misspelt words that are close to a risk word corrected ("pacemker" -> "pacemaker",
   :mod:`core.safety.spelling`). Only words that are not English words are corrected.
2. A blank English spaCy pipeline with lookup lemmas tokenises the text; a ``Matcher``
   built from ``knowledge/risk_patterns.yml`` (:mod:`core.safety.patterns`) finds risk
   phrases over lemmas.
3. Each finding is dropped when it is negated in its own clause ("I don't have a
   pacemaker", "never had a seizure") but kept when the "negation" only expresses
   doubt ("I don't know if I'm pregnant", "can't stop sweating at night"). A denial
   that refers back ("can people with pacemakers do it? I don't have one") negates
   too, and so does a personal denial of a risk that is otherwise only mentioned
   about other people ("is it safe for pregnant women? I'm not pregnant")
   (:mod:`core.safety.negation`).
4. The same message is checked for risk phrases in Spanish, German, French, Italian
   and Portuguese (:mod:`core.safety.multilingual`); those findings join the English
   ones.
5. The highest level wins (emergency over urgent); within a level the category listed
   first in the patterns file names the reason.

Only the first :data:`MAX_CHECKED_CHARS` characters of a message are checked.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, FrozenSet, List, Mapping, Optional, Sequence, Set, Tuple, cast

from core.domain import mentions_domain
from core.language import dominant_language, guess_language, language_scores
from core.safety.findings import URGENT, Assessment, Finding
from core.safety.lexicon import (
    ENGLISH_MEDICAL_WORDS,
    NEGATING_PHRASES,
    NOT_ABOUT_ME,
    NOT_TYPOS,
    SLANG,
    SLANG_FALSE_FRIENDS,
)
from core.safety.multilingual import PHRASES_PATH, MultilingualPhrases, fold_word
from core.safety.negation import apply_denials, is_negated, without_denied
from core.safety.patterns import (
    KEY_ATTR,
    PATTERNS_PATH,
    CompiledPatterns,
    Rule,
    load_patterns,
    token_key,
)
from core.safety.spelling import SpellingCorrector, max_edits, osa_distance

if TYPE_CHECKING:
    from spacy.pipeline import Lemmatizer
    from spacy.tokens import Doc

#: Only this much of a message is checked: longer messages are refused by the channel
#: before NLU, and the cap bounds what one message can cost.
MAX_CHECKED_CHARS = 2000

#: In a message in another language, a one-word English finding shorter than this is
#: dropped ("ma", "sui", "mas" go; "dose", "stent" stay) ...
SHORT_WORD = 4
#: ... but for the abbreviations every language borrows.
ABBREVIATIONS = frozenset({"icd", "af", "svt", "tia", "dvt", "avc", "iud", "ivf", "ttc", "mri"})
#: A message this long or longer is read by the multilingual phrases of only the
#: languages it has a word of (core.language); a shorter one by all of them.
SHORT_MESSAGE_CHARS = 160
#: The English risk words other languages borrow: in a message in another language the
#: speller corrects towards these only.
LOANWORDS = frozenset({"pacemaker", "defibrillator", "stent", "insulin", "implant", "ivf", "iud"})
#: The words and punctuation of a lowercased message, as normalising splits them.
_WORD_RE = re.compile(r"\d+(?:\.\d+)?(?![a-z0-9'])|[a-z0-9']+(?:[-/][a-z0-9']+)*|[^\sa-z0-9']")

#: The key attribute as spaCy's ``Token`` names it for writing (``NORM`` -> ``norm_``).
_KEY_SETTER = KEY_ATTR.lower() + "_"


class RiskDetector:
    """Finds risks in text with spaCy's ``Matcher`` over lemmas.

    Building one loads spaCy and the lemma tables (a few seconds); share one
    instance per process through :func:`get_detector`.

    Args:
        patterns_path: the English risk patterns (``knowledge/risk_patterns.yml``).
        phrases_path: the multilingual risk phrases
            (``knowledge/risk_phrases_multilingual.yml``).

    Raises:
        PatternFileError: either file is missing or malformed.
    """

    def __init__(self, patterns_path: Path = PATTERNS_PATH, phrases_path: Path = PHRASES_PATH) -> None:
        import spacy

        self._nlp = spacy.blank("en")
        self._nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        self._nlp.initialize()
        # Every English word form the lemma table knows is never "corrected". The table
        # is keyed by string hashes, so inflected forms are looked up through it.
        lemmatizer = cast("Lemmatizer", self._nlp.get_pipe("lemmatizer"))  # typed as any Pipe
        table = lemmatizer.lookups.get_table("lemma_lookup")
        self._lemma_table = table
        self._known_words: Set[str] = {v for v in table.values() if isinstance(v, str)}
        # ... nor is a function word the table lacks ("there" was read as "three")
        from spacy.lang.en.stop_words import STOP_WORDS

        self._known_words |= set(STOP_WORDS)
        self._patterns: CompiledPatterns = load_patterns(patterns_path, self._nlp)
        self._priorities = self._patterns.priorities
        self._speller = SpellingCorrector(self._patterns.vocabulary, self._is_english)
        self._multilingual = MultilingualPhrases(phrases_path, self._patterns.category_levels())
        self._lock = threading.Lock()

    @property
    def categories(self) -> List[str]:
        """Every reason the detector can report, in order of precedence."""
        return sorted(self._priorities, key=self._priorities.__getitem__)

    @property
    def speller(self) -> SpellingCorrector:
        """The misspelling corrector (its vocabulary is the patterns' words)."""
        return self._speller

    def _is_english(self, word: str) -> bool:
        return (
            word in self._known_words
            or word in self._lemma_table
            or word in NOT_TYPOS
            or word in ENGLISH_MEDICAL_WORDS
        )

    def _english_words_only(self, words: Sequence[str]) -> bool:
        """True when every word of 3+ letters of a multilingual match is an English word."""
        long_words = [w for w in words if len(w) >= 3 and w.isalpha()]
        return bool(long_words) and all(self._is_english(w) for w in long_words)

    # -------------------------------------------------------------- normalising
    def normalise(self, text: str, correct: bool = True, languages: FrozenSet[str] = frozenset()) -> str:
        """Lowercases, removes accents, expands slang and corrects misspelt risk words.

        Args:
            text: a message, raw or already normalised by :func:`core.text.normalise`.
            correct: whether to correct any misspelt risk word (in a message in another
                language only a misspelt loanword, :data:`LOANWORDS`: the Spanish
                "pilas" (batteries) is no misspelt "pills").
            languages: the other languages the message has a word of: slang that is
                a word of one of them is left (:data:`core.safety.lexicon.SLANG_FALSE_FRIENDS`:
                the Italian "sui" (on the) is no "suicide").

        Returns:
            The first :data:`MAX_CHECKED_CHARS` characters, lowercased, one space
            between words and punctuation, e.g. "i'm pregnant , don't have a pacemaker".
            Accents go ("café" -> "cafe"), so a word of another language stays one word
            ("mañana" is not "ma" (milliamps), "ñ" and "ana").
        """
        text = fold_word(unicodedata.normalize("NFKC", text)[:MAX_CHECKED_CHARS])
        text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
        text = NEGATING_PHRASES.sub("no", text)
        out = []
        for piece in _WORD_RE.findall(text):
            word = piece.strip("'")
            if SLANG_FALSE_FRIENDS.get(word) in languages:
                out.append(word)
            elif word in SLANG:
                out.append(SLANG[word])
            elif piece in SLANG:
                out.append(SLANG[piece])
            elif not word:
                out.append(piece)
            else:
                fixed = self._speller.correct(word)
                # in another language only towards the words every language borrows
                # ("pacemker"), not "pilas" -> "pills" or "morena" -> "mirena"
                out.append(fixed if correct or fixed in LOANWORDS else piece)
        return " ".join(out)

    # --------------------------------------------------------------- assessing
    def assess(self, text: Optional[str]) -> Assessment:
        """Checks one message and returns the escalation it calls for.

        Args:
            text: the message (None and blank messages reveal nothing).

        Returns:
            The assessment: the level and reason of the most severe active finding,
            and every finding, negated ones included.
        """
        if not text or not text.strip():
            return Assessment(None, None)
        # the message's languages, read once: the English rules' spelling and slang, the
        # multilingual phrases' negation and reach depend on them
        scores = language_scores(text)
        language = guess_language(text, scores)
        english = language == "en"
        languages = frozenset(lang for lang, points in scores.items() if points)
        doc, keys, matches = self._match(self.normalise(text, correct=english, languages=languages))
        findings = self._english_findings(doc, keys, matches)
        if not english:
            # in another language, a short English word alone is a word of that language
            # ("ma" (but), "sui" (on the)): the multilingual phrases speak for it
            findings = [
                f
                for f in findings
                if f.end - f.start > 1
                or len(doc[f.start].text) >= SHORT_WORD
                or doc[f.start].text in ABBREVIATIONS
            ]
        findings = apply_denials(doc, keys, findings)
        findings += self._foreign_findings(text, doc, findings, language, scores)
        domain_only = self._patterns.domain_only
        if any(f.reason in domain_only and not f.language for f in findings) and not mentions_domain(
            doc.text
        ):
            # "a joke for my 5 year old": not a patient
            findings = [f for f in findings if f.reason not in domain_only or f.language]
        findings.sort(key=lambda f: (self._priorities[f.reason], f.start))
        caution_only = self._patterns.caution_only
        active = [f for f in findings if not f.negated and f.reason not in caution_only]
        cautions = tuple(
            dict.fromkeys(f.reason for f in findings if not f.negated and f.reason in caution_only)
        )
        undenied = without_denied(doc, keys, findings)
        if not active:
            impersonal = bool(NOT_ABOUT_ME.search(doc.text))
            return Assessment(None, None, tuple(findings), undenied, cautions, not_about_writer=impersonal)
        return Assessment(active[0].level, active[0].reason, tuple(findings), undenied)

    def _match(self, normalised: str) -> Tuple["Doc", List[str], List[Tuple[int, int, int]]]:
        """Tokenises the normalised text, stores the match keys and runs the Matcher.

        Returns:
            The doc, the match key of each token, and the Matcher's matches.
        """
        with self._lock:  # spaCy's Matcher is not documented as thread-safe
            doc = self._nlp(normalised)
            keys = [token_key(token) for token in doc]
            for token, key in zip(doc, keys, strict=True):
                setattr(token, _KEY_SETTER, key)
            matches = self._patterns.matcher(doc)
        return doc, keys, matches

    def _english_findings(
        self, doc: "Doc", keys: List[str], matches: List[Tuple[int, int, int]]
    ) -> List[Finding]:
        """The findings of the patterns file, each negated or not in its own clause."""
        exceptions = []
        raw: List[Tuple[Rule, int, int]] = []
        for match_id, start, end in matches:
            rule = self._patterns.rules[self._nlp.vocab.strings[match_id]]
            if rule.is_exception:
                exceptions.append((rule.reason, start, end))
            else:
                raw.append((rule, start, end))
        for pattern, rule in self._patterns.regexes:
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
            if rule.requires_any and not (set(keys[:start]) | set(keys[end:])) & rule.requires_any:
                continue
            findings.append(Finding(rule.level, rule.reason, start, end, is_negated(doc, keys, start, end)))
        return findings

    def _foreign_findings(
        self,
        text: str,
        doc: "Doc",
        english: List[Finding],
        language: str = "",
        scores: Optional[Mapping[str, int]] = None,
    ) -> List[Finding]:
        """The multilingual layer's findings, reconciled with the English ones.

        A word both layers match ("pacemaker" is Italian and Portuguese too) is one
        mention. For an urgent category, a negation either layer understands
        negates it in both ("non ho un pacemaker" (Italian) and "I don't have a
        pacemaker" (English) escalate neither), except that in a message in another
        language the English layer's negation alone does not ("tenho no peito um
        pacemaker": "no" is "in the"). Emergencies are never negated by the
        other layer. ``english`` is updated in place.

        Args:
            text: the message as given to :meth:`assess`.
            doc: the English pipeline's doc of the normalised message.
            english: the English findings, after the English negation rules.
            language: the language the message is most likely written in
                (:func:`core.language.guess_language`): its phrases' negation decides
                where several languages match the same words.
            scores: the message's :func:`core.language.language_scores`, if known.

        Returns:
            The multilingual findings.
        """
        if scores is None or len(text) > MAX_CHECKED_CHARS:
            scores = language_scores(text[:MAX_CHECKED_CHARS])
        text = text[:MAX_CHECKED_CHARS]
        # a long message is looked at only in the languages it has words of (an English
        # story of 2,000 characters in none): the phrases' lookaheads cost about 50 ms
        # over such a message in all five; a short one is read in all of them
        wanted = (
            None if len(text) < SHORT_MESSAGE_CHARS else {lang for lang, points in scores.items() if points}
        )
        matches = self._multilingual.find(text, language, dominant_language(text, scores), wanted)
        if not matches:
            return []
        spans = [_finding_words(doc, f) for f in english]
        related = [
            [m for m in matches if m.reason == f.reason and _same_words(words, m.words)]
            for f, words in zip(english, spans, strict=True)
        ]
        foreign: List[Finding] = []
        for m in matches:
            if m.level == URGENT and language == "en" and self._english_words_only(m.words):
                # an English message's English words ("febrile", "lithium") are the English
                # rules' to read, with their exceptions and denials; a foreign medicine's
                # name ("I'm on Sintrom") still counts
                continue
            negated = m.negated
            if not negated and m.level == URGENT and language == "en":
                ours = [f for f, rel in zip(english, related, strict=True) if m in rel]
                negated = bool(ours) and all(f.negated for f in ours)
            foreign.append(Finding(m.level, m.reason, m.start, m.end, negated, m.language))
        for index, (finding, rel) in enumerate(zip(english, related, strict=True)):
            if finding.level != URGENT or not rel:
                continue
            if not finding.negated and all(m.negated for m in rel):
                english[index] = replace(finding, negated=True)
            elif finding.negated and language != "en" and not any(m.negated for m in rel):
                # in another language its own negation decides: the Portuguese "no peito"
                # (in the chest) is no English "no"
                english[index] = replace(finding, negated=False)
        return foreign


def _finding_words(doc: "Doc", finding: Finding) -> List[str]:
    """The words of an English finding of 3+ letters ("IUD"), accent-folded."""
    span = doc[finding.start : finding.end]
    return [fold_word(t.lower_) for t in span if len(t) >= 3 and t.is_alpha]


def _same_words(english: Sequence[str], foreign: Sequence[str]) -> bool:
    """True when an English finding's words stand in a multilingual match.

    The English word may be the spelling corrector's reading of the foreign one
    ("stimulateur" is corrected to "stimulator"): it is then a prefix of it or
    within the corrector's edit distance of it (one more for a plural).
    """
    for word in foreign:
        limit = max_edits(word) + (1 if word.endswith("s") else 0)
        for ours in english:
            if word.startswith(ours) or osa_distance(ours, word, limit + 1) <= limit:
                return True
    return False


@lru_cache(maxsize=1)
def get_detector() -> RiskDetector:
    """The process-wide detector, built on first use (not at import time)."""
    return RiskDetector()


def assess(text: Optional[str]) -> Assessment:
    """Checks one message with the shared detector.

    Args:
        text: the message.

    Returns:
        What :meth:`RiskDetector.assess` returns.
    """
    return get_detector().assess(text)
