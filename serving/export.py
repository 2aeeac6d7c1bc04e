"""Export a trained run as a TensorFlow Serving SavedModel (``zoo export``).

``export(run_dir, models_dir, name)`` writes ``MODELS_DIR/NAME/<version>/``
(TF Serving's layout) and registers the model in ``MODELS_DIR/models.config``.
Every signature takes raw UTF-8 strings and runs with TensorFlow alone (no
``zoo`` import, no Python code): preprocessing, tokenisation and sampling are
TensorFlow ops inside the graph.

Signatures
----------

Sentiment classifiers (``SentimentClassifier``):

``serving_default`` (alias ``classify_text``)
    inputs: ``text`` string ``[-1]``.
    outputs: ``probabilities`` float32 ``[-1, C]``, ``label`` string ``[-1]``
    (the class name), ``class_index`` int32 ``[-1]``.

Language models (``LanguageModel``):

``serving_default`` and ``score``
    inputs: ``text`` string ``[-1]``.
    outputs: ``log_prob`` float32 ``[-1]`` (natural-log probability of the
    text: sum over its tokens), ``perplexity`` float32 ``[-1]``
    (``exp(-log_prob / num_tokens)``), ``num_tokens`` int32 ``[-1]``.
    Word level: whitespace split, vocabulary lookup (unknown words are
    ``<unk>``), ``<eos>`` appended and scored; the first token is predicted
    after ``<eos>`` (sentence start, as in the training stream). Character
    level: Unicode characters (unknown ones are ``<unk>``), the first one
    predicted after ``"\\n"`` (or ``" "``, or ``<unk>`` if the vocabulary has
    neither).

``generate``
    inputs: ``prompt`` string ``[-1]``, ``max_length`` int32 (scalar or one
    per prompt; new tokens, clipped to ``[0, max_generate_length]``),
    ``temperature`` float32 (scalar or one per prompt; ``0`` = greedy).
    outputs: ``text`` string ``[-1]`` (prompt followed by the continuation),
    ``completion`` string ``[-1]`` (the continuation only),
    ``num_generated`` int32 ``[-1]``. Word level stops at ``<eos>``.
    Sampling is random per request.

``generate_seeded``
    as ``generate`` plus ``seed`` int64 (scalar or per prompt; the first
    value is used): the same seed and inputs give the same text.

Layout and atomicity
--------------------

The SavedModel is written to ``MODELS_DIR/NAME/.tmp-<uuid>`` (not an
integer, so TF Serving ignores it), the model card is added to its
``assets.extra/model_card.json``, and the directory is renamed to its integer
version. An existing version is replaced only with ``overwrite=True``: the
old one is renamed aside, the new one renamed in, then the old one deleted. A
failed export removes its temporary directory and leaves no version behind.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import re
import shutil
import sys
import uuid

__all__ = [
    "ExportError",
    "ExportResult",
    "export",
    "export_model",
    "build_export_archive",
    "list_versions",
    "read_model_card",
    "main",
    "MODEL_CARD",
    "DEFAULT_MAX_GENERATE_LENGTH",
]

MODEL_CARD = "model_card.json"
ASSETS_EXTRA = "assets.extra"
DEFAULT_MAX_GENERATE_LENGTH = 256
_VERSION_RE = re.compile(r"^[0-9]+$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_EOS = "<eos>"
_UNK = "<unk>"


class ExportError(ValueError):
    """The run cannot be exported (bad run dir, version exists, ...)."""


@dataclasses.dataclass
class ExportResult:
    """What :func:`export` and :func:`export_model` return.

    Attributes:
        name: the model name.
        version: the integer version written.
        path: the version directory ``MODELS_DIR/NAME/VERSION``.
        models_dir: the models directory.
        signatures: signature names in the SavedModel.
        card: the model card (also in ``assets.extra/model_card.json``).
        replaced: True if an existing version was overwritten.
    """

    name: str
    version: int
    path: str
    models_dir: str
    signatures: list
    card: dict
    replaced: bool = False


# ---------------------------------------------------------------------------
# Versions.
# ---------------------------------------------------------------------------


def list_versions(models_dir, name) -> list:
    """Sorted integer versions present under ``MODELS_DIR/NAME``."""
    base = os.path.join(os.fspath(models_dir), name)
    try:
        entries = os.listdir(base)
    except FileNotFoundError:
        return []
    return sorted(int(e) for e in entries
                  if _VERSION_RE.match(e) and
                  os.path.isdir(os.path.join(base, e)))


def read_model_card(version_dir) -> dict:
    """Reads the model card of an exported version directory."""
    with open(os.path.join(os.fspath(version_dir), ASSETS_EXTRA, MODEL_CARD),
              encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------
# The TensorFlow graph.
# ---------------------------------------------------------------------------


def _family(model) -> str:
    from zoo.models.classifier import SentimentClassifier
    from zoo.models.language_model import LanguageModel

    if isinstance(model, SentimentClassifier):
        return "sentiment_classifier"
    if isinstance(model, LanguageModel):
        return "language_model"
    raise ExportError(
        f"Cannot export {type(model).__name__}: expected a zoo "
        "SentimentClassifier or LanguageModel.")


def _classifier_archive(model, class_names):
    import keras
    import tensorflow as tf

    class_names = [str(c) for c in (class_names or model.class_names)]
    if len(class_names) != int(model.output.shape[-1]):
        raise ExportError(
            f"{len(class_names)} class names for a model with "
            f"{model.output.shape[-1]} classes.")
    names = tf.constant(class_names, dtype=tf.string)

    archive = keras.export.ExportArchive()
    archive.track(model)

    def classify(text):
        probs = tf.cast(model(text, training=False), tf.float32)
        index = tf.argmax(probs, axis=-1, output_type=tf.int32)
        return {"probabilities": probs,
                "label": tf.gather(names, index),
                "class_index": index}

    spec = [tf.TensorSpec([None], tf.string, name="text")]
    # The first endpoint is also written as "serving_default" (one trace).
    archive.add_endpoint("classify_text", classify, input_signature=spec)
    return archive, ["serving_default", "classify_text"]


class _LmResources:
    """Vocabulary constants and lookup table of an exported language model."""

    def __init__(self, tokens, level, model_vocab_size):
        import tensorflow as tf

        tokens = [str(t) for t in tokens]
        if not tokens:
            raise ExportError("Empty language-model vocabulary.")
        if len(tokens) > model_vocab_size:
            raise ExportError(
                f"The vocabulary has {len(tokens)} tokens but the model "
                f"predicts {model_vocab_size}; wrong vocab.txt?")
        index = {t: i for i, t in enumerate(tokens)}
        self.level = level
        self.size = len(tokens)
        self.oov_id = index.get(_UNK, 0)
        if level == "word":
            self.bos_id = index.get(_EOS, self.oov_id)
            self.eos_id = index.get(_EOS, -1)
        else:
            self.bos_id = index.get("\n", index.get(" ", self.oov_id))
            self.eos_id = -1
        self.tokens = tf.constant(tokens, dtype=tf.string)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(tokens, dtype=tf.string),
                tf.range(len(tokens), dtype=tf.int32)),
            default_value=self.oov_id)

    def tokenize(self, text):
        """Ragged int32 ids ``[B, (n)]`` of a string batch (no bos/eos)."""
        import tensorflow as tf

        if self.level == "word":
            pieces = tf.strings.split(text)
        else:
            pieces = tf.strings.unicode_split(text, "UTF-8", errors="replace")
        return tf.ragged.map_flat_values(self.table.lookup, pieces)


def _language_model_archive(model, tokens, level, max_generate_length):
    import keras
    import tensorflow as tf

    if getattr(model, "stateful", False):
        model = model.with_options(stateful=False)
    vocab_size = int(model.output.shape[-1])
    res = _LmResources(tokens, level or model.level, vocab_size)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(res.table)

    def score(text):
        ids = res.tokenize(text)
        rows = ids.nrows()
        bos = tf.fill([rows, 1], res.bos_id)
        pieces = [bos, ids]
        if res.eos_id >= 0:
            pieces.append(tf.fill([rows, 1], res.eos_id))
        seq = tf.concat(pieces, axis=1)            # ragged [B, (n + 1|2)]
        inputs = seq[:, :-1].to_tensor(0)
        targets = seq[:, 1:].to_tensor(0)
        lengths = tf.cast(seq[:, 1:].row_lengths(), tf.int32)
        # One padding column so a batch of empty texts still has a time step.
        inputs = tf.pad(inputs, [[0, 0], [0, 1]])
        targets = tf.pad(targets, [[0, 0], [0, 1]])
        logits = tf.cast(model(inputs, training=False), tf.float32)
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        token_lp = tf.gather(log_probs, targets[..., None], batch_dims=2)[..., 0]
        mask = tf.sequence_mask(lengths, tf.shape(targets)[1], tf.float32)
        log_prob = tf.reduce_sum(token_lp * mask, axis=1)
        n = tf.maximum(lengths, 1)
        perplexity = tf.exp(-log_prob / tf.cast(n, tf.float32))
        return {"log_prob": log_prob, "perplexity": perplexity,
                "num_tokens": lengths}

    cap = int(max_generate_length)
    sep = " " if res.level == "word" else ""

    def _generate(prompt, max_length, temperature, seed):
        ids = res.tokenize(prompt)
        rows = ids.nrows(out_type=tf.int32)
        ids = tf.concat([tf.fill([rows, 1], res.bos_id), ids], axis=1)
        lens = tf.cast(ids.row_lengths(), tf.int32)
        max_len = tf.broadcast_to(
            tf.reshape(tf.cast(max_length, tf.int32), [-1]), [rows])
        max_len = tf.clip_by_value(max_len, 0, cap)
        temp = tf.broadcast_to(
            tf.reshape(tf.cast(temperature, tf.float32), [-1]), [rows])
        steps = tf.reduce_max(tf.concat([max_len, [0]], axis=0))
        buf = tf.pad(ids.to_tensor(0), [[0, 0], [0, steps]])
        width = tf.shape(buf)[1]
        valid = tf.range(vocab_size) < res.size
        neg = tf.fill([vocab_size], tf.constant(-1e9, tf.float32))

        def cond(i, buf, cur, done):
            return tf.logical_and(i < steps,
                                  tf.logical_not(tf.reduce_all(done)))

        def body(i, buf, cur, done):
            used = tf.reduce_max(cur)
            logits = tf.cast(model(buf[:, :used], training=False), tf.float32)
            last = tf.gather(logits, cur - 1, batch_dims=1)       # [B, V]
            last = tf.where(valid[None, :], last, neg[None, :])
            greedy = tf.argmax(last, axis=-1, output_type=tf.int32)
            scaled = last / tf.maximum(temp, 1e-6)[:, None]
            sampled = tf.cast(tf.random.stateless_categorical(
                scaled, 1, seed=tf.stack([seed, tf.cast(i, tf.int64)]),
                dtype=tf.int64)[:, 0], tf.int32)
            nxt = tf.where(temp > 0.0, sampled, greedy)
            active = tf.logical_and(tf.logical_not(done), i < max_len)
            stop = tf.equal(nxt, res.eos_id)
            write = tf.logical_and(active, tf.logical_not(stop))
            hit = tf.logical_and(
                tf.one_hot(cur, width, on_value=True, off_value=False,
                           dtype=tf.bool), write[:, None])
            buf = tf.where(hit, nxt[:, None], buf)
            cur = cur + tf.cast(write, tf.int32)
            done = tf.logical_or(done, tf.logical_not(write))
            return i + 1, buf, cur, done

        _, buf, cur, _ = tf.while_loop(
            cond, body,
            [tf.constant(0), buf, lens, tf.equal(max_len, 0)],
            shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, None]),
                              tf.TensorShape([None]), tf.TensorShape([None])])
        pos = tf.range(width)[None, :]
        new = tf.logical_and(pos >= lens[:, None], pos < cur[:, None])
        new_ids = tf.ragged.boolean_mask(buf, new)
        pieces = tf.ragged.map_flat_values(tf.gather, res.tokens, new_ids)
        completion = tf.strings.reduce_join(pieces, axis=1, separator=sep)
        if res.level == "word":
            head = tf.strings.strip(prompt)
            joiner = tf.where(
                tf.logical_and(tf.strings.length(head) > 0,
                               tf.strings.length(completion) > 0), " ", "")
            text = tf.strings.join([head, joiner, completion])
        else:
            text = tf.strings.join([prompt, completion])
        return {"text": text, "completion": completion,
                "num_generated": cur - lens}

    text_spec = [tf.TensorSpec([None], tf.string, name="text")]
    gen_spec = [tf.TensorSpec([None], tf.string, name="prompt"),
                tf.TensorSpec(None, tf.int32, name="max_length"),
                tf.TensorSpec(None, tf.float32, name="temperature")]
    # Traced once, called by both generate signatures.
    sample = tf.function(_generate, input_signature=gen_spec + [
        tf.TensorSpec([], tf.int64, name="seed")])

    def generate(prompt, max_length, temperature):
        seed = tf.cast(tf.timestamp() * 1e6, tf.int64)
        return sample(prompt, max_length, temperature, seed)

    def generate_seeded(prompt, max_length, temperature, seed):
        seed = tf.reshape(tf.cast(seed, tf.int64), [-1])[0]
        return sample(prompt, max_length, temperature, seed)

    # The first endpoint is also written as "serving_default" (one trace).
    archive.add_endpoint("score", score, input_signature=text_spec)
    archive.add_endpoint("generate", generate, input_signature=gen_spec)
    archive.add_endpoint(
        "generate_seeded", generate_seeded,
        input_signature=gen_spec + [tf.TensorSpec(None, tf.int64, name="seed")])
    return archive, ["serving_default", "score", "generate",
                     "generate_seeded"]


def build_export_archive(model, *, vocabulary=None, class_names=None,
                         level=None,
                         max_generate_length=DEFAULT_MAX_GENERATE_LENGTH):
    """Builds the ``keras.export.ExportArchive`` for a zoo model.

    Args:
        model: a ``SentimentClassifier`` or ``LanguageModel`` (a stateful
            language model is exported through a stateless copy).
        vocabulary: language models: the token list (id order).
        class_names: classifiers: overrides ``model.class_names``.
        level: language models: ``"word"``/``"char"`` (default
            ``model.level``).
        max_generate_length: upper bound on ``generate``'s ``max_length``.

    Returns:
        ``(archive, signature_names)``.
    """
    family = _family(model)
    if family == "sentiment_classifier":
        return _classifier_archive(model, class_names)
    if vocabulary is None:
        raise ExportError("A language model needs its vocabulary (vocab.txt) "
                          "to be exported.")
    return _language_model_archive(model, vocabulary, level,
                                   max_generate_length)


# ---------------------------------------------------------------------------
# Writing a version.
# ---------------------------------------------------------------------------


def _versions_info():
    info = {"python": platform.python_version()}
    for module in ("zoo", "keras", "tensorflow"):
        mod = sys.modules.get(module)
        if mod is None:
            try:
                mod = __import__(module)
            except ImportError:
                continue
        info[module] = getattr(mod, "__version__", None)
    return info


def _json_safe(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if hasattr(obj, "item"):
        return _json_safe(obj.item())
    return str(obj)


def _remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


def export_model(model, models_dir, name, *, vocabulary=None,
                 class_names=None, level=None, version=None, label=None,
                 overwrite=False, card=None, update_config=True,
                 max_generate_length=DEFAULT_MAX_GENERATE_LENGTH,
                 verbose=False) -> ExportResult:
    """Exports an in-memory zoo model to ``MODELS_DIR/NAME/<version>``.

    Args:
        model: a ``SentimentClassifier`` or ``LanguageModel``.
        models_dir: the models directory (created if missing).
        name: model name (letters, digits, ``_ - .``).
        vocabulary: language models: token list (``vocab.txt`` order).
        class_names: classifiers: class names (default ``model.class_names``).
        level: language models: ``"word"`` or ``"char"``.
        version: integer version; default: one more than the highest.
        label: optional version label (``/v1/models/NAME/labels/LABEL``).
        overwrite: replace an existing ``version`` (atomically).
        card: extra model-card fields (config, metrics, data, ...).
        update_config: update ``models.config`` (and write
            ``batching.config`` if absent).
        max_generate_length: language models: cap on ``max_length``.
        verbose: print Keras' endpoint summary.

    Returns:
        An :class:`ExportResult`.

    Raises:
        ExportError: bad name/version, the version exists without
            ``overwrite``, or the model cannot be exported.
    """
    from serving import config as serving_config

    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ExportError(f"Invalid model name {name!r}: use letters, "
                          "digits, '_', '-' and '.' only.")
    if version is not None and (isinstance(version, bool) or
                                not isinstance(version, int) or version < 0):
        raise ExportError(f"Invalid version {version!r}: expected an integer "
                          ">= 0.")
    if label is not None and not _NAME_RE.match(str(label)):
        raise ExportError(f"Invalid version label {label!r}.")
    models_dir = os.path.abspath(os.fspath(models_dir))
    base = os.path.join(models_dir, name)
    if version is not None and not overwrite and \
            os.path.exists(os.path.join(base, str(version))):
        raise ExportError(
            f"{os.path.join(base, str(version))} exists; pass overwrite=True "
            "(--overwrite) to replace it, or choose another version.")

    family = _family(model)
    archive, signatures = build_export_archive(
        model, vocabulary=vocabulary, class_names=class_names, level=level,
        max_generate_length=max_generate_length)

    os.makedirs(base, exist_ok=True)
    tmp = os.path.join(base, f".tmp-{uuid.uuid4().hex}")
    try:
        archive.write_out(tmp, verbose=verbose)
        card = dict(card or {})
        card.update({
            "name": name,
            "family": family,
            "signatures": signatures,
            "created": datetime.datetime.now(datetime.timezone.utc)
            .isoformat(timespec="seconds"),
            "versions": {**_versions_info(), **(card.get("versions") or {})},
        })
        if family == "sentiment_classifier":
            names = [str(c) for c in (class_names or model.class_names)]
            card.setdefault("class_names", names)
            card.setdefault("vocabulary_size", len(model.get_vocabulary()))
        else:
            card.setdefault("level", level or model.level)
            card.setdefault("vocabulary_size", len(vocabulary))
            card.setdefault("max_generate_length", int(max_generate_length))
        extra = os.path.join(tmp, ASSETS_EXTRA)
        os.makedirs(extra, exist_ok=True)
        # version is filled in once known; written below before the rename.
        version, replaced = _publish(tmp, base, version, overwrite, card,
                                     extra)
    except BaseException:
        _remove_tree(tmp)
        raise
    path = os.path.join(base, str(version))
    if update_config:
        try:
            _register(models_dir, name, version, label)
        except (ValueError, OSError) as e:
            raise ExportError(
                f"Exported {path}, but could not update "
                f"{os.path.join(models_dir, 'models.config')}: {e}") from e
    return ExportResult(name=name, version=version, path=path,
                        models_dir=models_dir, signatures=signatures,
                        card=card, replaced=replaced)


def _write_card(extra, card):
    with open(os.path.join(extra, MODEL_CARD), "w", encoding="utf-8") as f:
        json.dump(_json_safe(card), f, indent=2)
        f.write("\n")


def _publish(tmp, base, version, overwrite, card, extra):
    """Renames ``tmp`` to its integer version; returns (version, replaced)."""
    if version is None:
        for _ in range(100):
            existing = list_versions(os.path.dirname(base),
                                     os.path.basename(base))
            candidate = (max(existing) + 1) if existing else 1
            card["version"] = candidate
            _write_card(extra, card)
            try:
                os.rename(tmp, os.path.join(base, str(candidate)))
                return candidate, False
            except OSError:
                if not os.path.exists(os.path.join(base, str(candidate))):
                    raise
                # Another export took this version meanwhile: try the next.
        raise ExportError(f"Could not find a free version under {base}.")
    card["version"] = version
    _write_card(extra, card)
    target = os.path.join(base, str(version))
    if not os.path.exists(target):
        try:
            os.rename(tmp, target)
            return version, False
        except OSError:
            if not os.path.exists(target):
                raise
    if not overwrite:
        raise ExportError(f"{target} exists; pass overwrite=True "
                          "(--overwrite) to replace it.")
    old = os.path.join(base, f".old-{uuid.uuid4().hex}")
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    _remove_tree(old)
    return version, True


def _register(models_dir, name, version, label):
    """Updates models.config: newest version plus every labelled version."""
    from serving import config as serving_config

    labels = None
    policy = None
    try:
        entry = serving_config.model_entries(models_dir).get(name)
    except FileNotFoundError:
        entry = None
    current = dict(entry.version_labels) if entry is not None else {}
    if label is not None:
        current[str(label)] = int(version)
        labels = current
    if current:
        present = set(list_versions(models_dir, name))
        newest = max(present) if present else version
        policy = serving_config.specific(
            sorted({v for v in current.values() if v in present} | {newest}))
    serving_config.update_models_config(models_dir, name, labels=labels,
                                        version_policy=policy)
    if not os.path.exists(os.path.join(models_dir,
                                       serving_config.BATCHING_CONFIG)):
        serving_config.write_batching_config(models_dir)


# ---------------------------------------------------------------------------
# From a run directory.
# ---------------------------------------------------------------------------


def _read_vocab(path):
    """Reads vocab.txt (one token a line; ``\\\\``, ``\\n``, ``\\r`` escaped)."""
    try:
        from training.data.vocab import Vocabulary
    except ImportError:  # pragma: no cover - training is part of the project
        Vocabulary = None
    if Vocabulary is not None:
        return list(Vocabulary.load(path).tokens)
    unescape = {"\\": "\\", "n": "\n", "r": "\r"}
    tokens = []
    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if not line:
                continue
            out, i = [], 0
            while i < len(line):
                if line[i] == "\\" and i + 1 < len(line):
                    out.append(unescape.get(line[i + 1], line[i + 1]))
                    i += 2
                else:
                    out.append(line[i])
                    i += 1
            tokens.append("".join(out))
    if _UNK not in tokens:
        tokens.append(_UNK)
    return tokens


def _load_run(run_dir, which):
    """``(model, config, metrics, vocabulary)`` of a run directory."""
    run_dir = os.fspath(run_dir)
    config_path = os.path.join(run_dir, "config.json")
    if not os.path.isdir(run_dir):
        raise ExportError(f"{run_dir}: run directory does not exist.")
    if not os.path.isfile(config_path):
        raise ExportError(f"{run_dir}: not a run directory (no config.json); "
                          "pass the --out folder of a `zoo train` run.")
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    filename = {"best": "model.keras", "last": "last.keras"}[which]
    model_path = os.path.join(run_dir, filename)
    if not os.path.isfile(model_path):
        raise ExportError(f"{model_path}: missing; the run has not finished "
                          "an epoch yet.")
    metrics = None
    metrics_path = os.path.join(run_dir, "metrics.json")
    if os.path.isfile(metrics_path):
        with open(metrics_path, encoding="utf-8") as f:
            metrics = json.load(f)
    vocabulary = None
    vocab_path = os.path.join(run_dir, "vocab.txt")
    if os.path.isfile(vocab_path):
        vocabulary = _read_vocab(vocab_path)
    import keras

    import zoo  # noqa: F401  (registers the zoo's classes)

    model = keras.saving.load_model(model_path, compile=False)
    if _family(model) == "language_model" and vocabulary is None:
        raise ExportError(f"{vocab_path}: missing (a language model needs its "
                          "vocabulary).")
    return model, config, metrics, vocabulary


def export(run_dir, models_dir, name, *, version=None, label=None,
           overwrite=False, which="best", class_names=None,
           max_generate_length=DEFAULT_MAX_GENERATE_LENGTH,
           verbose=False) -> ExportResult:
    """Exports a run directory (``zoo train --out RUN_DIR``) for TF Serving.

    Writes ``MODELS_DIR/NAME/<version>/`` (SavedModel + model card in
    ``assets.extra/model_card.json``), then updates ``models.config`` (and
    writes ``batching.config`` if absent).

    Args:
        run_dir: the run directory.
        models_dir: the models directory.
        name: model name, served at ``/v1/models/NAME``.
        version: integer version; default: the next free one.
        label: optional version label pointing at the new version.
        overwrite: replace an existing ``version``.
        which: ``"best"`` (``model.keras``) or ``"last"`` (``last.keras``).
        class_names: classifiers: names for the ``label`` output, overriding
            the run's (e.g. ``["negative", "positive"]`` for 0/1 labels).
        max_generate_length: language models: cap on ``generate`` length.
        verbose: print Keras' endpoint summary.

    Returns:
        An :class:`ExportResult`.

    Raises:
        ExportError: missing files, bad arguments, or the version exists.
    """
    if which not in ("best", "last"):
        raise ExportError(f"which must be 'best' or 'last', got {which!r}.")
    model, config, metrics, vocabulary = _load_run(run_dir, which)
    data = config.get("data") or {}
    card = {
        "run_dir": os.path.abspath(os.fspath(run_dir)),
        "checkpoint": which,
        "preset": config.get("preset"),
        "model_config": config.get("model_config"),
        "training": config.get("training"),
        "data": data,
        "data_fingerprint": data.get("fingerprint"),
        "seed": config.get("seed"),
        "metrics": metrics,
        "run_versions": config.get("versions"),
    }
    if class_names is None:
        class_names = data.get("class_names") or config.get("class_names")
    else:
        card["run_class_names"] = data.get("class_names") or \
            config.get("class_names")
    level = data.get("level") or config.get("level")
    return export_model(
        model, models_dir, name, vocabulary=vocabulary,
        class_names=class_names if _family(model) == "sentiment_classifier"
        else None,
        level=level, version=version, label=label, overwrite=overwrite,
        card=card, max_generate_length=max_generate_length, verbose=verbose)


# ---------------------------------------------------------------------------
# CLI.
# ---------------------------------------------------------------------------


def _parser():
    p = argparse.ArgumentParser(
        prog="zoo export",
        description="Export a run directory as a TensorFlow Serving "
        "SavedModel (MODELS_DIR/NAME/VERSION) and register it in "
        "MODELS_DIR/models.config.")
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="a `zoo train --out` directory")
    p.add_argument("--models-dir", required=True, metavar="DIR",
                   help="TF Serving models directory")
    p.add_argument("--name", required=True, help="model name")
    p.add_argument("--version", type=int, default=None,
                   help="integer version (default: next free one)")
    p.add_argument("--label", default=None,
                   help="version label pointing at the new version")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing version")
    p.add_argument("--which", choices=("best", "last"), default="best",
                   help="checkpoint: best (model.keras) or last (last.keras)")
    p.add_argument("--class-names", default=None, metavar="A,B,...",
                   help="classifiers: comma-separated names for the label "
                   "output (default: the run's class names)")
    p.add_argument("--max-generate-length", type=int,
                   default=DEFAULT_MAX_GENERATE_LENGTH,
                   help="language models: cap on generate's max_length")
    return p


def main(argv=None) -> int:
    """``zoo export``: prints the result as JSON; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        result = export(args.run_dir, args.models_dir, args.name,
                        version=args.version, label=args.label,
                        overwrite=args.overwrite, which=args.which,
                        class_names=args.class_names.split(",")
                        if args.class_names else None,
                        max_generate_length=args.max_generate_length)
    except (ExportError, OSError) as e:
        print(f"zoo export: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"name": result.name, "version": result.version,
                      "path": result.path, "signatures": result.signatures,
                      "replaced": result.replaced,
                      "models_config": os.path.join(result.models_dir,
                                                    "models.config")},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
