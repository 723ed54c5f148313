"""The safety rule layer as a Rasa NLU component.

It runs last in the NLU pipeline, on every message, whatever the classifier decided
and however confident it was. It combines the spaCy rule layer (``core.safety``) with
the classifier's own risk intents:

* the rules find a risk  -> ``report_emergency`` / ``report_risk`` with the rule's
  reason, confidence 1.0 (a message that also asks a question still escalates);
  when the rules say urgent but the classifier is confident it is an emergency,
  the emergency wins;
* the semantic safety net (``core.semantic_safety``: the message's embedding against
  risk exemplars and safe look-alikes) finds a risk the rules did not, or an emergency
  where the rules saw only an urgent risk -> the net's level and reason, confidence
  1.0; never for a category the rules found negated ("I don't have a pacemaker"
  stays quiet: an embedding barely sees the "don't");
* the classifier picked a risk intent but the message only mentions risks to deny
  them ("I don't have a pacemaker"), or the writer says the question is not about their
  own health and the rules found nothing ("not asking for me, I'm a nurse and patients
  keep asking me") -> the best non-risk intent instead;
* the classifier picked a risk intent with at least ``min_classifier_confidence`` and
  neither the rules nor the net found anything -> keep it, reason ``general`` (defence
  in depth). It learns risk from n-grams: on the looked-at held-out sets it escalated 23
  safe messages this way and caught no risk the rules or the net missed, but on a new
  blind set it caught 5 of 62 urgent messages they missed, so it stays on. With
  ``classifier_escalates_alone: false`` such a message gets its best ordinary intent
  and a ``safety_caution`` entity instead: the answer comes with a "if this is about
  your own health, check with a healthcare professional" line (``actions/faq.py``);
* a rule category that calls for a caution rather than an escalation
  (``Assessment.cautions``: a school-age child, who can have iontophoresis with the
  clinic's advice) escalates nothing, also when the classifier's urgent guess is
  confident (the rules explain it); the answer gets a ``safety_caution`` entity with
  that category as its value, and ``actions/faq.py`` adds the category's line (for
  a preschool child, ``young_child``, the rules escalate as for any urgent risk);
* otherwise, a message not written in English (``core.language``) gets
  ``other_language`` (the "English only" reply, with the emergency number); the
  classifier's own ``other_language`` guess on an English message is replaced by its
  next best intent;
* otherwise the classifier's result stands.

Risks in Spanish, German, French, Italian and Portuguese are found by the rule layer
too (``knowledge/risk_phrases_multilingual.yml``), so they escalate like English ones
before the language check.

The reason travels as a ``risk_reason`` entity, which fills the slot that selects the
escalation reply's wording. Only the level and reason are logged, never the text.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from core.faq_languages import NOT_COVERED, english_topics, find_topics, get_languages, languages_to_try
from core.language import guess_language, language_scores
from core.safety import EMERGENCY, URGENT, Assessment, RiskDetector, get_detector
from core.semantic_safety import SemanticFinding, SemanticSafetyNet, overrides_rules

logger = logging.getLogger(__name__)

RISK_INTENTS = {EMERGENCY: "report_emergency", URGENT: "report_risk"}
LEVEL_OF_INTENT = {intent: level for level, intent in RISK_INTENTS.items()}
FALLBACK_INTENT = "nlu_fallback"
OTHER_LANGUAGE_INTENT = "other_language"
REASON_ENTITY = "risk_reason"
#: The language a foreign message is answered in (core/faq_languages.py); with the
#: further topics as ``faq_topic`` entities, as for several questions in English.
LANGUAGE_ENTITY = "answer_language"
TOPIC_ENTITY = "faq_topic"
NOT_COVERED_INTENT = "ask_not_covered"
#: Set on a message the classifier alone took for a risk (see the module docstring).
CAUTION_ENTITY = "safety_caution"
GENERAL_REASON = "general"
#: The ``safety_caution`` value when only the classifier saw a risk.
CLASSIFIER_CAUTION = "classifier"
#: A demoted message keeps the next intent only when it is at least this likely
#: among the non-risk intents; otherwise the patient is asked to rephrase.
DEMOTED_MIN_CONFIDENCE = 0.3

_net_lock = threading.Lock()
_net: Optional[SemanticSafetyNet] = None


def get_semantic_net() -> SemanticSafetyNet:
    """The process-wide semantic safety net, built on first use (not at import time).

    Building it loads the sentence encoder and embeds every exemplar once; a missing or
    unverified model fails loudly (``core.embeddings.EmbeddingModelError``).
    """
    global _net
    with _net_lock:
        if _net is None:
            from core.embeddings import get_encoder

            _net = SemanticSafetyNet(get_encoder())
        return _net


def _build_checks(with_net: bool) -> Tuple[RiskDetector, Optional[SemanticSafetyNet]]:
    """The rule detector and (if asked for) the semantic net, built side by side.

    Embedding the net's exemplars runs in ONNX Runtime, which releases the GIL, while
    spaCy loads in this thread: on two cores the model is ready about a second sooner.
    An error in either is raised here, as if they had been built one after the other.
    """
    if not with_net:
        return get_detector(), None
    built: Dict[str, Any] = {}

    def build_net() -> None:
        try:
            built["net"] = get_semantic_net()
        except BaseException as error:  # re-raised in the loading thread below
            built["error"] = error

    worker = threading.Thread(target=build_net, name="semantic-net-build", daemon=True)
    worker.start()
    try:
        detector = get_detector()
    finally:
        worker.join()
    if "error" in built:
        raise built["error"]
    # Embedding the exemplars in batches and loading spaCy leave freed heap behind
    from core.onnx_graph import release_freed_memory

    release_freed_memory()
    return detector, built["net"]


@dataclass(frozen=True)
class Decision:
    """The intent (and escalation reason, if any) the safety layer settles on."""

    intent: str
    confidence: float
    reason: Optional[str] = None
    #: answer, with a caution line after it: ``"classifier"`` (the classifier alone saw a
    #: risk: the healthcare-professional line) or a rule category that calls for a
    #: caution, not an escalation (``Assessment.cautions``: "child")
    caution: Optional[str] = None


def decide(
    assessment: Assessment,
    ranking: Sequence[Tuple[str, float]],
    min_classifier_confidence: float,
    semantic: Optional[SemanticFinding] = None,
    classifier_escalates_alone: bool = True,
    net_support: Optional[float] = None,
    min_net_support: float = -1.0,
) -> Optional[Decision]:
    """Combines the rule layer's assessment, the semantic net and the classifier's ranking.

    Args:
        assessment: what the rule layer found.
        ranking: the classifier's (intent, confidence) pairs, best first.
        min_classifier_confidence: how sure the classifier must be to escalate alone.
        semantic: what the semantic safety net found, if anything.
        classifier_escalates_alone: whether a confident risk intent of the classifier
            escalates when the rules and the net found nothing.
        net_support: how far the semantic net leans to a risk
            (:func:`core.semantic_safety.support`); None when there is no net.
        min_net_support: the support the classifier needs to escalate alone: its
            n-grams react to the shape of a long story, the net to its meaning.

    Returns:
        The decision, or None to keep the classifier's result.
    """
    candidates = [(name, conf) for name, conf in ranking if name != FALLBACK_INTENT]
    override = overrides_rules(assessment, semantic)
    if override is not None:
        # A risk the rules missed, or an emergency where they saw only an urgent risk.
        return Decision(RISK_INTENTS[override.level], 1.0, override.reason)
    if assessment.level:
        if (
            assessment.level == URGENT
            and candidates
            and candidates[0][0] == RISK_INTENTS[EMERGENCY]
            and candidates[0][1] >= min_classifier_confidence
        ):
            # Emergency over urgent, whichever layer saw it.
            return Decision(RISK_INTENTS[EMERGENCY], candidates[0][1], GENERAL_REASON)
        return Decision(RISK_INTENTS[assessment.level], 1.0, assessment.reason)
    if not candidates or candidates[0][0] not in LEVEL_OF_INTENT:
        return None
    top_intent, top_confidence = candidates[0]
    alone = (
        not assessment.negated_only
        and not assessment.not_about_writer
        and top_confidence >= min_classifier_confidence
    )
    # "my son is 12, does it hurt?": the rules explain the classifier's urgent guess
    # (a school-age child); the answer comes with that category's caution line.
    explained = bool(assessment.cautions) and top_intent == RISK_INTENTS[URGENT]
    supported = net_support is None or net_support >= min_net_support
    if alone and classifier_escalates_alone and not explained and supported:
        return Decision(top_intent, top_confidence, GENERAL_REASON)
    # a school-age child's line says what the general one would, for the child (an
    # emergency guess the net does not back, "he's really down about it", included)
    caution = assessment.cautions[0] if assessment.cautions else (CLASSIFIER_CAUTION if alone else None)
    # The classifier reacted to risk words that the patient denied, is unsure, or is
    # alone in seeing a risk: take the best ordinary intent, its confidence rescaled to
    # the probability left once the risk intents are set aside, or ask to rephrase.
    risk_mass = sum(conf for name, conf in candidates if name in LEVEL_OF_INTENT)
    remaining = max(1e-9, 1.0 - risk_mass)
    for name, confidence in candidates:
        if name not in LEVEL_OF_INTENT:
            rescaled = min(1.0, confidence / remaining)
            if rescaled >= DEMOTED_MIN_CONFIDENCE:
                return Decision(name, rescaled, caution=caution)
            break
    return Decision(FALLBACK_INTENT, top_confidence, caution=caution)


def decide_language(
    decision: Optional[Decision], ranking: Sequence[Tuple[str, float]], foreign: bool
) -> Optional[Decision]:
    """The language check, for a message that does not escalate.

    Args:
        decision: what :func:`decide` settled on (None: the classifier's result).
        ranking: the classifier's (intent, confidence) pairs, best first.
        foreign: whether the message is written in another language.
    """
    if foreign:
        return Decision(OTHER_LANGUAGE_INTENT, 1.0)
    top = decision.intent if decision else (ranking[0][0] if ranking else None)
    if top != OTHER_LANGUAGE_INTENT:
        return decision
    for name, confidence in ranking:
        if name not in (OTHER_LANGUAGE_INTENT, FALLBACK_INTENT) and name not in LEVEL_OF_INTENT:
            return (
                Decision(name, confidence)
                if confidence >= DEMOTED_MIN_CONFIDENCE
                else (Decision(FALLBACK_INTENT, confidence))
            )
    return Decision(FALLBACK_INTENT, 0.0)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class SafetyRuleLayer(GraphComponent):
    """Escalates risky messages regardless of the intent classifier."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "min_classifier_confidence": 0.8,
            "semantic_net": True,
            "classifier_escalates_alone": True,
            "classifier_min_net_support": 0.1,
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._min_confidence = float(config["min_classifier_confidence"])
        self._classifier_alone = bool(config["classifier_escalates_alone"])
        self._min_net_support = float(config["classifier_min_net_support"])
        # Built when the model loads, so the first patient doesn't wait for spaCy or
        # the sentence encoder; one net per process, shared by every instance.
        self._detector, self._net = _build_checks(bool(config.get("semantic_net", True)))
        # topic key -> intent, for the answers in other languages (core/faq_languages.py)
        self._intents: Dict[str, str] = {**english_topics(), NOT_COVERED: NOT_COVERED_INTENT}
        get_languages()  # a broken file stops the model from loading, not a patient's turn

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "SafetyRuleLayer":
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._process_one(message)
        return messages

    def _set_entity(self, message: Message, name: str, value: str) -> None:
        """Sets the message's one ``name`` entity (over the whole text) to ``value``."""
        entities = [e for e in (message.get(ENTITIES) or []) if e.get("entity") != name]
        entities.append(
            {
                "entity": name,
                "value": value,
                "start": 0,
                "end": len(message.get(TEXT) or ""),
                "confidence_entity": 1.0,
                "extractor": self.__class__.__name__,
            }
        )
        message.set(ENTITIES, entities, add_to_output=True)

    def _process_one(self, message: Message) -> None:
        text = message.get(TEXT)
        if not text:
            return
        assessment = self._detector.assess(text)
        semantic, net_support = self._net.read_beside_rules(text, assessment) if self._net else (None, None)
        ranking = [
            (entry.get("name"), float(entry.get("confidence") or 0.0))
            for entry in (message.get(INTENT_RANKING_KEY) or [])
        ]
        if not ranking and message.get(INTENT):
            intent = message.get(INTENT)
            ranking = [(intent.get("name"), float(intent.get("confidence") or 0.0))]
        decision = decide(
            assessment,
            ranking,
            self._min_confidence,
            semantic,
            self._classifier_alone,
            net_support,
            self._min_net_support,
        )
        answer: Tuple[str, List[str]] = ("", [])
        if decision is None or decision.intent not in LEVEL_OF_INTENT:
            scores = language_scores(text)
            guess = guess_language(text, scores)
            foreign = guess != "en"
            if foreign and guess != "other":
                answer = find_topics(text, languages_to_try(scores, guess))
            if answer[1]:
                caution = decision.caution if decision else None
                decision = Decision(self._intents.get(answer[1][0], NOT_COVERED_INTENT), 1.0, caution=caution)
            else:
                decision = decide_language(decision, ranking, foreign)
        caution = decision.caution if decision else None
        if (
            caution is None
            and assessment.cautions
            and (decision is None or decision.intent not in LEVEL_OF_INTENT)
        ):
            caution = assessment.cautions[0]
        if caution:
            self._set_entity(message, CAUTION_ENTITY, caution)
            logger.info("Caution: %s; answering with its caution line", caution)
        if decision is None:
            return
        message.set(INTENT, {"name": decision.intent, "confidence": decision.confidence}, add_to_output=True)
        rest = [e for e in (message.get(INTENT_RANKING_KEY) or []) if e.get("name") != decision.intent]
        message.set(
            INTENT_RANKING_KEY,
            [{"name": decision.intent, "confidence": decision.confidence}] + rest,
            add_to_output=True,
        )
        if decision.reason:
            self._set_entity(message, REASON_ENTITY, decision.reason)
            logger.info("Escalating: intent=%s reason=%s", decision.intent, decision.reason)
        language, topics = answer
        if topics:
            self._set_entity(message, LANGUAGE_ENTITY, language)
            entities = [e for e in (message.get(ENTITIES) or []) if e.get("entity") != TOPIC_ENTITY]
            end = len(text)
            for topic in topics[1:]:
                entities.append(
                    {
                        "entity": TOPIC_ENTITY,
                        "value": self._intents.get(topic, NOT_COVERED_INTENT),
                        "start": 0,
                        "end": end,
                        "confidence_entity": 1.0,
                        "extractor": self.__class__.__name__,
                    }
                )
            message.set(ENTITIES, entities, add_to_output=True)
            logger.info("Answering in %s: %d topic(s)", language, len(topics))
