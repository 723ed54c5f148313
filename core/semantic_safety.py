"""Semantic safety net: risks told in words the rule layer has no pattern for.

The rule layer (:mod:`core.safety`) finds risks by their words. Patients often describe
an emergency without those words (a heart attack as "drenched out of nowhere, sick, an
ache between my shoulder blades"; suicidal thoughts as "everyone would be better off
without me" said some other way). This net compares a message's sentence embedding
(all-MiniLM-L6-v2, :mod:`core.embeddings`) with first-person exemplars of each risk
category and with safe look-alikes, all in ``knowledge/risk_exemplars.yml``.

How :meth:`SemanticSafetyNet.check` decides:

* ``score(category)`` is the **maximum** cosine between the message and the category's
  exemplars. Each category's exemplars cover different registers and presentations
  (an atypical heart attack has little in common, as a sentence, with "crushing chest
  pain"), so a message usually resembles one or two of them closely and the rest not at
  all; a mean of the top k would dilute exactly the close match the net is there for.
  The margin against the safe look-alikes is what guards against a single lucky match.
* ``safe`` is the maximum cosine to the safe look-alikes.
* A category is a candidate when ``score >= threshold`` (per category if the file gives
  one, else per level) and ``score - safe >= margin`` (per level, or one for both).
  The most severe candidate wins (emergency over urgent, as in the rule layer), then
  the highest score.
* A message of several sentences is also checked sentence by sentence (when the file's
  calibration says ``per_sentence: true``): mean pooling over a long message dilutes
  one alarming sentence among ordinary questions.

The level of each category is the section it sits in in ``knowledge/risk_patterns.yml``
(read here as plain YAML: no spaCy). Thresholds and the margin are data, chosen with
``scripts/calibrate_semantic_safety.py``.

Framework-free: the encoder is anything with ``encode(texts) -> np.ndarray`` returning
L2-normalised rows (:class:`Encoder`), so tests can pass a fake one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Collection,
    Dict,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Set,
    Tuple,
    Union,
)

import numpy as np
import yaml

if TYPE_CHECKING:
    from core.safety import Assessment

ROOT = Path(__file__).resolve().parent.parent
EXEMPLARS_PATH = ROOT / "knowledge" / "risk_exemplars.yml"
PATTERNS_PATH = ROOT / "knowledge" / "risk_patterns.yml"

EMERGENCY = "emergency"
URGENT = "urgent"
#: Escalation levels, most severe first (the sections of risk_patterns.yml).
LEVELS = (EMERGENCY, URGENT)
SAFE = "safe"

#: Characters of a message that are embedded (the encoder truncates at 128 tokens anyway).
MAX_CHECKED_CHARS = 2000
#: At most this many sentences of one message are checked on their own.
MAX_SENTENCES = 12
#: A sentence shorter than this (in characters) is not checked on its own: too little
#: text to mean anything ("ok.", "hi!"); it still counts as part of the whole message.
MIN_SENTENCE_CHARS = 12

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")

TextOrVector = Union[str, np.ndarray]


class ExemplarFileError(ValueError):
    """The exemplars file is missing, malformed or names an unknown category."""


class Encoder(Protocol):
    """What the net needs from a sentence encoder (core.embeddings.SentenceEncoder)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:  # n x d, rows L2-normalised
        ...


@dataclass(frozen=True)
class SemanticFinding:
    """A risk the net found.

    Attributes:
        level: ``"emergency"`` or ``"urgent"``.
        reason: the category name (a category of risk_patterns.yml).
        score: the cosine to the category's closest exemplar.
        margin: how far ``score`` beats the closest safe look-alike.
    """

    level: str
    reason: str
    score: float
    margin: float


@dataclass(frozen=True)
class Calibration:
    """Thresholds and margin (the ``calibration:`` section of the exemplars file)."""

    thresholds: Mapping[str, float]
    margins: Mapping[str, float]
    category_thresholds: Mapping[str, float] = field(default_factory=dict)
    per_sentence: bool = True

    def threshold(self, reason: str, level: str) -> float:
        return float(self.category_thresholds.get(reason, self.thresholds[level]))

    def margin(self, level: str) -> float:
        return float(self.margins[level])


@dataclass(frozen=True)
class Scores:
    """The similarities of one text: per category and to the safe look-alikes."""

    categories: Mapping[str, float]
    safe: float


