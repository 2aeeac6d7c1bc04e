"""Models (sentiment classifier, language model), presets and the factory."""

from zoo.models.classifier import SentimentClassifier
from zoo.models.factory import build
from zoo.models.factory import get_preset
from zoo.models.factory import list_families
from zoo.models.factory import list_models
from zoo.models.language_model import LanguageModel
from zoo.models.presets import PRESETS
from zoo.models.text import split_on_unicode_whitespace
