"""The search space of `zoo tune`: defaults per family, space files,
fixed values, their checks, and the objective.

An entry is one of

- `{"choice": [v1, v2, ...]}`: categorical (bools, ints, floats or strings;
  for `units` and `adaptive_cutoffs`, lists too, and `null` for
  `adaptive_cutoffs`: keras-tuner holds those as JSON strings, and
  `decode` gives the values back);
- `{"min": a, "max": b}` with optional `"step"` and `"sampling"`
  (`"linear"`, `"log"`, `"reverse_log"`): an int range when `a`, `b` (and
  `step`) are ints, else a float range;
- a plain value (fixed: every trial uses it, it is not searched);
- `null`: drop the entry (the preset's value is used).

A space file holds such entries by key; `"defaults": false` at the top level
starts from an empty space instead of the family's default one.
"""

from __future__ import annotations

import copy
import json
import os
import sys

from training import recipe as recipe_lib

TUNERS = ("random", "bayesian", "hyperband")


# Default search spaces per model family. `learning_rate` and the clipping
# entry are made relative to the preset's own recipe by `default_space`.
DEFAULT_SPACES = {
    "sentiment_classifier": {
        "cell": {"choice": ["lstm", "gru"]},
        "units": {"choice": [32, 64, 128]},
        "num_layers": {"min": 1, "max": 3},
        "connection": {"choice": ["none", "residual", "highway", "dense"]},
        "bidirectional": {"choice": [True, False]},
        "pooling": {"choice": ["max", "mean", "last"]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
        "embedding_dim": {"choice": [64, 128, 256]},
        "learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"},
        "clipnorm": {"min": 0.1, "max": 10.0, "sampling": "log"},
    },
    "language_model": {
        "cell": {"choice": ["lstm", "gru"]},
        "units": {"choice": [128, 256, 512]},
        "num_layers": {"min": 1, "max": 3},
        "connection": {"choice": ["none", "residual", "highway", "dense"]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
        "embedding_dim": {"choice": [64, 128, 256]},
        "learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"},
        "global_clipnorm": {"min": 0.1, "max": 10.0, "sampling": "log"},
    },
}
DEFAULT_OBJECTIVES = {"sentiment_classifier": "val_accuracy",
                      "language_model": "val_loss"}

# Training settings that can be searched (besides model arguments).
TRAINING_KEYS = {
    "sentiment_classifier": ("learning_rate", "optimizer", "clipnorm",
                             "global_clipnorm", "batch_size"),
    "language_model": ("learning_rate", "optimizer", "clipnorm",
                       "global_clipnorm", "batch_size", "bptt",
                       "variable_bptt", "weight_average"),
}
# Model arguments the tuner sets from the data (not searchable).
_DATA_KEYS = ("vocabulary", "num_classes", "class_names", "stateful",
              "batch_size", "level", "name")
_INT_KEYS = ("units", "num_layers", "embedding_dim", "vocabulary_size",
             "max_length", "batch_size", "bptt", "ngrams",
             "ngram_vocabulary_size")
_RATE_KEYS = ("dropout", "embedding_dropout", "recurrent_dropout",
              "head_dropout", "output_dropout", "word_dropout", "weight_drop",
              "zoneout", "cell_zoneout", "ngram_dropout")
_POSITIVE_FLOAT_KEYS = ("learning_rate", "clipnorm", "global_clipnorm",
                        "init_scale")
_SAMPLINGS = ("linear", "log", "reverse_log")
# Keys whose value may be a list (per-layer units, the adaptive softmax's
# cutoffs) or null; a choice among such values is held as JSON strings.
_LIST_KEYS = ("units", "adaptive_cutoffs")


def _bool_keys():
    """The models' flags (`zoo.checks.FLAGS`) and the training recipe's."""
    from zoo import checks

    return checks.FLAGS + ("variable_bptt",)


