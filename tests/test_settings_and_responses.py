"""Clinic settings, the response generator that fills them in, and the domain's
safety replies (which must work without the action server)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from rasa.shared.core.domain import Domain

from addons.nlg import ClinicResponseGenerator
from core.safety import get_detector
from core.settings import ClinicSettings, SettingsError, get_settings, load_settings, settings_path

ROOT = Path(__file__).resolve().parent.parent
SETTING_NAMES = set(ClinicSettings.__dataclass_fields__)


@pytest.fixture(scope="module")
def rasa_domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture(scope="module")
def nlg(rasa_domain: Domain) -> ClinicResponseGenerator:
    return ClinicResponseGenerator(domain=rasa_domain)


def reasons(level: str, cautions: bool = False) -> List[str]:
    """The categories of a level that escalate, or (``cautions``) those answered with a
    caution line instead (``answer_with_caution: true``)."""
    patterns = yaml.safe_load((ROOT / "knowledge" / "risk_patterns.yml").read_text())
    return [
        name for name, spec in patterns[level].items() if bool(spec.get("answer_with_caution")) is cautions
    ]


def render(nlg: ClinicResponseGenerator, response: str, **slots: Any) -> Dict[str, Any]:
    return nlg.generate_from_slots(response, slots, "rest")


# -- settings ---------------------------------------------------------------------------


def test_shipped_settings_load() -> None:
    settings = get_settings()
    assert settings.emergency_number == "911 in the US, 112 in the EU, 999 in the UK"
    assert settings.crisis_line.startswith("988")


def test_settings_path_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "clinic.yml"
    values = {name: f"value of {name}" for name in SETTING_NAMES}
    path.write_text(yaml.safe_dump(values))
    monkeypatch.setenv("CLINIC_SETTINGS", str(path))
    assert settings_path() == path
    assert load_settings().clinic_phone == "value of clinic_phone"


@pytest.mark.parametrize("missing", sorted(SETTING_NAMES))
def test_settings_missing_a_field_fail_loudly(tmp_path: Path, missing: str) -> None:
    path = tmp_path / "clinic.yml"
    path.write_text(yaml.safe_dump({n: "x" for n in SETTING_NAMES if n != missing}))
    with pytest.raises(SettingsError, match=missing):
        load_settings(path)


def test_missing_settings_file_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "nope.yml")


# -- response generator ------------------------------------------------------------------


def test_generator_fills_clinic_settings(nlg: ClinicResponseGenerator) -> None:
    settings = get_settings()
    text = render(nlg, "utter_handoff")["text"]
    assert settings.clinic_name in text and settings.clinic_phone in text
    assert settings.booking_url in text


def test_patients_cannot_override_settings_with_a_slot(nlg: ClinicResponseGenerator) -> None:
    text = render(nlg, "utter_handoff", clinic_phone="0900 SCAM")["text"]
    assert "0900 SCAM" not in text and get_settings().clinic_phone in text


def test_every_placeholder_in_the_domain_is_a_setting(rasa_domain: Domain) -> None:
    placeholders = set(re.findall(r"{([a-z_]+)}", yaml.safe_dump(rasa_domain.responses)))
    assert placeholders <= SETTING_NAMES


@pytest.mark.parametrize("response", ["utter_greet", "utter_bot_challenge"])
def test_assistant_says_it_is_automated_and_not_a_doctor(nlg: ClinicResponseGenerator, response: str) -> None:
    text = render(nlg, response)["text"]
    assert "automated assistant" in text and "not a doctor" in text


def test_out_of_scope_declines_politely_with_topics(nlg: ClinicResponseGenerator) -> None:
    message = render(nlg, "utter_out_of_scope")
    assert "I can only help with questions about hyperhidrosis and iontophoresis" in message["text"]
    assert len(message["buttons"]) == 3


# -- safety replies ----------------------------------------------------------------------


def test_every_caution_category_has_its_line(nlg: ClinicResponseGenerator) -> None:
    from actions.faq import CAUTION_RESPONSES

    assert reasons("urgent", cautions=True) == ["child"]
    for reason in reasons("urgent", cautions=True):
        text = render(nlg, CAUTION_RESPONSES[reason])["text"]
        assert get_settings().clinic_phone in text and "not a doctor" in text
        assert "{" not in text


@pytest.mark.parametrize("reason", reasons("urgent") + ["general"])
def test_urgent_reply_for_every_reason(nlg: ClinicResponseGenerator, reason: str) -> None:
    message = render(nlg, "utter_escalate_urgent", risk_reason=reason)
    settings = get_settings()
    assert "see a healthcare professional" in message["text"]
    assert settings.clinic_phone in message["text"]
    assert message["custom"]["escalation"]["level"] == "urgent"
    assert message["custom"]["escalation"]["reason"] == reason
    assert message["custom"]["escalation"]["phone"] == settings.clinic_phone
    assert len(message["text"].split()) <= 80


@pytest.mark.parametrize("reason", reasons("emergency") + ["general"])
def test_emergency_reply_for_every_reason(nlg: ClinicResponseGenerator, reason: str) -> None:
    message = render(nlg, "utter_escalate_emergency", risk_reason=reason)
    settings = get_settings()
    assert re.search(r"call emergency services now", message["text"], re.IGNORECASE)
    assert settings.emergency_number in message["text"]
    assert message["custom"]["escalation"] == {
        "level": "emergency",
        "reason": reason,
        "phone": settings.emergency_tel,
    }


def test_self_harm_reply_gives_the_crisis_line(nlg: ClinicResponseGenerator) -> None:
    text = render(nlg, "utter_escalate_emergency", risk_reason="self_harm")["text"]
    assert get_settings().crisis_line in text


def test_every_reason_the_detector_can_give_has_its_own_wording(rasa_domain: Domain) -> None:
    detector = get_detector()
    conditioned = {
        c["value"]
        for name in ("utter_escalate_urgent", "utter_escalate_emergency")
        for variation in rasa_domain.responses[name]
        for c in variation.get("condition", [])
    }
    # a caution category never escalates: its line follows the answer instead
    assert set(detector.categories) - set(reasons("urgent", cautions=True)) == conditioned


def test_safety_replies_are_domain_responses_not_custom_actions() -> None:
    rules = yaml.safe_load((ROOT / "data" / "rules" / "escalation.yml").read_text())["rules"]
    actions = {step["action"] for rule in rules for step in rule["steps"] if "action" in step}
    assert actions == {"utter_escalate_urgent", "utter_escalate_emergency"}


def test_replies_never_give_doses_or_tell_to_stop_medication(rasa_domain: Domain) -> None:
    texts = yaml.safe_dump(rasa_domain.responses) + (ROOT / "knowledge" / "answers.yml").read_text()
    assert not re.search(r"\b\d+\s*(mA|mg|milliamps?)\b", texts)
    assert not re.search(r"\bstop (taking|your) (medication|medicine|meds)\b", texts, re.IGNORECASE)


def test_readme_lists_every_environment_variable() -> None:
    """core/settings.py's DEFAULTS and the README's Settings table agree."""
    import re

    from core.settings import DEFAULTS

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| variable | default | what it sets |") :]
    table = table[: table.index("\n\n")]
    listed = set(
        re.findall(r"`([A-Z][A-Z0-9_]+)`", "\n".join(row.split("|")[1] for row in table.splitlines()[2:]))
    )
    assert listed == set(DEFAULTS)


def test_server_settings_are_checked() -> None:
    from core.settings import ServerSettings, SettingsError

    settings = ServerSettings.from_env({"METADATA_KEYS": "page locale", "RATE_LIMIT_MESSAGES": "3"})
    assert settings.metadata_keys == frozenset({"page", "locale"}) and settings.rate_limit_messages == 3
    assert ServerSettings.from_env({}).max_message_chars == 2000
    for bad in ({"MAX_MESSAGE_CHARS": "lots"}, {"RATE_LIMIT_SECONDS": "0"}, {"ACTION_TIMEOUT": "-1"}):
        with pytest.raises(SettingsError):
            ServerSettings.from_env(bad)
