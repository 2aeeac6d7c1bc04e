#!/usr/bin/env python
"""Recipe: `imdb_lm` with the training reviews' text added to its corpus.

The `imdb_lm` recipe (`unsup.csv`, sampled softmax, one cycle, 60 minutes)
plus `--add-texts train.csv --leave-out-group movie`: the 22,495 labelled
training reviews outside the movie-grouped validation carve that
`imdb_transfer` is selected on (share 0.1, seed 1337; `--init-from`
refuses a classifier that carves otherwise), 16.6M training tokens instead
of 11.3M. The recorded run (`bench/results/imdb_lm_added_texts.json`) had a
6,000-step cycle, sized on a short timed run at 565 ms a step; the run
itself then averaged 790 ms, so the budget ended at step 4,560 with the
rate at a fifth of its peak. The recipe now times its cycle to the budget,
as `imdb_lm.py` does.

    .venv/bin/python bench/reproduce/imdb_lm_added_texts.py   # ../runs/imdb_lm_added_texts
    .venv/bin/python bench/reproduce/ablation_pretraining.py --only imdb \\
        --arms pretrained_full_rate --seeds 1337 --lm ../runs/imdb_lm_added_texts \\
        --name ablation_pretraining_added_texts

The LM leaves out seed 1337's carve, so classifiers of other seeds carve
with `--validation-seed 1337` (the ablation's `--carve-seed 1337`);
`--init-from` refuses any other carve of train.csv.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402
import imdb_lm  # noqa: E402

if __name__ == "__main__":
    imdb_lm.main(__doc__, "imdb_lm_added_texts", more=[
        "--add-texts", os.path.join(c.DATA, "imdb", "train.csv"),
        "--leave-out-group", "movie"])
