#!/usr/bin/env python
"""Recipe: SST-2 sentence sentiment with the `sst2_bigru_highway` preset, from scratch.

Trains on the GLUE SST-2 train TSV, selects the checkpoint on the official
GLUE dev set (`--validation-data dev.tsv`, 872 full sentences) and
evaluates it there with `zoo evaluate`. (A random carve of train.tsv shares
phrases of the same sentences with train and read 92.6%.)

    .venv/bin/python bench/reproduce/sst2_bigru_highway.py [--epochs N] [--resume]

Target: >= 85.5% on the GLUE dev set (anchor: Flax SST-2 BiLSTM, 85.4% on
the GLUE dev set).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402
import _recipe  # noqa: E402

RECIPE = PRESET = "sst2_bigru_highway"

if __name__ == "__main__":
    a = _recipe.parse_args(__doc__, RECIPE)
    _recipe.run_recipe(
        a, recipe=RECIPE, preset=PRESET, data=os.path.join(c.DATA, "sst2", "train.tsv"),
        metric="accuracy", target={"metric": "accuracy", "op": ">=", "value": 0.855},
        split="GLUE dev set (dev.tsv, 872 sentences)",
        extra_train_args=["--validation-data", os.path.join(c.DATA, "sst2", "dev.tsv")],
        anchor="Flax SST-2 BiLSTM example: 85.4% on the GLUE dev set",
        task="SST-2 (GLUE) binary sentiment, from scratch")
