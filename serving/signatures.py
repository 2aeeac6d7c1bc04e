"""The TensorFlow graph of an exported zoo model: its serving signatures.

Every signature takes raw UTF-8 strings and runs with TensorFlow alone (no
`zoo` import, no Python code): tokenisation, scoring and sampling are
TensorFlow ops inside the graph, so `tensorflow_model_server` runs them.

Sentiment classifiers (`SentimentClassifier`, or an ensemble: a list of
them, whose `probabilities` are the mean of the members'):

`serving_default` (alias `classify_text`)
    inputs: `text` string `[-1]`.
    outputs: `probabilities` float32 `[-1, C]`, `label` string `[-1]`
    (the class name), `class_index` int32 `[-1]`.

Language models (`LanguageModel`):

`serving_default` and `score`
    inputs: `text` string `[-1]`.
    outputs: `log_prob` float32 `[-1]` (natural-log probability of the
    text), `perplexity` float32 `[-1]` (`exp(-log_prob / num_tokens)`),
    `num_tokens` int32 `[-1]` (tokens scored). The log-probability of a
    text is `training.scoring`'s: the graph splits words on
    `training.data.vocab.WORD_SEPARATORS` (what `str.split()` splits on)
    or into characters, maps unknown tokens to `<unk>`, predicts the first
    token after the context token (`<eos>` at word level, `"\\n"` at
    character level) and, at word level, appends and scores `<eos>`.

`generate`
    inputs: `prompt` string `[-1]`, `max_length` int32 (scalar or one
    per prompt; new tokens, at most `max_generate_length`),
    `temperature` float32 (scalar or one per prompt; `0` = greedy).
    outputs: `text` string `[-1]` (prompt followed by the continuation),
    `completion` string `[-1]` (the continuation only),
    `num_generated` int32 `[-1]`. Word level stops at `<eos>`.
    Sampling is random per request.

`generate_seeded`
    as `generate` plus `seed` int64 (scalar or per prompt; the first
    value is used): the same seed and inputs give the same text.

`sample`
    as `generate_seeded` plus, each a scalar or one per prompt:
    `top_k` int32 (keep the k most probable tokens; `0` = off), `top_p`
    float32 (keep the smallest set of most probable tokens whose
    probability reaches p, after top-k; `1` = off), `repetition_penalty`
    float32 (CTRL's: the logit of a token already in the prompt or the
    continuation is divided by it when positive, multiplied when negative;
    `1` = off) and `ban_unk` bool (never generate `<unk>`). Temperature 0
    is greedy after the penalty and the ban.

Every generation signature refuses, with InvalidArgumentError (HTTP 400,
gRPC INVALID_ARGUMENT), a negative or NaN `temperature`, a negative
`max_length`, `top_k` < 0, `top_p` outside (0, 1] and a
`repetition_penalty` <= 0; a `max_length` above `max_generate_length` is
cut to it.
"""

from __future__ import annotations

from serving.models_dir import ExportError
from training import scoring
from training.data.vocab import (PUNCTUATION_PATTERN, STANDARDIZATIONS,
                                 WORD_SEPARATORS, Vocabulary)

DEFAULT_MAX_GENERATE_LENGTH = 256


def family_of(model) -> str:
    """`"sentiment_classifier"` or `"language_model"`; `ExportError` for other
    models. A list or tuple is an ensemble: two or more classifiers."""
    from zoo.models.classifier import SentimentClassifier
    from zoo.models.language_model import LanguageModel

    if isinstance(model, (list, tuple)):
        kinds = [type(m).__name__ for m in model]
        if len(model) < 2 or not all(isinstance(m, SentimentClassifier)
                                     for m in model):
            raise ExportError(
                "An ensemble averages the probabilities of two or more zoo "
                f"SentimentClassifiers. Received: {kinds}")
        return "sentiment_classifier"
    if isinstance(model, SentimentClassifier):
        return "sentiment_classifier"
    if isinstance(model, LanguageModel):
        return "language_model"
    raise ExportError(
        f"Cannot export {type(model).__name__}: expected a zoo "
        "SentimentClassifier or LanguageModel.")


