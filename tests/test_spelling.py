"""The misspelling corrector (core/safety/spelling.py) against a brute-force reference."""

from __future__ import annotations

import random
import string
from typing import Callable, Dict, List

import pytest

from core.safety import RiskDetector, get_detector
from core.safety.spelling import SpellingCorrector, deletions, osa_distance


@pytest.fixture(scope="module")
def detector() -> RiskDetector:
    return get_detector()


def reference_corrector(vocabulary: List[str], is_known: Callable[[str], bool]) -> Callable[[str], str]:
    """The corrector before the deletion index: every vocabulary word of a close
    length is compared with the word (vocabulary sorted, so ties are deterministic)."""
    by_length: Dict[int, List[str]] = {}
    for candidate in sorted(vocabulary):
        by_length.setdefault(len(candidate), []).append(candidate)

    def correct(word: str) -> str:
        if len(word) < 5 or not word.isalpha() or is_known(word):
            return word
        if word.endswith("s") and len(word) > 5:
            singular = correct(word[:-1])
            if singular != word[:-1]:
                return singular
        limit = 1 if len(word) < 10 else 2
        best, best_distance = word, limit + 1
        for length in range(len(word) - limit, len(word) + limit + 1):
            for candidate in by_length.get(length, ()):
                if candidate[0] != word[0] and limit == 1:
                    continue
                distance = osa_distance(word, candidate, best_distance)
                if distance < best_distance:
                    best, best_distance = candidate, distance
        return best

    return correct


def misspell(word: str, rng: random.Random, edits: int) -> str:
    """``word`` with ``edits`` random insertions, deletions, substitutions or swaps."""
    for _ in range(edits):
        position = rng.randrange(len(word))
        kind = rng.choice(("insert", "delete", "substitute", "swap"))
        letter = rng.choice(string.ascii_lowercase)
        if kind == "insert":
            word = word[:position] + letter + word[position:]
        elif kind == "delete" and len(word) > 1:
            word = word[:position] + word[position + 1 :]
        elif kind == "substitute":
            word = word[:position] + letter + word[position + 1 :]
        elif position + 1 < len(word):
            word = word[:position] + word[position + 1] + word[position] + word[position + 2 :]
    return word


def sample_words(vocabulary: List[str], seed: int) -> List[str]:
    """Seeded misspellings of vocabulary words (one to three edits, plurals) and
    random letter strings of 5 to 14 letters."""
    rng = random.Random(seed)
    words = []
    for word in sorted(vocabulary):
        words.append(misspell(word, rng, rng.choice((1, 1, 2, 3))))
        words.append(misspell(word, rng, 1) + "s")
    for _ in range(600):
        length = rng.randint(5, 14)
        words.append("".join(rng.choice(string.ascii_lowercase) for _ in range(length)))
    return words


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_index_gives_the_same_corrections_as_brute_force(detector: RiskDetector, seed: int) -> None:
    speller = detector.speller
    vocabulary = sorted(speller.vocabulary)
    words = sample_words(vocabulary, seed)
    reference = reference_corrector(vocabulary, speller.is_known)
    different = []
    for word in words:
        expected = reference(word)
        if speller.correct(word) != expected:
            different.append((word, speller.correct(word), expected))
    assert not different
    # the sample does exercise corrections, not only words left alone
    corrected = sum(speller.correct(word) != word for word in words)
    assert corrected > len(vocabulary) // 2


def test_small_vocabulary_corrections() -> None:
    vocabulary = ["pacemaker", "pregnant", "epilepsy", "defibrillator"]
    speller = SpellingCorrector(vocabulary, lambda word: False)
    assert speller.correct("pacemkaer") == "pacemaker"  # transposition
    assert speller.correct("pregant") == "pregnant"  # deletion
    assert speller.correct("pacemkaers") == "pacemaker"  # a misspelt plural, via its singular
    assert speller.correct("defibrilatr") == "defibrillator"  # two edits, long word
    assert speller.correct("bregnant") == "bregnant"  # short words keep their first letter
    assert speller.correct("pace") == "pace"  # too short
    assert speller.correct("pacemaker2") == "pacemaker2"  # not letters only


def test_known_words_are_never_corrected() -> None:
    speller = SpellingCorrector(["pregnant"], lambda w: w == "pregnanz")
    assert speller.correct("pregnanz") == "pregnanz"
    assert speller.correct("pregnans") == "pregnant"


def test_deletions() -> None:
    assert deletions("abc", 1) == {"abc", "bc", "ac", "ab"}
    assert deletions("abc", 2) == {"abc", "bc", "ac", "ab", "a", "b", "c"}
    assert deletions("ab", 5) == {"ab", "a", "b", ""}


def test_osa_distance() -> None:
    assert osa_distance("pacemaker", "pacemaker", 3) == 0
    assert osa_distance("pacemkaer", "pacemaker", 3) == 1
    assert osa_distance("pregant", "pregnant", 3) == 1
    assert osa_distance("ca", "abc", 5) == 3  # OSA, not full Damerau
    assert osa_distance("abc", "xyz", 2) >= 2
