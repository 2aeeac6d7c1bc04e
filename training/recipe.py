"""Training settings ("the recipe"): defaults, overrides, checks, resume.

A preset carries its own recipe (`zoo.get_preset(name)["training"]`); a bare
family name uses `FAMILY_RECIPES`. `resolve` applies what the user gave
(`zoo train` flags, `zoo tune` trials) over it and checks the result, so
`zoo train` and `zoo tune` train with the same settings; `for_resume` holds a
resumed run to the settings in its `config.json`.

Settings: `optimizer`, `learning_rate`, `clipnorm` / `global_clipnorm`
(mutually exclusive; `0` turns clipping off), `epochs`, `batch_size` (per
replica), `bptt` (language models only), `lr_decay` and `lr_decay_after`.
"""

from __future__ import annotations

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
            "epochs", "batch_size", "bptt", "lr_decay", "lr_decay_after")


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
    recipe.update({k: v for k, v in given.items() if v is not None})
    for k in ("clipnorm", "global_clipnorm"):
        recipe[k] = recipe.get(k) or None  # 0 turns clipping off
    recipe.setdefault("lr_decay", None)
    recipe.setdefault("lr_decay_after", None)
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
    if decay is not None and not 0 < decay <= 1:
        raise ValueError(f"`lr_decay` must be in (0, 1]. Received: "
                         f"lr_decay={decay!r}")
    if after is not None and after < 0:
        raise ValueError(f"`lr_decay_after` must be >= 0. Received: "
                         f"lr_decay_after={after!r}")
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
                              not isinstance(v, (int, float)) or v < 0):
            raise ValueError(f"`{k}` must be a number >= 0. Received: "
                             f"{k}={v!r}")
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
