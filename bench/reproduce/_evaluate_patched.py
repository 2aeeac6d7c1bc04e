#!/usr/bin/env python
"""`zoo evaluate` with a work-around for a Keras vocabulary round-trip bug.

Keras' `IndexLookup.save_assets` writes the vocabulary joined with "\\n" but
`load_assets` reads it back with `str.splitlines()`, which also splits on
U+0085, U+2028, U+001C-001E, etc. IMDB reviews contain U+0085 (a cp1252
ellipsis), which the default standardisation keeps as a token, so a trained
IMDB classifier's model.keras cannot be loaded (`zoo evaluate` fails with
"A total of 2 objects could not be loaded ... TextVectorization").

This wrapper reads the vocabulary file split on "\\n" only (what was written)
and then runs the unmodified `zoo evaluate` entry point. Same arguments as
`zoo evaluate`. Only classifier runs saved before the fix in
`zoo/models/classifier.py` (such tokens are now kept out of the vocabulary)
need it.
"""

import sys


def _patch():
    import tensorflow as tf
    from keras.src.layers.preprocessing import index_lookup

    original = index_lookup.IndexLookup.load_assets

    def load_assets(self, dir_path):
        if self.input_vocabulary is not None or tf.as_dtype(self.vocabulary_dtype) != tf.string:
            return original(self, dir_path)
        with open(tf.io.gfile.join(dir_path, "vocabulary.txt"), "r", newline="") as f:
            lines = f.read().split("\n")
        while lines and lines[-1] == "":
            lines.pop()
        if self.output_mode == "tf_idf":
            return original(self, dir_path)
        self.set_vocabulary(lines)

    index_lookup.IndexLookup.load_assets = load_assets


if __name__ == "__main__":
    _patch()
    from training.cli_evaluate import main

    sys.exit(main(sys.argv[1:]))
