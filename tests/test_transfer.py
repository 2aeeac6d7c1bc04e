"""A word LM trained on reviews starts a classifier (`--init-from`); word
vectors initialise one (`--embeddings`); the errors of both."""

import json
import math
import os
import random

import keras
import numpy as np
import pytest

import training
from training import cli_train
from training import run_dir as rd
from training import transfer
from training.data import DataError, load_language_model
from training.data.vocab import text_tokens
from tests._files import load_script, write_csv

LM_SHAPE = {"embedding_dim": 8, "units": 8, "num_layers": 1, "cell": "lstm",
            "connection": "none"}
CLF = dict(LM_SHAPE, bidirectional=False, max_length=32,
           ngram_vocabulary_size=300)
RAW_REVIEW = ("This film was GREAT!<br /><br />I'd see it again... (10/10) "
              "Über-good, naïve\u00a0fun; \"a-ha\" [sic] {x} ~ok~ zzz_unseen")


def _reviews(n, seed, labeled):
    rng = random.Random(seed)
    pos = "Good great FINE lovely superb!".split()
    neg = "bad awful, poor dull. boring".split()
    common = "the film movie a <br />it's was plot acting".split()
    rows = []
    for i in range(n):
        lab = i % 2
        words = rng.choices(pos if lab else neg, k=4) + rng.choices(common, k=6)
        rng.shuffle(words)
        row = [" ".join(words)]
        if labeled:
            row = [str(lab), f"tt{i % 12:03d}"] + row
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("transfer")
    unsup = write_csv(d / "unsup.csv", ["id", "text"],
                      [[str(i), t] for i, (t,) in enumerate(_reviews(200, 1, False))]
                      + [["999", RAW_REVIEW]])
    train = write_csv(d / "train.csv", ["label", "movie", "text"],
                      _reviews(192, 2, True))
    return {"dir": d, "unsup": unsup, "train": train}


@pytest.fixture(scope="module")
def lm_run(files):
    out = str(files["dir"] / "lm")
    return training.train("imdb_lm", files["unsup"], out=out, epochs=1,
                          batch_size=4, bptt=10, validation_split=0.05,
                          overrides=dict(LM_SHAPE, vocabulary_size=60),
                          max_steps_per_epoch=5, verbose=0)


@pytest.fixture(scope="module")
def clf_run(files, lm_run):
    out = str(files["dir"] / "clf")
    return training.train("imdb_transfer", files["train"], out=out, epochs=1,
                          batch_size=16, overrides=CLF,
                          init_from=lm_run.run_dir, validation_group="movie",
                          verbose=0)


def test_reviews_corpus_standardised_like_the_classifier(files):
    data = load_language_model(files["unsup"], max_tokens=60,
                               validation_fraction=0.05)
    assert data.level == "word" and data.standardize == "lower_and_strip_punctuation"
    assert data.counts["validation_texts"] == 10
    assert "good" in data.vocab and "Good" not in data.vocab
    assert len(data.vocab) <= 60
    assert data.validation_carve["fraction"] == 0.05


def test_lm_and_classifier_tokenise_a_raw_review_identically(lm_run, clf_run):
    import tensorflow as tf

    clf = rd.open_run(clf_run.run_dir).load_model()
    vectorizer = clf.get_layer("vectorizer")
    tokens = [t.decode() for t in
              vectorizer._preprocess(tf.constant([RAW_REVIEW])).to_list()[0]]
    assert tokens == text_tokens(RAW_REVIEW, "lower_and_strip_punctuation")
    assert tokens[:3] == ["this", "film", "was"] and "naïve\u00a0fun" in tokens
    # The ids differ (padding 0 and [UNK] 1 in the classifier) but the token
    # each id stands for is the same, unknown words included.
    lm_vocab = rd.open_run(lm_run.run_dir).vocabulary
    tv_vocab = clf.get_vocabulary()
    ids = np.asarray(vectorizer(tf.constant([RAW_REVIEW])))[0]
    for token, tv_id in zip(tokens, ids):
        lm_id = lm_vocab.token_to_id(token)
        if lm_id == lm_vocab.oov_id:
            assert tv_id == transfer.UNK_ID
        else:
            assert tv_vocab[tv_id] == token


