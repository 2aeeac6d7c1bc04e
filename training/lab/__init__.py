"""The vanishing-gradient lab: why gated cells, clipping and skip
connections exist, measured.

- `gradient_flow`: the norm of the loss gradient with respect to each
  earlier hidden state, per recurrent layer, and the spectral norms of the
  recurrent weights.
- `diagnose`: `zoo diagnose`, on a run directory or on side-by-side cells.
- `tasks`: long-range synthetic tasks (adding problem, copy memory) and
  their models.
- `benchmarks`: `zoo bench longrange` and `zoo bench exploding`.
- `pairs`: `zoo evaluate-pairs`, minimal-pair accuracy of a language model.

See docs/vanishing_gradients.md.
"""
