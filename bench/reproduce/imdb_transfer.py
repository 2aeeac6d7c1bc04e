#!/usr/bin/env python
"""Recipe: IMDB sentiment by transfer from `imdb_lm`, 120 minutes in all.

The `imdb_transfer` preset started from `../runs/imdb_lm` (`--init-from`:
its vocabulary, tokenisation, embedding and LSTM), fine-tuned on the
official train split with validation carved by movie (`--validation-group
movie`), one cycle with every layer at the full rate, under
`--time-budget 60` so that pretraining and fine-tuning stay within 120
minutes.

    .venv/bin/python bench/reproduce/imdb_lm.py        # once
    .venv/bin/python bench/reproduce/imdb_transfer.py [--lm ../runs/NAME]

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
DATA = os.path.join(c.DATA, "imdb", "train.csv")
TARGET = {"metric": "accuracy", "op": ">=", "value": 0.92}
SPLIT = "validation carved from the official train split by movie"
CARVE = ["--validation-group", "movie", "--time-budget", str(TIME_BUDGET_MIN)]


def main(doc=__doc__, recipe=RECIPE, scratch=False):
    """Runs the recipe; `scratch=True` is the control without `--init-from`
    (`imdb_transfer_scratch.py`), every layer at the full rate."""
    a = _recipe.parse_args(doc, recipe, lm=not scratch)
    common = dict(recipe=recipe, preset=PRESET, data=DATA, metric="accuracy",
                  target=TARGET, split=SPLIT)
    if scratch:
        _recipe.run_recipe(
            a, **common, time_budget_s=TIME_BUDGET_MIN * 60,
            extra_train_args=["--recipe", "layer_lr_decay=1", "--recipe", "unfreeze_steps=0",
                              *CARVE],
            anchor="imdb_transfer (same preset from imdb_lm): see imdb_transfer.json",
            task="IMDB movie review sentiment (Maas et al. 2011), imdb_transfer from scratch")
    else:
        pretraining = _recipe.pretraining_of(a.lm)
        _recipe.run_recipe(
            a, **common, pretraining=pretraining, total_budget_s=120 * 60,
            extra_train_args=["--init-from", a.lm, *CARVE],
            anchor="SA-LSTM (Dai & Le 2015): 92.8% test; NBSVM-bi 91.2%",
            task=f"IMDB movie review sentiment (Maas et al. 2011), fine-tuned from {pretraining}")


if __name__ == "__main__":
    main()
