"""Text classification (sentiment) data: CSV/TSV files, aclImdb trees, TFDS."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
import sys
from typing import Sequence

import numpy as np

from training.data.errors import DataError
from training.data.files import Fingerprint, decode_utf8, read_bytes
from training.data.sources import (
    recorded_source,
    resolve_source,
    tfds_builder,
    tfds_split_examples,
)

DEFAULT_TEXT_COLUMNS = ("text", "sentence", "review")
DEFAULT_LABEL_COLUMNS = ("label", "sentiment")
ACLIMDB_CLASSES = ("neg", "pos")

# TFDS datasets whose features / splits are known; others are inspected.
_TFDS_KNOWN = {
    "imdb_reviews": {"text": "text", "label": "label", "splits": ("train", "test")},
    "glue/sst2": {
        "text": "sentence",
        "label": "label",
        "splits": ("train", "validation"),  # GLUE test labels are hidden (-1)
    },
}

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclasses.dataclass
class LabeledTexts:
    """One split: parallel `texts` (list of str) and `labels` (int32 array)."""

    texts: list
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)


@dataclasses.dataclass
class TextClassificationData:
    """What `load_text_classification` returns.

    Attributes:
        train: `LabeledTexts` (shuffled with `seed`).
        validation: `LabeledTexts`, or `None` if `validation_split=0` and
            the source has no validation split.
        test: `LabeledTexts` if `"test"` was requested, else `None`.
        class_names: label names; label id `i` is `class_names[i]`.
        fingerprint: `"sha256:..."` over the names and bytes of every file
            read (for TFDS: over dataset name, version and split names).
        description: how each split was obtained, e.g. how validation was
            carved (fraction, seed, stratified); record it in the run dir.
        source: the SOURCE string.
        counts: what was read and skipped, e.g. `{"train": 900,
            "validation": 100, "blank_lines_skipped": 2}`. Nothing is
            dropped without being counted here.
        validation_carve: how validation was obtained, for the run
            directory: `{"how": ..., "fraction": ...}`; `fraction` is the
            share of train carved off, or `None` for the source's own split.
    """

    train: LabeledTexts
    validation: LabeledTexts | None
    test: LabeledTexts | None
    class_names: list
    fingerprint: str
    description: str
    source: str
    counts: dict
    validation_carve: dict = dataclasses.field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def summary(self) -> dict:
        """JSON-serialisable metadata for the run directory."""
        return {
            "source": self.source,
            "fingerprint": self.fingerprint,
            "description": self.description,
            "class_names": list(self.class_names),
            "counts": dict(self.counts),
        }


# ------------------------------------------------------------------ readers
# Each reader returns {split: (texts, raw_labels, where)} where `where[i]` is
# a (path, line) pair for error messages, plus a list of split names the
# source provides and the count of skipped blank lines.


def _pick_column(header, wanted, defaults, what, path, flag=None):
    """The index of the column `wanted` (exact), else of the first of
    `defaults` in the header, spelled as they are, else in another case
    (`Text`, `LABEL`). A name the header holds twice as it is chosen, or in
    two other cases when none is exact, is an error, not a guess."""
    found = None
    if wanted is not None:
        if wanted in header:
            found = wanted
    else:
        found = next((name for name in defaults if name in header), None)
        if found is None:  # another case, when no exact name is there
            for name in defaults:
                spelled = [h for h in header if h.lower() == name]
                if len(spelled) > 1:
                    raise DataError(
                        f"the header names the {what} column {name!r} more "
                        f"than once, as {' and '.join(map(repr, spelled))}; "
                        "rename one of them", path=path, line=1)
                if spelled:
                    found = spelled[0]
                    break
    if found is not None:
        if header.count(found) > 1:
            raise DataError(
                f"the header names the {what} column {found!r} more than "
                f"once ({', '.join(map(repr, header))}); rename one of them",
                path=path, line=1)
        return header.index(found)
    asked = repr(wanted) if wanted is not None else " / ".join(map(repr, defaults))
    advice = (f"Pass {flag} with one of them" if flag is not None else
              f"Name the {what} column {defaults[0]!r} in the header" if
              wanted is None else f"Pass {what}_column=... with one of them")
    raise DataError(
        f"no {what} column {asked} in the header; columns found: "
        f"{', '.join(map(repr, header))}. {advice}",
        path=path,
        line=1,
    )


def _read_delimited(path, delimiter, text_column, label_column, counts, fp,
                    group_column=None, labeled=True):
    """Reads a CSV/TSV: `(texts, labels, where, groups)`.

    `labels` is `None` when `labeled=False` (a language model's corpus);
    `groups` is `None` without `group_column`.
    """
    raw = read_bytes(path)
    fp.update_bytes(os.path.basename(path), raw)
    text = decode_utf8(raw, path)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DataError("NUL byte in text file (binary file?)", path=path, line=line)
    if delimiter == "\t":
        # IANA TSV: no quoting, a '"' is an ordinary character.
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t",
                            quoting=csv.QUOTE_NONE)
    else:
        # RFC 4180: quoted fields may hold commas, quotes ("") and newlines.
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=",",
                            strict=True)
    texts, labels, where, groups = [], [], [], []
    header = None
    blank = 0
    gi = None
    last = 0
    while True:
        start = last + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise DataError(f"malformed CSV ({e})", path=path, line=start) from None
        last = reader.line_num
        if not row or (len(row) == 1 and row[0].strip() == ""):
            blank += 1
            continue
        if header is None:
            header = [h.strip() for h in row]
            ti = _pick_column(header, text_column, DEFAULT_TEXT_COLUMNS, "text", path)
            if labeled:
                li = _pick_column(header, label_column, DEFAULT_LABEL_COLUMNS,
                                  "label", path)
            if group_column is not None:
                gi = _pick_column(header, group_column, (), "group", path,
                                  flag="--validation-group")
            continue
        if len(row) != len(header):
            raise DataError(
                f"expected {len(header)} fields ({', '.join(header)}), found "
                f"{len(row)}",
                path=path,
                line=start,
            )
        if not row[ti].strip():
            raise DataError(f"empty text field {header[ti]!r}", path=path, line=start)
        if labeled and not row[li].strip():
            raise DataError(f"empty label field {header[li]!r}", path=path, line=start)
        if gi is not None and not row[gi].strip():
            raise DataError(f"empty group field {header[gi]!r}", path=path, line=start)
        texts.append(row[ti])
        if labeled:
            labels.append(row[li].strip())
        if gi is not None:
            groups.append(row[gi].strip())
        where.append((path, start))
    if header is None:
        raise DataError("file is empty", path=path)
    if not texts:
        raise DataError("no data rows after the header", path=path)
    counts["blank_lines_skipped"] = counts.get("blank_lines_skipped", 0) + blank
    return (texts, labels if labeled else None, where,
            groups if group_column is not None else None)


def read_text_column(path, *, text_column=None, fp=None):
    """The texts of a CSV/TSV file's text column (no label needed).

    For language-model corpora such as IMDB's `unsup.csv`; the same strict
    reading as `load_text_classification` (RFC 4180 CSV, unquoted TSV,
    errors naming the file and line).

    Args:
        path: a `.csv` or `.tsv` file.
        text_column: the column; defaults to the first of `text`,
            `sentence`, `review`.
        fp: an optional `Fingerprint` to update with the file's bytes.

    Returns:
        `(texts, counts)`: the list of texts and `{"blank_lines_skipped": n}`.
    """
    counts = {}
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    texts, _, _, _ = _read_delimited(
        path, delimiter, text_column, None, counts,
        fp if fp is not None else Fingerprint("text_column"), labeled=False)
    return texts, counts


_IMDB_TITLE = re.compile(r"/title/(tt\d+)")


def _aclimdb_movies(root, split, cls):
    """`{review id: movie id}` from `{split}/urls_{cls}.txt`, or `None`.

    Line `i` of `urls_pos.txt` is the IMDb page of the movie that review
    `i_*.txt` of `pos/` is about (the distribution's README); the movie id
    is the `tt...` title id of that URL.
    """
    path = os.path.join(root, split, f"urls_{cls}.txt")
    if not os.path.isfile(path):
        return None
    lines = decode_utf8(read_bytes(path), path).splitlines()
    movies = {}
    for i, line in enumerate(lines):
        m = _IMDB_TITLE.search(line)
        if not line.strip():
            continue
        if m is None:
            raise DataError(f"no IMDb title id (/title/tt...) in {line.strip()!r}",
                            path=path, line=i + 1)
        movies[i] = m.group(1)
    return movies


def _read_aclimdb_split(root, split, fp, want_groups=False):
    texts, labels, where, groups = [], [], [], []
    for cls in ACLIMDB_CLASSES:
        folder = os.path.join(root, split, cls)
        if not os.path.isdir(folder):
            raise DataError(f"missing folder {split}/{cls}", path=root)
        names = sorted(n for n in os.listdir(folder) if n.endswith(".txt"))
        if not names:
            raise DataError("no .txt files", path=folder)
        movies = _aclimdb_movies(root, split, cls) if want_groups else None
        if want_groups and movies is None:
            raise DataError(
                f"--validation-group movie needs {split}/urls_{cls}.txt (the "
                "distribution's list of movie URLs); it is missing", path=root)
        for name in names:
            path = os.path.join(folder, name)
            raw = read_bytes(path)
            fp.update_bytes(f"{split}/{cls}/{name}", raw)
            text = decode_utf8(raw, path)
            texts.append(text)
            labels.append(cls)
            where.append((path, 1))
            if want_groups:
                stem = name.split("_", 1)[0]
                if not stem.isdigit() or int(stem) not in movies:
                    raise DataError(
                        f"review {name} has no line in urls_{cls}.txt "
                        f"({len(movies)} lines)", path=path)
                groups.append(movies[int(stem)])
    return texts, labels, where, (groups if want_groups else None)


def _tfds_texts(name, split, data_dir, text_key, label_key):
    texts, labels = [], []
    for ex in tfds_split_examples(name, split, data_dir):
        t = ex[text_key]
        texts.append(t.decode("utf-8") if isinstance(t, bytes) else str(t))
        labels.append(int(ex[label_key]))
    return texts, labels


# ------------------------------------------------------------------ labels


def _as_int(s: str):
    """The label as an int when it is one (`"1"`, `" 2"`, `"1.0"`), else `None`."""
    try:
        return int(s)
    except ValueError:
        pass
    try:
        f = float(s)
    except ValueError:
        return None
    return int(f) if f.is_integer() else None


def _is_int(s: str) -> bool:
    return _as_int(s) is not None


def _infer_class_names(raw_labels: Sequence[str]) -> list:
    distinct = set(raw_labels)
    if all(_is_int(s) for s in distinct):
        return [str(v) for v in sorted({_as_int(s) for s in distinct})]
    return sorted(distinct)


def _map_labels(raw_labels, where, class_names):
    """Class ids of `raw_labels`: a label is a class name (`"1.0"` is the
    class `"1"`), or, when no class name is an integer, a class's position
    (tfds gives ints for classes named `neg`/`pos`)."""
    index = {c: i for i, c in enumerate(class_names)}
    # integer class names by value, so that "1", "1.0" and " 1" meet (a run
    # trained before whole-number floats were ints may have "0.0", "1.0")
    by_value = {}
    for i, c in enumerate(class_names):
        if _is_int(c):
            by_value.setdefault(_as_int(c), i)
    by_position = not by_value
    out = np.empty(len(raw_labels), dtype=np.int32)
    for k, lab in enumerate(raw_labels):
        number = _as_int(lab)
        if lab in index:
            out[k] = index[lab]
        elif number is not None and number in by_value:
            out[k] = by_value[number]
        elif by_position and number is not None and 0 <= number < len(class_names):
            out[k] = number
        else:
            path, line = where[k]
            raise DataError(
                f"label {lab!r} is not one of the classes {list(class_names)}",
                path=path,
                line=line,
            )
    return out


def split_validation(labels: np.ndarray, fraction: float, seed: int):
    """Seeded, stratified train/validation split of example indices.

    From each class, `round(fraction * class_size)` examples go to
    validation; both index arrays are then shuffled with the same seed.

    Args:
        labels: int label per example.
        fraction: share of each class held out, in `[0, 1)`.
        seed: seed of the `numpy.random.default_rng` shuffle.

    Returns:
        `(train_indices, validation_indices)`, int64 arrays.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    train, val = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(round(fraction * len(idx)))
        val.append(idx[:k])
        train.append(idx[k:])
    train = np.concatenate(train) if train else np.zeros(0, np.int64)
    val = np.concatenate(val) if val else np.zeros(0, np.int64)
    return rng.permutation(train), rng.permutation(val)


def split_validation_by_group(labels: np.ndarray, groups: Sequence[str],
                              fraction: float, seed: int):
    """Seeded train/validation split that keeps every group on one side.

    Groups (e.g. the movie of each IMDB review) are visited in a seeded
    random order; a group joins validation when that brings the
    validation's count of every class closer to `fraction` of the class
    (stratified by label as far as the groups allow). No group has examples
    on both sides.

    Args:
        labels: int label per example.
        groups: group value per example (same length).
        fraction: target share of each class held out, in `(0, 1)`.
        seed: seed of the `numpy.random.default_rng` order.

    Returns:
        `(train_indices, validation_indices)`, int64 arrays, each shuffled.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_split must be in (0, 1) for a grouped "
                         f"carve. Received: validation_split={fraction}")
    labels = np.asarray(labels)
    if len(groups) != len(labels):
        raise ValueError(f"{len(groups)} groups for {len(labels)} labels")
    names, inverse = np.unique(np.asarray(groups, dtype=object).astype(str),
                               return_inverse=True)
    classes = np.unique(labels)
    class_pos = np.searchsorted(classes, labels)
    # per-group class counts
    table = np.zeros((len(names), len(classes)), np.int64)
    np.add.at(table, (inverse, class_pos), 1)
    target = fraction * table.sum(axis=0)
    rng = np.random.default_rng(seed)
    held = np.zeros(len(classes))
    chosen = np.zeros(len(names), bool)
    for g in rng.permutation(len(names)):
        after = held + table[g]
        if np.abs(after - target).sum() < np.abs(held - target).sum():
            held = after
            chosen[g] = True
    in_val = chosen[inverse]
    return (rng.permutation(np.flatnonzero(~in_val)),
            rng.permutation(np.flatnonzero(in_val)))


# ------------------------------------------------------------------ loader


def classifier_splits(data) -> tuple:
    """The splits `zoo train` reads of a classifier's source, and so the ones
    its fingerprint covers: train and validation, and IMDB's test reviews
    (an aclImdb folder that has `test/neg` and `test/pos`,
    `tfds:imdb_reviews`). `zoo evaluate` reads the same ones (and the split
    it scores), so that the source it trained on gives the fingerprint it
    recorded."""
    src = resolve_source(data)
    splits = ("train", "validation")
    if (src.kind == "aclimdb" and all(
            os.path.isdir(os.path.join(src.path, "test", c))
            for c in ACLIMDB_CLASSES)) or (
            src.kind == "tfds" and src.tfds_name == "imdb_reviews"):
        splits += ("test",)
    return splits


def load_text_classification(
    source,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    class_names: Sequence[str] | None = None,
    validation_split: float = 0.1,
    seed: int = 1337,
    splits: Sequence[str] = ("train", "validation"),
    data_dir: str | None = None,
    validation_data=None,
    validation_group: str | None = None,
    validation_seed: int | None = None,
) -> TextClassificationData:
    """Loads a text classification (e.g. sentiment) dataset into memory.

    Sources (see `resolve_source`):

    - `.csv` (RFC 4180: quoted fields may contain commas, `""` and
      newlines) or `.tsv` (tab separated, no quoting) file with a header
      row. Text column defaults to the first of `text`, `sentence`,
      `review`; label column to `label`, `sentiment`.
    - `aclImdb` tree: `train/{neg,pos}/*.txt` (+ `test/` for the test
      split); classes `["neg", "pos"]`. Text is kept verbatim (`<br />`
      included), as TFDS does.
    - `tfds:imdb_reviews`, `tfds:glue/sst2` (or another TFDS dataset with
      a text and a `ClassLabel` feature): class names come from TFDS.

    Labels may be ints or strings. Without `class_names`, classes are the
    distinct labels of the train split, sorted (numerically if all are
    ints, `1.0` read as `1`, so `0/1` stay `0/1`); fewer than two is a
    `DataError`. A label is one of the class names (an int matches an
    integer name by value), or, when no name is an integer, an int index
    into them (tfds gives ints for `neg`/`pos`); anything else, a label of
    another split that train lacks included, is a `DataError`.

    Validation, in this order: `validation_data` (a separate file, e.g.
    SST-2's official `dev.tsv`); the source's own validation split (GLUE
    SST-2 on TFDS); a seeded carve of `validation_split` of train, by group
    with `validation_group` (no group on both sides, stratified by label as
    far as groups allow), else stratified at random. A random carve of
    data with related examples (phrases of one sentence, reviews of one
    movie) leaks and reads high: prefer the first two, or a grouped carve.

    Args:
        source: SOURCE string or `Source`.
        text_column: text column of a CSV/TSV (or TFDS feature). Defaults to
            `None` (auto).
        label_column: label column / feature. Defaults to `None` (auto).
        class_names: declared classes, in id order. Defaults to `None`
            (inferred).
        validation_split: share of train held out when the source has no
            validation split; `0` for none. Defaults to `0.1`.
        seed: seed of the validation carve and of the train order.
            Defaults to `1337`.
        splits: splits to return; add `"test"` for the source's labeled
            test split (aclImdb `test/`, `tfds:imdb_reviews`). Defaults to
            `("train", "validation")`.
        data_dir: TFDS data dir. Defaults to `None`.
        validation_data: SOURCE of the validation split: a `.csv`/`.tsv`
            file (same text and label columns) or an aclImdb folder (its
            `train/` reviews). It is never trained on. Defaults to `None`.
        validation_group: a CSV/TSV column (or `"movie"` for an aclImdb
            tree with its `urls_*.txt`) whose values never fall on both
            sides of the carve. Defaults to `None` (random carve).
        validation_seed: seed of the carve alone, so that runs of
            different `seed`s validate on one carve (`zoo train
            --validation-seed`); recorded in `validation_carve["seed"]`.
            An error where nothing is carved. Defaults to `None` (`seed`
            seeds the carve).

    Returns:
        A `TextClassificationData`.

    Raises:
        DataError: missing path, bad layout, missing columns, ragged rows,
            bad encoding, empty files/fields, unknown labels; the message
            names the file and line.

    Example:

    ```python
    data = load_text_classification("../shared/data/imdb/train.csv",
                                     class_names=["neg", "pos"])
    ds = make_text_classification_dataset(data.train, batch_size=64,
                                          shuffle=True, bucket_boundaries="auto")
    ```
    """
    splits = tuple(splits)
    unknown = set(splits) - {"train", "validation", "test"}
    if unknown or "train" not in splits:
        raise ValueError(
            f"splits must include 'train' and be among train/validation/test, got {splits}"
        )
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
    if validation_data is not None and validation_group is not None:
        raise ValueError(
            "validation_data and validation_group exclude each other: a "
            "separate validation set is not carved. Received: "
            f"validation_data={validation_data!r}, "
            f"validation_group={validation_group!r}")
    if validation_group is not None and validation_split == 0:
        raise ValueError(
            "validation_group carves validation from train by group, and "
            "validation_split=0 carves nothing; give a share (e.g. "
            "--validation-split 0.1). Received: "
            f"validation_group={validation_group!r}, validation_split=0")
    if validation_seed is not None and (validation_data is not None
                                        or validation_split == 0):
        raise ValueError(
            "validation_seed seeds the carve of validation from train; "
            "nothing is carved here. Received: "
            f"validation_seed={validation_seed!r}, "
            f"validation_data={validation_data!r}, "
            f"validation_split={validation_split!r}")
    src = resolve_source(source)
    counts = {}
    raw = {}  # split -> (texts, raw labels, where, groups)
    described = {}
    if validation_group is not None and src.kind not in ("csv", "tsv", "aclimdb"):
        raise DataError(
            f"--validation-group needs a CSV/TSV file or an aclImdb folder; "
            f"{src.spec} is a {src.kind} source", path=src.spec)

    if src.kind in ("csv", "tsv"):
        fp = Fingerprint("text_classification/file")
        if "test" in splits:
            raise DataError("a single CSV/TSV file has no test split", path=src.spec)
        raw["train"] = _read_delimited(
            src.path, "\t" if src.kind == "tsv" else ",", text_column,
            label_column, counts, fp, group_column=validation_group,
        )
        described["train"] = f"train: {os.path.basename(src.path)}"
        have_val = False
    elif src.kind == "aclimdb":
        fp = Fingerprint("text_classification/aclimdb")
        if class_names is None:
            class_names = list(ACLIMDB_CLASSES)
        if validation_group not in (None, "movie"):
            raise DataError(
                f"an aclImdb folder has one group column, 'movie' (from "
                f"urls_*.txt); got --validation-group {validation_group!r}",
                path=src.spec)
        for split in ("train", "test"):
            if split in splits:
                raw[split] = _read_aclimdb_split(
                    src.path, split, fp,
                    want_groups=split == "train" and validation_group is not None)
                described[split] = f"{split}: aclImdb/{split}/{{neg,pos}}"
        have_val = False
    elif src.kind == "tfds":
        builder = tfds_builder(src.tfds_name, data_dir)
        fp = Fingerprint("text_classification/tfds")
        fp.update_str(f"{src.tfds_name}@{builder.version}")
        known = _TFDS_KNOWN.get(src.tfds_name, {})
        features = builder.info.features
        tkey = text_column or known.get("text") or next(
            (c for c in DEFAULT_TEXT_COLUMNS if c in features), None)
        lkey = label_column or known.get("label") or next(
            (c for c in DEFAULT_LABEL_COLUMNS if c in features), None)
        if tkey not in features or lkey not in features:
            raise DataError(
                f"tfds:{src.tfds_name}: text/label features not found "
                f"(features: {', '.join(features.keys())}); pass text_column/label_column"
            )
        names = list(getattr(features[lkey], "names", None) or [])
        if class_names is None:
            if not names:
                raise DataError(f"tfds:{src.tfds_name}: feature {lkey!r} has no class names")
            class_names = names
        available = tuple(builder.info.splits.keys()) or known.get("splits", ("train",))
        if src.tfds_name in _TFDS_KNOWN:
            available = tuple(s for s in available if s in known["splits"])
        have_val = "validation" in available and "validation" in splits
        for split in splits:
            if split == "validation" and not have_val:
                continue
            if split not in available:
                raise DataError(
                    f"tfds:{src.tfds_name} has no labeled {split!r} split "
                    f"(labeled splits: {', '.join(available)})"
                )
            fp.update_str(split)
            texts, ints = _tfds_texts(src.tfds_name, split, data_dir, tkey, lkey)
            where = [(f"tfds:{src.tfds_name}[{split}]", i + 1) for i in range(len(texts))]
            raw[split] = (texts, [names[i] if names and 0 <= i < len(names) else str(i)
                                  for i in ints], where, None)
            described[split] = f"{split}: tfds:{src.tfds_name} split {split!r}"
    else:
        raise DataError(
            f"{src.kind} source is not a text classification dataset; expected "
            "a .csv/.tsv file, an aclImdb folder or tfds:NAME",
            path=src.spec,
        )

    if validation_data is not None:
        if "validation" in splits:
            raw["validation"], val_fp, val_desc = _read_validation_data(
                validation_data, text_column, label_column, counts)
            fp.update_str(f"validation_data:{val_fp}")
            described["validation"] = val_desc
        have_val = True

    if class_names is None:  # from train alone: another split's label that
        # train lacks (a typo, `Positive` for `positive`) is an error below,
        # not a class of its own
        class_names = _infer_class_names(raw["train"][1])
        if len(class_names) < 2:
            raise DataError(
                f"the training examples have one label value only "
                f"({class_names[0] if class_names else 'none'!r}); a classifier "
                "needs two classes or more", path=src.spec)
    class_names = [str(c) for c in class_names]
    if len(set(class_names)) != len(class_names):
        raise ValueError(f"class_names has duplicates: {class_names}")

    out = {}
    for split, (texts, labs, where, _) in raw.items():
        for k, t in enumerate(texts):
            if not t.strip():
                path, line = where[k]
                raise DataError("empty text", path=path, line=line)
        out[split] = LabeledTexts(list(texts), _map_labels(labs, where, class_names))

    train = out["train"]
    rng = np.random.default_rng(seed)
    carve = {"how": "the source's validation split", "fraction": None}
    if validation_data is not None:
        carve = {"how": "a separate validation set (--validation-data)",
                 "fraction": None,
                 "validation_data": recorded_source(validation_data)}
    if validation_seed is not None and have_val:
        raise DataError(
            f"--validation-seed seeds a carve of train, but {src.spec} has "
            "its own validation split, which is not carved", path=src.spec)
    carve_seed = seed if validation_seed is None else int(validation_seed)
    if "validation" in splits and not have_val and validation_split > 0:
        groups = raw["train"][3]
        if groups is not None:
            tr, va = _grouped_carve(train, groups, validation_split, carve_seed,
                                    validation_group, src.spec, class_names)
            n_groups = len(set(groups))
            carve = {"how": f"a carve of train by {validation_group!r}: no "
                            "group on both sides, stratified by label as far "
                            "as groups allow (seeded)",
                     "fraction": float(validation_split),
                     "group": validation_group}
            described["validation"] = (
                f"validation: {len(va)} of {len(train)} train examples, "
                f"{len({groups[i] for i in va})} of {n_groups} "
                f"{validation_group!r} groups (target {validation_split:g} of "
                f"each class), numpy default_rng(seed={carve_seed})")
            counts["validation_groups"] = len({groups[i] for i in va})
            counts["train_groups"] = len({groups[i] for i in tr})
        else:
            carve = {"how": "a stratified random share of train (seeded)",
                     "fraction": float(validation_split)}
            tr, va = split_validation(train.labels, validation_split,
                                      carve_seed)
            described["validation"] = (
                f"validation: {len(va)} of {len(train)} train examples "
                f"({validation_split:g} of each class, stratified), numpy "
                f"default_rng(seed={carve_seed}) shuffle"
            )
        if validation_seed is not None:
            carve["seed"] = carve_seed
        if carve_seed != seed:  # the carve's order, shuffled by the run's seed
            tr = tr[np.random.default_rng(seed).permutation(len(tr))]
        out["validation"] = LabeledTexts(
            [train.texts[i] for i in va], train.labels[va])
        out["train"] = LabeledTexts([train.texts[i] for i in tr], train.labels[tr])
        described["train"] += (
            f" minus validation; order shuffled (seed={seed}"
            + (f", after the carve's seed {carve_seed})"
               if carve_seed != seed else ")"))
    else:
        perm = rng.permutation(len(train))
        out["train"] = LabeledTexts([train.texts[i] for i in perm], train.labels[perm])
        described["train"] += f"; order shuffled (seed={seed})"
        if "validation" in splits and not have_val:
            described["validation"] = "validation: none (validation_split=0)"
            carve = {"how": "none", "fraction": 0.0}
    if validation_data is not None and "validation" in out:
        seen = set(out["train"].texts)
        counts["validation_texts_also_in_train"] = sum(
            t in seen for t in out["validation"].texts)

    for split in ("train", "validation", "test"):
        if split in out:
            counts[split] = len(out[split])
    return TextClassificationData(
        train=out["train"],
        validation=out.get("validation"),
        test=out.get("test"),
        class_names=class_names,
        fingerprint=fp.hexdigest(),
        description="; ".join(described[s] for s in ("train", "validation", "test")
                              if s in described),
        source=recorded_source(src.spec),
        counts=counts,
        validation_carve=carve,
    )


def _read_validation_data(spec, text_column, label_column, counts):
    """`(raw split, fingerprint, description)` of `--validation-data`."""
    vsrc = resolve_source(spec)
    if vsrc.kind in ("csv", "tsv"):
        vfp = Fingerprint("text_classification/file")
        part = _read_delimited(vsrc.path, "\t" if vsrc.kind == "tsv" else ",",
                               text_column, label_column, counts, vfp)
        return part, vfp.hexdigest(), f"validation: {os.path.basename(vsrc.path)}"
    if vsrc.kind == "aclimdb":
        vfp = Fingerprint("text_classification/aclimdb")
        part = _read_aclimdb_split(vsrc.path, "train", vfp)
        return part, vfp.hexdigest(), "validation: aclImdb/train/{neg,pos}"
    raise DataError(
        f"--validation-data must be a .csv/.tsv file or an aclImdb folder; "
        f"{vsrc.spec} is a {vsrc.kind} source (tfds:glue/sst2 already "
        "validates on its own split)", path=vsrc.spec)


def _grouped_carve(train, groups, fraction, seed, column, path, class_names):
    """`split_validation_by_group`, with the errors a user can act on."""
    distinct = set(groups)
    if len(distinct) < 2:
        raise DataError(
            f"--validation-group {column!r}: the column has "
            f"{len(distinct)} distinct value(s); a grouped carve needs at "
            "least two groups", path=path)
    tr, va = split_validation_by_group(train.labels, groups, fraction, seed)
    for side, idx in (("validation", va), ("train", tr)):
        present = set(np.unique(train.labels[idx]).tolist())
        empty = [class_names[c] for c in np.unique(train.labels).tolist()
                 if c not in present]
        if empty:
            raise DataError(
                f"--validation-group {column!r} with validation_split="
                f"{fraction:g} leaves class(es) {empty} with no example in "
                f"{side} ({len(distinct)} groups); use a larger share or "
                "another column", path=path)
    return tr, va


# ------------------------------------------------------------------ tf.data


def whitespace_token_counts(texts: Sequence[str]) -> np.ndarray:
    """Number of whitespace-separated tokens of each text (int64 array)."""
    return np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=len(texts))


def auto_bucket_boundaries(texts: Sequence[str], num_buckets: int = 4) -> list:
    """Bucket boundaries at the length quantiles of `texts`.

    Args:
        texts: the texts to be bucketed.
        num_buckets: wanted number of buckets. Defaults to `4`. Fewer are
            returned when quantiles coincide.

    Returns:
        Strictly increasing list of ints for `bucket_by_sequence_length`
        (`len(boundaries) + 1` buckets).
    """
    lengths = whitespace_token_counts(texts)
    if len(lengths) == 0 or num_buckets < 2:
        return []
    qs = np.quantile(lengths, np.linspace(0, 1, num_buckets + 1)[1:-1])
    return sorted({int(q) + 1 for q in qs})


def make_text_classification_dataset(
    data: LabeledTexts,
    *,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int | None = None,
    bucket_boundaries=None,
    bucket_batch_sizes: Sequence[int] | None = None,
    drop_remainder: bool = False,
):
    """Builds a `tf.data.Dataset` of `(text, label)` batches.

    Texts stay raw strings (tokenise in the model, e.g. with a
    `keras.layers.TextVectorization` layer); labels are int32 class ids.

    Bucketing groups texts of similar length (whitespace token count) into
    the same batch with `tf.data.Dataset.bucket_by_sequence_length`, so a
    RNN pads less and runs faster. Batches then come out in a length-mixed,
    not data, order.

    Args:
        data: a `LabeledTexts` split.
        batch_size: examples per batch. Defaults to `32`.
        shuffle: shuffle examples each epoch (buffer = whole split). Use
            for training. Defaults to `False`.
        seed: shuffle seed. Defaults to `None`.
        bucket_boundaries: `None` (default) for plain batching; a list of
            increasing token counts (bucket `i` holds lengths in
            `[b[i-1], b[i])`); or `"auto"` for `auto_bucket_boundaries`
            of `data.texts`.
        bucket_batch_sizes: batch size per bucket (`len(boundaries) + 1`).
            Defaults to `batch_size` for every bucket.
        drop_remainder: drop each bucket's (or the final) short batch.
            Defaults to `False`.

    Returns:
        A prefetched `tf.data.Dataset` of `(tf.string [batch],
        tf.int32 [batch])`.

    Example:

    ```python
    train_ds = make_text_classification_dataset(
        data.train, batch_size=64, shuffle=True, seed=1337,
        bucket_boundaries="auto")
    val_ds = make_text_classification_dataset(data.validation, batch_size=64)
    ```
    """
    import tensorflow as tf

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    texts = tf.constant(list(data.texts), dtype=tf.string)
    labels = tf.constant(np.asarray(data.labels, dtype=np.int32))
    ds = tf.data.Dataset.from_tensor_slices((texts, labels))
    if shuffle and len(data):
        ds = ds.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    if isinstance(bucket_boundaries, str):
        if bucket_boundaries != "auto":
            raise ValueError(f"bucket_boundaries must be None, 'auto' or a list, got {bucket_boundaries!r}")
        bucket_boundaries = auto_bucket_boundaries(data.texts)
    if bucket_boundaries is None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    else:
        bucket_boundaries = [int(b) for b in bucket_boundaries]
        if bucket_batch_sizes is None:
            bucket_batch_sizes = [batch_size] * (len(bucket_boundaries) + 1)
        if len(bucket_batch_sizes) != len(bucket_boundaries) + 1:
            raise ValueError("bucket_batch_sizes needs len(bucket_boundaries) + 1 entries")
        ds = ds.bucket_by_sequence_length(
            element_length_func=lambda t, y: tf.size(tf.strings.split(t)),
            bucket_boundaries=bucket_boundaries,
            bucket_batch_sizes=list(bucket_batch_sizes),
            no_padding=True,
            drop_remainder=drop_remainder,
        )
    return ds.prefetch(tf.data.AUTOTUNE)
