"""Builders shared by the export/serving tests (no tests here).

The tests build their own tiny run directories (the files `zoo train`
writes: config.json, model.keras, vocab.txt, metrics.json) so they do not
depend on the training loop.
"""

import json
import os

CLASS_NAMES = ["negative", "positive"]
TEXTS = ["a good film", "a bad film", "great movie , loved it",
         "terrible plot", "good good good", "zzz unseen words"]
WORD_VOCAB = ["the", "cat", "sat", "on", "mat", "<eos>", "dog", "ran",
              "<unk>"]
CHAR_VOCAB = ["\n", " ", "a", "b", "c", "d", "e", "<unk>"]


def build_classifier(seed=7, units=4, texts=TEXTS, class_names=CLASS_NAMES):
    import keras

    import zoo

    keras.utils.set_random_seed(seed)
    model = zoo.build("sentiment_classifier", vocabulary_size=40,
                      max_length=12, embedding_dim=8, units=units, num_layers=1,
                      class_names=class_names)
    model.adapt_vocabulary(texts)
    return model


def build_lm(vocab, level="word", stateful=False):
    import keras

    import zoo

    keras.utils.set_random_seed(11)
    return zoo.build("language_model", vocabulary_size=len(vocab) + 2,
                     embedding_dim=8, units=8, num_layers=1, level=level,
                     stateful=stateful, batch_size=4 if stateful else None)


def _escape(token):
    return token.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def write_run(run_dir, model, *, family, vocab=None, level=None,
              preset=None, seed=1):
    """Writes a minimal RUN_DIR for `model`."""
    os.makedirs(run_dir, exist_ok=True)
    model.save(os.path.join(run_dir, "model.keras"))
    data = {"source": "test", "fingerprint": "sha256:test"}
    if family == "sentiment_classifier":
        data["class_names"] = list(model.class_names)
    else:
        data["level"] = level
        with open(os.path.join(run_dir, "vocab.txt"), "w",
                  encoding="utf-8") as f:
            f.write("".join(_escape(t) + "\n" for t in vocab))
    config = {"preset": preset, "family": family,
              "model_config": model.get_config(),
              "training": {"epochs": 1}, "data": data, "seed": seed,
              "versions": {"zoo": "test"}}
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(run_dir, "metrics.json"), "w") as f:
        json.dump({"val_accuracy": 0.5}, f)
    return run_dir


def lm_reference_scores(model, vocab, texts, level):
    """log_prob per text computed with the Keras model and numpy."""
    import numpy as np

    index = {t: i for i, t in enumerate(vocab)}
    unk = index["<unk>"]
    out = []
    for text in texts:
        if level == "word":
            toks = [index["<eos>"]] + [index.get(w, unk) for w in
                                        text.split()] + [index["<eos>"]]
        else:
            toks = [index["\n"]] + [index.get(c, unk) for c in text]
        if len(toks) < 2:
            out.append(0.0)
            continue
        ids = np.array([toks[:-1]], dtype="int32")
        logits = np.asarray(model(ids, training=False))[0].astype("float64")
        logits -= logits.max(-1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        out.append(float(sum(logp[i, t] for i, t in enumerate(toks[1:]))))
    return out


_SHARED = {}


def shared_exports():
    """One models dir for the whole pytest process (built on first use).

    ``clf`` v1 (from a run dir, label ``stable``) and v2 (class names
    ``neg``/``pos``), ``word`` (a stateful word LM run) and ``char``. Tests
    must treat it as read-only.
    """
    if _SHARED:
        return _SHARED
    import atexit
    import shutil
    import tempfile

    import numpy as np

    from serving import export as ex

    root = tempfile.mkdtemp(prefix="zoo-export-test-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    models = os.path.join(root, "models")
    clf = build_classifier()
    clf_run = write_run(os.path.join(root, "clf_run"), clf,
                        family="sentiment_classifier", preset="tiny")
    word = build_lm(WORD_VOCAB, "word", stateful=True)
    word_run = write_run(os.path.join(root, "lm_run"), word,
                         family="language_model", vocab=WORD_VOCAB,
                         level="word")
    char = build_lm(CHAR_VOCAB, "char")
    results = {
        "clf": ex.export(clf_run, models, "clf", label="stable"),
        "clf2": ex.export_model(clf, models, "clf", class_names=["neg", "pos"]),
        "word": ex.export(word_run, models, "word", max_generate_length=16),
        "char": ex.export_model(char, models, "char", vocabulary=CHAR_VOCAB,
                                level="char", max_generate_length=16),
    }
    _SHARED.update({
        "root": root, "models": models, "results": results, "clf": clf,
        "clf_run": clf_run, "word": word.with_options(stateful=False),
        "char": char,
        "clf_probs": np.asarray(clf(np.array(TEXTS))).tolist(),
    })
    return _SHARED