def _categorical_values():
    from training.recipe import OPTIMIZERS
    from zoo.layers import CELLS, CONNECTIONS, POOLINGS

    from training.recipe import WEIGHT_AVERAGES
    from zoo.models.classifier import NGRAM_WEIGHTINGS

    return {"cell": sorted(CELLS), "connection": list(CONNECTIONS),
            "pooling": list(POOLINGS), "optimizer": list(OPTIMIZERS),
            "weight_average": list(WEIGHT_AVERAGES),
            "ngram_weighting": list(NGRAM_WEIGHTINGS)}


def family_and_recipe(preset):
    """`(family, model config, recipe)` of a preset or family name."""
    from zoo.models import factory

    family, config = factory.resolve(preset)
    return family, config, recipe_lib.base_recipe(preset, family)

def valid_keys(family) -> list:
    """Keys a search space may hold for a model family."""
    from zoo.models import factory

    model = [k for k in factory.family_arguments(family) if k not in _DATA_KEYS]
    return sorted(set(model) | set(TRAINING_KEYS[family]))


def default_space(preset) -> dict:
    """The default search space for a preset (or family), as JSON entries.

    The family's `DEFAULT_SPACES` entry, with `learning_rate` spanning a
    decade either side of the preset's learning rate and the clipping entry
    (`clipnorm` or `global_clipnorm`, as the preset clips) spanning a factor
    4 either side of the preset's threshold.
    """
    family, _, recipe = family_and_recipe(preset)
    space = copy.deepcopy(DEFAULT_SPACES[family])
    lr = recipe.get("learning_rate")
    if lr:
        space["learning_rate"] = {"min": _round(lr / 10), "max": _round(lr * 10),
                                  "sampling": "log"}
    clip_key = "global_clipnorm" if recipe.get("global_clipnorm") else (
        "clipnorm" if recipe.get("clipnorm") else None)
    for k in ("clipnorm", "global_clipnorm"):
        space.pop(k, None)
    if clip_key:
        c = recipe[clip_key]
        space[clip_key] = {"min": _round(c / 4), "max": _round(c * 4),
                           "sampling": "log"}
    return space


def _round(x):
    return float(f"{x:.6g}")


def _check_value(key, value, where):
    cats = _categorical_values()
    if key in cats and value not in cats[key]:
        raise ValueError(f"{where}: {key}={value!r} is not valid. "
                         f"Valid values: {cats[key]}.")
    if key in _INT_KEYS and key != "units":
        if key == "max_length" and value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}: {key} must be a positive integer, "
                             f"got {value!r}")
    if key == "units":
        vals = value if isinstance(value, list) else [value]
        if not vals or any(isinstance(v, bool) or not isinstance(v, int) or v < 1
                           for v in vals):
            raise ValueError(f"{where}: units must be a positive integer (or a "
                             f"list of them), got {value!r}")
    if key == "adaptive_cutoffs" and value is not None and (
            not isinstance(value, list) or not value or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 1
                for v in value) or value != sorted(set(value))):
        raise ValueError(f"{where}: adaptive_cutoffs must be null or an "
                         "increasing list of positive integers, got "
                         f"{value!r}")
    if key in _bool_keys() and not isinstance(value, bool):
        raise ValueError(f"{where}: {key} must be true or false, got {value!r}")
    if key in _RATE_KEYS:
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0.0 <= value < 1.0:
            raise ValueError(f"{where}: {key} must be a number in [0, 1), "
                             f"got {value!r}")
    if key in _POSITIVE_FLOAT_KEYS and value is not None:
        # (NaN, infinities and integers past a float's range fail the first
        # test; an int compares with the float exactly)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                not 0 <= value <= sys.float_info.max
                or (value == 0 and key == "learning_rate")):
            raise ValueError(f"{where}: {key} must be a positive number, "
                             f"got {value!r}")


