#!/usr/bin/env python
"""Recipe: IMDB sentiment in at most 20 minutes of training, from the `imdb_lm` run.

`imdb_transfer` started from `../runs/imdb_lm` (`--init-from`: its
vocabulary, tokenisation, embedding and LSTM), fine-tuned on the official
train split with validation carved by movie (`--validation-group movie`:
no movie on both sides, 10%, seed 1337), one cycle, discriminative rates
(2.6 per layer group) and gradual unfreezing, under `--time-budget 19`.
The best checkpoint is evaluated on the movie-grouped carve.

    .venv/bin/python bench/reproduce/imdb_lm.py        # once
    .venv/bin/python bench/reproduce/imdb_fast.py

Target: >= 90% on the movie-grouped carve within 20 minutes of training
(the pretraining is reported beside it). Anchor: NBSVM-bi, 91.2% (Wang &
Manning 2012).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402
import _recipe  # noqa: E402

RECIPE = "imdb_fast"
PRESET = "imdb_transfer"
TIME_BUDGET_MIN = 19

if __name__ == "__main__":
    a = _recipe.parse_args(__doc__, RECIPE)
    _recipe.run_recipe(
        a, recipe=RECIPE, preset=PRESET,
        data=os.path.join(c.DATA, "imdb", "train.csv"),
        metric="accuracy", target={"metric": "accuracy", "op": ">=", "value": 0.90},
        split="validation carved from the official train split by movie",
        time_budget_s=20 * 60, pretraining="imdb_lm",
        extra_train_args=["--init-from", os.path.join(c.RUNS, "imdb_lm"),
                          "--validation-group", "movie",
                          "--time-budget", str(TIME_BUDGET_MIN)],
        anchor="NBSVM-bi (Wang & Manning 2012): 91.2% test",
        task="IMDB movie review sentiment (Maas et al. 2011), fine-tuned from imdb_lm")
