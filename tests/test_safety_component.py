"""The NLU component that applies the safety layer to every message (addons/safety.py)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, cast

import pytest
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from addons.safety import GENERAL_REASON, Decision, SafetyRuleLayer, decide, get_semantic_net
from core.safety import EMERGENCY, URGENT, Assessment, Finding
from core.semantic_safety import SemanticFinding

NOTHING = Assessment(None, None)
DENIED = Assessment(None, None, (Finding(URGENT, "implanted_device", 3, 4, negated=True),))


@pytest.fixture(scope="module")
def layer() -> SafetyRuleLayer:
    return SafetyRuleLayer(SafetyRuleLayer.get_default_config())


def classified(text: str, ranking: List[tuple]) -> Message:
    """A message as the classifier and FallbackClassifier leave it."""
    message = Message(data={TEXT: text})
    name, confidence = ranking[0]
    message.set(INTENT, {"name": name, "confidence": confidence})
    message.set(INTENT_RANKING_KEY, [{"name": n, "confidence": c} for n, c in ranking])
    message.set(ENTITIES, [])
    return message


def reason_entity(message: Message) -> Optional[Dict[str, Any]]:
    found = [e for e in message.get(ENTITIES) if e["entity"] == "risk_reason"]
    return found[0] if found else None


def reason_value(message: Message) -> Any:
    """The risk_reason entity's value; fails the test if there is no such entity."""
    entity = reason_entity(message)
    assert entity is not None, message.get(ENTITIES)
    return entity["value"]


def test_rule_finding_overrides_a_confident_faq_intent(layer: SafetyRuleLayer) -> None:
    message = classified(
        "I'm pregnant, how much does it cost?", [("ask_cost", 0.97), ("ask_insurance", 0.02)]
    )
    layer.process([message])
    assert message.get(INTENT) == {"name": "report_risk", "confidence": 1.0}
    assert message.get(INTENT_RANKING_KEY)[0]["name"] == "report_risk"
    assert reason_value(message) == "pregnancy"


def test_emergency_beats_urgent_and_fallback(layer: SafetyRuleLayer) -> None:
    message = classified(
        "pregnant and my chest feels crushed", [("nlu_fallback", 0.25), ("report_risk", 0.2)]
    )
    layer.process([message])
    assert message.get(INTENT)["name"] == "report_emergency"
    assert reason_value(message) == "chest_pain"


def test_runs_even_when_the_classifier_is_unsure(layer: SafetyRuleLayer) -> None:
    message = classified("pacemker??", [("nlu_fallback", 0.25), ("greet", 0.1)])
    layer.process([message])
    assert message.get(INTENT)["name"] == "report_risk"


def test_a_denied_risk_demotes_the_classifiers_risk_intent(layer: SafetyRuleLayer) -> None:
    message = classified(
        "I don't have a pacemaker, how long is a session?",
        [("report_risk", 0.7), ("ask_session", 0.25), ("ask_cost", 0.05)],
    )
    layer.process([message])
    assert message.get(INTENT)["name"] == "ask_session"
    assert reason_entity(message) is None


def test_benign_message_is_left_alone(layer: SafetyRuleLayer) -> None:
    message = classified("how much is it", [("ask_cost", 0.9), ("ask_insurance", 0.1)])
    layer.process([message])
    assert message.get(INTENT) == {"name": "ask_cost", "confidence": 0.9}
    assert message.get(ENTITIES) == []


def test_message_without_text_is_skipped(layer: SafetyRuleLayer) -> None:
    message = Message(data={})
    assert layer.process([message]) == [message]
    assert message.get(INTENT) is None


