"""The NLU component that applies the safety layer to every message (addons/safety.py)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, cast

import pytest
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from addons.safety import GENERAL_REASON, Decision, SafetyRuleLayer, decide
from core.safety import EMERGENCY, URGENT, Assessment, Finding

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
        (Assessment(URGENT, "child"), [("greet", 0.99)], Decision("report_risk", 1.0, "child")),
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
        # nothing risky anywhere
        (NOTHING, [("ask_cost", 0.9)], None),
        (NOTHING, [], None),
    ],
)
def test_decide(assessment: Assessment, ranking: list, expected: Optional[Decision]) -> None:
    assert decide(assessment, ranking, min_classifier_confidence=0.8) == expected
