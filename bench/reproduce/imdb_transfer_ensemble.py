#!/usr/bin/env python
"""Recipe: IMDB by transfer from `imdb_lm`, an ensemble of fine-tunings of several seeds.

`imdb_transfer.py` once per seed (`--seeds`, default 1337 1338 1339), each
from the same LM run (`--lm`, default `../runs/imdb_lm`) and selected on the
same movie-grouped carve (`--validation-group movie --validation-seed
1337`, the carve of the single-seed recipe), then `zoo evaluate` of the
members together: the mean of their class probabilities on that carve.
Nothing is selected among the members; each one's own figure is recorded
beside the ensemble's.

    .venv/bin/python bench/reproduce/imdb_lm.py        # once
    .venv/bin/python bench/reproduce/imdb_transfer_ensemble.py [--lm ../runs/NAME] [--seeds S ...]

Target: >= 92% on the movie-grouped carve, <= 120 minutes counting the
pretraining and every member. Anchors: SA-LSTM 92.8% (Dai & Le 2015),
NBSVM-bi 91.2%.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _recipe  # noqa: E402
import imdb_transfer as single  # noqa: E402

RECIPE = "imdb_transfer_ensemble"
CARVE_SEED = 1337

if __name__ == "__main__":
    a = _recipe.parse_args(__doc__, RECIPE, lm=True, seeds=True)
    pretraining = _recipe.pretraining_of(a.lm)
    _recipe.run_ensemble(
        a, recipe=RECIPE, preset=single.PRESET, data=single.DATA, metric="accuracy",
        target=single.TARGET, split=single.SPLIT, pretraining=pretraining,
        total_budget_s=120 * 60,
        member_args=["--init-from", a.lm, *single.CARVE,
                     "--validation-seed", str(CARVE_SEED)],
        anchor="SA-LSTM (Dai & Le 2015): 92.8% test; NBSVM-bi 91.2%",
        task=f"IMDB movie review sentiment (Maas et al. 2011), an ensemble of "
             f"fine-tunings from {pretraining}")
