"""Splitting a message into the questions it asks.

Patients often ask several things at once: "how long is a session, what does it cost,
and does insurance help?". :func:`split_questions` cuts such a message into its
questions or clauses, in the order asked, so each can be classified on its own
(``addons/understanding.py``). A message with one question comes back whole.

Cuts are made at sentence ends ("?", "!", "." followed by a space), semicolons and
line breaks, and at a comma or "and"/"also"/"plus"/"or" that opens a new question
("..., what does it cost", "... and does insurance help"). A part shorter than
:data:`MIN_PART_WORDS` words is joined to its neighbour, so "thanks! how much is
it?" stays one question with its greeting, unless it is a question of its own ("safe?
works? cost?"); so is a part that rephrases the one before ("... like what do the ions
do").

Framework-free; no Rasa types.
"""

from __future__ import annotations

import re
from typing import List

#: Words that open a question: a new clause starting with one is a new question.
QUESTION_OPENERS = (
    "what",
    "whats",
    "what's",
    "how",
    "hows",
    "how's",
    "does",
    "do",
    "did",
    "is",
    "isnt",
    "isn't",
    "are",
    "can",
    "could",
    "will",
    "would",
    "should",
    "shall",
    "when",
    "where",
    "which",
    "who",
    "whom",
    "why",
    "any",
    "anything",
    "has",
    "have",
    "was",
)
_OPENER = "|".join(re.escape(word) for word in QUESTION_OPENERS)
#: A sentence end, a semicolon, a line break, or the next item of a numbered or bulleted
#: list written on one line ("1) how does it work 2) what does it cost").
_SENTENCE_END = re.compile(r"(?<=[?!.;])\s+|\n+|\s+(?=(?:\(?\d{1,2}[).:]|[•*])\s)")
#: A list marker opening a part ("2)", "(3)", "1.", "•").
_LIST_MARKER = re.compile(r"^(?:\(?\d{1,2}[).:]|[•*-])\s+")
#: A list numbered with bare digits, each before a question: "1 how does it work 2 whats a
#: session like 3 do u take insurance" (both 1 and 2 must open a question) ...
_NOT_AFTER = "".join(
    f"(?<!{word})" for word in ("number", "question", "step", "part", "level", "option", "no", "page")
)
_BARE_LIST = re.compile(
    rf"(?:^|{_NOT_AFTER}\s)1\s+(?:{_OPENER})\b.*{_NOT_AFTER}\s2\s+(?:{_OPENER})\b", re.IGNORECASE | re.DOTALL
)
#: ... and its items' numbers.
_BARE_ITEM = re.compile(rf"(?:^|{_NOT_AFTER}\s+)\d\s+(?=(?:{_OPENER})\b)", re.IGNORECASE)
#: A comma, conjunction or "+"/"&" that opens a new question.
_CLAUSE = re.compile(
    rf",\s*(?:and\s+|also\s+|plus\s+|or\s+|[+&]\s*)?(?=(?:{_OPENER})\b)"
    rf"|\s+(?:and(?:\s+also)?|also|plus|or|[+&])\s+(?=(?:{_OPENER})\b)",
    re.IGNORECASE,
)
#: Parts shorter than this are joined to a neighbour.
MIN_PART_WORDS = 3
#: At most this many parts are returned (the rest stays with the last part).
MAX_PARTS = 6


def _words(text: str) -> int:
    return len(re.findall(r"[^\W_]+", text))


#: A part that says the previous question again in other words: "what do the minerals do
#: to my skin? like what do the ions do" is one question.
_ELABORATION = re.compile(
    r"^(?:like|i mean|as in|or rather|in other words|i\.?e\.?|e\.?g\.?|for example|basically|meaning)\b",
    re.IGNORECASE,
)


def _short(part: str) -> bool:
    """Too short to stand as a question of its own, unless it is asked as one: "safe?
    works? cost?" are three questions; "thanks! how much is it?" is one."""
    return _words(part) < MIN_PART_WORDS and not part.rstrip().endswith("?")


def split_questions(text: str) -> List[str]:
    """The questions or clauses of a message, in order; ``[text]`` for a single one."""
    text = text.strip()
    if not text:
        return []
    if _BARE_LIST.search(text):
        text = _BARE_ITEM.sub("\n", text).strip()
    pieces: List[str] = []
    for sentence in _SENTENCE_END.split(text):
        pieces.extend(p for p in _CLAUSE.split(sentence) if p and p.strip())
    parts: List[str] = []
    for piece in (_LIST_MARKER.sub("", p.strip(" ,;")) for p in pieces):
        if not piece:
            continue
        if parts and (_short(piece) or _short(parts[-1]) or _ELABORATION.match(piece)):
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    if len(parts) > MAX_PARTS:
        parts = parts[: MAX_PARTS - 1] + [" ".join(parts[MAX_PARTS - 1 :])]
    return parts or [text]


#: Words a part may open with before its first real word: "so how much is it?".
_LEAD_IN = re.compile(r"^(?:(?:so|and|also|plus|ok|okay|hi|hey|hello|well|but|then|oh|um|uh)\b[\s,]*)+", re.I)
#: A statement about the writer opens with one of these: "No pacemaker, no metal.",
#: "I came off my tablets a year ago", "my GP ruled out anything serious".
_STATEMENT_OPENER = re.compile(
    r"^(?:i|i'm|im|i've|ive|i'd|i'll|my|mine|me|we|we're|we've|our|no|not|never|nothing|none|zero"
    r"|had|have had|been|all|just|already|ticked|used|healthy|otherwise|fit and)\b",
    re.IGNORECASE,
)
#: ... unless it asks in the form of a statement: "I'd like to know the price."
_REQUEST = re.compile(
    r"\b(?:wonder\w*|curious|(?:like|want|need|love) to (?:know|ask|understand|hear|find out)|tell me"
    r"|let me know|interested in|my question|questions?\b|asking|info\b|information|explain)",
    re.IGNORECASE,
)


def is_context(part: str) -> bool:
    """True when a part tells rather than asks: no "?", and it opens as a statement about
    the writer ("No pacemaker, no metal, not pregnant.")."""
    text = part.strip()
    return (
        "?" not in text
        and bool(_STATEMENT_OPENER.match(_LEAD_IN.sub("", text)))
        and not _REQUEST.search(text)
    )