@pytest.mark.parametrize(
    "assessment, ranking, expected",
    [
        # rule layer wins, whatever the classifier says
        (
            Assessment(EMERGENCY, "breathing"),
            [("ask_cost", 0.99)],
            Decision("report_emergency", 1.0, "breathing"),
        ),
        (Assessment(URGENT, "young_child"), [("greet", 0.99)], Decision("report_risk", 1.0, "young_child")),
        # classifier alone, confident: keep its escalation (defence in depth)
        (
            NOTHING,
            [("report_emergency", 0.9), ("ask_cost", 0.1)],
            Decision("report_emergency", 0.9, GENERAL_REASON),
        ),
        (
            NOTHING,
            [("nlu_fallback", 0.3), ("report_risk", 0.85)],
            Decision("report_risk", 0.85, GENERAL_REASON),
        ),
        # classifier alone, unsure: best ordinary intent, rescaled, or rephrase
        (
            NOTHING,
            [("report_risk", 0.5), ("ask_safety", 0.4), ("ask_cost", 0.1)],
            Decision("ask_safety", 0.8),
        ),
        (
            NOTHING,
            [("report_risk", 0.5), ("ask_safety", 0.1), ("ask_cost", 0.1)],
            Decision("nlu_fallback", 0.5),
        ),
        # the patient denied the risk the classifier reacted to
        (
            DENIED,
            [("report_risk", 0.95), ("ask_session", 0.04)],
            Decision("ask_session", cast(float, pytest.approx(0.8))),
        ),
        # the writer says it is not about them ("I'm a nurse, patients keep asking me"),
        # nothing active found: the classifier alone does not escalate
        (
            Assessment(None, None, not_about_writer=True),
            [("report_risk", 0.91), ("ask_contraindications", 0.08)],
            Decision("ask_contraindications", cast(float, pytest.approx(0.08 / 0.09))),
        ),
        # nothing risky anywhere
        (NOTHING, [("ask_cost", 0.9)], None),
        (NOTHING, [], None),
    ],
)
def test_decide(assessment: Assessment, ranking: list, expected: Optional[Decision]) -> None:
    assert decide(assessment, ranking, min_classifier_confidence=0.8) == expected


@pytest.mark.parametrize(
    "ranking, expected",
    [
        # confident: the best ordinary intent, with the caution line
        ([("report_emergency", 0.9), ("ask_cost", 0.1)], Decision("ask_cost", 1.0, caution="classifier")),
        (
            [("nlu_fallback", 0.3), ("report_risk", 0.85), ("ask_session", 0.1)],
            Decision("ask_session", cast(float, pytest.approx(0.1 / 0.15)), caution="classifier"),
        ),
        (
            [("report_risk", 0.95), ("ask_session", 0.01), ("ask_cost", 0.01)],
            Decision("nlu_fallback", 0.95, caution="classifier"),
        ),
        # unsure: the ordinary intent, and no caution
        ([("report_risk", 0.5), ("ask_safety", 0.4), ("ask_cost", 0.1)], Decision("ask_safety", 0.8)),
    ],
)
def test_without_escalating_alone_the_classifier_adds_a_caution(ranking: list, expected: Decision) -> None:
    assert decide(NOTHING, ranking, 0.8, classifier_escalates_alone=False) == expected


def test_a_confident_risk_intent_of_the_classifier_alone_answers_with_a_caution_when_so_configured() -> None:
    layer = SafetyRuleLayer({**SafetyRuleLayer.get_default_config(), "classifier_escalates_alone": False})
    message = classified(
        "I've had clammy palms since forever, what would a clinic session cost me",
        [("report_risk", 0.93), ("ask_cost", 0.05), ("ask_session", 0.02)],
    )
    layer.process([message])
    assert message.get(INTENT)["name"] == "ask_cost"
    assert [e["entity"] for e in message.get(ENTITIES)] == ["safety_caution"]


CHILD = Assessment(None, None, (Finding(URGENT, "child", 0, 2),), cautions=("child",))


@pytest.mark.parametrize(
    "ranking, expected",
    [
        # the rules explain the classifier's urgent guess: the answer, with the child line
        ([("report_risk", 0.92), ("ask_cost", 0.08)], Decision("ask_cost", 1.0, caution="child")),
        ([("report_risk", 0.5), ("ask_safety", 0.4)], Decision("ask_safety", 0.8, caution="child")),
        # an emergency the classifier is sure of is not explained by a child's age
        ([("report_emergency", 0.9), ("ask_cost", 0.1)], Decision("report_emergency", 0.9, GENERAL_REASON)),
    ],
)
def test_a_school_age_child_is_answered_with_the_child_caution(ranking: list, expected: Decision) -> None:
    assert decide(CHILD, ranking, 0.8) == expected


def test_the_layer_marks_a_school_age_child_with_the_child_caution() -> None:
    layer = SafetyRuleLayer(SafetyRuleLayer.get_default_config())
    message = classified(
        "my daughter is 12 and her hands drip at school, how much does it cost?",
        [("report_risk", 0.85), ("ask_cost", 0.1), ("ask_session", 0.05)],
    )
    layer.process([message])
    assert message.get(INTENT)["name"] == "ask_cost"
    assert [(e["entity"], e["value"]) for e in message.get(ENTITIES)] == [("safety_caution", "child")]


def test_a_preschool_child_escalates() -> None:
    layer = SafetyRuleLayer(SafetyRuleLayer.get_default_config())
    message = classified("my 4 year old's hands are always wet, how much is it?", [("ask_cost", 0.9)])
    layer.process([message])
    assert message.get(INTENT)["name"] == "report_risk"
    assert [(e["entity"], e["value"]) for e in message.get(ENTITIES)] == [("risk_reason", "young_child")]


