"""The log-probability of a text under a language model: the one definition.

A text is tokenised with `training.data.vocab.model_tokens` (`tokenize`,
or for a model of standardised reviews the classifiers' standardisation,
`standardize`) and its tokens are predicted one after the other. The first is predicted from one context
token, the one that precedes a text in the training stream:

- word level: `<eos>` (a sentence follows the end of the previous one),
  or `<unk>` when the vocabulary has no `<eos>`;
- character level: `"\\n"` (a line follows a newline), else `" "`, else
  `<unk>`.

With `append_end=True` (the default) a word-level text is scored as a whole
sentence: `<eos>` is appended and its probability counts too. Character
level has no end token. So, in nats,

    log p(text) = sum_t log p(token_t | context, token_1 .. token_t-1)

over every token of the text (and the end token). `zoo evaluate-pairs`,
the exported `score` signature (`serving.signatures` builds the same ids in
its TensorFlow graph from `context_id` and `end_id`) and the samplers (which
prime a model with `prompt_ids`) all follow it.
"""

from __future__ import annotations

import numpy as np

from training.data.vocab import EOS_TOKEN, model_tokens


def context_token(vocab, level) -> str:
    """The token the first token of a text is predicted from."""
    candidates = (EOS_TOKEN,) if level == "word" else ("\n", " ")
    for token in candidates:
        if token in vocab:
            return token
    return vocab.oov_token


def end_token(vocab, level):
    """The token that ends a scored text (`<eos>` at word level), or `None`."""
    if level == "word" and EOS_TOKEN in vocab:
        return EOS_TOKEN
    return None


def context_id(vocab, level) -> int:
    return vocab.token_to_id(context_token(vocab, level))


def end_id(vocab, level) -> int:
    """The id of `end_token`, or `-1` when there is none."""
    token = end_token(vocab, level)
    return -1 if token is None else vocab.token_to_id(token)


def prompt_ids(text, vocab, level, standardize=None) -> np.ndarray:
    """`[context] + ids(text)`: what a sampler feeds before generating.
    `standardize`: the run's (`Run.standardize`), for review models."""
    ids = vocab.encode(model_tokens(text, level, standardize))
    return np.concatenate([[context_id(vocab, level)], ids]).astype(np.int32)


def scoring_ids(text, vocab, level, *, append_end=True,
                standardize=None) -> np.ndarray:
    """`[context] + ids(text) (+ [end])`: the tokens after the first are the
    ones scored."""
    ids = prompt_ids(text, vocab, level, standardize)
    end = end_id(vocab, level)
    if append_end and end >= 0:
        ids = np.concatenate([ids, [end]]).astype(np.int32)
    return ids


def describe(vocab, level, *, append_end=True, standardize=None) -> str:
    """The rule in words, for results files."""
    split = ("whitespace split (str.split)" if level == "word" else
             "one token per character")
    if standardize is not None and level == "word":
        split = (f"standardised ({standardize}) and split on ASCII "
                 "whitespace, as TextVectorization does")
    end = end_token(vocab, level)
    parts = [split, f"unknown tokens -> {vocab.oov_token}",
             f"first token predicted after {context_token(vocab, level)!r}"]
    if end is not None:
        parts.append(f"{end} appended and scored" if append_end
                     else f"no {end} appended")
    return "; ".join(parts)


def token_logprobs(model, sequences, batch_size=64):
    """Log-probabilities (float64) of `seq[1:]` for each id sequence.

    `log p(seq[t]) = log softmax(model(seq[:-1]))[t - 1, seq[t]]`, computed
    through `model.predict_on_batch` (compiled on every backend), batching
    sequences of equal length (no padding, so no masking).

    Args:
        model: a stateless language model (ids `(batch, time)` -> logits).
        sequences: id arrays.
        batch_size: sequences per call.

    Returns:
        A list of arrays, `len(seq) - 1` values each.

    Raises:
        ValueError: an id the model has no logit for.
    """
    out = [np.zeros(max(len(s) - 1, 0), np.float64) for s in sequences]
    by_len = {}
    for i, s in enumerate(sequences):
        by_len.setdefault(len(s), []).append(i)
    for length, idx in by_len.items():
        if length < 2:
            continue  # nothing to predict
        for start in range(0, len(idx), batch_size):
            chunk = idx[start:start + batch_size]
            ids = np.stack([sequences[i] for i in chunk]).astype(np.int32)
            logits = np.asarray(model.predict_on_batch(ids[:, :-1]),
                                np.float64)
            if ids.max() >= logits.shape[-1]:
                raise ValueError(
                    f"token id {int(ids.max())} is outside the model's "
                    f"vocabulary of {logits.shape[-1]} tokens; is vocab.txt "
                    "the run's own?")
            logits -= logits.max(axis=-1, keepdims=True)
            logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
            picked = np.take_along_axis(logp, ids[:, 1:, None], axis=-1)[..., 0]
            for row, i in enumerate(chunk):
                out[i] = picked[row]
    return out


def text_logprobs(model, vocab, level, texts, *, append_end=True,
                  batch_size=64, standardize=None) -> np.ndarray:
    """`log p(text)` (nats, float64) of each text (see the module docstring).

    Example:

    ```python
    run = training.run_dir.open_run("runs/ptb")
    text_logprobs(run.model, run.vocabulary, run.level, ["the cat sat"],
                  standardize=run.standardize)
    ```
    """
    seqs = [scoring_ids(t, vocab, level, append_end=append_end,
                        standardize=standardize) for t in texts]
    return np.array([lp.sum() for lp in token_logprobs(model, seqs,
                                                       batch_size)])