def members_of(model) -> list:
    """The classifiers whose probabilities a classifier export averages: the
    list of an ensemble, or `[model]`."""
    return list(model) if isinstance(model, (list, tuple)) else [model]


def check_class_names(class_names) -> list:
    """`class_names` as strings, if they are distinct and not empty.

    Raises:
        ExportError: an empty or repeated name (two classes would answer
            with one label).
    """
    names = [str(c) for c in class_names]
    if any(not c.strip() for c in names) or len(set(names)) != len(names):
        raise ExportError(
            "Class names must be distinct and not empty: two classes would "
            f"answer with one label. Received: class_names={names!r}")
    return names


def _classifier_archive(model, class_names):
    import keras
    import tensorflow as tf

    members = members_of(model)
    class_names = check_class_names(class_names or members[0].class_names)
    for m in members:
        if len(class_names) != int(m.output.shape[-1]):
            raise ExportError(
                f"{len(class_names)} class names for a model with "
                f"{m.output.shape[-1]} classes.")
    names = tf.constant(class_names, dtype=tf.string)

    archive = keras.export.ExportArchive()
    for m in members:
        archive.track(m)

    def classify(text):
        probs = tf.add_n([tf.cast(m(text, training=False), tf.float32)
                          for m in members]) / float(len(members))
        index = tf.argmax(probs, axis=-1, output_type=tf.int32)
        return {"probabilities": probs,
                "label": tf.gather(names, index),
                "class_index": index}

    spec = [tf.TensorSpec([None], tf.string, name="text")]
    # The first endpoint is also written as "serving_default" (one trace).
    archive.add_endpoint("classify_text", classify, input_signature=spec)
    return archive, ["serving_default", "classify_text"]


def as_vocabulary(vocabulary):
    """A `Vocabulary` from one, or from a token list in id order."""
    if isinstance(vocabulary, Vocabulary):
        return vocabulary
    return Vocabulary([str(t) for t in vocabulary])


class _LmResources:
    """Vocabulary constants and lookup table of an exported language model:
    `training.scoring`'s context and end tokens, and tokenisation by
    `training.data.vocab`'s rule (`model_tokens`: a model of standardised
    reviews standardises its texts and prompts as its corpus was)."""

    def __init__(self, vocabulary, level, model_vocab_size, standardize=None):
        import tensorflow as tf

        vocab = as_vocabulary(vocabulary)
        if len(vocab) > model_vocab_size:
            raise ExportError(
                f"The vocabulary has {len(vocab)} tokens but the model "
                f"predicts {model_vocab_size}; wrong vocab.txt?")
        if standardize is not None and standardize not in STANDARDIZATIONS:
            raise ExportError(f"Unknown standardize {standardize!r}. Valid "
                              f"values: {list(STANDARDIZATIONS)} or None.")
        self.level = level
        self.standardize = standardize if level == "word" else None
        self.size = len(vocab)
        self.oov_id = vocab.oov_id
        self.bos_id = scoring.context_id(vocab, level)
        self.eos_id = scoring.end_id(vocab, level)
        self.tokens = tf.constant(vocab.tokens, dtype=tf.string)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(vocab.tokens, dtype=tf.string),
                tf.range(len(vocab), dtype=tf.int32)),
            default_value=self.oov_id)

    def tokenize(self, text):
        """Ragged int32 ids `[B, (n)]` of a string batch (no bos/eos), as
        `training.data.vocab.tokenize` splits them."""
        import tensorflow as tf

        if self.level == "word" and self.standardize is not None:
            # TextVectorization's standardisation and split, as
            # `training.data.vocab.text_tokens` does it in Python
            if self.standardize in ("lower", "lower_and_strip_punctuation"):
                text = tf.strings.lower(text)  # ASCII letters only
            if self.standardize in ("strip_punctuation",
                                    "lower_and_strip_punctuation"):
                text = tf.strings.regex_replace(text, PUNCTUATION_PATTERN, "")
            pieces = tf.strings.split(text)
        elif self.level == "word":
            pieces = tf.strings.split(
                tf.strings.regex_replace(text, WORD_SEPARATORS, " "))
        else:
            pieces = tf.strings.unicode_split(text, "UTF-8", errors="replace")
        return tf.ragged.map_flat_values(self.table.lookup, pieces)


