"""`build`, `list_models` and `get_preset`: the zoo's main Python API."""

import copy
import inspect

from zoo.models.classifier import SentimentClassifier
from zoo.models.language_model import LanguageModel
from zoo.models.presets import PRESETS

FAMILIES = {
    "sentiment_classifier": SentimentClassifier,
    "language_model": LanguageModel,
}


def list_models():
    """Names of the presets, sorted. Families are buildable too."""
    return sorted(PRESETS)


def list_families():
    return sorted(FAMILIES)


def get_preset(name):
    """A deep copy of a preset: `family`, `description`, `config`, `training`.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    if name not in PRESETS:
        raise ValueError(
            f"Unknown preset {name!r}. Valid presets: {list_models()}; "
            f"model families: {list_families()}. Received: name={name!r}"
        )
    return copy.deepcopy(PRESETS[name])


def family_arguments(family):
    """Constructor arguments a model family accepts."""
    params = inspect.signature(FAMILIES[family].__init__).parameters
    return sorted(
        p for p, s in params.items()
        if p != "self" and s.kind not in (s.VAR_KEYWORD, s.VAR_POSITIONAL)
    )


def resolve(name, /, **overrides):
    """Returns `(family, config)` for a preset or family name plus overrides."""
    if name in FAMILIES:
        family, config = name, {}
    else:
        preset = get_preset(name)
        family, config = preset["family"], preset["config"]
    valid = family_arguments(family) + ["name"]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(
            f"Unknown argument(s) {unknown} for {name!r} ({family}). "
            f"Valid arguments: {valid}. Received: "
            + ", ".join(f"{k}={overrides[k]!r}" for k in unknown)
        )
    config.update(overrides)
    return family, config


def build(name, /, **overrides):
    """Builds a model from a preset or family name, with overrides.

    Args:
        name: a preset (`zoo.list_models()`) or a family
            (`"sentiment_classifier"`, `"language_model"`).
        **overrides: constructor arguments replacing the preset's.

    Returns:
        A `keras.Model` (`SentimentClassifier` or `LanguageModel`).

    Raises:
        ValueError: unknown name, unknown argument or invalid value; the
            message lists what is valid.

    Example:

    >>> model = zoo.build("sst2_bigru_highway", units=32, num_layers=3)
    >>> lm = zoo.build("ptb_small", vocabulary_size=50)
    """
    family, config = resolve(name, **overrides)
    try:
        return FAMILIES[family](**config)
    except TypeError as e:  # e.g. a string where a number belongs
        raise ValueError(f"Invalid argument for {name!r}: {e}") from e
