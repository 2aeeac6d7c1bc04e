"""Sampled softmax for training word-level language models (Jean et al. 2015).

A language model's output layer scores every word of the vocabulary at
every position: with a 20k vocabulary and a small LSTM it is most of the
training step. A sampled softmax trains on the true word and `K` candidate
words drawn once per batch, and corrects each logit by the log of the
candidate's expected count, so that its gradient is an estimate of the full
softmax's (TensorFlow's `tf.nn.sampled_softmax_loss` with
`remove_accidental_hits=True`). Validation, evaluation and the exported
model keep the full softmax: only the training loss changes.

Candidates come from the log-uniform (Zipfian) distribution over ids,
`Q(k) = log((k + 2) / (k + 1)) / log(V + 1)`, drawn with replacement
(TensorFlow's `log_uniform_candidate_sampler` with `unique=False`). It
assumes that ids are sorted by decreasing frequency, which is how
`training.data.Vocabulary.from_counts` orders a word vocabulary.

Everything here is `keras.ops` and `keras.random`, so it runs on every
backend. `training.trainer.Trainer(sampled_softmax=K)` uses it.
"""

from __future__ import annotations

import math

import keras
from keras import ops


def check_candidates(sampled_softmax, level, vocabulary_size) -> None:
    """Refuses `sampled_softmax=K` for a model it cannot train.

    Args:
        sampled_softmax: `K`, the candidates per step.
        level: the language model's level (`"word"` or `"char"`), or `None`
            for a classifier.
        vocabulary_size: the model's vocabulary size.

    Raises:
        ValueError: a model other than a word-level language model, or `K`
            not below the vocabulary size.
    """
    if level != "word":
        raise ValueError(
            "`sampled_softmax` trains word-level language models "
            "(its log-uniform candidates assume ids sorted by "
            f"frequency). Received: sampled_softmax={sampled_softmax!r} for "
            f"a {level or 'classifier'} model")
    if not 1 <= sampled_softmax < vocabulary_size:
        raise ValueError(
            "`sampled_softmax` must be below the vocabulary size "
            f"({vocabulary_size}). Received: "
            f"sampled_softmax={sampled_softmax!r}")


def log_uniform_probability(ids, vocabulary_size):
    """`Q(id)` of the log-uniform distribution over `[0, vocabulary_size)`."""
    ids = ops.cast(ids, "float32")
    # log((k + 2) / (k + 1)) as log1p(1 / (k + 1)): exact in float32 for
    # large ids, where the ratio rounds towards 1
    return ops.log1p(1.0 / (ids + 1.0)) / math.log(vocabulary_size + 1.0)


def log_uniform_candidates(num_sampled, vocabulary_size, seed=None):
    """`num_sampled` int32 ids drawn with replacement from `Q`.

    The inverse of `Q`'s distribution function: `floor(exp(u log(V + 1))) - 1`
    for `u` uniform in [0, 1), as TensorFlow's log-uniform sampler draws.

    Args:
        num_sampled: how many candidates.
        vocabulary_size: `V`.
        seed: a `keras.random.SeedGenerator`, an int or `None`.
    """
    u = keras.random.uniform((num_sampled,), dtype="float32", seed=seed)
    ids = ops.floor(ops.exp(u * math.log(vocabulary_size + 1.0))) - 1.0
    return ops.cast(ops.clip(ids, 0, vocabulary_size - 1), "int32")


def sampled_softmax_loss(features, targets, weights, bias, candidates,
                         vocabulary_size):
    """Mean sampled-softmax cross-entropy over every position.

    For each position, the logits of its target and of every candidate,
    `h . w_k + b_k - log(K Q(k))`, go into one softmax whose first class is
    the target; a candidate equal to the target is left out (an accidental
    hit). With every id drawn once, this is the full softmax cross-entropy
    of the corrected logits.

    Args:
        features: `(..., D)`, what the output layer takes.
        targets: int `(...)`, the next-token ids.
        weights: `(V, D)`, the output embedding (one row per word).
        bias: `(V,)`, the output bias.
        candidates: int `(K,)`, ids from `log_uniform_candidates`.
        vocabulary_size: `V`, for `Q`.

    Returns:
        A float32 scalar.
    """
    dim = ops.shape(weights)[-1]
    h = ops.reshape(ops.cast(features, "float32"), (-1, dim))
    y = ops.reshape(ops.cast(targets, "int32"), (-1,))
    weights = ops.cast(weights, "float32")
    bias = ops.cast(bias, "float32")
    k = float(candidates.shape[0])
    true_logit = (ops.sum(h * ops.take(weights, y, axis=0), axis=-1)
                  + ops.take(bias, y)
                  - ops.log(k * log_uniform_probability(y, vocabulary_size)))
    sampled = (ops.matmul(h, ops.transpose(ops.take(weights, candidates,
                                                    axis=0)))
               + ops.take(bias, candidates)
               - ops.log(k * log_uniform_probability(candidates,
                                                     vocabulary_size)))
    hit = ops.equal(ops.expand_dims(y, 1), ops.expand_dims(candidates, 0))
    sampled = ops.where(hit, ops.full_like(sampled, -1e30), sampled)
    logits = ops.concatenate([ops.expand_dims(true_logit, 1), sampled], axis=1)
    return ops.mean(ops.logsumexp(logits, axis=1) - true_logit)
