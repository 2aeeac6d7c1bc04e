#!/usr/bin/env python
"""Recipe: the IMDB LM fine-tuned on SST-2's training text (ULMFiT's second stage).

`zoo train imdb_lm --init-from LM` on the text of the GLUE train TSV (no
labels are read): the new LM keeps the IMDB LM's vocabulary, tokenisation
and every weight, and goes on training on SST-2's phrases, so that
`sst2_transfer` (`--lm ../runs/sst2_lm`) starts from a model of the target
text, as Howard & Ruder (2018) fine-tune their LM on the task's text before
the classifier. It trains with the source LM's regularisation (its
`--set` arguments, read from its `config.json`), the sampled softmax of the
IMDB LM recipe and a one-cycle rate of peak 1e-3 over the run's steps. The
dev set is never read. The held-out perplexity is on the last 5% of
train.tsv's phrases, which share words with the phrases of the same
sentences elsewhere in the file: it tracks training, it is not a clean
held-out figure; the classifiers' dev accuracy is what counts.

    .venv/bin/python bench/reproduce/imdb_lm.py        # once
    .venv/bin/python bench/reproduce/sst2_lm.py [--lm ../runs/NAME] [--epochs N]
    .venv/bin/python bench/reproduce/sst2_transfer_ensemble.py --lm ../runs/sst2_lm

`seconds_with_pretraining` counts the IMDB LM's seconds too, and so do the
classifiers' results that start from this run.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402
import _recipe  # noqa: E402

RECIPE = "sst2_lm"
PRESET = "imdb_lm"
DATA = os.path.join(c.DATA, "sst2", "train.tsv")
EPOCHS = 3
VALIDATION_SPLIT = 0.05
LEARNING_RATE = 1e-3
BATCH_SIZE, BPTT = 64, 70


def schedule_steps(lm, epochs):
    """Every training step of `epochs` passes over the corpus, as `zoo
    train` will cut it (the one-cycle rate spans them)."""
    from training import run_dir as rd
    from training.data import load_language_model, lm_steps_per_epoch

    data = load_language_model(DATA, vocab=rd.open_run(lm).vocabulary,
                               validation_fraction=VALIDATION_SPLIT)
    return epochs * lm_steps_per_epoch(len(data.train), batch_size=BATCH_SIZE,
                                       bptt=BPTT)


def regularisation(lm):
    """The source LM's `--set` arguments that size no weight."""
    from training import run_dir as rd
    from training import transfer

    shape = set(transfer.LM_SHAPE_KEYS) | {"vocabulary_size"}
    return [arg for k, v in sorted(rd.open_run(lm).overrides.items())
            if k not in shape for arg in ("--set", f"{k}={v}")]


if __name__ == "__main__":
    a = _recipe.parse_args(__doc__, RECIPE, lm=True)
    pretraining = _recipe.pretraining_of(a.lm)
    epochs = a.epochs or EPOCHS
    _recipe.run_recipe(
        a, recipe=RECIPE, preset=PRESET, data=DATA, metric="perplexity",
        target=None, pretraining=pretraining,
        split=f"last {VALIDATION_SPLIT:.0%} of train.tsv's phrases (not held "
              "out from the other phrases of their sentences)",
        extra_train_args=[
            "--init-from", a.lm, "--validation-split", str(VALIDATION_SPLIT),
            *(["--epochs", str(EPOCHS)] if not a.epochs else []),
            *regularisation(a.lm),
            "--batch-size", str(BATCH_SIZE), "--bptt", str(BPTT),
            "--lr", str(LEARNING_RATE),
            "--recipe", "sampled_softmax=1024",
            "--recipe", "lr_schedule=one_cycle",
            "--recipe", f"schedule_steps={schedule_steps(a.lm, epochs)}"],
        anchor="ULMFiT (Howard & Ruder 2018) fine-tunes its LM on the task's text",
        task=f"SST-2 training text, word-level language model fine-tuned from "
             f"{pretraining}")
