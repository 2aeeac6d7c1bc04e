"""`training.neural_cache`: the continuous cache of Grave et al. (2017) at evaluation.

"Improving Neural Language Models with a Continuous Cache" (ICLR 2017) mixes
a trained language model's distribution with a pointer over its own recent
past. The cache holds the last `window` pairs `(h_i, x_{i+1})`: the model's
output features at step `i` (the input of its softmax) and the token that
followed. At step `t`, with features `h_t`,

    p_cache(w) = sum_i [x_{i+1} = w] softmax_i(theta * h_t . h_i)
    p(w)       = (1 - lambda) * p_model(w) + lambda * p_cache(w)

over the cached steps `i < t`. Nothing is trained: the model's weights are
unchanged and `window`, `theta` and `lambda` are the method's only
settings. AWD-LSTM's `pointer.py` uses `window=500, theta=1.0, lambda=0.1`
on Penn Treebank, which are the defaults here.

The cache starts empty at the beginning of the stream and holds whatever
history there is (up to `window` steps); a token with no history is scored
by the model alone. (AWD-LSTM's `pointer.py` uses the cache only once more
than `window` steps are cached, so its first 501 predictions, and the first
of each of its later batches, are the model's alone; over PTB's 73,760
validation tokens the two rules differ on about 515.)

The stream is read as `training.evaluate` reads it: one row, the state
carried across BPTT windows, so every token has its whole past as context,
both in the model's state and in the cache. The same pass yields the
model's own loss, so a result gives both figures.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

# AWD-LSTM's published pointer settings for Penn Treebank (its README).
DEFAULT_WINDOW = 500
DEFAULT_THETA = 1.0
DEFAULT_LAMBDA = 0.1


@dataclasses.dataclass(frozen=True)
class NeuralCache:
    """The settings of the continuous cache.

    Args:
        window: how many past steps the cache holds, an int >= 1.
            Default: `500`.
        theta: the flatness of the pointer's softmax over the cached steps,
            a finite float > 0. Default: `1.0`.
        lambda_: the cache's weight in the mixture, in [0, 1); `0` gives the
            model alone. Default: `0.1`.
    """

    window: int = DEFAULT_WINDOW
    theta: float = DEFAULT_THETA
    lambda_: float = DEFAULT_LAMBDA

    def __post_init__(self):
        if isinstance(self.window, bool) or not isinstance(self.window, (int, np.integer)) \
                or self.window < 1:
            raise ValueError(f"The cache window must be an integer >= 1. "
                             f"Received: window={self.window!r}")
        try:
            theta, lam = float(self.theta), float(self.lambda_)
        except (TypeError, ValueError):
            raise ValueError(f"The cache's theta and lambda must be numbers. Received: "
                             f"theta={self.theta!r}, lambda={self.lambda_!r}") from None
        if not (math.isfinite(theta) and theta > 0):
            raise ValueError(f"The cache's theta must be a finite number > 0. "
                             f"Received: theta={self.theta!r}")
        if not (0.0 <= lam < 1.0):
            raise ValueError(f"The cache's lambda must be in [0, 1). "
                             f"Received: lambda={self.lambda_!r}")
        object.__setattr__(self, "window", int(self.window))
        object.__setattr__(self, "theta", theta)
        object.__setattr__(self, "lambda_", lam)

    def record(self) -> dict:
        """The settings and the rule, for results files."""
        return {"window": self.window, "theta": self.theta, "lambda": self.lambda_,
                "method": "continuous cache (Grave et al. 2017) over the softmax's "
                          "input features; history from the start of the split, "
                          "up to `window` steps; no history: the model alone"}


def require_one_row(batch_size):
    """`ValueError` unless `batch_size` is 1 (or `None`, the default 1): the
    cache reads the stream as one row."""
    if batch_size not in (None, 1):
        raise ValueError("The neural cache reads the split as one row: it needs "
                         f"batch_size=1. Received: batch_size={batch_size}")


def _log_softmax_at(logits, targets):
    """`log softmax(logits)[t, targets[t]]` in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    top = logits.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return logits[np.arange(len(targets)), targets] - lse