def _language_model_archive(model, vocabulary, level, max_generate_length,
                            standardize=None):
    import keras
    import tensorflow as tf

    if getattr(model, "stateful", False):
        model = model.with_options(stateful=False)
    vocab_size = int(model.output.shape[-1])
    res = _LmResources(vocabulary, level or model.level, vocab_size,
                       standardize)

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

    def _check(max_length, temperature, top_k, top_p, penalty):
        """In-graph argument checks: InvalidArgumentError naming the value."""
        import tensorflow as tf

        def check(ok, text, value):
            return tf.debugging.Assert(tf.reduce_all(ok), [tf.strings.format(
                text + " Received: {}", tf.reshape(value, [-1]),
                summarize=8)], summarize=8)

        # NaN fails every comparison, so it is refused with the negatives.
        return [
            check(max_length >= 0, "max_length must be >= 0.", max_length),
            # inf would scale every logit to 0: top-k and top-p would keep
            # every allowed token
            check(tf.logical_and(temperature >= 0.0,
                                 tf.math.is_finite(temperature)),
                  "temperature must be a finite number >= 0 (0 is greedy).",
                  temperature),
            check(top_k >= 0, "top_k must be >= 0 (0 is off).", top_k),
            check(tf.logical_and(top_p > 0.0, top_p <= 1.0),
                  "top_p must be in (0, 1] (1 is off).", top_p),
            check(tf.logical_and(penalty > 0.0, tf.math.is_finite(penalty)),
                  "repetition_penalty must be a finite number > 0 (1 is off).",
                  penalty),
        ]

    def _generate(prompt, max_length, temperature, seed, top_k, top_p,
                  penalty, ban_unk):
        prompt_ids = res.tokenize(prompt)
        rows = prompt_ids.nrows(out_type=tf.int32)
        ids = tf.concat([tf.fill([rows, 1], res.bos_id), prompt_ids], axis=1)
        lens = tf.cast(ids.row_lengths(), tf.int32)

        def per_row(value, dtype):
            return tf.broadcast_to(tf.reshape(tf.cast(value, dtype), [-1]),
                                   [rows])

        max_len = per_row(max_length, tf.int32)
        temp = per_row(temperature, tf.float32)
        top_k = per_row(top_k, tf.int32)
        top_p = per_row(top_p, tf.float32)
        penalty = per_row(penalty, tf.float32)
        ban_unk = per_row(ban_unk, tf.bool)
        with tf.control_dependencies(
                _check(max_len, temp, top_k, top_p, penalty)):
            max_len = tf.minimum(max_len, cap)
        steps = tf.reduce_max(tf.concat([max_len, [0]], axis=0))
        buf = tf.pad(ids.to_tensor(0), [[0, 0], [0, steps]])
        width = tf.shape(buf)[1]
        valid = tf.range(vocab_size) < res.size
        floor_logit = tf.constant(-1e38, tf.float32)  # above float32.min
        is_unk = tf.equal(tf.range(vocab_size), res.oov_id)
        banned = tf.logical_and(ban_unk[:, None], is_unk[None, :])   # [B, V]
        # Tokens already in each sequence (the prompt, not its context
        # token, then what is generated), for the repetition penalty.
        seen = tf.reduce_any(tf.one_hot(
            prompt_ids.to_tensor(-1), vocab_size, on_value=True,
            off_value=False, dtype=tf.bool), axis=1)
        seen = tf.ensure_shape(tf.reshape(seen, [rows, vocab_size]),
                               [None, vocab_size])
        penalised = tf.not_equal(penalty, 1.0)[:, None]

        def cond(i, buf, cur, done, seen):
            return tf.logical_and(i < steps,
                                  tf.logical_not(tf.reduce_all(done)))

        def body(i, buf, cur, done, seen):
            used = tf.reduce_max(cur)
            logits = tf.cast(model(buf[:, :used], training=False), tf.float32)
            last = tf.gather(logits, cur - 1, batch_dims=1)       # [B, V]
            # CTRL's repetition penalty: seen tokens' logits are divided by
            # the penalty when positive, multiplied when negative.
            p = penalty[:, None]
            last = tf.where(tf.logical_and(seen, penalised),
                            tf.where(last > 0, last / p, last * p), last)
            # Ids outside the vocabulary and banned ones are masked below
            # any allowed logit, which is kept above the mask (a large
            # penalty or a small temperature could take it to -inf), before
            # the greedy choice and again after the temperature.
            lowest = tf.float32.min
            masked = tf.logical_or(~valid[None, :], banned)
            last = tf.where(masked, lowest, tf.maximum(last, floor_logit))
            greedy = tf.argmax(last, axis=-1, output_type=tf.int32)
            scaled = last / tf.maximum(temp, 1e-6)[:, None]
            scaled = tf.where(masked, lowest,
                              tf.maximum(scaled, floor_logit))
            # Top-k, then top-p (nucleus) on what top-k kept.
            ranked = tf.sort(scaled, axis=-1, direction="DESCENDING")
            kth = tf.gather(ranked, tf.clip_by_value(top_k - 1, 0,
                                                     vocab_size - 1),
                            batch_dims=1)
            keep_k = tf.logical_or(tf.equal(top_k, 0)[:, None],
                                   scaled >= kth[:, None])
            scaled = tf.where(keep_k, scaled, lowest)
            ranked = tf.sort(scaled, axis=-1, direction="DESCENDING")
            probs = tf.nn.softmax(ranked, axis=-1)
            before = tf.cumsum(probs, axis=-1, exclusive=True)
            # The nucleus: the most probable tokens whose mass reaches top_p
            # (the first token always stays).
            inside = tf.logical_or(before < top_p[:, None],
                                   tf.range(vocab_size)[None, :] == 0)
            floor = tf.reduce_min(tf.where(inside, ranked, ranked[:, :1]),
                                  axis=-1)
            keep_p = tf.logical_or((top_p >= 1.0)[:, None],
                                   scaled >= floor[:, None])
            scaled = tf.where(keep_p, scaled, lowest)
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
            seen = tf.logical_or(seen, tf.logical_and(
                tf.one_hot(nxt, vocab_size, on_value=True, off_value=False,
                           dtype=tf.bool), write[:, None]))
            cur = cur + tf.cast(write, tf.int32)
            done = tf.logical_or(done, tf.logical_not(write))
            return i + 1, buf, cur, done, seen

        _, buf, cur, _, _ = tf.while_loop(
            cond, body,
            [tf.constant(0), buf, lens, tf.equal(max_len, 0), seen],
            shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, None]),
                              tf.TensorShape([None]), tf.TensorShape([None]),
                              tf.TensorShape([None, vocab_size])])
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
    # Traced once, called by every generation signature.
    run = tf.function(_generate, input_signature=gen_spec + [
        tf.TensorSpec([], tf.int64, name="seed"),
        tf.TensorSpec(None, tf.int32, name="top_k"),
        tf.TensorSpec(None, tf.float32, name="top_p"),
        tf.TensorSpec(None, tf.float32, name="repetition_penalty"),
        tf.TensorSpec(None, tf.bool, name="ban_unk")])
    plain = (tf.constant(0), tf.constant(1.0), tf.constant(1.0),
             tf.constant(False))

    def first_seed(seed):
        flat = tf.reshape(tf.cast(seed, tf.int64), [-1])
        # an empty seed would fail as a slice out of bounds
        with tf.control_dependencies([tf.debugging.Assert(
                tf.size(flat) > 0, ["seed must hold an integer. Received: "
                                    "an empty tensor"])]):
            return tf.identity(flat[:1])[0]

    def generate(prompt, max_length, temperature):
        seed = tf.cast(tf.timestamp() * 1e6, tf.int64)
        return run(prompt, max_length, temperature, seed, *plain)

    def generate_seeded(prompt, max_length, temperature, seed):
        return run(prompt, max_length, temperature, first_seed(seed), *plain)

    def sample(prompt, max_length, temperature, top_k, top_p,
               repetition_penalty, seed, ban_unk):
        return run(prompt, max_length, temperature, first_seed(seed), top_k,
                   top_p, repetition_penalty, ban_unk)

    # The first endpoint is also written as "serving_default" (one trace).
    archive.add_endpoint("score", score, input_signature=text_spec)
    archive.add_endpoint("generate", generate, input_signature=gen_spec)
    archive.add_endpoint(
        "generate_seeded", generate_seeded,
        input_signature=gen_spec + [tf.TensorSpec(None, tf.int64, name="seed")])
    archive.add_endpoint("sample", sample, input_signature=gen_spec + [
        tf.TensorSpec(None, tf.int32, name="top_k"),
        tf.TensorSpec(None, tf.float32, name="top_p"),
        tf.TensorSpec(None, tf.float32, name="repetition_penalty"),
        tf.TensorSpec(None, tf.int64, name="seed"),
        tf.TensorSpec(None, tf.bool, name="ban_unk")])
    return archive, ["serving_default", "score", "generate",
                     "generate_seeded", "sample"]


