"""Data loading for RNN Zoo training: sources, text classification, LMs.

Public API:

- `resolve_source(source) -> Source`
- `load_text_classification(source, ...) -> TextClassificationData`
- `make_text_classification_dataset(split, ...) -> tf.data.Dataset`
- `load_language_model(source, ...) -> LanguageModelData`
- `batchify`, `lm_windows`, `lm_steps_per_epoch`, `make_lm_dataset`,
  `variable_window_starts`
- `Vocabulary` (save/load `vocab.txt`), `tokenize`, `corpus_tokens`
- `DataError`: every bad-input error, naming the file and line.
"""

from training.data.errors import DataError
from training.data.files import atomic_write_text
from training.data.language_modeling import (
    AddedTexts,
    LanguageModelData,
    batchify,
    check_carve_fraction,
    lm_steps_per_epoch,
    lm_windows,
    load_language_model,
    make_lm_dataset,
    variable_window_starts,
)
from training.data.sources import Source, resolve_source
from training.data.text_classification import (
    LabeledTexts,
    TextClassificationData,
    auto_bucket_boundaries,
    classifier_splits,
    load_text_classification,
    make_text_classification_dataset,
    split_validation,
    whitespace_token_counts,
)
from training.data.vocab import (
    DEFAULT_OOV_TOKEN,
    EOS_TOKEN,
    Vocabulary,
    corpus_tokens,
    tokenize,
)

__all__ = [
    "AddedTexts",
    "DEFAULT_OOV_TOKEN",
    "DataError",
    "EOS_TOKEN",
    "LabeledTexts",
    "LanguageModelData",
    "Source",
    "TextClassificationData",
    "Vocabulary",
    "corpus_tokens",
    "atomic_write_text",
    "auto_bucket_boundaries",
    "batchify",
    "check_carve_fraction",
    "classifier_splits",
    "lm_steps_per_epoch",
    "lm_windows",
    "load_language_model",
    "load_text_classification",
    "make_lm_dataset",
    "variable_window_starts",
    "make_text_classification_dataset",
    "resolve_source",
    "split_validation",
    "tokenize",
    "whitespace_token_counts",
]
