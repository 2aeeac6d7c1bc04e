#!/usr/bin/env python
"""Recipe: IMDB sentiment by transfer from `imdb_lm`, 120 minutes in all.

The `imdb_transfer` preset started from `../runs/imdb_lm` (`--init-from`:
its vocabulary, tokenisation, embedding and LSTM), fine-tuned on the
official train split with validation carved by movie (`--validation-group
movie`), one cycle, discriminative rates and gradual unfreezing, under
`--time-budget 60` so that pretraining and fine-tuning stay within 120
minutes.

    .venv/bin/python bench/reproduce/imdb_lm.py        # once
    .venv/bin/python bench/reproduce/imdb_transfer.py

Target: >= 92% on the movie-grouped carve, <= 120 minutes counting the
pretraining. Anchors: SA-LSTM 92.8% (Dai & Le 2015), NBSVM-bi 91.2%.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402
import _recipe  # noqa: E402

RECIPE = "imdb_transfer"
PRESET = "imdb_transfer"
TIME_BUDGET_MIN = 60

if __name__ == "__main__":
    a = _recipe.parse_args(__doc__, RECIPE)
    _recipe.run_recipe(
        a, recipe=RECIPE, preset=PRESET,
        data=os.path.join(c.DATA, "imdb", "train.csv"),
        metric="accuracy", target={"metric": "accuracy", "op": ">=", "value": 0.92},
        split="validation carved from the official train split by movie",
        pretraining="imdb_lm", total_budget_s=120 * 60,
        extra_train_args=["--init-from", os.path.join(c.RUNS, "imdb_lm"),
                          "--validation-group", "movie",
                          "--time-budget", str(TIME_BUDGET_MIN)],
        anchor="SA-LSTM (Dai & Le 2015): 92.8% test; NBSVM-bi 91.2%",
        task="IMDB movie review sentiment (Maas et al. 2011), fine-tuned from imdb_lm")