def _check_entry(key, entry, where):
    """Validates one space entry; returns it normalised."""
    if not isinstance(entry, dict):
        _check_value(key, entry, where)
        return entry
    kinds = set(entry)
    if "choice" in kinds:
        if kinds - {"choice"}:
            raise ValueError(f"{where}: {key}: a choice entry takes only "
                             f"'choice', got keys {sorted(kinds)}")
        values = entry["choice"]
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}: {key}: 'choice' must be a non-empty list")
        types = {type(v) for v in values}
        if key in _LIST_KEYS and any(v is None or isinstance(v, list)
                                     for v in values):
            types = {"list"}  # held as JSON strings (`is_json_choice`)
        if len(types) > 1 and not types <= {int, float}:
            raise ValueError(f"{where}: {key}: choices must share one type, "
                             f"got {values!r}")
        if len(set(map(repr, values))) != len(values):
            raise ValueError(f"{where}: {key}: duplicate choices in {values!r}")
        for v in values:
            if isinstance(v, dict) or (
                    (isinstance(v, list) or v is None)
                    and key not in _LIST_KEYS):
                raise ValueError(f"{where}: {key}: a choice must be a bool, "
                                 f"number or string, got {v!r}")
            _check_value(key, v, where)
        if types == {int, float}:
            values = [float(v) for v in values]
        return {"choice": values}
    if {"min", "max"} <= kinds:
        extra = kinds - {"min", "max", "step", "sampling"}
        if extra:
            raise ValueError(f"{where}: {key}: unknown range keys {sorted(extra)}; "
                             "valid: ['max', 'min', 'sampling', 'step']")
        lo, hi = entry["min"], entry["max"]
        for name, v in (("min", lo), ("max", hi), ("step", entry.get("step", 1))):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"{where}: {key}: {name} must be a number, got {v!r}")
        if not lo < hi:
            raise ValueError(f"{where}: {key}: min ({lo}) must be below max ({hi})")
        sampling = entry.get("sampling", "linear")
        if sampling not in _SAMPLINGS:
            raise ValueError(f"{where}: {key}: unknown sampling {sampling!r}. "
                             f"Valid values: {list(_SAMPLINGS)}.")
        if sampling != "linear" and lo <= 0:
            raise ValueError(f"{where}: {key}: {sampling} sampling needs min > 0")
        if key in _bool_keys() or key in _categorical_values():
            raise ValueError(f"{where}: {key} takes a 'choice' list, not a range")
        _check_value(key, lo, where)
        _check_value(key, hi, where)
        out = {"min": lo, "max": hi}
        if "step" in entry:
            if entry["step"] <= 0:
                raise ValueError(f"{where}: {key}: step must be positive")
            out["step"] = entry["step"]
        if sampling != "linear":
            out["sampling"] = sampling
        return out
    raise ValueError(
        f"{where}: {key}: an entry is {{\"choice\": [...]}}, {{\"min\": a, "
        f"\"max\": b[, \"step\": s][, \"sampling\": \"log\"]}}, a fixed value, "
        f"or null; got {entry!r}")


def is_json_choice(entry) -> bool:
    """Whether a choice entry's values are lists or null, which keras-tuner
    holds as JSON strings."""
    return isinstance(entry, dict) and "choice" in entry and any(
        v is None or isinstance(v, list) for v in entry["choice"])


def decode(searched, values) -> dict:
    """`values` with the JSON strings of list choices (`is_json_choice`)
    turned back into lists and `None`."""
    return {k: json.loads(v) if isinstance(v, str) and is_json_choice(
                searched.get(k)) else v
            for k, v in values.items()}


def is_int_range(entry):
    """Whether a range entry is of ints (min, max and step)."""
    return all(isinstance(entry.get(k, 1), int) and not isinstance(entry.get(k, 1), bool)
               for k in ("min", "max", "step"))


