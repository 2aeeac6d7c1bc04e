#!/usr/bin/env python
"""Recipe: PTB word level, Zaremba et al. (2014) small, with the `ptb_small` preset.

2x200 LSTM, uniform init 0.1, no dropout, 13 epochs, BPTT 20, batch 20,
SGD lr 1 halved each epoch after the 4th, global norm clip 5 on the summed
loss (= lr 20 / clip 0.25 on Keras' mean loss). Trains on ptb.train.txt,
validates on ptb.valid.txt, then `zoo evaluate` (batch 1, state carried over
the whole split).

    .venv/bin/python bench/reproduce/ptb_small.py [--epochs N] [--resume]

Target: validation perplexity <= 121.4 (TF PTB tutorial, small config).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402
import _recipe  # noqa: E402

RECIPE = PRESET = "ptb_small"

if __name__ == "__main__":
    a = _recipe.parse_args(__doc__, RECIPE)
    _recipe.run_recipe(
        a, recipe=RECIPE, preset=PRESET, data=os.path.join(c.DATA, "ptb"),
        metric="perplexity",
        target={"metric": "perplexity", "op": "<=", "value": 121.4},
        anchor="Zaremba et al. (2014) small / TF PTB tutorial: valid 120.7 (paper), "
               "121.4 (TF reference)",
        task="Penn Treebank word-level language model")
