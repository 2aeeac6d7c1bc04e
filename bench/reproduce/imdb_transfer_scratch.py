#!/usr/bin/env python
"""Recipe: `imdb_transfer` from scratch, the control for `imdb_transfer.py`.

The same preset, data, carve (`--validation-group movie`) and time budget
as `imdb_transfer.py`, without `--init-from`: the vocabulary is learned
from the training reviews and the embedding and LSTM start at random.
Every layer trains at the full rate from the first step
(`layer_lr_decay=1`, `unfreeze_steps=0`, as the preset now does; they are
passed explicitly because the run was made while the preset had ULMFiT's
gradual schedule). The bag of n-grams is kept, so the
difference to `imdb_transfer.json` is what the language model adds on top
of it.

    .venv/bin/python bench/reproduce/imdb_transfer_scratch.py

Writes bench/results/imdb_transfer_scratch.json. The target is
`imdb_transfer`'s (>= 92% on the movie-grouped carve).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imdb_transfer  # noqa: E402

if __name__ == "__main__":
    imdb_transfer.main(__doc__, "imdb_transfer_scratch", scratch=True)
