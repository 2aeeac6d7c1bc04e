#!/usr/bin/env python
"""Recipe: PTB word level with `ptb_awd_cpu`, AWD-LSTM's regularisation in 60 CPU minutes (<= 10M parameters).

Tied 2x400 LSTM (6.6M parameters) with weight drop 0.15 on the recurrent
weights, locked dropout (0.2 embedded, 0.2 between layers, 0.25 output),
word dropout 0.05, AR 2 / TAR 1 and variable-length BPTT around 35; SGD
(lr 20 / global clip 0.25 on the mean loss) with the rate halved each epoch
from the 4th, and an EMA of the weights (momentum 0.999) from the 2nd
epoch, which validation and the checkpoints use. Trains on ptb.train.txt with
`--time-budget 57` (the run stops, validates and checkpoints once 57 minutes
of training are spent, leaving room for loading and the final metrics inside
60 minutes), validates on ptb.valid.txt, then `zoo evaluate`.

    .venv/bin/python bench/reproduce/ptb_awd_cpu.py [--epochs N] [--resume]

Target: validation perplexity <= 84 within 60 minutes of training.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402
import _recipe  # noqa: E402

RECIPE = PRESET = "ptb_awd_cpu"

if __name__ == "__main__":
    a = _recipe.parse_args(__doc__, RECIPE)
    _recipe.run_recipe(
        a, recipe=RECIPE, preset=PRESET, data=os.path.join(c.DATA, "ptb"),
        metric="perplexity",
        target={"metric": "perplexity", "op": "<=", "value": 84.0},
        anchor="ptb_regularized (same 2x400 model, plain dropout): valid 90.4 in 42 min; Zaremba et al. (2014) medium (20M params, 39 epochs): valid 86.2; AWD-LSTM (24M, 750 epochs, GPU): valid 60.0",
        task="Penn Treebank word-level language model, AWD-LSTM regularisation on a CPU budget",
        time_budget_s=60 * 60, extra_train_args=["--time-budget", "57"])
