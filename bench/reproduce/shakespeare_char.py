#!/usr/bin/env python
"""Recipe: Tiny Shakespeare, character level, with the `shakespeare_char` preset.

Trains on the first 90% of input.txt; the last 10% (contiguous) is the
validation split (`zoo train`'s carve for a char-level text file). Evaluates
the best checkpoint with `zoo evaluate` (state carried over the whole split)
and samples 500 characters from it.

    .venv/bin/python bench/reproduce/shakespeare_char.py [--epochs N] [--resume]

Target: validation loss <= 1.55 nats/char.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lm  # noqa: E402

if __name__ == "__main__":
    _lm.run_shakespeare(
        __doc__, "shakespeare_char", target=1.55,
        anchor="karpathy/char-rnn: 2x512 LSTM reaches about 1.4-1.5 nats/char validation")
