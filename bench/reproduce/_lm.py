"""Language-model recipe helpers: sampling text from a finished run, and the
Tiny Shakespeare recipes' common body."""

from __future__ import annotations


def sample(run_dir, prime, length, temperature=0.8, seed=0):
    """Samples `length` tokens from a run's best checkpoint, primed with `prime`.

    Reads the run through `training.run_dir`, makes a stateful batch-1 copy
    (`with_options`), feeds the prime as `training.scoring.prompt_ids` gives
    it (the context token, then the prime's tokens) and then one sampled
    token at a time, carrying the recurrent state.
    """
    import numpy as np

    from training import run_dir as rd
    from training import scoring

    run = rd.open_run(run_dir)
    if run.reverse:
        raise ValueError(f"{run_dir}: a backward language model (reverse=True) "
                         "samples text backwards from a prime; sample a forward one")
    vocab = run.vocabulary
    lm = run.model.with_options(stateful=True, batch_size=1)
    lm.reset_states()
    rng = np.random.default_rng(seed)
    char = run.level == "char"
    ids = scoring.prompt_ids(prime, vocab, run.level, run.standardize)[None, :]
    logits = np.asarray(lm(ids, training=False))[0, -1]
    out = []
    for _ in range(length):
        z = logits.astype("float64") / temperature
        z -= z.max()
        p = np.exp(z)
        p /= p.sum()
        nxt = int(rng.choice(len(p), p=p))
        out.append(nxt)
        logits = np.asarray(lm(np.asarray([[nxt]], dtype="int32"), training=False))[0, -1]
    words = vocab.decode(out)
    return prime + ("".join(words) if char else " " + " ".join(words))


def sample_result(run_dir, prime, length, temperature=0.8, seed=0):
    """The results file's `sample` entry: `sample(...)` with its settings."""
    return {"prime": prime, "length": length, "temperature": temperature, "seed": seed,
            "checkpoint": "model.keras",
            "text": sample(run_dir, prime, length, temperature=temperature, seed=seed)}


def run_shakespeare(doc, preset, *, target, anchor, budget_minutes=None):
    """Runs a Tiny Shakespeare recipe: `zoo train PRESET` on `input.txt`
    (optionally under `--time-budget budget_minutes`, recorded against a
    30-minute target), `zoo evaluate` on the validation split, and a
    500-character sample primed with `ROMEO:\\n`."""
    import os

    import _common as c
    import _recipe

    a = _recipe.parse_args(doc, preset)
    budget = {} if budget_minutes is None else {
        "time_budget_s": 30 * 60,
        "extra_train_args": ["--time-budget", str(budget_minutes)]}
    _recipe.run_recipe(
        a, recipe=preset, preset=preset,
        data=os.path.join(c.DATA, "tinyshakespeare", "input.txt"),
        metric="loss",
        target={"metric": "loss (nats/char)", "op": "<=", "value": target},
        anchor=anchor, task="Tiny Shakespeare character-level language model",
        sample=lambda run_dir: sample_result(run_dir, "ROMEO:\n", 500),
        **budget)