def cache_probabilities(features, targets, history_features, history_targets, cache):
    """Pointer probabilities of `targets` for one window of steps.

    Args:
        features: `(T, D)` output features of the window's steps.
        targets: `(T,)` the tokens that follow them.
        history_features, history_targets: the cache before the window,
            `(M, D)` and `(M,)`, oldest first, `M <= cache.window`.
        cache: a `NeuralCache`.

    Returns:
        `(p_cache (T,), has_history (T,) bool)`: the pointer's probability of
        each target, and whether the step had any cached step to point at.
    """
    m, steps = len(history_targets), len(targets)
    keys = np.concatenate([history_features, features], axis=0)
    values = np.concatenate([history_targets, targets])
    scores = cache.theta * (features @ keys.T)                       # (T, M+T)
    j = np.arange(m + steps)[None, :]
    now = m + np.arange(steps)[:, None]                               # step t sits at m+t
    valid = (j < now) & (j >= now - cache.window)
    has_history = valid.any(axis=1)
    scores = np.where(valid, scores, -np.inf)
    top = np.where(has_history, scores.max(axis=1), 0.0)[:, None]
    weights = np.where(valid, np.exp(scores - top), 0.0)
    total = weights.sum(axis=1)
    hits = (values[None, :] == targets[:, None]) & valid
    p_cache = np.where(has_history,
                       (weights * hits).sum(axis=1) / np.where(has_history, total, 1.0), 0.0)
    return p_cache, has_history


def cache_lm_loss(model, ids, cache, *, bptt, max_steps=None):
    """Summed cross-entropy of a stateful LM over a stream, with and without the cache.

    Args:
        model: a stateful `LanguageModel` with `batch_size=1`.
        ids: 1-D token-id stream.
        cache: a `NeuralCache`.
        bptt: window length (changes speed only).
        max_steps: only the first `max_steps` windows. Defaults to `None`.

    Returns:
        `(total_with_cache, total_model_alone, num_tokens)` in nats.
    """
    from training.data import lm_windows

    if not (getattr(model, "stateful", False) and model.batch_size == 1):
        raise ValueError("The neural cache reads the stream as one row: it needs a "
                         "stateful model with batch_size=1. Received: "
                         f"stateful={getattr(model, 'stateful', None)}, "
                         f"batch_size={getattr(model, 'batch_size', None)}")
    windows = lm_windows(ids, batch_size=1, bptt=bptt, include_partial=True)
    if max_steps:
        windows = windows[:max_steps]
    if not windows:
        raise ValueError(f"{len(ids)} tokens give no window for bptt={bptt}")
    features_and_logits = model.output_features_model(with_logits=True)
    model.reset_states()
    hist_h = np.zeros((0, 0), dtype=np.float64)
    hist_y = np.zeros((0,), dtype=np.int64)
    with_cache, alone, n = 0.0, 0.0, 0
    for x, y in windows:
        h, logits = features_and_logits.predict_on_batch(x.astype(np.int32))
        h = np.asarray(h, dtype=np.float64)[0]
        y = np.asarray(y[0], dtype=np.int64)
        if hist_h.shape[1] != h.shape[1]:
            hist_h = np.zeros((0, h.shape[1]), dtype=np.float64)
        logp_model = _log_softmax_at(np.asarray(logits)[0], y)
        p_cache, has_history = cache_probabilities(h, y, hist_h, hist_y, cache)
        with np.errstate(divide="ignore"):  # log(0) = -inf is meant: no hit, or lambda 0
            mixed = np.logaddexp(math.log1p(-cache.lambda_) + logp_model,
                                 np.log(cache.lambda_ * p_cache))
        logp = np.where(has_history, mixed, logp_model)
        with_cache -= float(logp.sum())
        alone -= float(logp_model.sum())
        n += int(y.size)
        hist_h = np.concatenate([hist_h, h])[-cache.window:]
        hist_y = np.concatenate([hist_y, y])[-cache.window:]
    return with_cache, alone, n
