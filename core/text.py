"""Normalising what a patient typed before anything reads it.

A risk must not hide behind the form of its letters. :func:`normalise` turns every
message into the text the safety check, the language check and NLU all see:

1. control characters removed (tab and newline kept) and lone surrogates dropped;
2. Unicode NFKC (full-width letters, ligatures, superscripts become plain letters);
3. format characters removed: zero-width spaces and joiners, soft hyphens, bidi
   controls, the BOM (Unicode category ``Cf``) and variation selectors;
4. look-alike letters from other scripts folded onto Latin ("kill mysеlf" with a
   Cyrillic "е") in words that mix scripts, and in wholly look-alike words of a
   message that is otherwise Latin. A message written in another script (Greek,
   Cyrillic...) keeps its letters, so the language check still sees it.

The look-alike table comes from the Unicode confusables data shipped by the
``confusable_homoglyphs`` package (MIT), not from a hand-written list.

Framework-free; no Rasa types.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Dict

#: Control characters other than tab and newline (C0, DEL, C1) and lone surrogates.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: Runs of letters (any script), for the per-word look-alike fold.
_WORD = re.compile(r"[^\W\d_]+")
_SPACES = re.compile(r"[^\S\n]+")


@lru_cache(maxsize=1)
def confusable_map() -> Dict[str, str]:
    """Non-Latin letters that look like one Latin letter, mapped to that letter.

    Raises:
        RuntimeError: the confusables data is missing from the installed package.
    """
    import confusable_homoglyphs

    path = Path(confusable_homoglyphs.__file__).resolve().parent / "confusables.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RuntimeError(f"Unicode confusables data unreadable at {path}: {error}") from error
    table: Dict[str, str] = {}
    for char, homoglyphs in data.items():
        if len(char) != 1 or _is_latin(char):
            continue
        for glyph in homoglyphs:
            latin = glyph.get("c", "")
            if len(latin) == 1 and latin.isascii() and latin.isalpha():
                table[char] = latin
                break
    if len(table) < 100:
        raise RuntimeError(f"Unicode confusables data at {path} looks truncated")
    return table


def _is_latin(char: str) -> bool:
    return "LATIN" in unicodedata.name(char, "")


def _is_removed_format(char: str) -> bool:
    """Zero-width, bidi and other format characters, and variation selectors."""
    if unicodedata.category(char) == "Cf":
        return True
    code = ord(char)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF or code == 0x034F


def strip_invisible(text: str) -> str:
    """The text without control characters (tab and newline kept) and format characters."""
    text = _CONTROL.sub("", text)
    return "".join(c for c in text if not _is_removed_format(c))


def latin_share(text: str) -> float:
    """The share of the text's letters that are Latin (1.0 for a text without letters)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 1.0
    return sum(1 for c in letters if _is_latin(c)) / len(letters)


def fold_confusables(text: str) -> str:
    """Folds look-alike letters onto Latin in mixed-script words; in a mostly Latin
    text, also in words made only of look-alikes."""
    table = confusable_map()
    if not any(c in table for c in text):
        return text
    mostly_latin = latin_share(text) >= 0.5

    def fold(match: "re.Match[str]") -> str:
        word = match.group(0)
        has_latin = any(_is_latin(c) for c in word)
        foldable = all(_is_latin(c) or c in table for c in word)
        if (has_latin or mostly_latin) and foldable:
            return "".join(table.get(c, c) for c in word)
        if has_latin:
            return "".join(table.get(c, c) for c in word)
        return word

    return _WORD.sub(fold, text)


def normalise(text: str) -> str:
    """The canonical form of a message (see the module docstring)."""
    text = strip_invisible(text)
    text = unicodedata.normalize("NFKC", text)
    # NFKC can produce format characters again (rare); strip once more.
    text = strip_invisible(text)
    text = fold_confusables(text)
    return _SPACES.sub(" ", text).strip()
