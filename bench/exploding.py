"""Exploding gradients: a vanilla RNN with an orthogonal x 3 recurrent init,
trained without clipping, with per-variable `clipnorm` and with
`global_clipnorm`.

    python bench/exploding.py [--gain 3] [--learning-rate 0.1] ...

Same as `zoo bench exploding ...` (see `training.lab.benchmarks.exploding`).
Writes bench/results/exploding.json and .png and prints a JSON summary.
"""

import sys

from training.lab.benchmarks import main

if __name__ == "__main__":
    sys.exit(main(["exploding", *sys.argv[1:]]))