@dataclass(frozen=True)
class Exemplars:
    """The validated content of the exemplars file."""

    categories: Mapping[str, Tuple[str, ...]]
    safe: Tuple[str, ...]
    levels: Mapping[str, str]
    calibration: Calibration


# --------------------------------------------------------------------------- loading


def _read_yaml(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ExemplarFileError(f"{what} {path} does not exist")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ExemplarFileError(f"{what} {path} is not valid YAML: {error}") from error


def category_levels(patterns_path: Path = PATTERNS_PATH) -> Dict[str, str]:
    """Category name -> level, from the sections of risk_patterns.yml."""
    data = _read_yaml(patterns_path, "Risk patterns file")
    if not isinstance(data, dict):
        raise ExemplarFileError(f"{patterns_path} is not a mapping")
    levels: Dict[str, str] = {}
    for level in LEVELS:
        section = data.get(level)
        if not isinstance(section, dict) or not section:
            raise ExemplarFileError(f"{patterns_path} has no '{level}' categories")
        for reason in section:
            levels[str(reason)] = level
    return levels


def _texts(value: Any, where: str) -> Tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ExemplarFileError(f"{where} must be a non-empty list of messages")
    texts = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ExemplarFileError(f"{where}[{index}] must be a non-empty string, got {item!r}")
        texts.append(item.strip())
    return tuple(texts)


def _probability(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ExemplarFileError(f"{where} must be a number between 0 and 1, got {value!r}")
    return float(value)


def _calibration(value: Any, path: Path, levels: Mapping[str, str]) -> Calibration:
    if not isinstance(value, dict):
        raise ExemplarFileError(f"{path}: 'calibration' must be a mapping with thresholds and margin")
    thresholds = value.get("thresholds")
    if not isinstance(thresholds, dict) or set(thresholds) != set(LEVELS):
        raise ExemplarFileError(f"{path}: calibration.thresholds must give exactly {LEVELS}")
    per_category = value.get("category_thresholds") or {}
    if not isinstance(per_category, dict):
        raise ExemplarFileError(f"{path}: calibration.category_thresholds must be a mapping")
    unknown = sorted(set(per_category) - set(levels))
    if unknown:
        raise ExemplarFileError(f"{path}: calibration.category_thresholds names unknown categories {unknown}")
    if "margin" not in value:
        raise ExemplarFileError(f"{path}: calibration.margin is missing")
    margin = value["margin"]
    if not isinstance(margin, dict):
        margin = {level: margin for level in LEVELS}
    if set(margin) != set(LEVELS):
        raise ExemplarFileError(f"{path}: calibration.margin must be a number or give exactly {LEVELS}")
    for level, number in margin.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not -1.0 <= number <= 1.0:
            raise ExemplarFileError(
                f"{path}: calibration.margin.{level} must be a number in [-1, 1], got {number!r}"
            )
    per_sentence = value.get("per_sentence", True)
    if not isinstance(per_sentence, bool):
        raise ExemplarFileError(f"{path}: calibration.per_sentence must be true or false")
    return Calibration(
        thresholds={lvl: _probability(thresholds[lvl], f"calibration.thresholds.{lvl}") for lvl in LEVELS},
        margins={level: float(margin[level]) for level in LEVELS},
        category_thresholds={
            str(k): _probability(v, f"calibration.category_thresholds.{k}") for k, v in per_category.items()
        },
        per_sentence=per_sentence,
    )


def load_exemplars(path: Path = EXEMPLARS_PATH, patterns_path: Path = PATTERNS_PATH) -> Exemplars:
    """Loads and validates the exemplars file.

    Raises:
        ExemplarFileError: the file is missing or not YAML; a section is missing; a
            category is not one of risk_patterns.yml; a list is empty or holds a
            non-string; the calibration is incomplete or out of range.
    """
    levels = category_levels(patterns_path)
    data = _read_yaml(path, "Exemplars file")
    if not isinstance(data, dict):
        raise ExemplarFileError(f"{path} must be a mapping with calibration, categories and safe")
    for section in ("calibration", "categories", SAFE):
        if section not in data:
            raise ExemplarFileError(f"{path} has no '{section}' section")
    raw = data["categories"]
    if not isinstance(raw, dict) or not raw:
        raise ExemplarFileError(f"{path}: 'categories' must map category names to exemplar lists")
    unknown = sorted(str(name) for name in raw if name not in levels)
    if unknown:
        raise ExemplarFileError(
            f"{path}: unknown categories {unknown}; the categories are those of {patterns_path.name}: "
            f"{sorted(levels)}"
        )
    categories = {str(name): _texts(texts, f"{path}: categories.{name}") for name, texts in raw.items()}
    safe = _texts(data[SAFE], f"{path}: safe")
    return Exemplars(
        categories=categories,
        safe=safe,
        levels={name: levels[name] for name in categories},
        calibration=_calibration(data["calibration"], path, levels),
    )


# --------------------------------------------------------------------------- the net


def sentences(text: str) -> List[str]:
    """The sentences of a message worth checking on their own (at most MAX_SENTENCES)."""
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    return [p for p in parts if len(p) >= MIN_SENTENCE_CHARS][:MAX_SENTENCES]


class SemanticSafetyNet:
    """Compares messages with risk exemplars and safe look-alikes.

    Building one embeds every exemplar once (one batched call to the encoder); share
    one instance per process.

    Args:
        encoder: has ``encode(texts) -> np.ndarray`` (n x d, L2-normalised rows).
        exemplars_path: the exemplars file (``knowledge/risk_exemplars.yml``).
        patterns_path: the rule layer's patterns, for the category names and levels.
        calibration: overrides the file's calibration (the calibration script's grid).
    """

    def __init__(
        self,
        encoder: Encoder,
        exemplars_path: Path = EXEMPLARS_PATH,
        patterns_path: Path = PATTERNS_PATH,
        calibration: Optional[Calibration] = None,
    ) -> None:
        self._encoder = encoder
        self.exemplars = load_exemplars(Path(exemplars_path), Path(patterns_path))
        self.calibration = calibration or self.exemplars.calibration
        self.reasons: Tuple[str, ...] = tuple(self.exemplars.categories)
        texts: List[str] = []
        owner: List[int] = []
        for index, reason in enumerate(self.reasons):
            texts.extend(self.exemplars.categories[reason])
            owner.extend([index] * len(self.exemplars.categories[reason]))
        n_risk = len(texts)
        texts.extend(self.exemplars.safe)
        vectors = self._encode(texts)
        self._risk = vectors[:n_risk]
        self._safe = vectors[n_risk:]
        self._owner = np.asarray(owner, dtype=np.int64)

    @property
    def levels(self) -> Mapping[str, str]:
        return self.exemplars.levels

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.asarray(self._encoder.encode(list(texts)), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(f"the encoder returned shape {vectors.shape} for {len(texts)} texts")
        return vectors

    def _vectors(self, text_or_vector: TextOrVector) -> np.ndarray:
        """The vectors to check for one message: the whole text, then its sentences."""
        if isinstance(text_or_vector, np.ndarray):
            vector = np.asarray(text_or_vector, dtype=np.float32)
            return vector.reshape(1, -1) if vector.ndim == 1 else vector
        text = (text_or_vector or "").strip()[:MAX_CHECKED_CHARS]
        if not text:
            return np.zeros((0, self._risk.shape[1]), dtype=np.float32)
        units = [text]
        if self.calibration.per_sentence:
            parts = sentences(text)
            if len(parts) > 1:
                units.extend(parts)
        return self._encode(units)

    def scores_of_vectors(self, vectors: np.ndarray) -> List[Scores]:
        """Per category max cosine and the safe max cosine, for each row of ``vectors``."""
        if vectors.shape[0] == 0:
            return []
        risk = vectors @ self._risk.T  # (m, n_risk)
        safe = (vectors @ self._safe.T).max(axis=1)
        per_category = np.full((vectors.shape[0], len(self.reasons)), -1.0, dtype=np.float32)
        for index in range(len(self.reasons)):
            per_category[:, index] = risk[:, self._owner == index].max(axis=1)
        return [
            Scores({reason: float(row[i]) for i, reason in enumerate(self.reasons)}, float(safe_max))
            for row, safe_max in zip(per_category, safe, strict=True)
        ]

    def scores(self, text_or_vector: TextOrVector) -> List[Scores]:
        """The scores of the whole message, then of each of its sentences."""
        return self.scores_of_vectors(self._vectors(text_or_vector))

    def decide(
        self,
        units: Sequence[Scores],
        calibration: Optional[Calibration] = None,
        exclude: Collection[str] = (),
    ) -> Optional[SemanticFinding]:
        """The finding for already computed scores (the calibration grid reuses them).

        Args:
            units: the scores of the whole message and of its sentences.
            calibration: instead of the net's own.
            exclude: categories not to report (those the rule layer negated).
        """
        calibration = calibration or self.calibration
        best: Optional[SemanticFinding] = None
        for unit in units:
            for reason, score in unit.categories.items():
                if reason in exclude:
                    continue
                level = self.levels[reason]
                margin = score - unit.safe
                if score < calibration.threshold(reason, level) or margin < calibration.margin(level):
                    continue
                candidate = SemanticFinding(level, reason, round(score, 4), round(margin, 4))
                if best is None or _rank(candidate) > _rank(best):
                    best = candidate
        return best

    def check(self, text_or_vector: TextOrVector, exclude: Collection[str] = ()) -> Optional[SemanticFinding]:
        """The risk the message reveals, or None.

        Args:
            text_or_vector: the message, or its embedding (one vector, or the rows of
                the whole message and its sentences).
            exclude: categories not to report (those the rule layer negated).
        """
        return self.decide(self.scores(text_or_vector), exclude=exclude)

    def check_beside_rules(self, text: str, assessment: "Assessment") -> Optional[SemanticFinding]:
        """The risk the message reveals, read as the safety layer reads it beside the rules:
        the message without its denied mentions (:func:`checked_text`), no urgent category
        the rules found denied (:func:`excluded_reasons`)."""
        return self.read_beside_rules(text, assessment)[0]

    def read_beside_rules(
        self, text: str, assessment: "Assessment"
    ) -> Tuple[Optional[SemanticFinding], float]:
        """:meth:`check_beside_rules` and :func:`support` from one encoding of the message."""
        exclude = excluded_reasons(assessment, self.levels)
        units = self.scores(checked_text(text, assessment))
        return self.decide(units, exclude=exclude), support(units, exclude)


def support(units: Sequence[Scores], exclude: Collection[str] = ()) -> float:
    """How far the message leans to a risk at all: the best margin of any category over
    the safe look-alikes, in the whole message or one of its sentences (-1.0 without
    scores). Used where another layer (the classifier) proposes an escalation alone."""
    margins = [
        score - unit.safe
        for unit in units
        for reason, score in unit.categories.items()
        if reason not in exclude
    ]
    return max(margins, default=-1.0)


def _rank(finding: SemanticFinding) -> Tuple[int, float]:
    return (len(LEVELS) - LEVELS.index(finding.level), finding.score)


def negated_reasons(assessment: "Assessment") -> Set[str]:
    """The categories the rule layer found only negated in the message."""
    return {f.reason for f in assessment.findings if f.negated} - set(assessment.reasons)


def checked_text(text: str, assessment: "Assessment") -> str:
    """What the net reads: the message without its denied mentions, if it has any."""
    return assessment.undenied_text or text


def excluded_reasons(assessment: "Assessment", levels: Mapping[str, str]) -> Set[str]:
    """The categories the net must not report: the urgent ones the rules found denied
    ("no pacemaker"). A denied emergency category stays: "no chest pain, but soaked, sick,
    my jaw aching" is read without the denial and is still an atypical heart attack."""
    return {reason for reason in negated_reasons(assessment) if levels.get(reason) != EMERGENCY}


def overrides_rules(
    assessment: "Assessment", finding: Optional[SemanticFinding]
) -> Optional[SemanticFinding]:
    """The net's finding, if it should decide instead of the rule layer's assessment.

    It does when the rules found no active risk, or only an urgent one while the net
    found an emergency (an atypical heart attack reads to the rules as "sudden" sweating
    and nausea: urgent); and never when the rules negated that same urgent category
    ("I don't have a pacemaker" stays quiet: an embedding barely sees the "don't"). A
    denied emergency category may still be found in what the message says besides the
    denial (the net reads ``Assessment.undenied_text``): "no chest pain, but drenched,
    sick, my left arm heavy".

    Args:
        assessment: the rule layer's :class:`core.safety.Assessment`.
        finding: what :meth:`SemanticSafetyNet.check` returned.
    """
    if finding is None or (finding.level != EMERGENCY and finding.reason in negated_reasons(assessment)):
        return None
    if assessment.level is None or (assessment.level == URGENT and finding.level == EMERGENCY):
        return finding
    return None
