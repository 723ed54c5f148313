"""Risks and emergencies in Spanish, German, French, Italian and Portuguese
(core/safety/multilingual.py, knowledge/risk_phrases_multilingual.yml)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import pytest
import yaml

from core.safety import EMERGENCY, URGENT, PatternFileError, RiskDetector, get_detector
from core.safety.multilingual import PHRASES_PATH, fold

ROOT = Path(__file__).resolve().parent.parent
LEVEL = {
    "self_harm": EMERGENCY,
    "chest_pain": EMERGENCY,
    "breathing": EMERGENCY,
    "collapse": EMERGENCY,
    "pregnancy": URGENT,
    "implanted_device": URGENT,
    "epilepsy": URGENT,
    "heart_condition": URGENT,
}

#: language -> category -> messages that must escalate with that category.
ESCALATE: Dict[str, Dict[str, List[str]]] = {
    "es": {
        "pregnancy": [
            "Estoy embarazada, ¿puedo hacerlo?",
            "es seguro durante el embarazo?",
            "estoy amamantando a mi bebé",
        ],
        "implanted_device": ["tengo un marcapasos", "Llevo un desfibrilador implantable"],
        "chest_pain": ["tengo un dolor fuerte en el pecho", "me duele el pecho y sudo mucho"],
        "breathing": ["no puedo respirar", "me falta el aire desde hace un rato"],
        "collapse": ["me desmayé en la ducha", "mi madre perdió el conocimiento"],
        "self_harm": ["quiero morir", "a veces pienso en suicidarme", "no quiero vivir más"],
        "epilepsy": ["tengo epilepsia", "a veces tengo convulsiones"],
        "heart_condition": ["tengo una enfermedad del corazón", "me operaron, tengo arritmia"],
    },
    "de": {
        "pregnancy": ["ich bin schwanger", "geht das in der Schwangerschaft?", "ich stille noch"],
        "implanted_device": ["ich habe einen Herzschrittmacher", "mit Schrittmacher erlaubt?"],
        "chest_pain": ["ich habe starke Brustschmerzen", "Schmerzen in der Brust seit heute"],
        "breathing": ["ich bekomme keine Luft", "ich kann nicht mehr atmen", "Atemnot"],
        "collapse": ["ich bin ohnmächtig geworden", "mein Mann ist bewusstlos"],
        "self_harm": ["ich will nicht mehr leben", "ich will mich umbringen", "ich habe Selbstmordgedanken"],
        "epilepsy": ["ich habe Epilepsie", "ich hatte einen Krampfanfall"],
        "heart_condition": ["ich habe eine Herzkrankheit", "ich habe Vorhofflimmern"],
    },
    "fr": {
        "pregnancy": ["je suis enceinte", "est-ce possible pendant la grossesse ?", "j'allaite mon bébé"],
        "implanted_device": ["j'ai un stimulateur cardiaque", "je porte un pacemaker"],
        "chest_pain": ["j'ai une douleur à la poitrine", "douleur thoracique depuis ce matin"],
        "breathing": ["je n'arrive pas à respirer", "j'ai du mal à respirer"],
        "collapse": ["je me suis évanoui", "elle a perdu connaissance"],
        "self_harm": ["je veux mourir", "je veux me suicider", "j'ai des pensées suicidaires"],
        "epilepsy": ["je suis épileptique", "j'ai fait une crise d'épilepsie"],
        "heart_condition": ["j'ai une maladie du cœur", "insuffisance cardiaque"],
    },
    "it": {
        "pregnancy": ["sono incinta", "si può fare in gravidanza?", "sto allattando"],
        "implanted_device": ["ho un pacemaker", "porto un defibrillatore impiantabile"],
        "chest_pain": ["ho un forte dolore al petto", "mi fa male il petto"],
        "breathing": ["non riesco a respirare", "mi manca il respiro"],
        "collapse": ["sono svenuto", "sono svenuta al lavoro", "ha perso i sensi"],
        "self_harm": ["voglio morire", "voglio uccidermi", "non voglio più vivere"],
        "epilepsy": ["soffro di epilessia", "ho avuto delle convulsioni"],
        "heart_condition": ["ho una malattia cardiaca", "soffro di aritmia"],
    },
    "pt": {
        "pregnancy": ["estou grávida", "posso fazer na gravidez?", "estou amamentando"],
        "implanted_device": ["tenho marcapasso", "uso um marca-passo", "tenho um pacemaker"],
        "chest_pain": ["estou com dor no peito", "sinto um aperto no peito"],
        "breathing": ["não consigo respirar", "estou com falta de ar"],
        "collapse": ["desmaiei hoje de manhã", "ele perdeu os sentidos"],
        "self_harm": ["quero morrer", "quero me matar", "não quero mais viver"],
        "epilepsy": ["tenho epilepsia", "tive convulsões ontem"],
        "heart_condition": ["tenho uma doença do coração", "tenho arritmia"],
    },
}

#: Negated urgent risks, per language: they must not escalate.
NEGATED: Dict[str, List[str]] = {
    "es": [
        "no estoy embarazada",
        "no tengo marcapasos",
        "sin marcapasos, ¿funciona?",
        "nunca he tenido epilepsia",
        "no estoy embarazada ni tengo marcapasos",
    ],
    "de": [
        "ich bin nicht schwanger",
        "ich habe keinen Herzschrittmacher",
        "kein Herzschrittmacher, keine Epilepsie",
        "ich hatte nie einen Krampfanfall",
    ],
    "fr": [
        "je ne suis pas enceinte",
        "je n'ai pas de stimulateur cardiaque",
        "je n'ai jamais eu de crise d'épilepsie",
        "sans pacemaker, c'est bon ?",
    ],
    "it": [
        "non sono incinta",
        "non ho un pacemaker",
        "non ho mai avuto convulsioni",
        "senza pacemaker va bene?",
    ],
    "pt": [
        "não estou grávida",
        "não tenho marcapasso",
        "nunca tive epilepsia",
        "sem marcapasso, posso fazer?",
    ],
}

#: Foreign FAQ questions without any risk.
SAFE: Dict[str, List[str]] = {
    "es": [
        "¿cuánto cuesta la iontoforesis?",
        "¿funciona para las manos?",
        "¿me puede hacer daño?",
        "¿cuántas sesiones necesito?",
        "me quiero morir de vergüenza cuando doy la mano",
        "¿tienen aire acondicionado?",
    ],
    "de": [
        "wie funktioniert die Iontophorese?",
        "was kostet das?",
        "tut es weh?",
        "wie lange dauert eine Sitzung?",
        "hilft es auch an den Füßen?",
    ],
    "fr": [
        "est-ce que ça fait mal ?",
        "combien ça coûte ?",
        "ça marche pour les pieds ?",
        "combien de séances faut-il ?",
        "est-ce que ça peut me faire du mal ?",
    ],
    "it": [
        "quanto costa?",
        "funziona per le mani?",
        "fa male?",
        "quante sedute servono?",
        "c'è una svendita?",
    ],
    "pt": [
        "funciona para os pés?",
        "quanto custa?",
        "dói?",
        "quantas sessões preciso?",
        "a clínica fica sem ar condicionado?",
    ],
}


@pytest.fixture(scope="module")
def detector() -> RiskDetector:
    return get_detector()


def _cases() -> List[tuple]:
    return [
        (language, reason, text)
        for language, categories in ESCALATE.items()
        for reason, texts in categories.items()
        for text in texts
    ]


@pytest.mark.parametrize("language, reason, text", _cases())
def test_foreign_risks_escalate(detector: RiskDetector, language: str, reason: str, text: str) -> None:
    result = detector.assess(text)
    assert (result.level, result.reason) == (LEVEL[reason], reason)


def test_every_language_and_category_is_covered() -> None:
    for language in ("es", "de", "fr", "it", "pt"):
        assert set(ESCALATE[language]) == set(LEVEL)
        assert all(len(texts) >= 2 for texts in ESCALATE[language].values())


@pytest.mark.parametrize(
    "language, text", [(lang, text) for lang, texts in NEGATED.items() for text in texts]
)
def test_negated_foreign_risks_do_not_escalate(detector: RiskDetector, language: str, text: str) -> None:
    result = detector.assess(text)
    assert result.level is None
    assert result.negated_only


@pytest.mark.parametrize("language, text", [(lang, text) for lang, texts in SAFE.items() for text in texts])
def test_safe_foreign_questions_do_not_escalate(detector: RiskDetector, language: str, text: str) -> None:
    assert detector.assess(text).level is None


@pytest.mark.parametrize(
    "text, level",
    [
        # the negation is part of the emergency
        ("no, no puedo respirar", EMERGENCY),
        ("ich kann nicht atmen", EMERGENCY),
        ("je ne peux pas respirer", EMERGENCY),
        ("ich will nicht mehr leben", EMERGENCY),
        # a cue that negates something else does not cancel a stated emergency
        ("no aguanto el dolor en el pecho", EMERGENCY),
        # a negated emergency is not an emergency, as in English ("no chest pain")
        ("no tengo dolor en el pecho", None),
        ("ich habe keine Brustschmerzen", None),
        # doubt is not denial
        ("no sé si estoy embarazada", URGENT),
        ("non so se sono incinta", URGENT),
        ("ich weiß nicht, ob ich schwanger bin", URGENT),
        ("je ne sais pas si je suis enceinte", URGENT),
        ("não sei se estou grávida", URGENT),
        # a negation does not reach into the next clause
        ("no tengo marcapasos pero estoy embarazada", URGENT),
        ("ich bin nicht schwanger, aber ich habe einen Herzschrittmacher", URGENT),
        ("non ho un pacemaker ma sono incinta", URGENT),
        # Italian "è" (is) is not "e" (and): the negation still reaches
        ("non è incinta", None),
    ],
)
def test_foreign_negation_scope(detector: RiskDetector, text: str, level: str) -> None:
    assert detector.assess(text).level == level


@pytest.mark.parametrize(
    "text",
    [
        "estoy embarazada",
        "ESTOY EMBARAZADA",
        "estoy embarazáda",
        "estou gravida",
        "ich bin  schwanger",
        "Je suis enceinte !",
        "est\u200bou grávida",
    ],
)
def test_case_accents_and_spacing_do_not_matter(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).reason == "pregnancy"


def test_emergency_takes_precedence_in_any_language(detector: RiskDetector) -> None:
    result = detector.assess("estoy embarazada y me duele mucho el pecho")
    assert (result.level, result.reason) == (EMERGENCY, "chest_pain")
    assert result.reasons == ["chest_pain", "pregnancy"]
    languages = {f.language for f in result.findings}
    assert languages == {"es"}


def test_self_harm_outranks_other_emergencies_in_any_language(detector: RiskDetector) -> None:
    assert detector.assess("non riesco a respirare e voglio morire").reason == "self_harm"


@pytest.mark.parametrize(
    "text",
    [
        "I don't have a pacemaker",
        "I have no atrial fibrillation",
        "not suicidal, just sweaty",
        "I don't have a defibrillator",
        "no epilepsy here",
    ],
)
def test_english_negation_covers_words_shared_with_other_languages(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level is None


def test_folding() -> None:
    folded = fold("Je n'arrive PAS à respirer, l'asma! Straße cœur")
    assert folded.text == "je n arrive pas a respirer , l asma ! strasse coeur"
    assert folded.surface[4] == "à"


def test_phrases_file_starts_with_a_comment_and_uses_known_reasons(detector: RiskDetector) -> None:
    text = PHRASES_PATH.read_text(encoding="utf-8")
    assert text.startswith("#")
    data = yaml.safe_load(text)
    assert set(data) == {"es", "de", "fr", "it", "pt"}
    for categories in data.values():
        assert set(categories) <= set(detector.categories)
        assert set(LEVEL) <= set(categories)


def _write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "phrases.yml"
    path.write_text(content, encoding="utf-8")
    return path


def test_missing_phrases_file_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(PatternFileError, match="not found"):
        RiskDetector(phrases_path=tmp_path / "missing.yml")


@pytest.mark.parametrize(
    "content, message",
    [
        ("es: [\n", "not valid YAML"),
        ("[]\n", "must map languages"),
        ("xx:\n  pregnancy: [embarazada]\n", "unknown language"),
        ("es:\n  pregnant: [embarazada]\n", "unknown reason"),
        ("es:\n  pregnancy: []\n", "no phrases"),
        ("es:\n  pregnancy: ['(embarazada']\n", "not a valid regex"),
        ("es:\n  pregnancy: ['Embarazada']\n", "lowercase"),
        ("es:\n  pregnancy: ['(a)?']\n", "empty message"),
        ("es:\n  pregnancy: ['  ']\n", "empty"),
    ],
)
def test_malformed_phrases_file_fails_loudly(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(PatternFileError, match=message):
        RiskDetector(phrases_path=_write(tmp_path, content))
