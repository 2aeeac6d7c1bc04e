"""Models for the long-range tasks, built from `zoo.layers`, and a helper
that sizes them to an equal parameter budget."""

import keras

from zoo.layers import RecurrentStack


@keras.saving.register_keras_serializable(package="zoo_tasks")
class LastStep(keras.layers.Layer):
    """`(batch, time, d) -> (batch, d)`: the last time step."""

    def call(self, inputs):
        return inputs[:, -1, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


def _cell_options(cell, recurrent_initializer=None):
    options = {}
    if recurrent_initializer is not None:
        options["recurrent_initializer"] = recurrent_initializer
    return options


def build_adding_model(cell="lstm", units=32, num_layers=1, connection="none",
                       length=None, recurrent_initializer=None, name=None):
    """Regressor for the adding problem: stack -> last step -> Dense(1).

    Args:
        cell: `"lstm"`, `"gru"` or `"simple_rnn"`.
        units: units per recurrent layer.
        num_layers: depth of the `RecurrentStack`.
        connection: `"none"`, `"residual"`, `"highway"` or `"dense"`.
        length: fixed sequence length, or `None`.
        recurrent_initializer: overrides the cells' (default orthogonal).
    """
    x = keras.Input((length, 2), name="pairs")
    stack = RecurrentStack(
        cell=cell, units=units, num_layers=num_layers, connection=connection,
        cell_options=_cell_options(cell, recurrent_initializer),
        name="recurrent_stack",
    )
    h = LastStep(name="last_step")(stack(x))
    y = keras.layers.Dense(1, name="sum")(h)
    return keras.Model(x, y, name=name or f"adding_{cell}_{num_layers}x{units}")


def build_copy_model(cell="lstm", units=64, num_layers=1, connection="none",
                     num_classes=10, name=None):
    """Sequence tagger for copy memory: one-hot -> stack -> Dense(classes)."""
    x = keras.Input((None,), dtype="int32", name="symbols")
    onehot = keras.layers.Embedding(
        num_classes, num_classes,
        embeddings_initializer=keras.initializers.Identity(), trainable=False,
        name="one_hot",
    )(x)
    h = RecurrentStack(cell=cell, units=units, num_layers=num_layers,
                       connection=connection, name="recurrent_stack")(onehot)
    logits = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(x, logits, name=name or f"copy_{cell}_{num_layers}x{units}")


def count_params(builder, **kwargs):
    model = builder(**kwargs)
    return model.count_params()


def matched_units(budget, cell, num_layers=1, connection="none",
                  builder=build_adding_model, max_units=1024):
    """Largest `units` whose model has at most `budget` parameters.

    Returns `(units, params)`. Raises `ValueError` if even 1 unit is over.
    """
    lo, hi = 1, max_units
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        p = count_params(builder, cell=cell, units=mid, num_layers=num_layers,
                         connection=connection)
        if p <= budget:
            best = (mid, p)
            lo = mid + 1
        else:
            hi = mid - 1
    if best is None:
        raise ValueError(
            f"No {num_layers}-layer {cell} fits a budget of {budget} params."
        )
    return best
