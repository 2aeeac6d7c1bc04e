"""Project-level contracts: README commands, CI, layering, CLI start-up."""

import ast
import os
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_starts_with_two_commands_and_ci_runs_the_test_command():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci
    assert "python3 -m venv .venv" in commands[0] and "zoo " in commands[0]


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


def test_layering_points_one_way():
    for path in (ROOT / "zoo").rglob("*.py"):
        bad = {"training", "serving", "zoo_cli"} & set(_imports(path))
        assert not bad, f"{path} imports {bad}"
    for path in (ROOT / "training").rglob("*.py"):
        bad = {"serving", "zoo_cli"} & set(_imports(path))
        assert not bad, f"{path} imports {bad}"


def test_layers_use_keras_ops_only():
    for path in (ROOT / "zoo" / "layers").rglob("*.py"):
        assert "tensorflow" not in set(_imports(path)), path


def test_zoo_help_is_fast_and_does_not_import_tensorflow():
    code = ("import sys, zoo_cli; rc = zoo_cli.main(['--help']); "
            "assert 'tensorflow' not in sys.modules; sys.exit(rc)")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "train" in out.stdout and "export" in out.stdout
    assert time.perf_counter() - start < 10


def test_zoo_list_shows_every_preset():
    out = subprocess.run([sys.executable, "-m", "zoo_cli", "list"],
                         capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr
    import zoo

    for name in zoo.list_models():
        assert name in out.stdout


def test_unknown_verb_is_an_error():
    out = subprocess.run([sys.executable, "-m", "zoo_cli", "frobnicate"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "invalid choice" in out.stderr


def test_readme_presets_table_matches_the_registry():
    from zoo_cli import presets_markdown

    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for line in presets_markdown().splitlines():
        assert line in readme, f"README presets table is stale (zoo list --markdown): {line}"
