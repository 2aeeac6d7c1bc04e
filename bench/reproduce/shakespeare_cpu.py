#!/usr/bin/env python
"""Recipe: Tiny Shakespeare, character level, with the `shakespeare_cpu` preset (30 minutes).

A 2x384 LSTM at batch 32 on 50-character windows, with a one-cycle rate
(peak 3e-3) spread over the 29 minutes of training
(`--recipe schedule_minutes=29`, so it ends with the budget on a machine of
any speed), trained under `--time-budget 29` in float32. It trades width
and window length for updates: on this 2-core machine a step takes about
0.7 s, against 1.7-3.4 s for `shakespeare_zoneout`'s 2x512 LSTM on 32
windows of 100 (`.venv/bin/python bench/lm_speed.py --char`).

Trains on the first 90% of input.txt; the last 10% (contiguous) is the
validation split (`zoo train`'s carve for a char-level text file). Evaluates
the best checkpoint with `zoo evaluate` (state carried over the whole split)
and samples 500 characters from it.

    .venv/bin/python bench/reproduce/shakespeare_cpu.py [--epochs N] [--resume]

Target: validation loss <= 1.45 nats/char within 30 minutes of training.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lm  # noqa: E402

if __name__ == "__main__":
    _lm.run_shakespeare(
        __doc__, "shakespeare_cpu", target=1.45, budget_minutes=29,
        anchor="shakespeare_zoneout (2x512, batch 32, bptt 100, same budget): 1.611; nanoGPT (GPU transformer): 1.47")
