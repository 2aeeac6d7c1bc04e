#!/usr/bin/env python
"""Recipe: SST-2 on the GLUE dev set, an ensemble of fine-tunings from the IMDB LM.

`sst2_transfer.py` once per seed (`--seeds`, default 1337 1338 1339), each
from the same LM run (`--lm`, default `../runs/imdb_lm`) and selected on the
GLUE dev set, then `zoo evaluate` of the members together: the mean of
their class probabilities on dev. Nothing is selected among the members;
each one's own figure is recorded beside the ensemble's.

    .venv/bin/python bench/reproduce/imdb_lm.py        # once
    .venv/bin/python bench/reproduce/sst2_transfer_ensemble.py [--lm ../runs/NAME] [--seeds S ...]

Target: >= 88% on the GLUE dev set. Anchors: Tai et al. (2015) 2-layer
BiLSTM 87.2%, Tree-LSTM 88.0%, both with GloVe vectors.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _recipe  # noqa: E402
import sst2_transfer as single  # noqa: E402

RECIPE = "sst2_transfer_ensemble"

if __name__ == "__main__":
    a = _recipe.parse_args(__doc__, RECIPE, lm=True, seeds=True)
    pretraining = _recipe.pretraining_of(a.lm)
    _recipe.run_ensemble(
        a, recipe=RECIPE, preset=single.PRESET, data=single.DATA, metric="accuracy",
        target=single.TARGET, split=single.SPLIT, pretraining=pretraining,
        member_args=["--init-from", a.lm, *single.VALIDATION],
        anchor=single.ANCHOR,
        task=f"SST-2 (GLUE) binary sentiment, an ensemble of fine-tunings from {pretraining}")
