"""Recognises messages that are not in English (the assistant only speaks English).

Pure Python, no Rasa types, no external library. Deliberately cautious, because a
false "English only" reply is much worse than a miss (the safety layer checks risks
in Spanish, German, French, Italian and Portuguese either way):

* a message whose letters are mostly in another script (Cyrillic, Greek, CJK,
  Arabic...) is not English;
* otherwise each of Spanish, German, French, Italian, Portuguese and Dutch gets one
  point per *distinct* word of its own that is not an English word (function words
  such as "ich", "estoy", "je", "sono", "não", and words a patient would use:
  "cuesta", "schwanger", "enceinte", "grazie"), one point per distinct word with
  letters typical of it ("ñ", "ß", "ã"...), and Spanish one for "¿" or "¡";
* the message is another language when one language has at least
  :data:`MIN_EVIDENCE` points and more than twice as many as there are distinct
  English words in the message that are not also words of that language.

So "ich bin schwanger" is German, while "hola", "merci", "Botox", a place name
("Los Angeles") or one foreign word in an English sentence stay English.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Dict, FrozenSet, List, Mapping, Optional, Set

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

#: How many points a language needs before a message counts as written in it.
MIN_EVIDENCE = 2

#: Common English words (function words and words of this assistant's domain).
ENGLISH: FrozenSet[str] = frozenset(
    """
    i you he she it we they me my your our their his her its him them us mine yours
    is are am was were be been being have has had do does did done the a an and or but
    if of to in on at for with from by about as into over under after before than then
    what how when where why who whom which whose can could will would should shall may
    might must this that these those not no yes yeah yep ok okay hi hello hey thanks
    thank please pls sorry im ive dont cant wont isnt its there here so very much many
    more most some any all just only also too again still even really quite well good
    bad new old get got make made take use used work works need want like know think
    say said tell see look go going come help ask try one two three first last time
    times day days week weeks month year years now today long short much cost costs
    price pay insurance cover clinic doctor treatment treatments session sessions
    device machine water current hand hands feet foot palm palms armpit armpits sweat
    sweating sweaty sweats skin safe pain hurt does it side effects book appointment
    iontophoresis hyperhidrosis botox antiperspirant
    """.split()
)

#: Words of each language that English does not use (a few very common English words
#: that are also foreign words, "die", "come", "per", "son", "man", are left out).
WORDS: Dict[str, FrozenSet[str]] = {
    "es": frozenset(
        """
        el los las una unos unas del al es estoy estás está esta este esto eso estos
        tengo tiene tienes mi mis muy pero como cómo que qué por para con puedo puede
        funciona cuánto cuanto cuánta cuesta cuestan hola gracias sudo sudor manos mucho
        mucha también tambien hacer hace yo usted dolor pecho embarazada quiero quisiera
        buenos buenas días dias tardes información informacion tratamiento iontoforesis
        sesión sesion sesiones cuántas cuantas necesito duele sí ayuda favor se su sus
        nada algo bien señor señora mano pies axilas sudoración sudoracion hay soy
        donde dónde cuando cuándo porque respirar desmayé ojalá marcapasos embarazo
        corazón corazon pecho morir en la lo le ya nunca siempre veces llevo pienso
        tienen tenido ayer hoy mañana ahora después despues antes aquí aqui todo todos
        cada otro otra poco bueno hijo hija madre padre mujer médico medico clínica
        clinica precio desde hasta sobre entre durante ducha de epilepsia arritmia
        convulsiones operaron puedes podría podria tener
        """.split()
    ),
    "de": frozenset(
        """
        der das dem des und ist ich nicht ein eine einen einem einer mit auf für fur wie
        bin habe hab hast sehr aber mein meine meinen sie du er wir ihr es zu bei auch
        noch nur kann können konnen wird werden sind viel kostet kosten bitte danke
        hallo guten morgen hände hande füße fusse füßen schwitze schwitzen behandlung
        iontophorese funktioniert geht weh tut schwanger herzschrittmacher ja nein oder
        wenn dass welche welcher warum wo wann frage fragen sitzung sitzungen gerät
        gerat achseln schweiß schweiss leider gibt mich mir dich dir schmerzen luft
        brustschmerzen schwangerschaft atmen sterben kein keine keinen erlaubt ohne
        nach über uber unter heute gestern immer schon jetzt hier dort arzt ärztin
        klinik preis termin hilft hilfe haben hatte seit starke stark meiner frau
        kind epilepsie krankheit ohnmächtig bewusstlos schrittmacher wieviel
        """.split()
    ),
    "fr": frozenset(
        """
        je j tu il elle nous vous ils elles est suis ai as avec pour dans mais pas une
        des du les le ça ca qui quoi combien coûte coute coûtent marche mal bonjour
        merci oui beaucoup très tres mains pieds enceinte séance séances seance c qu ce
        cette fait peut faut remboursé rembourse sécurité securite sociale transpire
        transpiration iontophorèse iontophorese mon ma mes et sont aussi comment
        aisselles traitement rendez vais veux voudrais savoir mes notre votre
        stimulateur poitrine respirer évanoui arrive grossesse coeur cœur mourir
        porte ce matin depuis perdu connaissance insuffisance cardiaque douleur
        thoracique suicider la en au aux sa ses leur très bien peu encore toujours
        jamais rien tout tous avoir être etre faire aller médecin medecin prix hier
        aujourd demain maintenant ici si sans chez après apres avant de épilepsie
        """.split()
    ),
    "it": frozenset(
        """
        il lo gli di che non sono ho hai ha mio mia miei della dello delle perché perche
        è quanto quanta costa costano funziona mani piedi grazie ciao buongiorno molto
        anche questo questa vorrei sapere incinta sudo sudore davvero trattamento
        seduta sedute fa fanno ascelle sudorazione posso può puo dove quando come
        cosa qualcuno salve buonasera dolore petto respirare svenuto svenuta riesco
        gravidanza cuore morire voglio si può puo fare sto allattando un una porto mi
        ti ci manca respiro perso sensi uccidermi soffro epilessia malattia cardiaca
        aritmia quante quanti servono va bene senza sempre mai oggi ieri domani adesso
        qui tutto tutti prezzo fatto essere avere stato nel nella alla dal sul più piu
        ogni siamo la
        """.split()
    )
    - {"come"},
    "pt": frozenset(
        """
        os um uma não nao eu tenho tem muito muita mas meu minha você voce isso isto
        funciona quanto custa custam mãos maos pés pes obrigado obrigada bom dia boa
        tarde estou está estao estão para com sessão sessao sessões sessoes grávida
        gravida suo suor queria saber iontoforese dói doi posso fazer tratamento
        axilas também tambem olá ola onde quando porque peito respirar desmaiei
        consigo marcapasso gravidez coração coracao morrer quero amamentando uso ele
        ela perdeu sentidos matar epilepsia arritmia tive convulsões convulsoes ontem
        hoje amanhã agora aqui tudo todos sempre nunca médico medico clínica clinica
        preço preco fica sem condicionado quantas quantos preciso na nos nas pelo pela
        ao aos à às já ainda pode pra ser estar ter foi são de
        """.split()
    ),
    "nl": frozenset(
        """
        het een ik ben niet met voor maar mijn zijn van hoeveel kost behandeling
        handen voeten zweet zweten werkt hoe wat bedankt dank hallo alstublieft
        """.split()
    ),
}

#: Words both English and the language's: neither English nor foreign evidence when
#: weighing that language ("no puedo respirar", "was kostet das?").
SHARED: Dict[str, FrozenSet[str]] = {
    "es": frozenset("no a me son pies come sin hay mayo he".split()),
    "de": frozenset("was die am an in will also so hat man war den tag rock bald".split()),
    "fr": frozenset("a on son sale plus me".split()),
    "it": frozenset("a e come per male no in ha".split()),
    "pt": frozenset("a o e no do da me".split()),
    "nl": frozenset("is in op en".split()),
}

#: Letters typical of each language (a word containing one is a point for it).
LETTERS: Dict[str, FrozenSet[str]] = {
    "es": frozenset("ñáéíóú"),
    "de": frozenset("äöüß"),
    "fr": frozenset("àâçéèêëîïôûùœ"),
    "it": frozenset("àèéìòù"),
    "pt": frozenset("ãõçáéíóúâêô"),
    "nl": frozenset(),
}


def _is_latin(char: str) -> bool:
    return "LATIN" in unicodedata.name(char, "")


def language_scores(text: str) -> Dict[str, int]:
    """The evidence points of each language for a message (see the module docstring).

    Args:
        text: the message.

    Returns:
        Points per language code (``"es"``, ``"de"``, ``"fr"``, ``"it"``, ``"pt"``,
        ``"nl"``).
    """
    words: Set[str] = {w.lower() for w in _WORD.findall(unicodedata.normalize("NFC", text))}
    foreign_words = words - ENGLISH
    scores: Dict[str, int] = {}
    for language, vocabulary in WORDS.items():
        own = (foreign_words & vocabulary) - SHARED[language]
        accented = {w for w in foreign_words - own if any(c in LETTERS[language] for c in w)}
        scores[language] = len(own) + len(accented)
    if "¿" in text or "¡" in text:
        scores["es"] += 1
    return scores


def english_words(text: str, language: str = "") -> List[str]:
    """The distinct English words of a message, less those that are also words of
    ``language`` ("no" is Spanish too)."""
    words = {w.lower() for w in _WORD.findall(text)}
    shared = WORDS.get(language, frozenset()) | SHARED.get(language, frozenset())
    return sorted(w for w in words if w in ENGLISH and w not in shared)


def guess_language(text: str, scores: Optional[Mapping[str, int]] = None) -> str:
    """The language a message is most probably written in.

    Args:
        text: the message.
        scores: its :func:`language_scores`, if already computed.

    Returns:
        ``"en"``; ``"es"``, ``"de"``, ``"fr"``, ``"it"``, ``"pt"`` or ``"nl"`` when the
        evidence for it is clear; ``"other"`` for a message mostly in another script.
    """
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 4:
        return "en"
    latin = sum(1 for c in letters if _is_latin(c))
    if latin / len(letters) < 0.5:
        return "other"
    scores = scores if scores is not None else language_scores(text)
    best = max(scores, key=lambda language: (scores[language], language == "es"))
    points = scores[best]
    if points >= MIN_EVIDENCE and points > 2 * len(english_words(text, best)):
        return best
    return "en"


def dominant_language(
    text: str, scores: Optional[Mapping[str, int]] = None, guess: Optional[str] = None
) -> str:
    """The language of :func:`guess_language` when it clearly leads the others too.

    Spanish, Italian and Portuguese share many words, so a guess among them is often a
    near tie ("tomo remédio para tireoide" scores Spanish and Portuguese alike). Returns
    the guess when it has at least :data:`MIN_EVIDENCE` points more than any other
    language, else ``""``. ``scores`` and ``guess``, if given, are the message's
    :func:`language_scores` and :func:`guess_language`.
    """
    scores = scores if scores is not None else language_scores(text)
    guess = guess if guess is not None else guess_language(text, scores)
    if guess in ("en", "other"):
        return ""
    runner_up = max((points for language, points in scores.items() if language != guess), default=0)
    return guess if scores[guess] - runner_up >= MIN_EVIDENCE else ""


def is_probably_not_english(text: str) -> bool:
    """True when the message is most likely written in another language.

    Args:
        text: the message.

    Returns:
        True for "ich bin schwanger", "¿cuánto cuesta?", a Cyrillic message; False for
        English, short or mixed messages, typos, slang and brand names.
    """
    return guess_language(text) != "en"
