#!/usr/bin/env python
"""Recipe: PTB word level with the regularised `ptb_regularized` preset (<= 10M parameters).

Tied 2x400 LSTM, embedding/between-layer/output dropout 0.3, SGD (lr 20 /
global clip 0.25 on the mean loss) with the rate halved each epoch from the 6th. Trains on ptb.train.txt with
`--time-budget 57` (the run stops, validates and checkpoints once 57 minutes
of training are spent, leaving room for loading and the final metrics inside
60 minutes), validates on ptb.valid.txt, then `zoo evaluate`.

    .venv/bin/python bench/reproduce/ptb_regularized.py [--epochs N] [--resume]

Target: validation perplexity <= 100 within 60 minutes of training.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402
import _recipe  # noqa: E402

RECIPE = PRESET = "ptb_regularized"

if __name__ == "__main__":
    a = _recipe.parse_args(__doc__, RECIPE)
    _recipe.run_recipe(
        a, recipe=RECIPE, preset=PRESET, data=os.path.join(c.DATA, "ptb"),
        metric="perplexity",
        target={"metric": "perplexity", "op": "<=", "value": 100.0},
        anchor="Zaremba et al. (2014) medium (2x650, dropout 0.5, 20M params): valid 86.2",
        task="Penn Treebank word-level language model, regularised",
        time_budget_s=60 * 60, extra_train_args=["--time-budget", "57"])
