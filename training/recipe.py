"""Training settings ("the recipe"): defaults, overrides, checks, resume.

A preset carries its own recipe (`zoo.get_preset(name)["training"]`); a bare
family name uses `FAMILY_RECIPES`. `resolve` applies what the user gave
(`zoo train` flags, `zoo tune` trials) over it and checks the result, so
`zoo train` and `zoo tune` train with the same settings; `for_resume` holds a
resumed run to the settings in its `config.json`.

Settings: `optimizer`, `learning_rate`, `clipnorm` / `global_clipnorm`
(mutually exclusive; `0` turns clipping off), `epochs`, `batch_size` (per
replica), `bptt` (language models only), `lr_decay` and `lr_decay_after`,
and the fine-tuning levers (Howard & Ruder 2018):

- `lr_schedule`: `"constant"` (default) or `"one_cycle"`: a linear warm-up
  over `warmup_fraction` of the steps from `learning_rate / 25` to
  `learning_rate`, then a cosine decay to `learning_rate / 25` (Keras'
  `CosineDecay` with warm-up) over `schedule_steps` steps (default: every
  step of the run's epochs), or over `schedule_minutes` minutes of
  training (wall clock; `training.callbacks.TimedOneCycle`), which fits
  the cycle to a `--time-budget` on a machine of any speed. A schedule
  given replaces the preset's: `lr_schedule=one_cycle` drops a preset's
  `lr_decay`, a given `lr_decay` drops a preset's one-cycle rate, and
  `schedule_minutes` or `schedule_steps` drops the other;
- `layer_lr_decay`: discriminative rates: each layer group below the top
  (head, recurrent layers top-down, embedding) trains at the rate of the
  group above divided by this (ULMFiT: 2.6);
- `unfreeze_steps`: gradual unfreezing: the top group trains from the
  start, and each group below joins after this many more steps (0: off;
  `layer_lr_decay=1` turns discriminative rates off);
- `steps_per_epoch` (classifiers): an "epoch" is this many steps of the
  repeated, reshuffled training data, so that validation, checkpoints and
  the learning curves come every N steps rather than once per pass.

Language-model regularisation and optimisation (Merity et al. 2018):

- `weight_average`: `"uniform"` (a running mean of the weights: averaged
  SGD / a stochastic weight average) or `"ema"` (exponential moving
  average, `average_momentum`, default 0.999), from the first step of
  epoch `average_start_epoch` (0-based, default 0; `"nonmonotonic"`:
  AWD-LSTM's NT-ASGD trigger, the first epoch after one whose validation
  loss is worse than the best of those before the last 5), or `"none"` to
  turn a
  preset's averaging off; validation, the
  checkpoints and the final model use the averaged weights
  (`training.optimizer.AveragedWeights`);
- `variable_bptt`: BPTT windows of random length around `bptt` (AWD-LSTM's
  rule), with the learning rate scaled by each window's length / `bptt`;
- `sampled_softmax`: train a word-level language model on a sampled
  softmax over this many log-uniform candidates per step
  (`training.sampled_softmax`); validation and evaluation keep the full
  softmax. `sampled_softmax=0` trains on the full softmax (for a recipe
  that sets one).

AR/TAR and the dropouts (`word_dropout`, `locked_dropout`, `weight_drop`,
zoneout) are model arguments, set in a preset's `config` or with `--set`.

`zoo train --recipe KEY=VALUE` sets any of them.
"""

from __future__ import annotations

import math

DEFAULT_SEED = 1337
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
DEFAULT_VALIDATION_SPLIT = 0.1

# Recipes of the bare family names (presets carry their own).
FAMILY_RECIPES = {
    "sentiment_classifier": {"optimizer": "adam", "learning_rate": 1e-3,
                             "clipnorm": 1.0, "epochs": 3, "batch_size": 64},
    "language_model": {"optimizer": "adam", "learning_rate": 1e-3,
                       "global_clipnorm": 1.0, "epochs": 5, "batch_size": 20,
                       "bptt": 35},
}
# Settings a user may give; a resumed run may change `epochs` only.
SETTINGS = ("optimizer", "learning_rate", "clipnorm", "global_clipnorm",
            "epochs", "batch_size", "bptt", "lr_decay", "lr_decay_after",
            "lr_schedule", "warmup_fraction", "schedule_steps",
            "schedule_minutes", "layer_lr_decay", "unfreeze_steps", "steps_per_epoch",
            "weight_average", "average_start_epoch", "average_momentum",
            "variable_bptt", "sampled_softmax")
