"""Language-model data (word- and character-level) and BPTT batching."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import numpy as np

from training.data.errors import DataError
from training.data.files import Fingerprint, decode_utf8, file_sha256, read_bytes
from training.data.sources import (
    recorded_source,
    resolve_source,
    tfds_builder,
    tfds_split_examples,
)
from training.data.vocab import (
    DEFAULT_OOV_TOKEN,
    EOS_TOKEN,
    Vocabulary,
    corpus_tokens,
    text_tokens,
)


@dataclasses.dataclass
class LanguageModelData:
    """What `load_language_model` returns.

    Attributes:
        train: int32 token-id stream of the training split.
        validation: int32 token-id stream, or `None`.
        test: int32 token-id stream, or `None` (PTB `*.test.txt`, TFDS).
        vocab: the `Vocabulary` (save it with `vocab.save(run_dir)`).
        level: `"word"` or `"char"`.
        fingerprint: `"sha256:..."` over names and bytes of the files read
            (TFDS: dataset name, version, splits).
        description: how the splits were obtained and the vocabulary built.
        source: the SOURCE string.
        counts: per split tokens, lines, blank lines (kept as `<eos>`) and
            out-of-vocabulary tokens mapped to the OOV id, e.g.
            `{"train_tokens": 929589, "validation_oov": 0, ...}`.
        validation_carve: how validation was obtained, for the run
            directory: `{"how": ..., "fraction": ...}`; `fraction` is the
            share of a text file held out at its end, or `None` for the
            source's own split.
        standardize: how each text of a `.csv`/`.tsv` corpus was
            standardised before it was split into words, else `None`.
        added_texts: what `--add-texts` added (`AddedTexts`' record), or
            `None`.
        sha256: the SHA-256 of a `.csv`/`.tsv` or `.txt` corpus file, so
            that a classifier or an LM started from this one can tell
            whether it validates on texts it read
            (`training.transfer.corpora`), else `None`.
    """

    train: np.ndarray
    validation: np.ndarray | None
    test: np.ndarray | None
    vocab: Vocabulary
    level: str
    fingerprint: str
    description: str
    source: str
    counts: dict
    validation_carve: dict = dataclasses.field(default_factory=dict)
    standardize: str | None = None
    added_texts: dict | None = None
    sha256: str | None = None

    def split(self, name: str) -> np.ndarray:
        ids = getattr(self, name)
        if ids is None:
            raise ValueError(f"this dataset has no {name!r} split")
        return ids

    def reversed(self) -> "LanguageModelData":
        """The same corpus read backwards: each split's token stream from
        its last token to its first (a backward language model's data,
        ULMFiT). Vocabulary, fingerprint and counts are the same."""
        def flip(ids):
            return None if ids is None else np.ascontiguousarray(ids[::-1])

        return dataclasses.replace(
            self, train=flip(self.train), validation=flip(self.validation),
            test=flip(self.test),
            description=self.description + "; every split read backwards "
            "(reverse=True)")

    def dataset(self, split: str = "train", *, batch_size: int, bptt: int,
                include_partial: bool = False):
        """`make_lm_dataset` over one split."""
        return make_lm_dataset(self.split(split), batch_size=batch_size,
                               bptt=bptt, include_partial=include_partial)

    def summary(self) -> dict:
        """JSON-serialisable metadata for the run directory."""
        return {
            "source": self.source,
            "level": self.level,
            "fingerprint": self.fingerprint,
            "description": self.description,
            "vocab_size": len(self.vocab),
            "oov_token": self.vocab.oov_token,
            "standardize": self.standardize,
            "counts": dict(self.counts),
            **({"added_texts": dict(self.added_texts)} if self.added_texts else {}),
            **({"sha256": self.sha256} if self.sha256 else {}),
        }


@dataclasses.dataclass(frozen=True)
class AddedTexts:
    """Texts added to a review corpus's training split (`zoo train
    --add-texts FILE`), e.g. the labelled training reviews, whose text
    carries no label at the pretraining stage.

    Attributes:
        source: a `.csv`/`.tsv` file; its text column is read.
        leave_out_group: leave out the validation carve that a classifier
            trained on `source` with `--validation-group` this column (and
            `leave_out_split`, `seed`) validates on, so that pretraining
            never sees a text the classifier is selected on. `None` adds
            every text; no classifier may then validate on a carve of
            `source` (`training.transfer.check_held_out`).
        leave_out_split: the classifier's `--validation-split`.
        seed: the seed of the classifier's carve (its `--validation-seed`,
            else its `--seed`; `zoo train --leave-out-seed`, else the LM
            run's seed).
    """

    source: str
    leave_out_group: str | None = None
    leave_out_split: float = 0.1
    seed: int = 1337

    @classmethod
    def from_record(cls, record):
        """The `AddedTexts` that `LanguageModelData.added_texts` records."""
        leave = record.get("leave_out") or {}
        return cls(source=record["source"], leave_out_group=leave.get("group"),
                   leave_out_split=leave.get("fraction", 0.1),
                   seed=leave.get("seed", 1337))


def _read_added_texts(added: AddedTexts, fp: Fingerprint):
    """`(texts, record)` of `--add-texts`: the file's texts, minus the
    classifier's validation carve when a group is given."""
    from training.data.text_classification import (
        load_text_classification,
        read_text_column,
    )

    src = resolve_source(added.source)
    if src.kind not in ("csv", "tsv"):
        raise DataError(f"--add-texts takes a .csv/.tsv file of texts; "
                        f"{src.spec} is a {src.kind} source", path=src.spec)
    digest = file_sha256(src.path)
    leave_out = None
    if added.leave_out_group is None:
        texts, _ = read_text_column(src.path)
    else:
        if not 0.0 < added.leave_out_split < 1.0:
            raise ValueError("--leave-out-split must be in (0, 1). Received: "
                             f"leave_out_split={added.leave_out_split}")
        # The classifier's own loader, so the carve is the same one.
        try:
            data = load_text_classification(
                src.path, validation_split=added.leave_out_split,
                seed=added.seed, splits=("train", "validation"),
                validation_group=added.leave_out_group)
        except DataError as e:  # its advice names the classifier's flag
            raise DataError(
                f"--leave-out-group {added.leave_out_group!r}: "
                + e.reason.replace("--validation-group", "--leave-out-group"),
                path=e.path, line=e.line) from None
        texts = data.train.texts
        leave_out = {"group": added.leave_out_group,
                     "fraction": float(added.leave_out_split),
                     "seed": int(added.seed), "texts": len(data.validation)}
    fp.update_str(f"added_texts:{digest}:"
                  f"{None if leave_out is None else sorted(leave_out.items())}")
    record = {"source": recorded_source(src.spec), "sha256": digest, "texts": len(texts),
              "leave_out": leave_out}
    return list(texts), record


# ------------------------------------------------------------------ loading


def _encode(vocab: Vocabulary, tokens, counts: dict, split: str) -> np.ndarray:
    ids = vocab.encode(tokens)
    counts[f"{split}_tokens"] = int(ids.size)
    counts[f"{split}_oov"] = vocab.count_unknown(tokens)
    return ids


def check_carve_fraction(source, fraction) -> None:
    """`ValueError` unless `fraction` (`--validation-split`) can carve a
    validation split off `source`: a text file or a CSV/TSV of reviews
    needs one in (0, 1); a PTB folder or a TFDS corpus brings its own
    validation split and ignores it."""
    from training.data.sources import resolve_source

    if resolve_source(source).kind in ("text", "csv", "tsv") and \
            not 0.0 < float(fraction) < 1.0:
        raise ValueError(
            "a language model validates on the last --validation-split of "
            f"its corpus, so it must be in (0, 1) for {source} (a PTB folder "
            f"brings its own validation file). Received: validation_split={fraction!r}")


def load_language_model(
    source,
    *,
    level: str = "auto",
    vocab: Vocabulary | None = None,
    max_tokens: int | None = None,
    validation_fraction: float = 0.1,
    char_vocab_from: str = "train",
    oov_token: str = DEFAULT_OOV_TOKEN,
    data_dir: str | None = None,
    text_column: str | None = None,
    add_texts: AddedTexts | None = None,
    reverse: bool = False,
) -> LanguageModelData:
    """Loads a language-model corpus as token-id streams.

    Word level (a PTB-style folder: `*.train.txt`, `*.valid.txt`, optional
    `*.test.txt`): whitespace tokens, `<eos>` appended at every line end
    (a blank line becomes a lone `<eos>`, counted in `counts`). The
    vocabulary is built from train, ordered by frequency then
    alphabetically; valid/test tokens unseen in train map to `<unk>` (PTB
    already contains `<unk>`, which keeps its frequency rank; otherwise it
    is appended last).

    Reviews (a `.csv`/`.tsv` file, e.g. IMDB's `unsup.csv`): word level,
    each text of the text column standardised as a classifier's
    `TextVectorization` does (`text_tokens(t, "lower_and_strip_punctuation")`,
    so `zoo train --init-from` can share the vocabulary), then `<eos>`. The
    last `validation_fraction` of the texts (whole texts) is validation.
    Tokens a saved classifier vocabulary cannot hold (with a line break
    other than "\n") map to `<unk>`.

    Character level (a `.txt` file, or `tfds:tiny_shakespeare`): a file is
    split into its first `1 - validation_fraction` characters (train) and
    the rest (validation); TFDS splits are used as they are. The
    vocabulary is the sorted distinct characters (of train, or of the
    whole file with `char_vocab_from="all"`) followed by the OOV token;
    unseen characters map to the OOV id.

    Args:
        source: SOURCE string or `Source`.
        level: `"word"`, `"char"` or `"auto"` (default: word for a folder,
            char for a `.txt` file and `tfds:tiny_shakespeare`).
        vocab: use this vocabulary (e.g. `Vocabulary.load(run_dir)` when
            resuming) instead of building one. Defaults to `None`.
        max_tokens: word level: cap the vocabulary size (OOV included);
            rarer words map to `<unk>`. Defaults to `None` (no cap).
        validation_fraction: char-level file: share of characters at the
            end held out as validation. Defaults to `0.1`.
        char_vocab_from: `"train"` (default) or `"all"`.
        oov_token: the OOV token. Defaults to `"<unk>"`.
        data_dir: TFDS data dir. Defaults to `None`.
        text_column: reviews: the text column. Defaults to the first of
            `text`, `sentence`, `review`.
        add_texts: reviews: an `AddedTexts`, whose texts join the training
            split after the corpus's own (validation stays the corpus's
            last share, so perplexities stay comparable); recorded in
            `added_texts`. Defaults to `None`.
        reverse: every split's token stream reversed (`reversed()`), for
            a backward language model (`LanguageModel(reverse=True)`).
            Validation holds the same texts as without it. Defaults to
            `False`.

    Returns:
        A `LanguageModelData`.

    Raises:
        DataError: missing path, bad layout, bad encoding (file, line and
            byte offset), empty files.

    Example:

    ```python
    data = load_language_model("../shared/data/ptb")
    data.vocab.save(run_dir)
    train_ds = data.dataset("train", batch_size=20, bptt=35)
    steps = lm_steps_per_epoch(len(data.train), batch_size=20, bptt=35)
    ```
    """
    data = _load_corpus(
        source, level=level, vocab=vocab, max_tokens=max_tokens,
        validation_fraction=validation_fraction,
        char_vocab_from=char_vocab_from, oov_token=oov_token,
        data_dir=data_dir, text_column=text_column, add_texts=add_texts)
    return data.reversed() if reverse else data


def _load_corpus(source, *, level, vocab, max_tokens, validation_fraction,
                 char_vocab_from, oov_token, data_dir, text_column,
                 add_texts):
    """`load_language_model` without `reverse`."""
    src = resolve_source(source)
    if add_texts is not None and src.kind not in ("csv", "tsv"):
        raise ValueError(
            "--add-texts adds texts to a .csv/.tsv corpus of reviews; "
            f"{src.spec} is a {src.kind} source. Received: "
            f"add_texts={add_texts.source!r}")
    if level == "auto":
        if src.kind in ("ptb", "csv", "tsv"):
            level = "word"
        elif src.kind == "text" or (src.kind == "tfds" and src.tfds_name == "tiny_shakespeare"):
            level = "char"
        else:
            raise DataError(
                f"{src.kind} source is not a language-model corpus; expected a "
                "PTB-style folder, a .csv/.tsv of reviews, a .txt file or "
                "tfds:tiny_shakespeare",
                path=src.spec if src.path else None,
            )
    if level not in ("word", "char"):
        raise ValueError(f"level must be 'word', 'char' or 'auto', got {level!r}")
    if char_vocab_from not in ("train", "all"):
        raise ValueError(f"char_vocab_from must be 'train' or 'all', got {char_vocab_from!r}")

    counts: dict = {}
    texts: dict = {}  # split -> str
    described = []
    carve = {"how": "the source's validation split", "fraction": None}
    digest = None
    if src.kind == "ptb":
        fp = Fingerprint("language_model/folder")
        for split, path in src.files.items():
            raw = read_bytes(path)
            fp.update_bytes(f"{split}:{os.path.basename(path)}", raw)
            texts[split] = decode_utf8(raw, path)
            described.append(f"{split}: {os.path.basename(path)}")
    elif src.kind == "text":
        if not 0.0 < validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
        fp = Fingerprint("language_model/file")
        raw = read_bytes(src.path)
        fp.update_bytes(os.path.basename(src.path), raw)
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        whole = decode_utf8(raw, src.path)
        cut = int(round(len(whole) * (1.0 - validation_fraction)))
        if cut <= 1 or cut >= len(whole) - 1:
            raise DataError(
                f"file too short ({len(whole)} characters) to split", path=src.path)
        texts["train"], texts["validation"] = whole[:cut], whole[cut:]
        carve = {"how": "the last share of the file's characters, contiguous",
                 "fraction": float(validation_fraction)}
        described.append(
            f"train: first {cut} of {len(whole)} characters of "
            f"{os.path.basename(src.path)}; validation: last {len(whole) - cut} "
            f"({validation_fraction:g}), contiguous, no shuffle")
    elif src.kind in ("csv", "tsv"):
        if level != "word":
            raise ValueError("a CSV/TSV corpus (reviews) is word level. "
                             f"Received: level={level!r}")
        return _load_reviews(src, vocab=vocab, max_tokens=max_tokens,
                             validation_fraction=validation_fraction,
                             oov_token=oov_token, text_column=text_column,
                             add_texts=add_texts)
    elif src.kind == "tfds":
        builder = tfds_builder(src.tfds_name, data_dir)
        fp = Fingerprint("language_model/tfds")
        fp.update_str(f"{src.tfds_name}@{builder.version}")
        if "text" not in builder.info.features:
            raise DataError(f"tfds:{src.tfds_name}: no 'text' feature")
        available = tuple(builder.info.splits.keys()) or ("train", "validation", "test")
        for split in ("train", "validation", "test"):
            if split not in available:
                continue
            fp.update_str(split)
            parts = []
            for ex in tfds_split_examples(src.tfds_name, split, data_dir):
                t = ex["text"]
                parts.append(t.decode("utf-8") if isinstance(t, bytes) else str(t))
            texts[split] = "".join(parts) if level == "char" else "\n".join(parts)
            described.append(f"{split}: tfds:{src.tfds_name} split {split!r}")
        if "train" not in texts:
            raise DataError(f"tfds:{src.tfds_name} has no train split")
    else:
        raise DataError(
            f"{src.kind} source is not a language-model corpus; expected a "
            "PTB-style folder, a .txt file or tfds:tiny_shakespeare",
            path=src.spec,
        )

    if vocab is not None:
        described.append(f"vocabulary: given ({len(vocab)} tokens)")
    if level == "word":
        tokens = {s: corpus_tokens(t, "word", counts, s) for s, t in texts.items()}
        if vocab is None:
            vocab = Vocabulary.from_counts(
                collections.Counter(tokens["train"]), max_tokens=max_tokens,
                oov_token=oov_token)
            described.append(
                f"vocabulary: {len(vocab)} train tokens by frequency then "
                f"alphabetical, OOV {vocab.oov_token!r}; <eos> at each line end")
    else:
        tokens = {s: t for s, t in texts.items()}
        if vocab is None:
            base = texts["train"] if char_vocab_from == "train" else "".join(texts.values())
            vocab = Vocabulary.from_chars(base, oov_token=oov_token)
            described.append(
                f"vocabulary: {len(vocab) - 1} sorted distinct characters of "
                f"{char_vocab_from} + OOV {vocab.oov_token!r}")

    ids = {s: _encode(vocab, tokens[s], counts, s) for s in texts}
    return LanguageModelData(
        train=ids["train"],
        validation=ids.get("validation"),
        test=ids.get("test"),
        vocab=vocab,
        level=level,
        fingerprint=fp.hexdigest(),
        description="; ".join(described),
        source=recorded_source(src.spec),
        counts=counts,
        validation_carve=carve,
        sha256=digest,
    )


REVIEW_STANDARDIZE = "lower_and_strip_punctuation"


def _load_reviews(src, *, vocab, max_tokens, validation_fraction, oov_token,
                  text_column, add_texts=None):
    """A CSV/TSV text column as a word-level corpus (see `load_language_model`)."""
    from training.data.text_classification import read_text_column
    from zoo.models.classifier import saveable_vocabulary

    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    fp = Fingerprint("language_model/reviews")
    texts, counts = read_text_column(src.path, text_column=text_column, fp=fp)
    n_val = int(round(len(texts) * validation_fraction))
    if n_val < 1 or n_val >= len(texts):
        raise DataError(f"{len(texts)} texts are too few to hold out "
                        f"{validation_fraction:g} as validation", path=src.path)
    parts = {"train": texts[:len(texts) - n_val],
             "validation": texts[len(texts) - n_val:]}
    tokens = {}
    for split, part in parts.items():
        stream = []
        for t in part:
            stream.extend(text_tokens(t, REVIEW_STANDARDIZE))
            stream.append(EOS_TOKEN)
        tokens[split] = stream
        counts[f"{split}_texts"] = len(part)
    described = [
        f"train: first {len(parts['train'])} texts of "
        f"{os.path.basename(src.path)}; validation: last {n_val} "
        f"({validation_fraction:g}), whole texts; each text standardised "
        f"{REVIEW_STANDARDIZE!r} as TextVectorization does, then <eos>"]
    added = None
    if add_texts is not None:
        extra, added = _read_added_texts(add_texts, fp)
        tokens["train"].extend(
            t for text in extra for t in [*text_tokens(text, REVIEW_STANDARDIZE),
                                           EOS_TOKEN])
        counts["train_texts"] += len(extra)
        counts["added_texts"] = len(extra)
        leave = added["leave_out"]
        described.append(
            f"train also: {added['texts']} texts of "
            f"{os.path.basename(added['source'])}" + (
                "" if leave is None else
                f", without the {leave['texts']} of the validation carve by "
                f"{leave['group']!r} (validation_split={leave['fraction']:g}, "
                f"seed={leave['seed']})"))
    if vocab is None:
        freq = collections.Counter(tokens["train"])
        for t in set(freq) - set(saveable_vocabulary(freq)):
            del freq[t]
        vocab = Vocabulary.from_counts(freq, max_tokens=max_tokens,
                                       oov_token=oov_token)
        described.append(f"vocabulary: {len(vocab)} train tokens by frequency "
                         f"then alphabetical, OOV {vocab.oov_token!r}")
    else:
        described.append(f"vocabulary: given ({len(vocab)} tokens)")
    ids = {s: _encode(vocab, tokens[s], counts, s) for s in tokens}
    return LanguageModelData(
        train=ids["train"], validation=ids["validation"], test=None,
        vocab=vocab, level="word", fingerprint=fp.hexdigest(),
        description="; ".join(described), source=recorded_source(src.spec),
        counts=counts,
        validation_carve={"how": "the last share of the texts, whole texts",
                          "fraction": float(validation_fraction)},
        standardize=REVIEW_STANDARDIZE, added_texts=added,
        sha256=file_sha256(src.path))


# ------------------------------------------------------------------ batching


def batchify(ids, batch_size: int) -> np.ndarray:
    """Cuts a token stream into `batch_size` contiguous rows.

    Row `r` is `ids[r * L:(r + 1) * L]` with `L = len(ids) // batch_size`;
    the last `len(ids) % batch_size` tokens are dropped.

    Args:
        ids: 1-D token-id stream.
        batch_size: number of rows (parallel streams).

    Returns:
        Array of shape `(batch_size, L)`.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    length = len(ids) // batch_size
    if length < 2:
        raise ValueError(
            f"{len(ids)} tokens are too few for batch_size={batch_size} "
            "(each row needs at least 2 tokens)")
    return ids[: length * batch_size].reshape(batch_size, length)


def lm_steps_per_epoch(num_tokens: int, *, batch_size: int, bptt: int,
                       include_partial: bool = False) -> int:
    """Number of windows (steps) `lm_windows` / `make_lm_dataset` yield.

    Args:
        num_tokens: length of the token stream.
        batch_size: rows.
        bptt: window length (time steps).
        include_partial: count a final shorter window. Defaults to `False`.
    """
    if bptt < 1:
        raise ValueError(f"bptt must be >= 1, got {bptt}")
    usable = num_tokens // batch_size - 1  # positions with a next token
    if usable < 1:
        return 0
    full, rest = divmod(usable, bptt)
    return full + (1 if include_partial and rest else 0)


def lm_windows(ids, *, batch_size: int, bptt: int, include_partial: bool = False):
    """Plain-numpy BPTT windows, in order.

    The stream is `batchify`-ed into `(batch_size, L)`; window `w` takes
    inputs `rows[:, w*bptt:(w+1)*bptt]` and targets shifted by one,
    `rows[:, w*bptt+1:(w+1)*bptt+1]`. So row `r` of consecutive windows
    continues row `r` of the previous one: a stateful RNN carries its
    state across windows.

    Args:
        ids: 1-D token-id stream.
        batch_size: rows. Use `1` for exact evaluation (every token but the
            first is predicted once, with all preceding context).
        bptt: window length.
        include_partial: keep the final window shorter than `bptt` (covers
            the whole row; use for evaluation). Defaults to `False` (all
            windows have `bptt` steps; for training).

    Returns:
        A list of `(inputs, targets)` pairs of int arrays shaped
        `(batch_size, bptt)` (the last one may be shorter with
        `include_partial=True`).
    """
    rows = batchify(ids, batch_size)
    n = lm_steps_per_epoch(len(np.asarray(ids)), batch_size=batch_size, bptt=bptt,
                           include_partial=include_partial)
    usable = rows.shape[1] - 1
    out = []
    for w in range(n):
        a, b = w * bptt, min((w + 1) * bptt, usable)
        out.append((rows[:, a:b], rows[:, a + 1:b + 1]))
    return out


def variable_window_starts(usable: int, bptt: int, count: int, *, seed=0,
                           half_probability: float = 0.05, std: float = 5.0,
                           min_length: int = 5, max_delta: int = 20):
    """Variable-length BPTT windows as AWD-LSTM draws them.

    Each window's length is drawn from a normal around `bptt` (around
    `bptt / 2` with probability `half_probability`) with deviation `std`,
    at least `min_length` and at most `bptt + max_delta`. `count` windows
    are drawn; if they overrun the `usable` positions of a row, every
    length is scaled down so that they fit. Consecutive windows are
    contiguous, so a stateful model carries its state across them.

    Args:
        usable: positions of a row that have a next token (row length - 1).
        bptt: the mean window length.
        count: number of windows (the fixed-length windows' count).
        seed: random seed (the trainer uses the run's seed plus the epoch).

    Returns:
        `[(start, end), ...]`, `count` contiguous windows from position 0.
    """
    rng = np.random.default_rng(seed)
    lengths = []
    for _ in range(count):
        mean = bptt if rng.random() >= half_probability else bptt / 2.0
        length = int(rng.normal(mean, std))
        lengths.append(min(max(min_length, length), bptt + max_delta, usable))
    lengths = np.array(lengths, dtype=np.int64)
    if lengths.sum() > usable:
        lengths = np.maximum(1, (lengths * usable) // lengths.sum())
        while lengths.sum() > usable:  # rounding up with the floor of 1
            lengths[np.argmax(lengths)] -= 1
    ends = np.cumsum(lengths)
    starts = ends - lengths
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def make_lm_dataset(ids, *, batch_size: int, bptt: int, include_partial: bool = False):
    """`tf.data.Dataset` of BPTT windows `(inputs, targets)`, in order.

    Same windows as `lm_windows`; no shuffling, so with a stateful RNN of
    fixed batch size `batch_size` the state carries from one window to the
    next (reset it at the start of each epoch/evaluation). Its
    cardinality is `lm_steps_per_epoch(...)`.

    Evaluation: use the same function on the validation/test stream with
    `include_partial=True`; `batch_size=1` gives exact perplexity over the
    whole split, a larger `batch_size` is faster but drops
    `len(ids) % batch_size` tokens and restarts context at each row.

    Args:
        ids: 1-D token-id stream.
        batch_size: rows per window.
        bptt: time steps per window.
        include_partial: see `lm_windows`. Defaults to `False`.

    Returns:
        A prefetched `tf.data.Dataset` of `(int32 [batch_size, bptt],
        int32 [batch_size, bptt])`.

    Example:

    ```python
    ds = make_lm_dataset(data.train, batch_size=20, bptt=35)
    model.fit(ds, epochs=1)
    ```
    """
    import tensorflow as tf

    windows = lm_windows(ids, batch_size=batch_size, bptt=bptt,
                         include_partial=include_partial)
    if not windows:
        raise ValueError(
            f"{len(np.asarray(ids))} tokens give no window for "
            f"batch_size={batch_size}, bptt={bptt}")
    full = [w for w in windows if w[0].shape[1] == bptt]
    tail = [w for w in windows if w[0].shape[1] != bptt]

    def stack(ws, k):
        return np.stack([w[k] for w in ws]).astype(np.int32)

    ds = None
    if full:
        ds = tf.data.Dataset.from_tensor_slices((stack(full, 0), stack(full, 1)))
    if tail:
        last = tf.data.Dataset.from_tensors(
            (tail[0][0].astype(np.int32), tail[0][1].astype(np.int32)))
        ds = last if ds is None else ds.concatenate(last)
    return ds.prefetch(tf.data.AUTOTUNE)