def check_direction(model, name="the model"):
    """`ExportError` for a backward language model (`reverse=True`): it
    reads text from its last token to its first, and the serving
    signatures (`score`, `generate`) read it forward."""
    if family_of(model) == "language_model" and getattr(model, "reverse",
                                                         False):
        raise ExportError(
            f"{name}: a backward language model (reverse=True) reads text "
            "from its last token to its first, and the serving signatures "
            "(`score`, `generate`) read it forward; export the classifiers "
            "that start from it instead. Received: a LanguageModel with "
            "reverse=True")


def build_export_archive(model, *, vocabulary=None, class_names=None,
                         level=None, standardize=None,
                         max_generate_length=DEFAULT_MAX_GENERATE_LENGTH):
    """Builds the ``keras.export.ExportArchive`` for a zoo model.

    Args:
        model: a ``SentimentClassifier`` or ``LanguageModel`` (a stateful
            language model is exported through a stateless copy), or a list
            of two or more ``SentimentClassifier``s: an ensemble, whose
            ``probabilities`` are the mean of theirs.
        vocabulary: language models: the `Vocabulary` (or its token list
            in id order).
        class_names: classifiers: overrides ``model.class_names``.
        level: language models: ``"word"``/``"char"`` (default
            ``model.level``).
        standardize: word-level language models of standardised texts
            (a review corpus, `Run.standardize`): the standardisation their
            `score` texts and `generate` prompts get. Default: `None`
            (split only).
        max_generate_length: upper bound on ``generate``'s ``max_length``.

    Returns:
        ``(archive, signature_names)``.
    """
    family = family_of(model)
    check_direction(model)
    if family == "sentiment_classifier":
        return _classifier_archive(model, class_names)
    if vocabulary is None:
        raise ExportError("A language model needs its vocabulary (vocab.txt) "
                          "to be exported.")
    return _language_model_archive(model, vocabulary, level,
                                   max_generate_length, standardize)