# ---------------------------------------------------------------- the semantic safety net

NET_CHEST = SemanticFinding(EMERGENCY, "chest_pain", 0.8, 0.2)
NET_DEVICE = SemanticFinding(URGENT, "implanted_device", 0.8, 0.2)


@pytest.mark.parametrize(
    "assessment, ranking, semantic, expected",
    [
        # the rules found nothing: the net's finding escalates, whatever the classifier says
        (NOTHING, [("ask_cost", 0.99)], NET_DEVICE, Decision("report_risk", 1.0, "implanted_device")),
        (NOTHING, [("ask_session", 0.9)], NET_CHEST, Decision("report_emergency", 1.0, "chest_pain")),
        # the rules saw an urgent risk, the net an emergency: emergency
        (
            Assessment(URGENT, "secondary_signs", (Finding(URGENT, "secondary_signs", 0, 1),)),
            [("ask_cost", 0.9)],
            NET_CHEST,
            Decision("report_emergency", 1.0, "chest_pain"),
        ),
        # the rules' own urgent finding stands against an urgent net finding
        (
            Assessment(URGENT, "pregnancy", (Finding(URGENT, "pregnancy", 0, 1),)),
            [("ask_cost", 0.9)],
            NET_DEVICE,
            Decision("report_risk", 1.0, "pregnancy"),
        ),
        # the rules negated that same category: trust the negation (demoted as before)
        (
            DENIED,
            [("report_risk", 0.95), ("ask_session", 0.04)],
            NET_DEVICE,
            Decision("ask_session", cast(float, pytest.approx(0.8))),
        ),
        (DENIED, [("ask_safety", 0.9)], NET_DEVICE, None),
        # a different category was negated: the net still counts
        (DENIED, [("ask_safety", 0.9)], NET_CHEST, Decision("report_emergency", 1.0, "chest_pain")),
        # no finding: as without the net
        (NOTHING, [("ask_cost", 0.9)], None, None),
    ],
)
def test_decide_with_the_semantic_net(
    assessment: Assessment, ranking: list, semantic: Optional[SemanticFinding], expected: Optional[Decision]
) -> None:
    assert decide(assessment, ranking, 0.8, semantic) == expected


def test_one_semantic_net_per_process(layer: SafetyRuleLayer) -> None:
    other = SafetyRuleLayer(SafetyRuleLayer.get_default_config())
    assert other._net is layer._net is get_semantic_net()
    off = SafetyRuleLayer({**SafetyRuleLayer.get_default_config(), "semantic_net": False})
    assert off._net is None


def test_an_atypical_heart_attack_escalates_as_an_emergency(layer: SafetyRuleLayer) -> None:
    message = classified(
        "all at once i'm wringing wet and queasy with an ache creeping up into my jaw",
        [("ask_side_effects", 0.7), ("ask_safety", 0.2)],
    )
    layer.process([message])
    assert message.get(INTENT) == {"name": "report_emergency", "confidence": 1.0}
    assert reason_value(message) == "chest_pain"


def test_passive_suicidal_thoughts_escalate(layer: SafetyRuleLayer) -> None:
    message = classified(
        "i'm so ashamed of my sweating that i feel everyone would be happier if i disappeared",
        [("ask_effectiveness", 0.6), ("ask_how_it_works", 0.3)],
    )
    layer.process([message])
    assert message.get(INTENT)["name"] == "report_emergency"
    assert reason_value(message) == "self_harm"


@pytest.mark.parametrize(
    "text, ranking",
    [
        ("i don't have a pacemaker, how long is a session", [("ask_session", 0.9), ("report_risk", 0.05)]),
        ("does the current go all the way through your body?", [("ask_how_it_works", 0.9)]),
        ("just starting out, how long should i keep my hands in", [("ask_session", 0.9)]),
        # the risks of another treatment, asked about as an option (the net had read self-harm)
        (
            "thoughts on sympathectomy? is it too risky given the compensatory sweating?",
            [("ask_not_covered", 0.9)],
        ),
    ],
)
def test_safe_questions_stay_quiet_with_the_net(layer: SafetyRuleLayer, text: str, ranking: list) -> None:
    message = classified(text, ranking)
    layer.process([message])
    assert message.get(INTENT)["name"] not in ("report_risk", "report_emergency")
    assert reason_entity(message) is None


def test_a_denied_emergency_word_does_not_hide_an_atypical_heart_attack(layer: SafetyRuleLayer) -> None:
    message = classified(
        "no chest pain at all, but out of nowhere i'm soaked through, queasy and my jaw aches",
        [("ask_side_effects", 0.8), ("ask_safety", 0.1)],
    )
    layer.process([message])
    assert message.get(INTENT) == {"name": "report_emergency", "confidence": 1.0}
    assert reason_value(message) == "chest_pain"


