"""Tokenisation and the log-probability of a text: one definition, which the
exported SavedModel's graph agrees with on tricky strings."""

import numpy as np
import pytest

import zoo
from training import scoring
from training.data.vocab import Vocabulary, corpus_tokens, tokenize

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