def build_space(preset, space=None, fix=None):
    """Resolves the search space: `(searched, fixed)`.

    Args:
        preset: preset or family name.
        space: `None`, a dict of entries, or the path of a JSON file of
            entries (see the module docstring). Applied over the defaults.
        fix: dict `{key: value}` of fixed values (applied last).

    Returns:
        `(searched, fixed)`: searched entries by key, fixed values by key.

    Raises:
        ValueError: unknown key or bad entry; the message lists the valid
            keys or values.
    """
    family, _, _ = family_and_recipe(preset)
    valid = valid_keys(family)
    entries = default_space(preset)
    where = "search space"
    if space is not None:
        if isinstance(space, (str, os.PathLike)):
            where = os.fspath(space)
            try:
                with open(space, encoding="utf-8") as f:
                    space = json.load(f)
            except OSError as e:
                raise ValueError(f"{where}: cannot read the space file: {e}") from None
            except UnicodeDecodeError as e:
                raise ValueError(f"{where}: not UTF-8 text: {e}") from None
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON: {e}") from None
        if not isinstance(space, dict):
            raise ValueError(f"{where}: the space must be a JSON object of "
                             "entries by key")
        space = dict(space)
        use_defaults = space.pop("defaults", True)
        if not isinstance(use_defaults, bool):
            raise ValueError(f"{where}: 'defaults' must be true or false")
        if not use_defaults:
            entries = {}
        for key, entry in space.items():
            if key not in valid:
                raise ValueError(f"{where}: unknown key {key!r} for {family}. "
                                 f"Valid keys: {valid}.")
            if entry is None:
                entries.pop(key, None)
            else:
                entries[key] = entry
    for key, value in (fix or {}).items():
        if key not in valid:
            raise ValueError(f"--fix: unknown key {key!r} for {family}. "
                             f"Valid keys: {valid}.")
        entries[key] = value
        where_fix = "--fix"
        _check_entry(key, value, where_fix)
    searched, fixed = {}, {}
    for key, entry in entries.items():
        entry = _check_entry(key, entry, where)
        if isinstance(entry, dict):
            searched[key] = entry
        else:
            fixed[key] = entry
    if family == "language_model" and "reverse" in searched:
        raise ValueError(
            f"{where}: `reverse` sets the direction the corpus is read in, "
            "which is loaded once for every trial; fix it (--fix "
            f"reverse=true) instead of searching it. Received: "
            f"reverse={searched['reverse']!r}")
    if family == "language_model" and "vocabulary_size" in searched:
        raise ValueError(
            f"{where}: a language model's vocabulary comes from its corpus, "
            "which is loaded once for every trial; fix its size (--fix "
            "vocabulary_size=N caps a review corpus's vocabulary as `zoo "
            "train` does) instead of searching it. Received: "
            f"vocabulary_size={searched['vocabulary_size']!r}")
    if "clipnorm" in set(searched) | set(fixed) and \
            "global_clipnorm" in set(searched) | set(fixed):
        raise ValueError(f"{where}: clipnorm and global_clipnorm are mutually "
                         "exclusive; keep one (set the other to null)")
    return searched, fixed


def objective(family, objective):
    """The `keras_tuner.Objective` for `objective` (`name[:min|max]`, or the
    family's default); the direction is inferred from common metric names.

    Raises:
        ValueError: a bad direction, or a name whose direction is unclear.
    """
    import keras_tuner

    name = objective or DEFAULT_OBJECTIVES[family]
    direction = None
    if ":" in name:
        name, direction = name.rsplit(":", 1)
        if direction not in ("min", "max"):
            raise ValueError(f"objective direction must be 'min' or 'max', "
                             f"got {direction!r}")
    if direction is None:
        if name.endswith(("accuracy", "acc", "auc", "precision", "recall")):
            direction = "max"
        elif name.endswith(("loss", "perplexity", "bits_per_character", "error")):
            direction = "min"
        else:
            raise ValueError(f"cannot tell whether to minimise or maximise "
                             f"{name!r}; write it as {name}:min or {name}:max")
    return keras_tuner.Objective(name, direction=direction)
