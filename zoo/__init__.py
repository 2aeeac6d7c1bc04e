"""RNN Zoo: gated recurrent networks for Keras 3.

    import zoo
    zoo.list_models()
    model = zoo.build("imdb_bilstm", units=32)

Importing `zoo` registers every layer and model with Keras' serialization,
so `keras.saving.load_model("model.keras")` works without `custom_objects`.
"""

__version__ = "0.1.0"

from zoo import layers
from zoo import models
from zoo.models import build
from zoo.models import get_preset
from zoo.models import list_families
from zoo.models import list_models


def load(path, **kwargs):
    """Loads a `.keras` file saved from a zoo model (no custom_objects)."""
    import keras

    return keras.saving.load_model(path, **kwargs)
