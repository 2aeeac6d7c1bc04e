"""The layers' docstring examples, on whichever backend runs tests/layers
(CI runs them on TensorFlow and PyTorch)."""

import pytest

from tests.test_docstrings import MODULES, run_examples


@pytest.mark.parametrize("name", [m for m in MODULES
                                  if m.startswith("zoo.layers")])
def test_layer_examples_run(name):
    run_examples(name)
