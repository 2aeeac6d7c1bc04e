"""Tokenisation and the log-probability of a text: one definition, which the
exported SavedModel's graph agrees with on tricky strings."""

import numpy as np
import pytest

import zoo
from training import scoring
from training.data.vocab import (Vocabulary, corpus_tokens, text_tokens,
                                 tokenize)

TRICKY = ["a b", "a\nb", "a\\b c", "a\x85b", "a\u2028b\u2029c", "a\u00a0b",
          "zzz a", "  a  ", "", "\n"]


def test_word_tokens_split_on_unicode_whitespace_like_str_split():
    for text in TRICKY:
        assert tokenize(text, "word") == text.split()
    assert tokenize("a\u2028b", "word") == ["a", "b"]
    assert tokenize("a\\b", "word") == ["a\\b"]
    assert tokenize("", "word") == [] and tokenize("", "char") == []
    assert tokenize("a\nb", "char") == ["a", "\n", "b"]
    with pytest.raises(ValueError, match="Received: level='byte'"):
        tokenize("a", "byte")


def test_corpus_tokens_end_each_line_with_eos():
    counts = {}
    assert corpus_tokens("a b\n\nc", "word", counts) == [
        "a", "b", "<eos>", "<eos>", "c", "<eos>"]
    assert counts == {"train_lines": 3, "train_blank_lines": 1}
    assert corpus_tokens("a\n", "char") == ["a", "\n"]


def test_scoring_ids_follow_the_rule():
    word = Vocabulary(["<eos>", "a", "b"])  # <unk> appended: id 3
    assert scoring.context_token(word, "word") == "<eos>"
    assert scoring.scoring_ids("a zzz", word, "word").tolist() == [0, 1, 3, 0]
    assert scoring.scoring_ids("a", word, "word",
                               append_end=False).tolist() == [0, 1]
    assert scoring.prompt_ids("b", word, "word").tolist() == [0, 2]
    no_eos = Vocabulary(["a"])
    assert scoring.context_token(no_eos, "word") == "<unk>"
    assert scoring.end_token(no_eos, "word") is None
    chars = Vocabulary([" ", "\n", "a"])
    assert scoring.context_token(chars, "char") == "\n"
    assert scoring.scoring_ids("a\n", chars, "char").tolist() == [1, 2, 1]
    assert scoring.context_token(Vocabulary(["a", " "]), "char") == " "
    assert "appended and scored" in scoring.describe(word, "word")


def test_text_logprobs_match_a_hand_computed_bigram():
    class Uniform:
        def predict_on_batch(self, ids):
            return np.zeros((*np.shape(ids), 4), np.float32)

    vocab = Vocabulary(["<eos>", "a", "b"])
    lp = scoring.text_logprobs(Uniform(), vocab, "word", ["a b", "", "a"])
    np.testing.assert_allclose(lp, np.log(0.25) * np.array([3, 1, 2]))


def _export(tmp_path, tokens, level):
    import tensorflow as tf

    from serving import export as ex

    vocab = Vocabulary(tokens)
    model = zoo.build("language_model", vocabulary_size=len(vocab),
                      embedding_dim=6, units=8, num_layers=1, level=level)
    result = ex.export_model(model, str(tmp_path / "models"), level,
                             vocabulary=vocab, level=level)
    return model, vocab, tf.saved_model.load(result.path).signatures["score"]


@pytest.mark.slow
@pytest.mark.parametrize("level,tokens", [
    ("word", ["<eos>", "a", "b", "c", "a\\b"]),
    ("char", ["\n", " ", "a", "b", "c", "\\", "\x85", "\u2028", "\u00a0"]),
])
def test_exported_score_agrees_with_python_on_tricky_strings(tmp_path, level,
                                                             tokens):
    import tensorflow as tf

    model, vocab, score = _export(tmp_path, tokens, level)
    out = score(text=tf.constant(TRICKY))
    expected = scoring.text_logprobs(model, vocab, level, TRICKY)
    np.testing.assert_allclose(out["log_prob"].numpy(), expected, rtol=2e-5,
                               atol=2e-5)
    counts = [len(scoring.scoring_ids(t, vocab, level)) - 1 for t in TRICKY]
    assert out["num_tokens"].numpy().tolist() == counts


REVIEWS = ["A <br />GREAT film, isn't it?", "great film", "GREAT FILM!!!",
           "", "!!!", "caf\u00e9 \u00dcn\u00efcode", "a\u00a0b film",
           "tab\there\nnew-line", "Film."]