LR_SCHEDULES = ("constant", "one_cycle")
# Settings that default to "off" (None) when a recipe does not name them.
_OPTIONAL = ("lr_decay", "lr_decay_after", "schedule_steps", "schedule_minutes",
             "layer_lr_decay",
             "unfreeze_steps", "steps_per_epoch", "weight_average",
             "average_start_epoch", "average_momentum", "sampled_softmax")
WEIGHT_AVERAGES = ("uniform", "ema")


def finite_minutes(value) -> bool:
    """Whether `value` is a number of minutes > 0 whose seconds are finite
    (1e307 minutes is not: its seconds overflow to infinity)."""
    try:
        return float(value) > 0 and math.isfinite(float(value) * 60.0)
    except (OverflowError, TypeError, ValueError):
        return False


def base_recipe(preset, family) -> dict:
    """The preset's own recipe, or the family's default one."""
    from zoo.models import factory

    if preset in factory.list_models():
        return dict(factory.get_preset(preset)["training"])
    return dict(FAMILY_RECIPES[family])


def resolve(preset, family, given) -> dict:
    """The recipe of `preset` with the non-`None` values of `given` applied.

    Args:
        preset: a preset or family name.
        family: its model family.
        given: `{setting: value or None}` (see `SETTINGS`).

    Returns:
        Every setting, with `clipnorm`, `global_clipnorm`, `lr_decay` and
        `lr_decay_after` present (`None` when off) and `bptt` for language
        models only.

    Raises:
        ValueError: an unknown setting, both clipping settings, an invalid
            value, or `bptt` for a classifier; the message says what was
            received.
    """
    unknown = sorted(set(given) - set(SETTINGS))
    if unknown:
        raise ValueError(f"Unknown training setting(s) {unknown}. Valid "
                         f"settings: {list(SETTINGS)}.")
    if given.get("clipnorm") is not None and \
            given.get("global_clipnorm") is not None:
        raise ValueError(
            "`clipnorm` and `global_clipnorm` are mutually exclusive; pass "
            f"one of them. Received: clipnorm={given['clipnorm']!r}, "
            f"global_clipnorm={given['global_clipnorm']!r}")
    recipe = base_recipe(preset, family)
    if given.get("clipnorm") is not None:
        recipe.pop("global_clipnorm", None)
    if given.get("global_clipnorm") is not None:
        recipe.pop("clipnorm", None)
    # A schedule's length in minutes or in steps: the one given replaces
    # the preset's.
    if given.get("schedule_minutes") is not None and \
            given.get("schedule_steps") is None:
        recipe.pop("schedule_steps", None)
    if given.get("schedule_steps") is not None and \
            given.get("schedule_minutes") is None:
        recipe.pop("schedule_minutes", None)
    # So does the kind of schedule: a one-cycle rate given drops a preset's
    # per-epoch decay, and a per-epoch decay given drops a preset's
    # one-cycle rate (each unless the other is given too, which `_check`
    # refuses).
    if given.get("lr_schedule") not in (None, "constant") and \
            given.get("lr_decay") is None:
        for k in ("lr_decay", "lr_decay_after"):
            if given.get(k) is None:
                recipe.pop(k, None)
    if given.get("lr_decay") is not None and given.get("lr_schedule") is None:
        for k in ("lr_schedule", "schedule_steps", "schedule_minutes"):
            if given.get(k) is None:
                recipe.pop(k, None)
    recipe.update({k: v for k, v in given.items() if v is not None})
    for k in ("clipnorm", "global_clipnorm"):
        recipe[k] = recipe.get(k) or None  # 0 turns clipping off
    for k in _OPTIONAL:
        recipe.setdefault(k, None)
    if recipe["weight_average"] == "none":
        # `--recipe weight_average=none` turns a preset's averaging off,
        # with the settings that go with it unless given too
        recipe["weight_average"] = None
        for k in ("average_start_epoch", "average_momentum"):
            if given.get(k) is None:
                recipe[k] = None
    if recipe["sampled_softmax"] == 0 and not isinstance(
            recipe["sampled_softmax"], bool):
        recipe["sampled_softmax"] = None  # 0 trains on the full softmax
    recipe.setdefault("lr_schedule", "constant")
    recipe.setdefault("warmup_fraction", 0.1)
    recipe.setdefault("variable_bptt", False)
    if family == "language_model":
        recipe.setdefault("bptt", 35)
    elif given.get("bptt") is not None:
        raise ValueError(f"`bptt` applies to language models only; {preset!r} "
                         f"is a {family}. Received: bptt={given['bptt']!r}")
    else:
        recipe.pop("bptt", None)
    _check(recipe, family)
    return recipe


