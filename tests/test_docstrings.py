"""The `>>>` examples in the docstrings run, and say what they print.

Every module of the project with an example is collected (examples that
need a server carry `+SKIP`). They run with `np`, `keras` and `zoo` at hand,
plus the module's own names, as Keras' docstrings assume. A shape prints as
a tuple, as Keras' docstrings write it, whatever the backend's shape type
(`TensorShape([2, 3])`, `torch.Size([2, 3])`).
"""

import doctest
import importlib
import pathlib
import re

import keras
import numpy as np
import pytest

import zoo

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("zoo", "training", "serving", "zoo_cli")


def _modules_with_examples():
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if ">>>" in path.read_text(encoding="utf-8"):
                rel = path.relative_to(ROOT).with_suffix("")
                names.append(".".join(rel.parts).removesuffix(".__init__"))
    return names


MODULES = _modules_with_examples()
_SHAPE = re.compile(r"(?:TensorShape|torch\.Size)\(\[([^\]]*)\]\)")


class ShapeChecker(doctest.OutputChecker):
    """Reads a backend's shape object as the tuple it stands for."""

    def check_output(self, want, got, optionflags):
        got = _SHAPE.sub(lambda m: repr(tuple(
            int(v) if v.strip() != "None" else None
            for v in m.group(1).split(",") if v.strip())), got)
        return super().check_output(want, got, optionflags)


def test_examples_are_collected():
    assert "zoo.layers.lstm" in MODULES and "training.data.vocab" in MODULES


def run_examples(name):
    """Runs the examples of module `name`; fails with the count of failures."""
    module = importlib.import_module(name)
    globs = {**vars(module), "np": np, "keras": keras, "zoo": zoo}
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(checker=ShapeChecker(), optionflags=doctest.ELLIPSIS
                                   | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name, globs=globs) if t.examples]
    assert tests, f"{name}: no examples found"
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} example(s) failed"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    run_examples(name)
