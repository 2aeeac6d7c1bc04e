#!/usr/bin/env python
"""Recipe: SST-2 sentence sentiment with the `sst2_bigru_highway` preset, from scratch.

Trains on the GLUE SST-2 train TSV with 10% held out (stratified, seed 1337 —
`zoo train`'s default carve, recorded in config.json), then evaluates the
best checkpoint on that held-out split with `zoo evaluate`.

    .venv/bin/python bench/reproduce/sst2_bigru_highway.py [--epochs N] [--resume]

Target: >= 85.5% validation accuracy (anchor: Flax SST-2 BiLSTM, 85.4% on
the GLUE dev set). The carved split contains phrases, like SST-2 train, so
it is easier than the GLUE dev set of full sentences.
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
        split="validation carved from train.tsv",
        extra_fields={"split_note": "SST-2 train.tsv holds phrases as well as sentences; "
                      "the carved split is easier than the GLUE dev set (872 full "
                      "sentences)."},
        anchor="Flax SST-2 BiLSTM example: 85.4% on the GLUE dev set",
        task="SST-2 (GLUE) binary sentiment, from scratch")
