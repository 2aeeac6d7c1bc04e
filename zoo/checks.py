"""Argument checks shared by the zoo's layers and models.

Each raises a `ValueError` that names the argument and what was received.
"""

# The models' arguments that take True or False (`flag`): one list for every
# reader of stored or searched settings (a resumed run's `--set` overrides,
# the tuner's search space).
FLAGS = ("bidirectional", "tie_weights", "unit_forget_bias", "locked_dropout",
         "layer_norm", "stateful", "reverse")


def positive_int(name, value):
    """Returns `value` if it is an int > 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return value


def choice(name, value, choices):
    """Returns `value` if it is one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"Unknown {name} {value!r}. Valid values: {list(choices)}. "
            f"Received: {name}={value!r}"
        )
    return value


def flag(name, value):
    """Returns `value` if it is a bool (a string such as `"false"` would read
    as true)."""
    if not isinstance(value, bool):
        raise ValueError(
            f"`{name}` must be True or False. Received: {name}={value!r}")
    return value


def rate(name, value):
    """Returns `value` as a float if it is a number in [0, 1)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not 0.0 <= float(value) < 1.0):
        raise ValueError(
            f"`{name}` must be a float in [0, 1). Received: {name}={value!r}"
        )
    return float(value)


def probability(name, value):
    """Returns `value` as a float if it is a number in [0, 1] (a zoneout
    rate: 1 is well defined, the state then never changes)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not 0.0 <= float(value) <= 1.0):
        raise ValueError(
            f"`{name}` must be a float in [0, 1]. Received: {name}={value!r}"
        )
    return float(value)


# What Keras' Model takes besides a zoo model's own arguments (a functional
# model drops anything else, `dtype` included, without a word).
MODEL_KWARGS = ("name", "trainable")


def model_kwargs(cls_name, kwargs):
    """Returns `kwargs` if it holds only the arguments a Keras model takes
    (`MODEL_KWARGS`); an unknown one (a typo, or a setting of a newer zoo
    in a saved config) is refused instead of being silently dropped."""
    unknown = sorted(set(kwargs) - set(MODEL_KWARGS))
    if unknown:
        raise ValueError(f"{cls_name} got unknown argument(s) {unknown}. "
                         f"Received: {', '.join(unknown)}")
    return kwargs
