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
import _common as c  # noqa: E402
import _lm  # noqa: E402
import _recipe  # noqa: E402

RECIPE = PRESET = "shakespeare_char"

if __name__ == "__main__":
    a = _recipe.parse_args(__doc__, RECIPE)
    _recipe.run_recipe(
        a, recipe=RECIPE, preset=PRESET,
        data=os.path.join(c.DATA, "tinyshakespeare", "input.txt"),
        metric="loss", target={"metric": "loss (nats/char)", "op": "<=", "value": 1.55},
        anchor="karpathy/char-rnn: 2x512 LSTM reaches about 1.4-1.5 nats/char validation",
        task="Tiny Shakespeare character-level language model",
        sample=lambda run_dir: _lm.sample_result(run_dir, "ROMEO:\n", 500))
