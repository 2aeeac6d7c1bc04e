#!/usr/bin/env python
"""Recipe: Tiny Shakespeare, character level, with the `shakespeare_zoneout` preset (30 minutes).

The `shakespeare_char` model (2x512 LSTM) with zoneout 0.05 on h and 0.15
on the cell state, the rate halved per epoch from the 4th and an EMA of
the weights from the 2nd epoch, trained under `--time-budget 29`
in float32: on this 2-core machine a step took 1.70 s in float32 and 2.0 s
with `--mixed-precision` (bf16), measured back to back on 2026-12-04.

Trains on the first 90% of input.txt; the last 10% (contiguous) is the
validation split (`zoo train`'s carve for a char-level text file). Evaluates
the best checkpoint with `zoo evaluate` (state carried over the whole split)
and samples 500 characters from it.

    .venv/bin/python bench/reproduce/shakespeare_zoneout.py [--epochs N] [--resume]

Target: validation loss <= 1.45 nats/char within 30 minutes of training.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lm  # noqa: E402

if __name__ == "__main__":
    _lm.run_shakespeare(
        __doc__, "shakespeare_zoneout", target=1.45, budget_minutes=29,
        anchor="shakespeare_char (same model, no zoneout): 1.518 in 15 min; nanoGPT (GPU transformer): 1.47")
