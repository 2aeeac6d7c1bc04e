"""What the `zoo` verbs share: argument types (`--set`, `--fix`, counts)
and the one way an error is reported."""

import argparse
import ast
import json
import os
import sys


def parse_value(text):
    """A command-line value: JSON/Python literal (1, 0.5, true, [32, 64]), else str.

    `null` and `None` give None; a lower-case `none` stays the string "none"
    (a valid choice, e.g. `--set connection=none`).
    """
    lowered = {"true": True, "false": False, "null": None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError):
            continue
    return text


def key_value(text):
    """argparse type for `KEY=VALUE`; returns `(key, parse_value(value))`."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    if not key.strip():
        raise argparse.ArgumentTypeError(f"empty key in {text!r}")
    return key.strip(), parse_value(value.strip())


def _integer(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def positive_int(text):
    """argparse type for an integer >= 1."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def output_file(text):
    """argparse type for a file to write at the end of a command: not a
    folder, and under a folder that exists or can be made (checked before
    the command's work, so a long evaluation is not lost to a wrong path)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty file name")
    given = os.path.expanduser(text)
    path = os.path.abspath(given)
    if os.path.isdir(path) or given.endswith(("/", os.sep)):
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file name")
    _check_writable_under(text, os.path.dirname(path))
    from training import run_dir as rd

    folder = os.path.dirname(path)
    if os.path.basename(path) in rd.OWN_FILES and \
            os.path.exists(os.path.join(folder, rd.CONFIG)):
        raise argparse.ArgumentTypeError(
            f"{text} is a file of the run in {folder}; give another name")
    return given


def output_dir(text):
    """argparse type for a folder to write results in: not a file, and
    under a folder that exists or can be made (checked before the work)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty folder name")
    path = os.path.abspath(os.path.expanduser(text))
    if os.path.exists(path) and not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    _check_writable_under(text, path)
    return os.path.expanduser(text)


def _check_writable_under(text, folder):
    """`ArgumentTypeError` unless `folder`, or the nearest of its parents
    that exists (the folders the writes would make), is a writable folder."""
    parent = folder
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"{text}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text}: cannot write in {parent}")


def non_negative_int(text):
    """argparse type for an integer >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


MAX_SEED = 2 ** 32 - 1  # numpy's and keras.utils.set_random_seed's


def seed_number(text, largest=MAX_SEED):
    """argparse type for a random seed: an integer from 0 to `largest`
    (2**32 - 1, numpy's limit), refused before the command writes
    anything."""
    value = _integer(text)
    if not 0 <= value <= largest:
        raise argparse.ArgumentTypeError(
            f"must be an integer from 0 to {largest}, got {text}")
    return value


def port_number(text):
    """argparse type for a TCP port, 0 (a free one) to 65535."""
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {text}")
    return value


def positive_float(text):
    """argparse type for a finite number > 0."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def non_negative_float(text):
    """argparse type for a finite number >= 0."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def add_validation_arguments(parser):
    """`--validation-data SOURCE` and `--validation-group COLUMN`, mutually
    exclusive, as `zoo train`, `zoo tune` and `zoo quickstart` take them."""
    val = parser.add_mutually_exclusive_group()
    val.add_argument("--validation-data", default=None, metavar="SOURCE",
                     help="classifiers: a separate validation set (e.g. "
                     "../shared/data/sst2/dev.tsv), never trained on; it "
                     "selects and reports the model")
    val.add_argument("--validation-group", default=None, metavar="COLUMN",
                     help="classifiers: carve validation so that no value of "
                     "COLUMN is on both sides (IMDB: movie), stratified by "
                     "label as far as groups allow")
    return val


def data_flag(exc, data):
    """`"--data"` when the `DataError` `exc` concerns the `--data` source
    (its file, a file inside its folder, or no file), else `None`: an
    error in an `--embeddings`, `--validation-data` or vocabulary file
    names that file, not `--data`."""
    import os

    if exc.path is None or data is None:
        return "--data"
    path, data = str(exc.path), os.fspath(data)
    if path == data or path.startswith(data + "["):  # itself, a tfds split
        return "--data"
    path = os.path.abspath(os.path.expanduser(path))
    data = os.path.abspath(os.path.expanduser(data))
    return "--data" if os.path.commonpath([path, data]) == data else None


def error(verb, exc, status=2, what=None):
    """Prints `zoo VERB: error: [WHAT: ]EXC` to stderr; returns `status`."""
    prefix = f"{what}: " if what else ""
    print(f"zoo {verb}: error: {prefix}{exc}", file=sys.stderr)
    return status
