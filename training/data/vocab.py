"""Tokenisation and vocabularies of language models: the one definition.

`tokenize(text, level)` is how a language model sees a text, and
`corpus_tokens(text, level)` how a training corpus becomes a token stream.
`Vocabulary` maps tokens to ids and is saved as a run's `vocab.txt`. The
data loaders, `zoo diagnose --text`, `zoo evaluate-pairs`, the samplers and
the exported SavedModel (whose TensorFlow graph splits words with
`WORD_SEPARATORS`) all tokenise through these definitions.

- Word level: a text is split on Unicode whitespace, exactly as Python's
  `str.split()` does (space, tab, newline, U+0085, U+2028, U+00A0, ...);
  nothing else changes (no lower-casing, no punctuation split: PTB-style
  text is pre-tokenised). A corpus adds `<eos>` at every line end ("\n").
- Character level: one token per Unicode code point, newline included.
- A token missing from the vocabulary maps to its OOV token, `<unk>`.
- Reviews (a CSV's text column) are standardised first, as the
  classifiers' `TextVectorization` does (`text_tokens`), so that a language
  model trained on reviews shares its tokens with a classifier started from
  it (`zoo train --init-from`).
"""

from __future__ import annotations

import collections
import os
import re
import string
from typing import Iterable, Sequence

import numpy as np

from training.data.errors import DataError
from training.data.files import atomic_write_text, read_text

DEFAULT_OOV_TOKEN = "<unk>"
UNK_TOKEN = DEFAULT_OOV_TOKEN
EOS_TOKEN = "<eos>"
LEVELS = ("word", "char")

# The characters `str.split()` splits on, as an RE2 class, for the exported
# graph: ASCII whitespace, the separators U+001C-U+001F and U+0085, and
# every character of Unicode category Z (spaces, U+2028, U+2029). A
# classifier without standardisation splits with the same class
# (`zoo.models.text.SEPARATORS`; tests check both against `str.split()`).
WORD_SEPARATORS = r"[\t\n\x0b\x0c\r\x1c-\x1f\x{85}\p{Z}]+"


def _check_level(level):
    if level not in LEVELS:
        raise ValueError(f"Unknown level {level!r}. Valid values: "
                         f"{list(LEVELS)}. Received: level={level!r}")


def tokenize(text: str, level: str) -> list:
    r"""The tokens of `text` at `level` (`"word"` or `"char"`).

    Example:

    >>> tokenize("a  cat\u2028sat", "word")
    ['a', 'cat', 'sat']
    >>> tokenize("ab\n", "char")
    ['a', 'b', '\n']
    """
    _check_level(level)
    return text.split() if level == "word" else list(text)


# TextVectorization's standardisations, in Python: `tf.strings.lower`
# lowercases ASCII letters only, the punctuation class is Keras' own, and
# `tf.strings.split` splits on ASCII whitespace. Without a standardisation
# the classifier splits as `str.split()` (`zoo.models.text`), and so does
# `text_tokens(t, None)`. A language model trained on
# `text_tokens(t, standardize)` therefore sees exactly the tokens that a
# classifier's `TextVectorization(standardize=...)` makes of the same text.
STANDARDIZATIONS = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
# Keras' own class (RE2 in the exported graph, `re` here)
PUNCTUATION_PATTERN = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
_PUNCTUATION = re.compile(PUNCTUATION_PATTERN)
_ASCII_SPACE = re.compile(r"[ \t\n\x0b\x0c\r]+")


