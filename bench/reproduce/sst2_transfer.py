#!/usr/bin/env python
"""Recipe: SST-2 on the GLUE dev set, by transfer from the IMDB language model.

`sst2_transfer` started from `../runs/imdb_lm` (`--init-from`; movie-review
text), fine-tuned on the GLUE train TSV and selected and reported on the
official dev set (`--validation-data dev.tsv`, 872 full sentences), under
`--time-budget 15`.

    .venv/bin/python bench/reproduce/imdb_lm.py        # once
    .venv/bin/python bench/reproduce/sst2_transfer.py [--lm ../runs/NAME]

Target: >= 88% on the GLUE dev set. Anchors: Tai et al. (2015) 2-layer
BiLSTM 87.2%, Tree-LSTM 88.0%, both with GloVe vectors.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402
import _recipe  # noqa: E402

RECIPE = "sst2_transfer"
PRESET = "sst2_transfer"
TIME_BUDGET_MIN = 15
DATA = os.path.join(c.DATA, "sst2", "train.tsv")
TARGET = {"metric": "accuracy", "op": ">=", "value": 0.88}
SPLIT = "GLUE dev set (dev.tsv, 872 sentences)"
VALIDATION = ["--validation-data", os.path.join(c.DATA, "sst2", "dev.tsv"),
              "--time-budget", str(TIME_BUDGET_MIN)]
ANCHOR = "Tai et al. 2015: 2-layer BiLSTM 87.2%, Tree-LSTM 88.0% (GloVe)"

if __name__ == "__main__":
    a = _recipe.parse_args(__doc__, RECIPE, lm=True)
    pretraining = _recipe.pretraining_of(a.lm)
    _recipe.run_recipe(
        a, recipe=RECIPE, preset=PRESET, data=DATA, metric="accuracy", target=TARGET,
        split=SPLIT, pretraining=pretraining,
        extra_train_args=["--init-from", a.lm, *VALIDATION],
        anchor=ANCHOR,
        task=f"SST-2 (GLUE) binary sentiment, fine-tuned from {pretraining}")