def test_init_from_copies_embedding_rows_and_stack_exactly(lm_run, clf_run):
    lm_dir = rd.open_run(lm_run.run_dir)
    lm = lm_dir.load_model()
    vocab = lm_dir.vocabulary
    # model.keras of the classifier is after training; rebuild the start.
    import zoo

    clf = zoo.build("imdb_transfer", **CLF, **transfer.classifier_overrides(
        lm_dir, dict(zoo.get_preset("imdb_transfer")["config"], **CLF), CLF))
    report = transfer.copy_language_model(clf, lm_dir)
    lm_table = np.asarray(lm.get_layer("embedding").embeddings)
    table = np.asarray(clf.get_layer("embedding").embeddings)
    tv = {t: i for i, t in enumerate(clf.get_vocabulary())}
    assert clf.get_vocabulary()[:2] == ["", "[UNK]"]
    checked = 0
    for lm_id, token in enumerate(vocab.tokens):
        if token == vocab.oov_token:
            np.testing.assert_array_equal(table[1], lm_table[lm_id])
        elif token != "<eos>":
            np.testing.assert_array_equal(table[tv[token]], lm_table[lm_id])
            checked += 1
    assert checked == len(vocab) - 2 == len(tv) - 2
    assert report["embedding_rows"] == len(vocab) - 1
    for a, b in zip(clf.get_layer("recurrent_stack").weights,
                    lm.get_layer("recurrent_stack").weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_transfer_run_end_to_end(clf_run, lm_run):
    run = rd.open_run(clf_run.run_dir)
    with open(os.path.join(clf_run.run_dir, "config.json")) as f:
        config = json.load(f)
    assert config["transfer"]["init_from"]["run_dir"] == lm_run.run_dir
    assert config["data"]["validation"]["group"] == "movie"
    assert "vocabulary" not in config["overrides"]
    assert run.load_model().vocabulary_size == len(
        rd.open_run(lm_run.run_dir).vocabulary)
    assert 0.0 <= clf_run.metrics["validation"]["accuracy"] <= 1.0
    # zoo evaluate re-creates the grouped carve
    result = training.evaluate(clf_run.run_dir, run.data["source"])
    assert result["num_examples"] == clf_run.metrics["validation"]["num_examples"]
    assert result["accuracy"] == pytest.approx(
        clf_run.metrics["validation"]["accuracy"])


def test_init_from_errors(files, lm_run, clf_run, tmp_path):
    def attempt(init_from, **kw):
        return training.train("imdb_transfer", files["train"],
                              out=str(tmp_path / "x"), epochs=1,
                              overrides=kw.pop("overrides", CLF),
                              init_from=init_from, verbose=0, **kw)

    with pytest.raises(transfer.TransferError, match="no such run directory"):
        attempt(str(tmp_path / "missing"))
    with pytest.raises(transfer.TransferError, match="sentiment_classifier run"):
        attempt(clf_run.run_dir)
    with pytest.raises(transfer.TransferError,
                       match=r"differ in \['units'\].*Classifier: .*'units': 16.*"
                             r"language model .*'units': 8"):
        attempt(lm_run.run_dir, overrides=dict(CLF, units=16))
    with pytest.raises(transfer.TransferError, match="bidirectional"):
        attempt(lm_run.run_dir, overrides=dict(CLF, bidirectional=True))
    # options that change the recurrent weights' shapes
    with pytest.raises(transfer.TransferError,
                       match=r"differ in \['layer_norm'\]"):
        attempt(lm_run.run_dir, overrides=dict(CLF, layer_norm=True))
    with pytest.raises(transfer.TransferError,
                       match=r"differ in \['projection'\]"):
        attempt(lm_run.run_dir, overrides=dict(CLF, projection=4))
    assert not os.path.exists(tmp_path / "x")  # nothing written


def test_init_from_the_out_folder_is_refused(files, lm_run, tmp_path):
    """`--init-from X --out X --overwrite` would delete the LM it starts
    from; it is refused, and the LM is left whole."""
    import shutil

    lm = tmp_path / "lm"
    shutil.copytree(lm_run.run_dir, lm)
    before = sorted(os.listdir(lm))
    for out in (str(lm), str(lm) + "/"):
        with pytest.raises(ValueError, match="the same folder"):
            training.train("imdb_transfer", files["train"], out=out,
                           epochs=1, overrides=CLF, init_from=str(lm),
                           overwrite=True, verbose=0)
    assert sorted(os.listdir(lm)) == before


def test_init_from_a_char_level_run_is_refused(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("abcdefgh " * 200)
    char = training.train("language_model", str(text), out=str(tmp_path / "c"),
                          epochs=1, batch_size=2, bptt=5, max_steps_per_epoch=2,
                          overrides={"units": 4, "embedding_dim": 4,
                                     "num_layers": 1}, verbose=0)
    with pytest.raises(transfer.TransferError, match="char-level"):
        transfer.open_language_model(char.run_dir)


def test_cli_init_from_of_a_language_model_on_its_own_corpus_is_a_usage_error(
        files, lm_run, tmp_path, capsys):
    code = cli_train.main(["imdb_lm", "--data", files["unsup"], "--out",
                           str(tmp_path / "y"), "--init-from", lm_run.run_dir])
    assert code == 2
    assert "has read" in capsys.readouterr().err


# ------------------------------------------------------------ word vectors


def _vectors_file(path, rows, header=None):
    lines = [header] if header else []
    lines += [w + " " + " ".join(f"{x:g}" for x in v) for w, v in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_embeddings_file_initialises_found_rows(files, tmp_path, capsys):
    rows = [("good", [0.5] * 8), ("bad", [-0.25] * 8), ("nothere", [9.0] * 8)]
    path = _vectors_file(tmp_path / "vec.txt", rows, header="3 8")
    result = training.train(
        "sentiment_classifier", files["train"], out=str(tmp_path / "e"),
        epochs=1, batch_size=16, verbose=0, embeddings=path,
        overrides={"embedding_dim": 8, "units": 4, "num_layers": 1,
                   "vocabulary_size": 60},
        max_steps_per_epoch=1, learning_rate=1e-9)
    model = rd.open_run(result.run_dir).load_model()
    vocab = model.get_vocabulary()
    err = capsys.readouterr().err
    assert f"2 of {len(vocab) - 2} vocabulary words found" in err
    report = result.config["transfer"]["embeddings"]
    assert report["found"] == 2 and report["vocabulary"] == len(vocab) - 2
    table = np.asarray(model.get_layer("embedding").embeddings)
    # lr 1e-9 for one step: the rows are still the file's vectors
    np.testing.assert_allclose(table[vocab.index("good")], 0.5, atol=1e-5)
    np.testing.assert_allclose(table[vocab.index("bad")], -0.25, atol=1e-5)
    assert not np.allclose(table[vocab.index("film")], 9.0)


def test_a_resume_before_the_first_backup_reads_the_vectors_again(
        files, tmp_path, capsys):
    """A run started with --embeddings and stopped before its first backup
    starts again from the same vectors (it used to start from random rows
    while its config.json still reported the vectors)."""
    import shutil

    rows = [("good", [0.5] * 8), ("bad", [-0.25] * 8)]
    path = _vectors_file(tmp_path / "vec.txt", rows)
    kwargs = dict(epochs=1, batch_size=16, verbose=0,
                  max_steps_per_epoch=1, learning_rate=1e-9)
    first = training.train(
        "sentiment_classifier", files["train"], out=str(tmp_path / "e"),
        embeddings=path, overrides={"embedding_dim": 8, "units": 4,
                                    "num_layers": 1, "vocabulary_size": 60},
        **kwargs)
    shutil.rmtree(rd.path(first.run_dir, rd.BACKUP))  # stopped before it
    assert first.config["transfer"]["embeddings"]["file"] == os.path.abspath(
        path)
    # other vectors than the run's are refused; a moved file is asked for
    other = _vectors_file(tmp_path / "other.txt", rows)
    with pytest.raises(ValueError, match="the run was started from"):
        training.train("sentiment_classifier", files["train"],
                       out=first.run_dir, resume=True, embeddings=other,
                       **kwargs)
    moved = str(tmp_path / "moved.txt")
    os.rename(path, moved)
    with pytest.raises(ValueError, match="pass --embeddings where the file"):
        training.train("sentiment_classifier", files["train"],
                       out=first.run_dir, resume=True, **kwargs)
    capsys.readouterr()
    training.train("sentiment_classifier", files["train"],
                   out=first.run_dir, resume=True, embeddings=moved, **kwargs)
    assert "2 of" in capsys.readouterr().err   # the vectors were read again
    model = rd.open_run(first.run_dir).load_model()
    vocab = model.get_vocabulary()
    table = np.asarray(model.get_layer("embedding").embeddings)
    np.testing.assert_allclose(table[vocab.index("good")], 0.5, atol=1e-5)
    # with a backup, the backup holds the embedding: --embeddings is not
    # read again, and a run started without vectors refuses them
    plain = training.train(
        "sentiment_classifier", files["train"], out=str(tmp_path / "p"),
        overrides={"embedding_dim": 8, "units": 4, "num_layers": 1,
                   "vocabulary_size": 60}, **kwargs)
    with pytest.raises(ValueError, match="started without word vectors"):
        training.train("sentiment_classifier", files["train"],
                       out=plain.run_dir, resume=True, embeddings=moved,
                       **kwargs)


def test_read_word_vectors_glove_format(tmp_path):
    path = _vectors_file(tmp_path / "g.txt", [("a", [1, 2, 3]), ("b", [4, 5, 6])])
    vectors = transfer.read_word_vectors(path, 3)
    np.testing.assert_array_equal(vectors["b"], [4, 5, 6])
    assert set(vectors) == {"a", "b"}


@pytest.mark.parametrize("content", [
    "\ufeffa 1 2 3\n. . . 4 5 6\n",  # a byte-order mark; GloVe 840B's `. . .`
    "\ufeff2 3\r\na 1 2 3\r\n. . . 4 5 6\r\n",  # word2vec's header after a BOM
])
def test_read_word_vectors_bom_and_words_with_spaces(tmp_path, content):
    path = tmp_path / "g.txt"
    path.write_bytes(content.encode("utf-8"))
    vectors = transfer.read_word_vectors(str(path), 3, wanted={"a", ". . ."})
    assert set(vectors) == {"a", ". . ."}
    np.testing.assert_array_equal(vectors[". . ."], [4, 5, 6])


@pytest.mark.parametrize("content", ["", "\n\n", "3000000 3\n"])
def test_a_file_without_vectors_is_an_error_even_when_words_are_wanted(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=r"empty.txt: no word vectors in the file"):
        transfer.read_word_vectors(str(path), 3, wanted={"a"})


@pytest.mark.parametrize("content,line,match", [
    ("a 1 2 3\nb 1 2\n", 2, "expected a word and 3 numbers.*found 2"),
    ("a 1 2 3 4\nb 1 2 3 4\n", 1, "expected a word and 3 numbers.*found 4"),
    ("a 1 2 3\nb 1 2 3 4\n", 2, "expected a word and 3 numbers.*found 4"),
    ("a 1 2 3\nb 1 x 3\n", 2, "not a number"),
    ("2 5\na 1 2 3\n", 1, "5-dimensional"),
    ("a 1 2 nan\n", 1, "not finite"),
])
def test_bad_embeddings_file_names_file_and_line(tmp_path, content, line, match):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=match) as e:
        transfer.read_word_vectors(str(path), 3)
    assert e.value.path == str(path) and e.value.line == line


def test_embeddings_given_a_folder_says_so_before_training(files, tmp_path):
    (tmp_path / "vectors").mkdir()
    with pytest.raises(DataError, match=r"vectors: is a folder; --embeddings takes a "
                       r"GloVe or word2vec text file"):
        training.train("sentiment_classifier", files["train"],
                       out=str(tmp_path / "w"), epochs=1, verbose=0,
                       embeddings=str(tmp_path / "vectors/"),
                       overrides={"embedding_dim": 8, "units": 4})
    assert not (tmp_path / "w").exists()


def test_embeddings_of_the_wrong_dimension_fail_before_training(files, tmp_path):
    path = _vectors_file(tmp_path / "v.txt", [("good", [1.0] * 5)])
    with pytest.raises(DataError, match=r"v\.txt.*line 1.*expected a word and 8"):
        training.train("sentiment_classifier", files["train"],
                       out=str(tmp_path / "w"), epochs=1, verbose=0,
                       embeddings=path,
                       overrides={"embedding_dim": 8, "units": 4,
                                  "num_layers": 1, "vocabulary_size": 60})


@pytest.mark.slow
def test_an_exported_review_lm_reads_a_raw_review_as_its_corpus(lm_run,
                                                               tmp_path):
    import tensorflow as tf

    from serving import export as ex
    from training import scoring

    run = rd.open_run(lm_run.run_dir)
    assert run.standardize == "lower_and_strip_punctuation"
    result = ex.export(lm_run.run_dir, str(tmp_path / "models"), "imdb_lm")
    assert result.card["standardize"] == run.standardize
    score = tf.saved_model.load(result.path).signatures["score"]
    out = score(text=tf.constant([RAW_REVIEW]))
    expected = scoring.text_logprobs(run.load_model(), run.vocabulary, "word",
                                     [RAW_REVIEW], standardize=run.standardize)
    np.testing.assert_allclose(out["log_prob"].numpy(), expected, rtol=2e-5,
                               atol=2e-5)
    assert int(out["num_tokens"][0]) == len(
        text_tokens(RAW_REVIEW, run.standardize)) + 1


@pytest.mark.parametrize("weighting", ["binary", "nb"])
def test_init_from_with_an_ngram_branch_learns_its_vocabulary(files, lm_run,
                                                             tmp_path, weighting):
    # The word vocabulary comes from the LM; the n-gram branch's (and its
    # log-count ratios) from the classifier's training texts and labels.
    run = training.train("imdb_transfer", files["train"],
                         out=str(tmp_path / "clf"), epochs=1, batch_size=16,
                         overrides=dict(CLF, ngrams=2, ngram_weighting=weighting),
                         init_from=lm_run.run_dir, validation_group="movie",
                         verbose=0)
    model = rd.open_run(run.run_dir).load_model()
    grams = model.get_layer("ngram_vectorizer").get_vocabulary()
    assert len(grams) == 300 and any(" " in g for g in grams)
    if weighting == "nb":
        scale = keras.ops.convert_to_numpy(model.get_layer("ngram_weights").scale)
        assert np.abs(scale).max() > 0 and not np.allclose(scale, 1.0)
    assert model.get_vocabulary()[2:] == list(
        transfer.classifier_vocabulary(rd.open_run(lm_run.run_dir).vocabulary))
    # Evaluating the saved run re-reads the same texts and gives its figure.
    result = training.evaluate(run.run_dir, files["train"])
    assert result["accuracy"] == pytest.approx(
        run.metrics["validation"]["accuracy"])


def test_pretraining_ablation_records_which_lm_each_run_started_from(lm_run):
    # bench/reproduce/ablation_pretraining.py keeps runs of several LMs in
    # one results file; each pretrained run names its LM's perplexity.
    module = load_script("bench/reproduce/ablation_pretraining.py", "ablation_pretraining")
    record = module.lm_record(lm_run.run_dir)
    with open(os.path.join(lm_run.run_dir, "metrics.json")) as f:
        validation = json.load(f)["validation"]
    assert record["perplexity"] == pytest.approx(math.exp(validation["loss"]), rel=1e-4)
    assert record["perplexity"] > 1
    assert "command" in record
    # The results file names the LM's own results file, which holds the
    # pretraining's cost: `../runs/NAME` is what writes bench/results/NAME.json.
    assert module.c.lm_results(os.path.join("..", "runs", "imdb_lm_schedule6000") + os.sep) \
        == "bench/results/imdb_lm_schedule6000.json"
    assert module.c.lm_results(os.path.join(str(lm_run.run_dir), "no_such_lm")) is None


def test_transfer_recipes_count_the_pretraining_of_the_lm_they_start_from(tmp_path):
    # `imdb_transfer.py --lm ../runs/NAME` / `sst2_transfer.py --lm ...` add the
    # seconds of bench/results/NAME.json; an LM without one is refused up front.
    module = load_script("bench/reproduce/imdb_transfer.py", "imdb_transfer_recipe")
    assert module._recipe.pretraining_of(os.path.join("..", "runs", "imdb_lm") + os.sep) \
        == "imdb_lm"
    with pytest.raises(SystemExit, match=r"no_such_lm has no results file "
                                         r"bench/results/no_such_lm\.json"):
        module._recipe.pretraining_of(str(tmp_path / "no_such_lm"))
