"""Risks and emergencies in Spanish, German, French, Italian and Portuguese
(core/safety/multilingual.py, knowledge/risk_phrases_multilingual.yml)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, cast

import pytest
import yaml

from core.safety import EMERGENCY, URGENT, PatternFileError, RiskDetector, get_detector
from core.safety.multilingual import PHRASES_PATH, fold
from core.semantic_safety import category_levels

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


# ----------------------------------------------------- every category, per language
#: tests/multilingual/<lang>.yml: written per language by a native-level writer, in
#: patients' registers (typos, no accents): ``escalate`` (category -> messages that must
#: escalate with it), ``negated`` (a risk mentioned only to deny it) and ``safe`` (FAQ
#: questions, with look-alikes of the phrases).
CASES_DIR = ROOT / "tests" / "multilingual"
#: Categories not expected in every language: a school-age child and feeling unwell are
#: left to the classifier and the English rules.
NOT_PER_LANGUAGE = {"child", "feeling_unwell"}
LEVEL_OF = category_levels()


def _language_cases() -> Dict[str, Dict[str, object]]:
    paths = sorted(CASES_DIR.glob("*.yml"))
    return {path.stem: yaml.safe_load(path.read_text(encoding="utf-8")) for path in paths}


LANGUAGE_CASES = _language_cases()


def test_every_language_has_cases_for_every_category(detector: RiskDetector) -> None:
    assert set(LANGUAGE_CASES) == {"es", "de", "fr", "it", "pt"}
    expected = set(detector.categories) - NOT_PER_LANGUAGE
    for language, cases in LANGUAGE_CASES.items():
        escalate = cast(Dict[str, List[str]], cases["escalate"])
        assert set(escalate) == expected, language
        assert all(len(texts) >= 3 for texts in escalate.values()), language
        assert len(cast(List[str], cases["negated"])) >= 8, language
        assert len(cast(List[str], cases["safe"])) >= 15, language


@pytest.mark.parametrize(
    "language, reason, text",
    [
        (language, reason, text)
        for language, cases in LANGUAGE_CASES.items()
        for reason, texts in cast(Dict[str, List[str]], cases["escalate"]).items()
        for text in texts
    ],
)
def test_each_category_escalates_in_each_language(
    detector: RiskDetector, language: str, reason: str, text: str
) -> None:
    result = detector.assess(text)
    # the category is found; a more severe one found beside it may name the reply
    assert reason in result.reasons, (language, result.reasons)
    assert result.level in (EMERGENCY, URGENT)
    if LEVEL_OF[reason] == EMERGENCY:
        assert result.level == EMERGENCY


@pytest.mark.parametrize(
    "language, kind, text",
    [
        (language, kind, text)
        for language, cases in LANGUAGE_CASES.items()
        for kind in ("negated", "safe")
        for text in cast(List[str], cases[kind])
    ],
)
def test_denied_and_safe_messages_do_not_escalate_in_each_language(
    detector: RiskDetector, language: str, kind: str, text: str
) -> None:
    assert detector.assess(text).level is None


@pytest.mark.parametrize(
    "text",
    [
        # the English rules read a word of another language as English: not any more
        "¿por la mañana o por la noche?",  # "mañana" was cut into "ma" (milliamps)
        "¿hay algo mas barato?",  # the lemma of "mas" is "ma"
        "¿tiene efectos secundarios graves?",  # not Graves' disease
        "pilas de litio",  # batteries, not "pills"
        "ho i calli sui piedi",  # "sui" is "on the", not slang for suicide
        "prego, quanto costa?",  # "you're welcome"
        "funziona anche sui piedi?",
        "ma quanto costa?",
        "sono del cancro e sudo tanto",  # the star sign
        "suo desde criança, desde a creche",
    ],
)
def test_words_of_other_languages_are_not_read_as_english_risks(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level is None


@pytest.mark.parametrize(
    "text, reason",
    [
        ("I have graves disease", "secondary_signs"),
        ("im preggo is it ok", "pregnancy"),
        ("ich habe einen ICD, geht das?", "implanted_device"),
        ("what ma should i use for my son", "medication"),
    ],
)
def test_the_english_words_still_count(detector: RiskDetector, text: str, reason: str) -> None:
    assert detector.assess(text).reason == reason


@pytest.mark.parametrize(
    "text, level",
    [
        # a merged match is negated as the message's language reads it, each match by
        # its own language's rules
        ("não estou grávida nem a amamentar", None),
        ("no verão passado tive uma arritmia e agora suo muito", URGENT),
        # "sin embargo" (however) denies nothing; "non e" is "non è"
        ("sin embargo tengo marcapasos", URGENT),
        ("non e incinta", None),
        ("nn sono incinta", None),
        ("non si può fare in gravidanza?", URGENT),
        ("não tô sentindo o peito apertado", None),
    ],
)
def test_negation_per_language(detector: RiskDetector, text: str, level: Optional[str]) -> None:
    assert detector.assess(text).level == level


@pytest.mark.parametrize(
    "text, level, reason",
    [
        # a stroke in the past is a condition to check, in every language
        ("tuve un ictus hace 2 años, ¿puedo usarlo?", URGENT, "vascular"),
        ("Minha mãe teve um AVC há 2 anos, pode fazer?", URGENT, "vascular"),
        ("hatte vor zwei Jahren einen Schlaganfall, geht das?", URGENT, "vascular"),
        ("Er hat einen Schlaganfall vor fünf Jahren gehabt", URGENT, "vascular"),
        # idioms that read like a stroke's signs
        ("Se me cayó la cara de vergüenza cuando me dio la mano", None, None),
        ("No me salen las palabras cuando hablo en público por el sudor", None, None),
        ("Meine Mundwinkel hängen, wenn ich traurig bin", None, None),
        ("Ich sehe doppelt so viele Schweißflecken", None, None),
        ("J'ai failli faire un AVC en voyant le prix", None, None),
    ],
)
def test_past_strokes_and_idioms(
    detector: RiskDetector, text: str, level: Optional[str], reason: Optional[str]
) -> None:
    result = detector.assess(text)
    assert (result.level, result.reason) == (level, reason)


@pytest.mark.parametrize(
    "text, reason",
    [
        # misspelt loanwords are still corrected in another language
        ("tengo un pacemker y sudo mucho de las manos", "implanted_device"),
        ("Ich habe einen Pacemakr, geht das?", "implanted_device"),
        # English slang and abbreviations in another language
        ("llevamos 8 meses ttc, puedo hacer iontoforesis?", "pregnancy"),
        ("Tengo el IUD de cobre, puedo hacer iontoforesis?", "metal_implant"),
        # a medicine by its name, in any language
        ("Tomo Xanax para la ansiedad, puedo usar la maquina?", "medication"),
        ("Ich nehme Sintrom, ist die Behandlung sicher?", "medication"),
        ("Je prends du Wellbutrin, c'est dangereux?", "medication"),
        ("I'm on Marcumar, is iontophoresis ok?", "medication"),
        # the English "no" is the Portuguese "in the"
        ("Como tenho no peito um pacemaker, que cuidados?", "implanted_device"),
        # "without my X" tells of the writer's own X, "without X" denies it
        ("Sin la pregabalina no puedo ni dormir, puedo hacer iontoforesis?", "medication"),
        ("Senza lo Xanax non dormo, posso fare la ionoforesi?", "medication"),
        ("Sans mon Xanax je ne dors pas, est-ce que l'ionophorèse est possible?", "medication"),
        ("Sem a sertralina fico muito mal, posso fazer iontoforese?", "medication"),
    ],
)
def test_loanwords_slang_and_medicines_across_languages(
    detector: RiskDetector, text: str, reason: str
) -> None:
    assert reason in detector.assess(text).reasons


def test_a_long_message_is_still_read_in_its_own_language(detector: RiskDetector) -> None:
    """A long message is read only in the languages it has words of: its own still counts."""
    story = (
        "Hola, desde hace muchos años me sudan las manos y los pies, en el trabajo tengo que "
        "secarme todo el rato y ya no sé qué hacer. Mi médico me habló de la iontoforesis. "
    )
    assert len(story) >= 160
    assert detector.assess(story + "Estoy embarazada de tres meses, ¿puedo hacerlo?").reason == "pregnancy"
    english = (
        "I have had sweaty hands since school and tried every antiperspirant going, clinical "
        "strength, powders and wipes, and nothing really helped for more than an hour or two. "
    )
    assert detector.assess(english + "I'm on Sintrom for my heart, can I still try it?").level == URGENT
    assert detector.assess(english + "How long does a session take?").level is None