def text_tokens(text: str, standardize: str | None) -> list:
    """The word tokens `TextVectorization(standardize=...)` makes of `text`.

    Args:
        text: a raw text (a review).
        standardize: one of `STANDARDIZATIONS`, or `None` (split only, on
            Unicode whitespace as `str.split()`).

    Example:

    >>> text_tokens("A <br />GREAT film, isn't it?", "lower_and_strip_punctuation")
    ['a', 'br', 'great', 'film', 'isnt', 'it']
    """
    if standardize is not None and standardize not in STANDARDIZATIONS:
        raise ValueError(f"Unknown standardize {standardize!r}. Valid values: "
                         f"{list(STANDARDIZATIONS)} or None. Received: "
                         f"standardize={standardize!r}")
    if standardize is None:
        return text.split()
    if standardize in ("lower", "lower_and_strip_punctuation"):
        text = text.translate(_ASCII_LOWER)
    if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = _PUNCTUATION.sub("", text)
    return [t for t in _ASCII_SPACE.split(text) if t]


def model_tokens(text: str, level: str, standardize: str | None = None) -> list:
    """The tokens a language model reads for a text a user gives (a prompt,
    a text to score): `text_tokens(text, standardize)` for a word-level
    model trained on standardised texts (a review corpus), else
    `tokenize(text, level)`.

    >>> model_tokens("Great film!", "word", "lower_and_strip_punctuation")
    ['great', 'film']
    >>> model_tokens("Great film!", "word")
    ['Great', 'film!']
    """
    if standardize is not None and level == "word":
        return text_tokens(text, standardize)
    return tokenize(text, level)


def corpus_tokens(text: str, level: str, counts: dict | None = None,
                  split: str = "train") -> list:
    r"""The token stream of a corpus: word level adds `<eos>` at each line end.

    A blank line becomes a lone `<eos>`; the newline that ends the last line
    does not add an empty line. Character level is `tokenize(text, "char")`.

    Args:
        text: the corpus.
        level: `"word"` or `"char"`.
        counts: optional dict; receives `{split}_lines` and
            `{split}_blank_lines` at word level.
        split: the name used in `counts`.

    Example:

    >>> corpus_tokens("a b\n\nc\n", "word")
    ['a', 'b', '<eos>', '<eos>', 'c', '<eos>']
    """
    if level == "char":
        return tokenize(text, level)
    _check_level(level)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    tokens, blank = [], 0
    for line in lines:
        words = line.split()
        if not words:
            blank += 1
        tokens.extend(words)
        tokens.append(EOS_TOKEN)
    if counts is not None:
        counts[f"{split}_lines"] = len(lines)
        counts[f"{split}_blank_lines"] = blank
    return tokens

# vocab.txt holds one token per line; these characters are escaped so that
# character vocabularies (which contain "\n") survive the round trip.
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}


def _escape(token: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in token)