def _check(recipe, family):
    decay, after = recipe["lr_decay"], recipe["lr_decay_after"]
    if decay is not None and (isinstance(decay, bool) or
                              not isinstance(decay, (int, float)) or
                              not 0 < decay <= 1):
        raise ValueError(f"`lr_decay` must be in (0, 1]. Received: "
                         f"lr_decay={decay!r}")
    if after is not None and (isinstance(after, bool) or
                              not isinstance(after, int) or after < 0):
        raise ValueError(f"`lr_decay_after` must be an integer >= 0 (epochs). "
                         f"Received: lr_decay_after={after!r}")
    if recipe["lr_schedule"] not in LR_SCHEDULES:
        raise ValueError(f"Unknown lr_schedule {recipe['lr_schedule']!r}. "
                         f"Valid values: {list(LR_SCHEDULES)}. Received: "
                         f"lr_schedule={recipe['lr_schedule']!r}")
    if recipe["lr_schedule"] != "constant" and decay is not None:
        raise ValueError(
            "`lr_decay` and a `lr_schedule` other than 'constant' exclude "
            f"each other. Received: lr_decay={decay!r}, "
            f"lr_schedule={recipe['lr_schedule']!r}")
    warm = recipe["warmup_fraction"]
    if isinstance(warm, bool) or not isinstance(warm, (int, float)) or \
            not 0 <= warm < 1:
        raise ValueError(f"`warmup_fraction` must be in [0, 1). Received: "
                         f"warmup_fraction={warm!r}")
    minutes = recipe["schedule_minutes"]
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) \
                or not finite_minutes(minutes):
            raise ValueError("`schedule_minutes` must be a number of minutes "
                             f"> 0. Received: schedule_minutes={minutes!r}")
        if recipe["lr_schedule"] == "constant":
            raise ValueError(
                "`schedule_minutes` is the length of a one_cycle schedule; "
                "add `lr_schedule=one_cycle`. Received: "
                f"schedule_minutes={minutes!r}, lr_schedule='constant'")
        if recipe["schedule_steps"] is not None:
            raise ValueError(
                "`schedule_minutes` and `schedule_steps` exclude each other "
                "(a schedule counted in time or in steps). Received: "
                f"schedule_minutes={minutes!r}, "
                f"schedule_steps={recipe['schedule_steps']!r}")
    layer = recipe["layer_lr_decay"]
    if layer is not None and (isinstance(layer, bool) or
                              not isinstance(layer, (int, float)) or
                              not 1 <= layer < math.inf):
        raise ValueError(f"`layer_lr_decay` must be a finite number >= 1 (the rate "
                         "of each group below the top is divided by it). "
                         f"Received: layer_lr_decay={layer!r}")
    for k in ("schedule_steps", "unfreeze_steps", "steps_per_epoch"):
        v = recipe[k]
        low = 0 if k == "unfreeze_steps" else 1  # 0: every group from the start
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)
                              or v < low):
            raise ValueError(f"`{k}` must be an integer >= {low}. Received: "
                             f"{k}={v!r}")
    if family == "language_model" and (
            layer is not None or recipe["unfreeze_steps"] is not None
            or recipe["steps_per_epoch"] is not None):
        raise ValueError(
            "`layer_lr_decay`, `unfreeze_steps` and `steps_per_epoch` are "
            f"classifier settings. Received: layer_lr_decay={layer!r}, "
            f"unfreeze_steps={recipe['unfreeze_steps']!r}, "
            f"steps_per_epoch={recipe['steps_per_epoch']!r}")
    average = recipe["weight_average"]
    if average is not None and average not in WEIGHT_AVERAGES:
        raise ValueError(f"Unknown weight_average {average!r}. Valid values: "
                         f"{list(WEIGHT_AVERAGES)}. Received: "
                         f"weight_average={average!r}")
    start = recipe["average_start_epoch"]
    if start is not None and start != "nonmonotonic" and (
            isinstance(start, bool) or not isinstance(start, int) or start < 0):
        raise ValueError("`average_start_epoch` must be an integer >= 0 or "
                         "'nonmonotonic'. Received: "
                         f"average_start_epoch={start!r}")
    momentum = recipe["average_momentum"]
    if momentum is not None and (isinstance(momentum, bool) or
                                 not isinstance(momentum, (int, float)) or
                                 not 0 <= momentum < 1):
        raise ValueError("`average_momentum` must be in [0, 1). Received: "
                         f"average_momentum={momentum!r}")
    if average is None and (start is not None or momentum is not None):
        raise ValueError("`average_start_epoch` and `average_momentum` need "
                         "`weight_average`. Received: "
                         f"average_start_epoch={start!r}, "
                         f"average_momentum={momentum!r}")
    if momentum is not None and average != "ema":
        raise ValueError("`average_momentum` applies to weight_average='ema'. "
                         f"Received: weight_average={average!r}")
    variable = recipe["variable_bptt"]
    if not isinstance(variable, bool):
        raise ValueError("`variable_bptt` must be true or false. Received: "
                         f"variable_bptt={variable!r}")
    if variable and family != "language_model":
        raise ValueError("`variable_bptt` applies to language models only. "
                         f"Received: variable_bptt={variable!r}")
    sampled = recipe["sampled_softmax"]
    if sampled is not None and (isinstance(sampled, bool) or
                                not isinstance(sampled, int) or sampled < 1):
        raise ValueError("`sampled_softmax` must be a positive integer (the "
                         "candidates per step; 0 for the full softmax). "
                         "Received: "
                         f"sampled_softmax={sampled!r}")
    if sampled is not None and family != "language_model":
        raise ValueError("`sampled_softmax` applies to language models only. "
                         f"Received: sampled_softmax={sampled!r}")
    if recipe["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {recipe['optimizer']!r}. Valid "
                         f"values: {list(OPTIMIZERS)}. Received: "
                         f"optimizer={recipe['optimizer']!r}")
    lr = recipe["learning_rate"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or \
            not 0 < lr < float("inf"):
        raise ValueError(f"`learning_rate` must be a finite number > 0. Received: "
                         f"learning_rate={lr!r}")
    for k in ("clipnorm", "global_clipnorm"):
        v = recipe[k]
        if v is not None and (isinstance(v, bool) or
                              not isinstance(v, (int, float)) or
                              not 0 <= v < math.inf):
            # NaN would turn clipping off silently (Keras tests `> 0`), and
            # inf would clip every gradient to NaN
            raise ValueError(f"`{k}` must be a finite number >= 0 (0: off). "
                             f"Received: {k}={v!r}")
    counts = ("epochs", "batch_size") + (
        ("bptt",) if family == "language_model" else ())
    for k in counts:
        v = recipe[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"`{k}` must be a positive integer. Received: "
                             f"{k}={v!r}")


def for_resume(stored, given) -> dict:
    """The settings of a resumed run: its stored ones, with `epochs` from
    `given` if set.

    Args:
        stored: the `training` section of the run's `config.json`.
        given: the settings the user gave now.

    Raises:
        ValueError: `given` changes a setting other than `epochs`.
    """
    recipe = {k: stored.get(k) for k in SETTINGS if k in stored}
    for k, v in given.items():
        if v is None or k == "epochs":
            continue
        if recipe.get(k) != v:
            raise ValueError(
                f"cannot resume with {k}={v!r}: the run was started with "
                f"{k}={recipe.get(k)!r} (resume uses config.json; only "
                "epochs may change)")
    if given.get("epochs") is not None:
        recipe["epochs"] = given["epochs"]
    return recipe
