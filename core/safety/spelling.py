"""Corrects misspelt risk words ("pacemkaer" -> "pacemaker") before matching.

Only words that are not English words are corrected, and only towards the words of
the risk patterns (the *vocabulary*). A word of under 10 letters may be one edit away
from a vocabulary word with the same first letter; a longer word may be two edits
away (from any vocabulary word). An edit is an insertion, deletion, substitution or
transposition of adjacent letters (optimal string alignment distance).

The vocabulary is indexed once with every string that deleting up to two letters
gives (the symmetric-delete idea of SymSpell): two words within ``k`` edits always
share a string reachable by at most ``k`` deletions from each, so looking up the
deletions of a word finds every candidate, and the exact distance then confirms it.
A lookup costs a few dozen dictionary reads instead of a distance computation per
vocabulary word.

Among the candidates, the smallest distance wins, then the shorter word, then the
alphabetically first, so a correction does not depend on set iteration order.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Set, Tuple

#: Words shorter than this are never corrected.
MIN_WORD_LENGTH = 5
#: Words of this many letters or more may be two edits away; shorter ones one.
LONG_WORD_LENGTH = 10
#: The largest edit distance corrected.
MAX_EDITS = 2


def max_edits(word: str) -> int:
    """How many edits a word may be from its correction (1 or 2)."""
    return 1 if len(word) < LONG_WORD_LENGTH else 2


def deletions(word: str, depth: int) -> Set[str]:
    """Every string made by deleting at most ``depth`` letters of ``word`` (itself too).

    Args:
        word: the word.
        depth: the most letters deleted.

    Returns:
        The set of strings, ``word`` included.
    """
    found = {word}
    layer = {word}
    for _ in range(depth):
        layer = {w[:i] + w[i + 1 :] for w in layer for i in range(len(w))}
        found |= layer
    return found


def osa_distance(a: str, b: str, cap: int) -> int:
    """Optimal string alignment distance (Levenshtein plus adjacent transpositions).

    Args:
        a: one string.
        b: the other.
        cap: stop early once the distance is known to be at least this.

    Returns:
        The distance when it is below ``cap``, otherwise a number ``>= cap``.
    """
    if abs(len(a) - len(b)) >= cap:
        return cap
    previous2: List[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) >= cap:
            return cap
        previous2, previous = previous, current
    return previous[-1]


class SpellingCorrector:
    """Maps a misspelt word to the closest vocabulary word, via a deletion index.

    Args:
        vocabulary: the words to correct towards (the risk patterns' words).
        is_known: True for a word that must never be corrected (an English word, a
            brand name...). Vocabulary words are always known.
    """

    def __init__(self, vocabulary: Iterable[str], is_known: Callable[[str], bool]) -> None:
        self._vocabulary: Set[str] = set(vocabulary)
        self._is_known = is_known
        # _index[d][s]: the vocabulary words that give s by deleting at most d letters.
        self._index: Dict[int, Dict[str, List[str]]] = {1: {}, 2: {}}
        for word in sorted(self._vocabulary):
            for depth in (1, 2):
                for deleted in deletions(word, depth):
                    self._index[depth].setdefault(deleted, []).append(word)

    @property
    def vocabulary(self) -> Set[str]:
        """The words corrections lead to."""
        return set(self._vocabulary)

    def is_known(self, word: str) -> bool:
        """True when the word is never corrected (English, a brand, a vocabulary word)."""
        return word in self._vocabulary or self._is_known(word)

    def correct(self, word: str) -> str:
        """The vocabulary word ``word`` is a misspelling of, or ``word`` itself.

        Args:
            word: one lowercase word.

        Returns:
            The correction, or the word unchanged when it is short, not purely
            alphabetic, known, or not close enough to any vocabulary word. A plural
            ("pacemkaers") is corrected through its singular when that corrects.
        """
        if len(word) < MIN_WORD_LENGTH or not word.isalpha() or self.is_known(word):
            return word
        if word.endswith("s") and len(word) > MIN_WORD_LENGTH:
            singular = self.correct(word[:-1])
            if singular != word[:-1]:
                return singular
        best = self.candidates(word)
        return best[0][2] if best else word

    def candidates(self, word: str) -> List[Tuple[int, int, str]]:
        """The vocabulary words close enough to ``word``, best first.

        Args:
            word: one lowercase word.

        Returns:
            ``(distance, length, candidate)`` tuples, sorted.
        """
        limit = max_edits(word)
        index = self._index[limit]
        seen: Set[str] = set()
        found: List[Tuple[int, int, str]] = []
        for deleted in deletions(word, limit):
            for candidate in index.get(deleted, ()):
                if candidate in seen:
                    continue
                seen.add(candidate)
                if abs(len(candidate) - len(word)) > limit:
                    continue
                if limit == 1 and candidate[0] != word[0]:
                    continue
                distance = osa_distance(word, candidate, limit + 1)
                if distance <= limit:
                    found.append((distance, len(candidate), candidate))
        found.sort()
        return found
