#!/usr/bin/env python
"""Recipe: PTB word level with the regularised `ptb_regularized` preset (<= 10M parameters).

Tied embeddings, embedding/between-layer/output dropout, SGD with decay.
Trains on ptb.train.txt, validates on ptb.valid.txt, then `zoo evaluate`.

    .venv/bin/python bench/reproduce/ptb_regularized.py [--epochs N] [--resume]

Target: validation perplexity <= 100 within 60 minutes of training.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402
import _lm  # noqa: E402

RECIPE = PRESET = "ptb_regularized"

if __name__ == "__main__":
    a = _lm.parse_args(__doc__, RECIPE)
    _lm.run_recipe(
        a, recipe=RECIPE, preset=PRESET, data=os.path.join(c.DATA, "ptb"),
        metric="perplexity",
        target={"metric": "perplexity", "op": "<=", "value": 100.0},
        anchor="Zaremba et al. (2014) medium (2x650, dropout 0.5, 20M params): valid 86.2",
        task="Penn Treebank word-level language model, regularised")
