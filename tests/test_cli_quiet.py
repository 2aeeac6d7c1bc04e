"""The `zoo` command keeps TensorFlow's start-up logs out of its output.

Each subprocess runs a verb that imports TensorFlow, loads a model (which
initialises the devices: the cuInit error on a CPU machine) and then fails
with its own error message: `zoo export --class-names a,b,c` on a run with
two classes.
"""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from test_export_support import build_classifier, write_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A line in absl's format (`I0000 00:00:...`), or one of the notices that
# TensorFlow prints before absl is set up.
TF_LOG_LINE = re.compile(
    r"^[IWEF]\d{4} \d\d:\d\d:\d\d|absl::InitializeLog|cuInit|oneDNN"
    r"|cpu_feature_guard|cudart_stub|TF_ENABLE_ONEDNN_OPTS", re.MULTILINE)
ERROR = "zoo export: error: 3 class names for a model with 2 classes."


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("quiet")
    return write_run(str(root / "run"), build_classifier(),
                     family="sentiment_classifier")


def _env(**overrides):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(overrides)
    return env


def _zoo(run_dir, tmp_path, *global_options, env=None):
    out = subprocess.run(
        [sys.executable, "-m", "zoo_cli", *global_options, "export", run_dir,
         "--models-dir", str(tmp_path / "models"), "--name", "clf",
         "--class-names", "a,b,c"],
        capture_output=True, text=True, cwd=ROOT, env=env or _env(),
        timeout=300)
    assert out.returncode == 1, out.stderr
    return out.stderr


def test_default_shows_only_the_verbs_own_error(run_dir, tmp_path):
    stderr = _zoo(run_dir, tmp_path)
    assert not TF_LOG_LINE.search(stderr), stderr
    assert stderr.strip() == ERROR


def test_tf_logs_brings_tensorflow_logs_back(run_dir, tmp_path):
    stderr = _zoo(run_dir, tmp_path, "--tf-logs")
    assert TF_LOG_LINE.search(stderr), stderr
    assert stderr.rstrip().endswith(ERROR)


def test_users_own_log_level_is_respected(run_dir, tmp_path):
    # Level 0 keeps TensorFlow's INFO logs from after the import (device
    # set-up); the lines printed while importing are still captured.
    stderr = _zoo(run_dir, tmp_path, env=_env(TF_CPP_MIN_LOG_LEVEL="0"))
    assert re.search(r"^[IWEF]\d{4} ", stderr, re.MULTILINE), stderr
    assert "absl::InitializeLog" not in stderr
    assert stderr.rstrip().endswith(ERROR)


def test_log_level_default_leaves_a_users_value_alone(monkeypatch):
    from zoo_cli import quiet

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    quiet.quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    quiet.quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == quiet.QUIET_LOG_LEVEL
    quiet.uninstall_import_hook()


# A stand-in for TensorFlow that writes to file descriptor 2 as its native
# libraries do, then succeeds or fails; no TensorFlow is imported.
_FAKE = textwrap.dedent("""
    import os, sys
    os.write(2, b"native noise while importing\\n")
    print("python noise while importing", file=sys.stderr)
    if os.environ.get("FAKE_FAIL"):
        raise ImportError("fake tensorflow is broken")
""")
_DRIVER = textwrap.dedent("""
    import os, sys, warnings
    from zoo_cli import quiet
    quiet.quiet_tensorflow()
    import tensorflow
    import tensorflow  # a second import runs nothing
    os.write(2, b"native output after import\\n")
    warnings.warn("a warning after import")
    print("stdout is untouched")
""")


def _fake(tmp_path, **env):
    pkg = tmp_path / "fake" / "tensorflow"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(_FAKE)
    path = os.pathsep.join([str(tmp_path / "fake"), ROOT])
    return subprocess.run([sys.executable, "-c", _DRIVER], capture_output=True,
                          text=True, cwd=ROOT, timeout=60,
                          env=_env(PYTHONPATH=path, **env))


def test_import_output_is_dropped_and_later_output_kept(tmp_path):
    out = _fake(tmp_path)
    assert out.returncode == 0, out.stderr
    assert "noise" not in out.stderr
    assert "native output after import" in out.stderr
    assert "a warning after import" in out.stderr
    assert out.stdout == "stdout is untouched\n"


def test_failed_import_replays_what_it_printed(tmp_path):
    out = _fake(tmp_path, FAKE_FAIL="1")
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert "native noise while importing" in lines
    assert "python noise while importing" in lines
    assert "ImportError: fake tensorflow is broken" in lines
    assert lines.index("native noise while importing") < lines.index(
        "ImportError: fake tensorflow is broken")


def test_verbs_own_options_are_not_global():
    # `--verbose` after the verb is the verb's; before it, zoo rejects it.
    out = subprocess.run([sys.executable, "-m", "zoo_cli", "--verbose",
                          "train"], capture_output=True, text=True, cwd=ROOT,
                         env=_env(), timeout=60)
    assert out.returncode == 2
    assert "unrecognized arguments: --verbose" in out.stderr