def test_a_denied_risk_is_not_read_by_the_net_as_a_neighbouring_one(layer: SafetyRuleLayer) -> None:
    message = classified(
        "not diabetic and not on any tablets, is it better than my roll-on?",
        [("ask_vs_antiperspirants", 0.9), ("ask_cost", 0.05)],
    )
    layer.process([message])
    assert message.get(INTENT)["name"] == "ask_vs_antiperspirants"
    assert reason_entity(message) is None


@pytest.mark.parametrize(
    "support, expected",
    [
        # the net leans to a risk as well: the classifier's escalation stands
        (0.25, Decision("report_emergency", 0.93, GENERAL_REASON)),
        (0.1, Decision("report_emergency", 0.93, GENERAL_REASON)),
        # the net sees an ordinary question: the answer, with the caution line
        (0.03, Decision("ask_effectiveness", cast(float, pytest.approx(0.05 / 0.07)), caution="classifier")),
        (-0.2, Decision("ask_effectiveness", cast(float, pytest.approx(0.05 / 0.07)), caution="classifier")),
        # no net: the classifier's escalation stands
        (None, Decision("report_emergency", 0.93, GENERAL_REASON)),
    ],
)
def test_the_classifier_escalates_alone_only_with_the_nets_support(
    support: Optional[float], expected: Decision
) -> None:
    ranking = [("report_emergency", 0.93), ("ask_effectiveness", 0.05), ("report_risk", 0.0)]
    assert decide(NOTHING, ranking, 0.8, net_support=support, min_net_support=0.1) == expected


def test_a_long_life_story_the_classifier_calls_risky_is_answered() -> None:
    """The classifier reacts to the shape of a story; the net reads an ordinary question."""
    layer = SafetyRuleLayer(SafetyRuleLayer.get_default_config())
    message = classified(
        "Sweaty palms since primary school, ruined every exam paper, tried every roll-on and "
        "powder there is, I'm 28 now and just heard of this. Is it worth trying?",
        [("report_emergency", 0.88), ("ask_effectiveness", 0.1), ("ask_cost", 0.02)],
    )
    layer.process([message])
    assert message.get(INTENT)["name"] == "ask_effectiveness"
    assert reason_entity(message) is None
    assert [e["entity"] for e in message.get(ENTITIES)] == ["safety_caution"]


def _entities(message: Message, name: str) -> List[Any]:
    return [e["value"] for e in message.get(ENTITIES) if e["entity"] == name]


@pytest.mark.parametrize(
    "text, language, topics",
    [
        (
            "Wie läuft eine Behandlung ab und übernimmt die Krankenkasse die Kosten?",
            "de",
            ["ask_session", "ask_insurance"],
        ),
        ("¿Cuánto cuesta una sesión?", "es", ["ask_cost"]),
        ("Est-ce que je peux utiliser de l'eau distillée dans les bacs ?", "fr", ["ask_not_covered"]),
    ],
)
def test_a_safe_question_in_another_language_gets_its_topics_and_language(
    layer: SafetyRuleLayer, text: str, language: str, topics: List[str]
) -> None:
    message = classified(text, [("out_of_scope", 0.5), ("ask_cost", 0.2)])
    layer.process([message])
    assert message.get(INTENT) == {"name": topics[0], "confidence": 1.0}
    assert _entities(message, "answer_language") == [language]
    assert _entities(message, "faq_topic") == topics[1:]
    assert reason_entity(message) is None


@pytest.mark.parametrize(
    "text, intent",
    [
        ("tengo un marcapasos, ¿cuánto cuesta una sesión?", "report_risk"),
        ("Ich habe starke Brustschmerzen, was kostet das?", "report_emergency"),
    ],
)
def test_a_risk_in_another_language_escalates_before_any_answer(
    layer: SafetyRuleLayer, text: str, intent: str
) -> None:
    message = classified(text, [("ask_cost", 0.6), ("out_of_scope", 0.2)])
    layer.process([message])
    assert message.get(INTENT)["name"] == intent
    assert _entities(message, "answer_language") == [] and _entities(message, "faq_topic") == []


def test_a_foreign_message_with_no_topic_gets_the_english_only_reply(layer: SafetyRuleLayer) -> None:
    message = classified(
        "Hoy hace mucho calor en la playa, ¿verdad?", [("out_of_scope", 0.6), ("greet", 0.2)]
    )
    layer.process([message])
    assert message.get(INTENT) == {"name": "other_language", "confidence": 1.0}
    assert _entities(message, "answer_language") == []
