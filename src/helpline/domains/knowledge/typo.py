"""Typo tolerance: the nearest word of the knowledge base's vocabulary (symmetric-delete lookup).

Each vocabulary word is indexed under itself and every one-letter deletion of it; a query word's own
deletions find every vocabulary word within two edits (a substitution is one deletion on each side,
a transposition likewise), which is then confirmed with the optimal-string-alignment distance.

Only a word that is neither in the vocabulary nor an English word (:func:`is_english`) is a typo: "came"
is not corrected to "name" because the articles happen not to say "came".
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

#: The WordPiece vocabulary shipped for the sentence model (bert-base-uncased's, Apache-2.0): its whole
#: words are about 20,000 common English words, which is what "known English word" means here.
_ENGLISH = Path(__file__).parent / "data" / "minilm-vocab.txt"


@cache
def _english() -> frozenset[str]:
    words = _ENGLISH.read_text(encoding="utf-8").split()
    return frozenset(w for w in words if w.isalpha() and w.isascii() and w.islower() and len(w) > 1)


def is_english(word: str) -> bool:
    """Whether ``word`` (lower case) is a common English word."""
    return word in _english()


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Levenshtein with adjacent transpositions)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


class Vocabulary:
    def __init__(self, counts: Counter[str] | None = None) -> None:
        self.counts: Counter[str] = counts or Counter()
        self._index: dict[str, list[str]] = {}
        for w in self.counts:
            if len(w) >= 4:
                for key in _deletes(w) | {w}:
                    self._index.setdefault(key, []).append(w)

    def __contains__(self, word: str) -> bool:
        return word in self.counts

    def correct(self, word: str) -> str:
        """``word`` itself when known, too short (< 4) or not a word; else its nearest known word, if
        one is within 1 edit (2 edits for words of 8 letters or more)."""
        if word in self.counts or len(word) < 4 or not word.isalpha() or not self.counts:
            return word
        limit = 1 if len(word) < 8 else 2
        found: dict[str, int] = {}
        for key in _deletes(word) | {word}:
            for cand in self._index.get(key, ()):
                if cand not in found and abs(len(cand) - len(word)) <= limit:
                    d = distance(word, cand)
                    if d <= limit:
                        found[cand] = d
        if not found:
            return word
        return min(found, key=lambda c: (found[c], -self.counts[c], c))
