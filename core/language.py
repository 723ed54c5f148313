"""Recognises messages that are not in English (the assistant only speaks English).

Pure Python, no Rasa types. Deliberately cautious: a message counts as another
language only when most of its letters are in another script, or when it is full of
another language's function words and has almost none of English's. Short or mixed
messages, typos and slang stay "English".
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

ENGLISH = frozenset(
    "i you he she it we they me my your is are am was were be been have has had do does "
    "did the a an and or but if of to in on at for with from by about what how when where "
    "why who which can could will would should this that these those not no yes im its".split()
)
OTHER = frozenset(
    # Spanish, French, German, Italian, Portuguese, Dutch function words that English lacks
    "el la los las un una unos que por para con del al es estoy tengo mi mis muy pero como "
    "le les des du et est je tu il nous vous ils une dans pour sur avec mais qui pas suis "
    "der die das und ist ich nicht ein eine mit auf für wie bin habe sehr aber mein meine "
    "il lo gli di che non sono ho mio mia della perché "
    "o os um uma não eu tenho muito mas meu minha você "
    "het een ik ben niet met voor maar mijn zijn van dat".split()
)


def is_probably_not_english(text: str) -> bool:
    """True when the message is most likely written in another language."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 4:
        return False
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    if latin / len(letters) < 0.5:
        return True
    words = [w.lower() for w in _WORD.findall(text)]
    english = sum(w in ENGLISH for w in words)
    other = sum(w in OTHER and w not in ENGLISH for w in words)
    return other >= 3 and other > 2 * english
