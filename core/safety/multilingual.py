"""Risk phrases in Spanish, German, French, Italian and Portuguese.

``knowledge/risk_phrases_multilingual.yml`` lists, per language and per category of
``knowledge/risk_patterns.yml``, short regular expressions ("estoy embarazada",
"herzschrittmacher", "dolore al petto"). A finding has the level of its category in
the English patterns file, so precedence is the same for every language.

Matching (:meth:`MultilingualPhrases.find`):

1. The message is folded (:func:`fold`): NFKC, lowercase, accents removed ("grávida"
   -> "gravida", "ß" -> "ss", "œ" -> "oe"), and split into words and punctuation
   marks joined by single spaces; apostrophes and hyphens separate words
   ("n'arrive" -> "n arrive", "matar-me" -> "matar me"). Phrases are folded the same
   way when loaded, so accents in the file and in messages are optional.
2. Each phrase matches whole words only.
3. A match is negated when a negation cue of its language ("no", "nicht", "kein",
   "pas", "non", "não", "sin", "nunca", "jamais", "mai", "nie"...) stands at most
   :data:`NEGATION_WINDOW` words before it in the same clause, unless the cue only
   expresses doubt ("no sé si estoy embarazada", "non so se...") or persistence.
   A phrase that contains a negation itself ("no puedo respirar", "ich will nicht
   mehr leben") is never negated by a cue before it: the negation is the emergency.
   For an emergency, the words between the cue and the phrase must moreover all be
   small filler words ("no tengo dolor en el pecho"), so "no aguanto el dolor en el
   pecho" (I can't bear the chest pain) still escalates.
4. Matches of several languages over the same words (the "pacemaker" of Italian,
   Portuguese and English) are merged into one, negated when any language's cue
   negates it.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from core.safety.findings import EMERGENCY
from core.safety.patterns import PatternFileError, read_yaml

PHRASES_PATH = Path(__file__).resolve().parents[2] / "knowledge" / "risk_phrases_multilingual.yml"

#: How many words before a phrase a negation cue may stand.
NEGATION_WINDOW = 5

#: Letters that accent stripping does not reduce to ASCII.
_SPECIAL_FOLDS = {"ß": "ss", "œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d"}
#: Words (letters and digits of any script) and single punctuation marks; apostrophes,
#: hyphens and the like separate words and are dropped.
_TOKEN_RE = re.compile(r"[^\W_]+|[^\w\s'\u2019\u2018`\u00b4\u02bc\-\u2010\u2011\u2013]")
#: Punctuation that ends a clause.
CLAUSE_PUNCTUATION: FrozenSet[str] = frozenset('.,;:!?¿¡()[]/"«»…')


def _words(text: str) -> FrozenSet[str]:
    return frozenset(text.split())


@dataclass(frozen=True)
class LanguageRules:
    """The negation vocabulary of one language, compared on folded words except
    ``clause_breaks`` (compared as typed, lowercase, so Italian "e" (and) is a break
    but "è" (is) is not).

    Attributes:
        negation_cues: words that negate what follows in the same clause.
        doubt: words that, right after a cue, make it doubt or persistence, not denial.
        clause_breaks: conjunctions that start a new clause.
        fillers: words that may stand between a cue and an emergency it negates.
        without: the cue "without", which before an article or a possessive tells of
            something the writer has ("sin la pregabalina no puedo dormir", "ohne meinen
            Schrittmacher"), not a denial ("sin marcapasos").
        determiners: those articles and possessives.
    """

    negation_cues: FrozenSet[str]
    doubt: FrozenSet[str]
    clause_breaks: FrozenSet[str]
    fillers: FrozenSet[str]
    without: FrozenSet[str] = frozenset()
    determiners: FrozenSet[str] = frozenset()


#: The languages the phrases file may list, with their negation vocabulary.
LANGUAGES: Dict[str, LanguageRules] = {
    "es": LanguageRules(
        negation_cues=_words("no nunca jamas sin ni tampoco ningun ninguna ninguno"),
        doubt=_words(
            "se sabe sabemos seguro segura seguros creo creemos pienso recuerdo idea "
            "descarto descartan estoy_segura para paro deja dejo aguanto soporto solo"
            # "sin querer", "sin darme cuenta": by accident, no denial
            " querer queriendo darme darse darte"
            # "¿no hay problema con el marcapasos?": a worry voiced, no denial
            " pasa importa afecta interfiere problema problemas peligroso peligrosa malo mala"
            " contraindicado contraindicada inconveniente"
            # "no quiero hacerlo embarazada": the cue is about the treatment
            " quiero quisiera debo deberia atrevo conviene recomiendan recomienda puedo puede pueden"
        ),
        # "sin embargo" (however) opens a clause; its "sin" denies nothing
        clause_breaks=_words(
            "pero y e o u aunque porque si cuando pues sino mientras que ademas además embargo"
        ),
        fillers=_words(
            "tengo tiene tienes tenia tenía tuve tenido he ha has hay habia había estoy "
            "esta está estado siento sentido me se le lo la el un una de del ya ningun "
            "ninguna nada nunca mas más"
        ),
        without=_words("sin"),
        determiners=_words("el la los las lo mi mis tu tus su sus"),
    ),
    "de": LanguageRules(
        # with the dialects' "net/ned" (Bavarian, Austrian), "nöd/nid" and "kei/keis" (Swiss)
        negation_cues=_words(
            "nicht kein keine keinen keinem keiner keines keinerlei nie niemals ohne weder"
            " net ned nod nid kei keis"
        ),
        doubt=_words("weiss weis sicher glaube glauben ausschliessen nur mal"),
        clause_breaks=_words(
            "aber und oder weil wenn ob obwohl sondern doch dass daß denn als seit seitdem nachdem"
        ),
        fillers=_words(
            "ich habe hab hatte hat bin war ist mich mir ein eine einen einer gar "
            "uberhaupt ueberhaupt noch mehr je jemals wirklich"
        ),
        without=_words("ohne"),
        determiners=_words("den die das meinen meine mein meiner meinem seinen seine ihren ihre"),
    ),
    "fr": LanguageRules(
        negation_cues=_words("ne n pas jamais sans aucun aucune ni"),
        doubt=_words(
            "sais sait savons sur sure surs sures pense crois exclure arrete arrête seulement que qu"
        ),
        clause_breaks=_words("mais et ou parce si quand car donc puisque lorsque"),
        fillers=_words(
            "j je ai a as avais eu suis me m de d du la le les l une un sens senti "
            "ressens ressenti jamais pas plus"
        ),
        without=_words("sans"),
        determiners=_words("le la les l mon ma mes son sa ses"),
    ),
    "it": LanguageRules(
        # "nn" is texting for "non"
        negation_cues=_words("non nn mai senza nessun nessuna nessuno nemmeno neanche neppure mica"),
        doubt=_words(
            "so sa sappiamo sicuro sicura credo penso escludo solo smette smetto"
            # "non si può fare in gravidanza?", "non è che sono incinta?": a worry, no denial
            " puo può posso possono funziona funzionano va serve devo dovrei conviene riesco riesce che"
            # "non mi passa il rossore": it lasts
            " passa passano guarisce guariscono migliora migliorano ricordo ricorda ricordavo"
        ),
        clause_breaks=_words("ma e o perché perche se quando però pero anche mentre oppure"),
        fillers=_words(
            "ho ha hai avuto sono e è mi si un una uno il lo la l di del alcun alcuna "
            "sento sentito mai piu più successo capitato stato stata avere ancora ne"
        ),
        without=_words("senza"),
        determiners=_words("il lo la i gli le l mio mia miei mie suo sua il mio la mia"),
    ),
    "pt": LanguageRules(
        negation_cues=_words("nao não nunca jamais sem nem nenhum nenhuma"),
        doubt=_words(
            "sei sabe sabemos certeza certo certa acho para paro consigo so só"
            " sabia sabiam soube sabiamos descarto excluo descartar excluir garanto ideia"
            " deixa deixou acaba acabou"
        ),
        clause_breaks=_words("mas e ou porque porquê se quando embora porem porém pois enquanto"),
        fillers=_words(
            "tenho tem tive teve tido estou esta está estava sinto senti me eu um uma "
            "o a de do da nenhum nenhuma nunca mais"
            # "não tô sentindo o peito apertado", "não houve desmaio nenhum"
            " com sentindo sentir sentido ha há houve tou to tô ta tá ando andei estive esteve"
            " fiquei ficou fico lhe te qualquer nada os as no na"
        ),
        without=_words("sem"),
        determiners=_words("o a os as meu minha meus minhas seu sua"),
    ),
}


def fold_word(word: str) -> str:
    """One word lowercase and without accents ("Grávida" -> "gravida", "ß" -> "ss")."""
    word = unicodedata.normalize("NFKC", word).lower()
    word = "".join(_SPECIAL_FOLDS.get(c, c) for c in word)
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class FoldedText:
    """A message split into words and punctuation, folded for matching.

    Attributes:
        surface: each token lowercase as typed (accents kept).
        folded: each token folded by :func:`fold_word`.
        text: the folded tokens joined by single spaces.
        offsets: where each token starts in ``text``.
    """

    surface: Tuple[str, ...]
    folded: Tuple[str, ...]
    text: str
    offsets: Tuple[int, ...]

    def token_at(self, char: int) -> int:
        """The index of the token that starts at or contains character ``char``."""
        return max(0, bisect.bisect_right(self.offsets, char) - 1)


def fold(text: str) -> FoldedText:
    """Splits and folds a message (see the module docstring).

    Args:
        text: the message, raw or normalised.

    Returns:
        The folded tokens and their joined text.
    """
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    surface = tuple(m.group(0).lower() for m in _TOKEN_RE.finditer(text))
    # Folding the joined text at once is faster; it keeps one word per token unless a
    # token folds to nothing (a lone combining mark), when each is folded apart.
    folded = tuple(fold_word(" ".join(surface)).split(" ")) if surface else ()
    if len(folded) != len(surface) or not all(folded):
        folded = tuple(fold_word(token) or token for token in surface)
    offsets: List[int] = []
    position = 0
    for token in folded:
        offsets.append(position)
        position += len(token) + 1
    return FoldedText(surface, folded, " ".join(folded), tuple(offsets))


@dataclass(frozen=True)
class MultilingualMatch:
    """One phrase found by the multilingual layer.

    Attributes:
        level: the category's level in the English patterns file.
        reason: the category.
        start: index of the first word of the match in the folded message.
        end: index after its last word.
        negated: True when a negation cue of its language cancels it.
        language: the language code of the phrase (the first, when merged).
        words: the folded words of the match.
    """

    level: str
    reason: str
    start: int
    end: int
    negated: bool
    language: str
    words: Tuple[str, ...]


class MultilingualPhrases:
    """The compiled multilingual phrases file.

    Args:
        path: the phrases file.
        category_levels: each category of the English patterns file and its level,
            in order of precedence; the file may only use these names.

    Raises:
        PatternFileError: the file is missing, not YAML, names an unknown language or
            category, or has an empty, invalid or upper-case phrase.
    """

    def __init__(self, path: Path, category_levels: Mapping[str, str]) -> None:
        self._levels = dict(category_levels)
        # (language, reason, compiled alternation of the category's phrases)
        self._patterns: List[Tuple[str, str, "re.Pattern[str]"]] = []
        self._load(path)

    @property
    def languages(self) -> List[str]:
        """The languages the file covers."""
        return sorted({language for language, _, _ in self._patterns})

    def reasons(self, language: str) -> List[str]:
        """The categories the file covers for one language."""
        return [reason for lang, reason, _ in self._patterns if lang == language]

    def _load(self, path: Path) -> None:
        data = read_yaml(path, "Multilingual risk phrases file")
        if not isinstance(data, dict) or not data:
            raise PatternFileError(f"{path} must map languages to categories")
        for language, categories in data.items():
            if language not in LANGUAGES:
                raise PatternFileError(f"{path}: unknown language '{language}' (known: {sorted(LANGUAGES)})")
            if not isinstance(categories, dict) or not categories:
                raise PatternFileError(f"{path}: language '{language}' has no categories")
            for reason, phrases in categories.items():
                if reason not in self._levels:
                    raise PatternFileError(
                        f"{path}: {language}: unknown reason '{reason}' "
                        "(not a category of the risk patterns file)"
                    )
                if not isinstance(phrases, list) or not phrases:
                    raise PatternFileError(f"{path}: {language}.{reason} has no phrases")
                compiled = [self._compile(path, language, reason, p) for p in phrases]
                pattern = r"(?<!\S)(?:" + "|".join(compiled) + r")(?!\S)"
                self._patterns.append((language, reason, re.compile(pattern)))

    @staticmethod
    def _compile(path: Path, language: str, reason: str, phrase: object) -> str:
        where = f"{path}: {language}.{reason}: phrase {phrase!r}"
        if not isinstance(phrase, str) or not phrase.strip():
            raise PatternFileError(f"{where} is empty or not a string")
        if phrase != phrase.lower():
            raise PatternFileError(f"{where} must be lowercase")
        # Fold the phrase like a message: no accents, apostrophes and hyphens are
        # spaces ("[a-z]" ranges in classes are written without hyphens' ambiguity).
        body = unicodedata.normalize("NFD", phrase.strip())
        body = "".join(c for c in body if not unicodedata.combining(c))
        body = "".join(_SPECIAL_FOLDS.get(c, c) for c in body)
        body = re.sub(r"['\u2019]", " ", body)
        body = re.sub(r"\s+", " ", body)
        try:
            compiled = re.compile(body)
        except re.error as error:
            raise PatternFileError(f"{where} is not a valid regex: {error}") from error
        if compiled.fullmatch(""):
            raise PatternFileError(f"{where} matches the empty message")
        return f"(?:{body})"

    # ----------------------------------------------------------------- matching
    def find(
        self,
        text: str,
        language_hint: str = "",
        dominant: str = "",
        languages: Optional[Collection[str]] = None,
    ) -> List[MultilingualMatch]:
        """Every phrase of every language in the message, negated or not.

        Args:
            text: the message.
            language_hint: the language the message is most likely written in
                (:func:`core.language.guess_language`).
            dominant: the language it is clearly written in, or ""
                (:func:`core.language.dominant_language`).
            languages: only these languages' phrases (None: all).

        Returns:
            The matches in order of the category precedence of the patterns file,
            then of position. Matches of several languages over the same words are
            merged: negated as the hinted language reads them when it is one of them
            (the Portuguese "no ano passado" is "in the", not the Spanish "no"), else
            only when every one of them reads a denial. In a message clearly in one
            of the languages, another's urgent phrases do not count.
        """
        folded = fold(text)
        if not folded.folded:
            return []
        verdicts: Dict[Tuple[str, int, int], Dict[str, bool]] = {}
        for language, reason, pattern in self._patterns:
            if languages is not None and language not in languages:
                continue
            for m in pattern.finditer(folded.text):
                start = folded.token_at(m.start())
                end = folded.token_at(max(m.start(), m.end() - 1)) + 1
                level = self._levels[reason]
                negated = _is_negated(folded, start, end, LANGUAGES[language], level)
                by_language = verdicts.setdefault((reason, start, end), {})
                by_language[language] = by_language.get(language, False) or negated
        found = []
        for (reason, start, end), by_language in verdicts.items():
            if dominant in LANGUAGES and dominant not in by_language and self._levels[reason] != EMERGENCY:
                # a message clearly in one language: another's urgent phrase there is a
                # false friend ("sono del cancro" is the Italian star sign, not the
                # Portuguese cancer); an emergency phrase still counts
                continue
            if language_hint in by_language:
                language, negated = language_hint, by_language[language_hint]
            else:
                language, negated = next(iter(by_language)), all(by_language.values())
            found.append(
                MultilingualMatch(
                    self._levels[reason], reason, start, end, negated, language, folded.folded[start:end]
                )
            )
        matches = _merge_overlaps(folded, found)
        order = {reason: index for index, reason in enumerate(self._levels)}
        matches.sort(key=lambda m: (order[m.reason], m.start))
        return matches


def _merge_overlaps(folded: FoldedText, matches: List[MultilingualMatch]) -> List[MultilingualMatch]:
    """Merges matches of one reason whose words overlap ("un pacemaker" / "pacemaker");
    the merged match is negated when either was."""
    matches.sort(key=lambda m: (m.reason, m.start, -m.end))
    merged: List[MultilingualMatch] = []
    for match in matches:
        last = merged[-1] if merged else None
        if last is not None and last.reason == match.reason and match.start < last.end:
            end = max(last.end, match.end)
            merged[-1] = MultilingualMatch(
                last.level,
                last.reason,
                last.start,
                end,
                last.negated or match.negated,
                last.language,
                folded.folded[last.start : end],
            )
            continue
        merged.append(match)
    return merged


def _is_negated(folded: FoldedText, start: int, end: int, rules: LanguageRules, level: str) -> bool:
    """True when a cue of the language, shortly before in the same clause, negates it."""
    if any(word in rules.negation_cues for word in folded.folded[start:end]):
        return False  # the negation is part of the phrase: "no puedo respirar"
    first = max(0, start - NEGATION_WINDOW)
    for index in range(start - 1, first - 1, -1):
        surface, word = folded.surface[index], folded.folded[index]
        if surface == "e" and index > first and folded.folded[index - 1] in rules.negation_cues:
            # "non e incinta": "è" typed without its accent right after the cue, not "and"
            continue
        if surface in CLAUSE_PUNCTUATION or surface in rules.clause_breaks:
            return False
        if word in rules.negation_cues:
            between: Sequence[str] = folded.folded[index + 1 : start]
            if word in rules.without and between and between[0] in rules.determiners:
                return False
            if any(w in rules.doubt for w in between[:2]):
                return False
            if level == EMERGENCY and any(
                w not in rules.fillers and w not in rules.negation_cues for w in between
            ):
                return False
            return True
    return False
