#!/usr/bin/env python
"""Recipe: IMDB sentiment in at most 20 minutes of training, from scratch.

The `imdb_fast` preset: a 1-layer BiGRU-64 over the first 400 words and a
linear bag of uni- and bigrams over the whole review (`ngrams=2`, 200k
n-grams), their logits added before the softmax. Trained on the official
train split with validation carved by movie (`--validation-group movie`:
no movie on both sides, 10%, seed 1337) under `--time-budget 19`; the best
checkpoint is evaluated on the movie-grouped carve. Nothing is pretrained.

    .venv/bin/python bench/reproduce/imdb_fast.py

Target: >= 90% on the movie-grouped carve within 20 minutes of training.
Anchor: NBSVM-bi, 91.2% test (Wang & Manning 2012).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402
import _recipe  # noqa: E402

RECIPE = "imdb_fast"
PRESET = "imdb_fast"
TIME_BUDGET_MIN = 19

if __name__ == "__main__":
    a = _recipe.parse_args(__doc__, RECIPE)
    _recipe.run_recipe(
        a, recipe=RECIPE, preset=PRESET,
        data=os.path.join(c.DATA, "imdb", "train.csv"),
        metric="accuracy", target={"metric": "accuracy", "op": ">=", "value": 0.90},
        split="validation carved from the official train split by movie",
        time_budget_s=20 * 60,
        extra_train_args=["--validation-group", "movie",
                          "--time-budget", str(TIME_BUDGET_MIN)],
        anchor="NBSVM-bi (Wang & Manning 2012): 91.2% test",
        task="IMDB movie review sentiment (Maas et al. 2011)")