@pytest.mark.slow
def test_exported_review_lm_standardises_texts_and_prompts_as_its_corpus(
        tmp_path):
    """A language model of standardised reviews sees a served text as its
    corpus's texts were seen (`text_tokens`), not split on whitespace."""
    import tensorflow as tf

    from serving import export as ex
    from training.data.vocab import model_tokens, text_tokens

    std = "lower_and_strip_punctuation"
    vocab = Vocabulary(["<eos>", "great", "film", "isnt", "it", "a", "br",
                        "caf\u00e9", "here", "newline", "tab"])
    model = zoo.build("language_model", vocabulary_size=len(vocab),
                      embedding_dim=6, units=8, num_layers=1)
    result = ex.export_model(model, str(tmp_path / "models"), "reviews",
                             vocabulary=vocab, level="word", standardize=std)
    assert result.card["standardize"] == std
    sigs = tf.saved_model.load(result.path).signatures
    out = sigs["score"](text=tf.constant(REVIEWS))
    expected = scoring.text_logprobs(model, vocab, "word", REVIEWS,
                                     standardize=std)
    np.testing.assert_allclose(out["log_prob"].numpy(), expected, rtol=2e-5,
                               atol=2e-5)
    assert out["num_tokens"].numpy().tolist() == [
        len(text_tokens(t, std)) + 1 for t in REVIEWS]
    assert model_tokens(REVIEWS[0], "word", std) == [
        "a", "br", "great", "film", "isnt", "it"]
    # case and punctuation do not change what the model reads
    lp = out["log_prob"].numpy()
    assert lp[1] == pytest.approx(lp[2], abs=1e-6)
    gen = sigs["generate"](prompt=tf.constant(["GREAT Film!", "great film"]),
                           max_length=tf.constant(4),
                           temperature=tf.constant(0.0))
    completions = gen["completion"].numpy().tolist()
    assert completions[0] == completions[1]


def test_export_refuses_an_unknown_standardisation(tmp_path):
    from serving import export as ex

    vocab = Vocabulary(["<eos>", "a"])
    model = zoo.build("language_model", vocabulary_size=len(vocab),
                      embedding_dim=4, units=4, num_layers=1)
    with pytest.raises(ex.ExportError, match="Unknown standardize"):
        ex.export_model(model, str(tmp_path / "models"), "m",
                        vocabulary=vocab, level="word", standardize="upper")


# The code points Python's `str.split()` splits on (surrogates cannot be
# encoded), and a few that look like spaces but are not (zero-width space,
# BOM, word joiner, Mongolian vowel separator): the independent reference.
_SPLITS = [c for c in map(chr, range(0x3001)) if len(f"a{c}b".split()) == 2]
_NOT_SPLITS = ["\u200b", "\ufeff", "\u2060", "\u180e", "x", "_"]


def _classifier_vectorizer(standardize, vocabulary=("a", "b", "great", "film")):
    model = zoo.build("sentiment_classifier", vocabulary_size=len(vocabulary) + 2,
                      vocabulary=list(vocabulary), units=4, embedding_dim=4,
                      standardize=standardize)
    return model, model.get_layer("vectorizer")


def test_split_on_unicode_whitespace_agrees_with_str_split():
    from training.data.vocab import WORD_SEPARATORS
    from zoo.models.text import SEPARATORS, split_on_unicode_whitespace

    assert SEPARATORS == WORD_SEPARATORS  # the exported LMs' split
    assert len(_SPLITS) > 25 and "\u00a0" in _SPLITS and "\u3000" in _SPLITS
    texts = [f"a{c}b" for c in _SPLITS + _NOT_SPLITS] + TRICKY
    tf = pytest.importorskip("tensorflow")
    graph = tf.strings.split(
        split_on_unicode_whitespace(tf.constant(texts))).to_list()
    numpy = split_on_unicode_whitespace(np.array(texts)).tolist()
    for text, g, n in zip(texts, graph, numpy):
        assert [t.decode() for t in g] == text.split(), repr(text)
        assert n.split() == text.split(), repr(text)


def test_classifier_without_standardisation_reads_words_as_str_split():
    """A classifier started from a text-corpus LM (standardize None) must
    read the words the LM read: `str.split()`, not ASCII whitespace."""
    model, vectorizer = _classifier_vectorizer(None)
    texts = ["great\u00a0film", "a\u2028b", "great\u3000 film\x85a", "Great film"]
    ids = vectorizer(np.array(texts)).numpy().tolist()
    vocab = vectorizer.get_vocabulary()
    words = [[vocab[i] for i in row if i] for row in ids]
    assert words == [["great", "film"], ["a", "b"], ["great", "film", "a"],
                     ["[UNK]", "film"]]
    assert model.get_config()["standardize"] is None
    # the Python mirror of the classifier's tokens agrees
    assert text_tokens("great\u3000 film\x85a", None) == ["great", "film", "a"]
    # a named standardisation keeps Keras' own behaviour
    _, lowered = _classifier_vectorizer("lower_and_strip_punctuation")
    ids = lowered(np.array(["Great, film!"])).numpy().tolist()
    assert [lowered.get_vocabulary()[i] for i in ids[0] if i] == ["great", "film"]


@pytest.mark.slow
def test_classifier_without_standardisation_survives_save_and_export(tmp_path):
    import keras

    from serving import export as ex

    model, _ = _classifier_vectorizer(None)
    texts = np.array(["great\u00a0film", "a\u2028b", "film film"])
    expected = model.predict(texts, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(texts, verbose=0), expected,
                               rtol=1e-6, atol=1e-6)
    result = ex.export_model(model, str(tmp_path / "models"), "clf",
                             class_names=["neg", "pos"], warmup=False)
    tf = pytest.importorskip("tensorflow")
    serve = tf.saved_model.load(result.path).signatures["serving_default"]
    probs = serve(text=tf.constant(texts.tolist()))["probabilities"].numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
    # NBSP-joined words score as the space-joined ones
    np.testing.assert_allclose(probs[0], model.predict(
        np.array(["great film"]), verbose=0)[0], rtol=1e-5, atol=1e-6)