def _unescape(line: str, path, lineno: int) -> str:
    out, i = [], 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            if i + 1 >= len(line) or line[i + 1] not in _UNESCAPES:
                raise DataError(
                    "bad escape in vocabulary (only \\\\, \\n and \\r are valid)",
                    path=path,
                    line=lineno,
                )
            out.append(_UNESCAPES[line[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


class Vocabulary:
    """An ordered token list; id = position. Unknown tokens map to the OOV id.

    Args:
        tokens: the tokens, in id order. Must be distinct and non-empty
            strings. The OOV token is appended if it is not among them.
        oov_token: token that unknown tokens map to. Defaults to `"<unk>"`.

    Example:

    ```python
    vocab = Vocabulary.from_counts(collections.Counter("a b a".split()))
    vocab.encode(["a", "zzz"])  # array([0, 2]): "zzz" -> "<unk>"
    vocab.save("run/vocab.txt")
    Vocabulary.load("run/vocab.txt") == vocab  # True
    ```
    """

    def __init__(self, tokens: Sequence[str], oov_token: str = DEFAULT_OOV_TOKEN):
        tokens = list(tokens)
        if oov_token not in tokens:
            tokens.append(oov_token)
        index = {}
        for i, t in enumerate(tokens):
            if not isinstance(t, str) or t == "":
                raise ValueError(f"vocabulary token {i} is empty or not a string: {t!r}")
            if t in index:
                raise ValueError(f"duplicate vocabulary token {t!r} (ids {index[t]} and {i})")
            index[t] = i
        self.tokens = tokens
        self.oov_token = oov_token
        self.oov_id = index[oov_token]
        self._index = index

    @classmethod
    def from_counts(
        cls,
        counts: collections.Counter,
        *,
        max_tokens: int | None = None,
        oov_token: str = DEFAULT_OOV_TOKEN,
    ) -> "Vocabulary":
        """Builds a vocabulary ordered by frequency (descending), then token.

        Args:
            counts: token -> count.
            max_tokens: keep at most this many tokens, OOV token included.
                Defaults to `None` (keep all).
            oov_token: see `Vocabulary`. If it occurs in `counts` (as `<unk>`
                does in PTB) it keeps its frequency rank, otherwise it is
                appended last.
        """
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        tokens = [t for t, _ in ordered]
        if max_tokens is not None:
            if max_tokens < 1:
                raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
            if oov_token in tokens[:max_tokens]:
                tokens = tokens[:max_tokens]
            else:
                tokens = tokens[: max_tokens - 1]
        return cls(tokens, oov_token=oov_token)

    @classmethod
    def from_chars(cls, text: str, *, oov_token: str = DEFAULT_OOV_TOKEN) -> "Vocabulary":
        """Builds a character vocabulary: sorted distinct chars, then OOV."""
        return cls(sorted(set(text)), oov_token=oov_token)

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Vocabulary)
            and self.tokens == other.tokens
            and self.oov_token == other.oov_token
        )

    def __repr__(self) -> str:
        head = ", ".join(map(repr, self.tokens[:5]))
        return f"Vocabulary(size={len(self)}, oov={self.oov_token!r}, tokens=[{head}, ...])"

    def __contains__(self, token) -> bool:
        return token in self._index

    def token_to_id(self, token: str) -> int:
        """Id of `token`, or the OOV id."""
        return self._index.get(token, self.oov_id)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Maps tokens to an int32 id array (unknown tokens -> OOV id)."""
        get, oov = self._index.get, self.oov_id
        return np.fromiter((get(t, oov) for t in tokens), dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Maps ids back to tokens."""
        return [self.tokens[int(i)] for i in ids]

    def encode_text(self, text: str, level: str) -> np.ndarray:
        """`encode(tokenize(text, level))`."""
        return self.encode(tokenize(text, level))

    def count_unknown(self, tokens: Iterable[str]) -> int:
        """How many of `tokens` are not in the vocabulary (a literal OOV
        token in the text is not one)."""
        return sum(1 for t in tokens if t not in self._index)

    def save(self, path) -> None:
        """Writes `vocab.txt`: one token per line, in id order, atomically.

        Backslash, newline and carriage return inside tokens are written as
        `\\\\`, `\\n` and `\\r`.

        Args:
            path: a file path, or a directory (then `vocab.txt` inside it).
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "vocab.txt")
        atomic_write_text(path, "".join(_escape(t) + "\n" for t in self.tokens))

    @classmethod
    def load(cls, path, *, oov_token: str = DEFAULT_OOV_TOKEN) -> "Vocabulary":
        """Reads a `vocab.txt` written by `save`.

        Args:
            path: a file path, or a directory holding `vocab.txt`.
            oov_token: the OOV token. Defaults to `"<unk>"`; appended if the
                file lacks it.

        Raises:
            DataError: empty file, empty or duplicate tokens, bad escapes.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "vocab.txt")
        text, _ = read_text(path)
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        tokens, seen = [], {}
        for lineno, line in enumerate(lines, start=1):
            if line.endswith("\r"):  # a CRLF line end (`save` escapes a token's \r)
                line = line[:-1]
            if line == "":
                raise DataError("empty vocabulary token", path=path, line=lineno)
            token = _unescape(line, path, lineno)
            if token in seen:
                raise DataError(
                    f"duplicate token {token!r} (first on line {seen[token]})",
                    path=path,
                    line=lineno,
                )
            seen[token] = lineno
            tokens.append(token)
        return cls(tokens, oov_token=oov_token)
