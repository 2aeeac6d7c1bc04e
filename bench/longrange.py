"""Adding problem at T = 100, 200, 400: vanilla RNN vs LSTM vs GRU vs deep
LSTM stacks with and without residual connections, equal parameter budgets.

    python bench/longrange.py [--steps 1200] [--lengths 100,200,400] ...

Same as `zoo bench longrange ...` (see `training.lab.benchmarks.longrange`).
Writes bench/results/longrange.json and .png and prints a JSON summary.
"""

import sys

from training.lab.benchmarks import main

if __name__ == "__main__":
    sys.exit(main(["longrange", *sys.argv[1:]]))
