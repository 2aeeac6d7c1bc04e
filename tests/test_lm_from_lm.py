"""`zoo train LM --init-from LM_RUN_DIR` (ULMFiT's second stage): a
language model goes on from another on a new corpus with its vocabulary and
every weight, and a classifier started from it is held out from every
corpus along the chain."""

import json
import os
import random

import numpy as np
import pytest

import training
from training import cli_train
from training import run_dir as rd
from training import transfer
from tests._files import write, write_csv

LM_SHAPE = {"embedding_dim": 8, "units": 8, "num_layers": 1, "cell": "lstm",
            "connection": "none"}
CLF = dict(LM_SHAPE, bidirectional=False, max_length=32,
           ngram_vocabulary_size=300)


def _words(rng, lab, k=8):
    pos = "good great fine lovely superb".split()
    neg = "bad awful poor dull boring".split()
    common = "the film movie a it was plot acting".split()
    return rng.choices(pos if lab else neg, k=3) + rng.choices(common, k=k - 3)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """unsup.csv (the first LM's corpus), train.csv (labelled, 24 movies of
    5 reviews; the first LM adds its texts but the carve by movie), and
    task.tsv / dev.tsv (a second labelled set: the second LM's corpus, and
    a separate validation file). task.tsv has words unsup.csv lacks."""
    d = tmp_path_factory.mktemp("lm_from_lm")
    rng = random.Random(5)
    unsup = write_csv(d / "unsup.csv", ["id", "text"],
                      [[str(i), " ".join(_words(rng, i % 2))]
                       for i in range(120)])
    train = write_csv(d / "train.csv", ["label", "movie", "text"],
                      [[str((i // 5) % 2), f"tt{i // 5:03d}",
                        " ".join(_words(rng, (i // 5) % 2))]
                       for i in range(120)])
    task = str(write(d / "task.tsv", "sentence\tlabel\n" + "".join(
        f"{' '.join(_words(rng, i % 2, k=6))} unseenword{i % 3}\t{i % 2}\n"
        for i in range(160))))
    dev = str(write(d / "dev.tsv", "sentence\tlabel\n" + "".join(
        f"{' '.join(_words(rng, i % 2, k=6))}\t{i % 2}\n" for i in range(40))))
    return {"dir": d, "unsup": unsup, "train": train, "task": task, "dev": dev}


@pytest.fixture(scope="module")
def lm1(files):
    return training.train(
        "imdb_lm", files["unsup"], out=str(files["dir"] / "lm1"), epochs=1,
        batch_size=4, bptt=10, validation_split=0.05,
        overrides=dict(LM_SHAPE, vocabulary_size=40), max_steps_per_epoch=3,
        add_texts=files["train"], leave_out_group="movie", leave_out_split=0.25,
        verbose=0)


@pytest.fixture(scope="module")
def lm2(files, lm1):
    """The first LM fine-tuned on task.tsv's texts for one step at a rate
    of 1e-9, so that its weights are still the first LM's."""
    return training.train(
        "imdb_lm", files["task"], out=str(files["dir"] / "lm2"), epochs=1,
        batch_size=4, bptt=10, validation_split=0.1,
        overrides={"output_dropout": 0.4}, init_from=lm1.run_dir,
        max_steps_per_epoch=1, learning_rate=1e-9, verbose=0)


def test_the_second_lm_keeps_the_vocabulary_and_every_weight(lm1, lm2):
    first, second = rd.open_run(lm1.run_dir), rd.open_run(lm2.run_dir)
    assert second.vocabulary.tokens == first.vocabulary.tokens
    with open(second.vocab_path) as a, open(first.vocab_path) as b:
        assert a.read() == b.read()
    # the new corpus's words that the first LM's vocabulary lacks are <unk>
    assert "unseenword0" not in second.vocabulary.tokens
    assert second.data["counts"]["train_oov"] > 0
    a, b = first.load_model(), second.load_model()
    paths = [v.path for v in a.weights]
    assert paths == [v.path for v in b.weights] and len(paths) == 5
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), atol=1e-5,
                                   err_msg=x.path)
    ids = np.arange(12, dtype="int32").reshape(2, 6) % 40
    np.testing.assert_allclose(np.asarray(b(ids)), np.asarray(a(ids)),
                               atol=1e-4)
    # a regulariser may differ; the shape is the source's, taken without
    # --set and recorded with the run's model arguments (for --resume)
    assert second.model_config["output_dropout"] == 0.4
    assert second.model_config["vocabulary_size"] == 40
    assert second.overrides == dict(
        LM_SHAPE, vocabulary_size=40, output_dropout=0.4, layer_norm=False,
        projection=None, tie_weights=True, level="word", reverse=False,
        adaptive_cutoffs=None, adaptive_div_value=4.0)


def test_a_fresh_lm_on_the_same_corpus_starts_elsewhere(files, lm1, tmp_path):
    """Without --init-from, the same settings give other weights: the
    equality above is the copy, not the seed."""
    fresh = training.train(
        "imdb_lm", files["task"], out=str(tmp_path / "fresh"), epochs=1,
        batch_size=4, bptt=10, validation_split=0.1,
        overrides=dict(LM_SHAPE, vocabulary_size=40, output_dropout=0.4),
        max_steps_per_epoch=1, learning_rate=1e-9, verbose=0)
    a = rd.open_run(lm1.run_dir).load_model()
    b = rd.open_run(fresh.run_dir).load_model()
    emb = lambda m: np.asarray(m.get_layer("embedding").embeddings)  # noqa: E731
    assert not np.allclose(emb(a), emb(b), atol=1e-3)


def test_the_second_lm_records_the_chain_of_corpora(files, lm1, lm2):
    with open(os.path.join(lm2.run_dir, "config.json")) as f:
        config = json.load(f)
    record = config["transfer"]["init_from"]
    assert record["run_dir"] == lm1.run_dir and record["variables"] == 5
    roles = [(c["role"], os.path.basename(c["source"])) for c in record["corpora"]]
    assert roles == [("corpus", "unsup.csv"), ("added", "train.csv")]
    assert record["corpora"][1]["leave_out"]["group"] == "movie"
    # its own corpus first, then what it inherited
    every = transfer.corpora(rd.open_run(lm2.run_dir))
    assert [os.path.basename(c["source"]) for c in every] == [
        "task.tsv", "unsup.csv", "train.csv"]
    assert config["data"]["sha256"] == every[0]["sha256"]


def test_a_classifier_from_the_second_lm_trains_and_validates_on_dev(
        files, lm2, tmp_path):
    clf = training.train(
        "imdb_transfer", files["task"], out=str(tmp_path / "clf"), epochs=1,
        batch_size=16, overrides=CLF, init_from=lm2.run_dir,
        validation_data=files["dev"], max_steps_per_epoch=1,
        learning_rate=1e-9, verbose=0)
    assert clf.config["transfer"]["init_from"]["run_dir"] == lm2.run_dir
    model = clf.run.load_model()
    emb = np.asarray(model.get_layer("embedding").embeddings)
    lm_emb = np.asarray(rd.open_run(lm2.run_dir).load_model()
                        .get_layer("embedding").embeddings)
    # one step at 1e-9: the classifier's rows are the second LM's
    vocab = model.get_vocabulary()
    lm_tokens = rd.open_run(lm2.run_dir).vocabulary.tokens
    row = lm_tokens.index("good")
    np.testing.assert_allclose(emb[vocab.index("good")], lm_emb[row], atol=1e-5)


@pytest.mark.parametrize("carve,match", [
    # the first LM added train.csv's texts but the carve (movie, 0.25, 1337)
    (dict(data="train", validation_group="movie"),
     r"through the language model it started from.*--validation-split 0\.25"),
    (dict(data="train", validation_data="train"),
     "through the language model it started from"),
    # the second LM's own corpus: no carve of it and not as validation
    (dict(data="task"), r"task\.tsv \(its corpus\)"),
    (dict(data="dev", validation_data="task"), "cannot validate this classifier"),
])
def test_check_held_out_follows_the_chain(files, lm2, tmp_path, carve, match):
    carve = {k: files[v] if k in ("data", "validation_data") else v
             for k, v in carve.items()}
    data = carve.pop("data")
    with pytest.raises(transfer.TransferError, match=match):
        training.train("imdb_transfer", data, out=str(tmp_path / "c"),
                       epochs=1, overrides=CLF, init_from=lm2.run_dir,
                       verbose=0, **carve)
    assert not os.path.exists(tmp_path / "c")


def test_check_held_out_takes_the_carve_the_first_lm_left_out(files, lm2):
    run = transfer.open_language_model(lm2.run_dir)
    transfer.check_held_out(run, files["train"], validation_data=None,
                            validation_group="movie", validation_split=0.25,
                            seed=1337)
    transfer.check_held_out(run, files["task"], validation_data=files["dev"],
                            validation_group=None, validation_split=0.1,
                            seed=1337)


def test_a_classifier_may_not_carve_the_corpus_of_its_lm(files, tmp_path):
    """An LM trained on a labelled file read its texts: a classifier from
    it validates on another file, not on a carve of that one."""
    lm = training.train(
        "imdb_lm", files["train"], out=str(tmp_path / "lm"), epochs=1,
        batch_size=4, bptt=10, validation_split=0.05,
        overrides=dict(LM_SHAPE, vocabulary_size=40), max_steps_per_epoch=2,
        verbose=0)
    run = transfer.open_language_model(lm.run_dir)
    with pytest.raises(transfer.TransferError, match="its corpus"):
        transfer.check_held_out(run, files["train"], validation_data=None,
                                validation_group="movie", validation_split=0.1,
                                seed=1337)
    transfer.check_held_out(run, files["task"], validation_data=None,
                            validation_group=None, validation_split=0.1,
                            seed=1337)


def test_runs_without_a_recorded_digest_hash_their_corpus(files, lm1):
    run = rd.open_run(lm1.run_dir)
    data = dict(run.data)
    digest = data.pop("sha256")
    run.config = dict(run.config, data=data)
    assert transfer.corpora(run)[0]["sha256"] == digest


def _embedding(run_dir, which="best"):
    return np.asarray(rd.open_run(run_dir).load_model(which)
                      .get_layer("embedding").embeddings)


def test_resume_goes_on_from_its_own_weights(files, lm1, tmp_path):
    """`--resume` with the same `--set` (as the recipe passes them) restores
    the run's backup, not the source's weights."""
    out = str(tmp_path / "r")
    common = dict(batch_size=4, bptt=10, max_steps_per_epoch=2, verbose=0,
                  overrides={"output_dropout": 0.4})
    training.train("imdb_lm", files["task"], out=out, epochs=1,
                   init_from=lm1.run_dir, learning_rate=0.05, **common)
    after_one = _embedding(out, "last")
    assert not np.allclose(after_one, _embedding(lm1.run_dir), atol=1e-3)
    resumed = training.train("imdb_lm", files["task"], out=out, epochs=2,
                             resume=True, **common)
    assert resumed.metrics["epochs_completed"] == 2
    # a second epoch at lr 0.05 moved on from epoch 1's weights, not from
    # the source's: they are closer to epoch 1's
    after_two = _embedding(out, "last")
    assert (np.abs(after_two - after_one).max()
            < np.abs(after_two - _embedding(lm1.run_dir)).max())
    with pytest.raises(ValueError, match="cannot resume with model overrides"):
        training.train("imdb_lm", files["task"], out=out, epochs=3, resume=True,
                       **dict(common, overrides={"output_dropout": 0.2}))


def test_resume_before_the_first_backup_starts_from_the_source(files, lm1,
                                                               tmp_path):
    import shutil

    out = str(tmp_path / "k")
    common = dict(batch_size=4, bptt=10, max_steps_per_epoch=1, verbose=0,
                  learning_rate=1e-9)
    training.train("imdb_lm", files["task"], out=out, epochs=1,
                   init_from=lm1.run_dir, **common)
    # as if killed in its first epoch: config.json and vocab.txt, no backup
    for name in ("backup", "model.keras", "last.keras", "metrics.json"):
        path = os.path.join(out, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    resumed = training.train("imdb_lm", files["task"], out=out, epochs=1,
                             resume=True, **common)
    assert resumed.metrics["epochs_completed"] == 1
    np.testing.assert_allclose(_embedding(out), _embedding(lm1.run_dir),
                               atol=1e-5)


def test_resume_into_a_new_directory_is_checked_as_a_new_run(files, lm2,
                                                            tmp_path):
    with pytest.raises(transfer.TransferError, match="its corpus"):
        training.train("imdb_transfer", files["task"], out=str(tmp_path / "n"),
                       epochs=1, overrides=CLF, init_from=lm2.run_dir,
                       resume=True, verbose=0)


def test_a_char_level_lm_goes_on_from_another_on_a_new_file(tmp_path):
    a = str(write(tmp_path / "a.txt", "to be or not to be, that is it. " * 40))
    b = str(write(tmp_path / "b.txt", "not a bee but a bat, it is so. " * 40))
    small = {"units": 8, "embedding_dim": 8, "num_layers": 1}
    first = training.train("language_model", a, out=str(tmp_path / "c1"),
                           epochs=1, batch_size=2, bptt=8, max_steps_per_epoch=2,
                           overrides=small, verbose=0)
    assert rd.open_run(first.run_dir).data["sha256"].startswith("sha256:")
    with pytest.raises(transfer.TransferError, match="has read"):
        training.train("language_model", a, out=str(tmp_path / "c2"), epochs=1,
                       init_from=first.run_dir, verbose=0)
    second = training.train("language_model", b, out=str(tmp_path / "c3"),
                            epochs=1, batch_size=2, bptt=8,
                            max_steps_per_epoch=1, learning_rate=1e-9,
                            init_from=first.run_dir, verbose=0)
    assert rd.open_run(second.run_dir).vocabulary.tokens == \
        rd.open_run(first.run_dir).vocabulary.tokens
    assert second.run.level == "char"
    np.testing.assert_allclose(_embedding(second.run_dir),
                               _embedding(first.run_dir), atol=1e-5)


def test_an_old_run_whose_corpus_is_gone_is_refused(files, lm1, tmp_path):
    run = rd.open_run(lm1.run_dir)
    data = {k: v for k, v in run.data.items() if k != "sha256"}
    data["source"] = str(tmp_path / "moved" / "unsup.csv")
    run.config = dict(run.config, data=data)
    with pytest.raises(transfer.TransferError, match="cannot be read here"):
        transfer.corpora(run)


def test_a_source_config_without_its_vocabulary_size_is_refused(lm1):
    """A hand-edited `config.json` that lost `model_config.vocabulary_size`
    is a `TransferError` naming the key, not a `KeyError`."""
    run = rd.open_run(lm1.run_dir)
    model_config = {k: v for k, v in run.model_config.items()
                    if k != "vocabulary_size"}
    run.config = dict(run.config, model_config=model_config)
    with pytest.raises(transfer.TransferError,
                       match=r"no model_config.vocabulary_size"):
        transfer.language_model_overrides(run, {})
    assert transfer.language_model_overrides(
        rd.open_run(lm1.run_dir), {})["vocabulary_size"] == 40


# ---------------------------------------------------------------- errors


def test_init_from_refuses_a_corpus_the_source_read(files, lm1, tmp_path):
    for corpus in ("unsup", "train"):
        with pytest.raises(transfer.TransferError, match="has read"):
            training.train("imdb_lm", files[corpus], out=str(tmp_path / "x"),
                           epochs=1, init_from=lm1.run_dir, verbose=0)
    assert not os.path.exists(tmp_path / "x")


@pytest.mark.parametrize("overrides,match", [
    ({"units": 16}, r"differ in \['units'\]"),
    ({"num_layers": 2, "cell": "gru"}, r"\['cell', 'num_layers'\]"),
    ({"tie_weights": False}, r"\['tie_weights'\]"),
    ({"vocabulary_size": 41}, r"\['vocabulary_size'\]"),
])
def test_init_from_refuses_another_shape_naming_both(files, lm1, tmp_path,
                                                    overrides, match):
    with pytest.raises(transfer.TransferError, match=match) as e:
        training.train("imdb_lm", files["task"], out=str(tmp_path / "x"),
                       epochs=1, init_from=lm1.run_dir, verbose=0,
                       overrides=overrides)
    assert "Received: {" in str(e.value) and "source ('imdb_lm'): {" in str(e.value)
    assert not os.path.exists(tmp_path / "x")


def test_init_from_refuses_a_corpus_tokenised_otherwise(files, tmp_path):
    ptb = tmp_path / "ptb"
    ptb.mkdir()
    for split in ("train", "valid"):
        write(ptb / f"ptb.{split}.txt", "the film was good\nthe plot was bad\n" * 20)
    lm = training.train("imdb_lm", str(ptb), out=str(tmp_path / "p"), epochs=1,
                        batch_size=4, bptt=5, max_steps_per_epoch=2,
                        overrides=dict(LM_SHAPE, vocabulary_size=9), verbose=0)
    with pytest.raises(transfer.TransferError, match="standardised None"):
        training.train("imdb_lm", files["task"], out=str(tmp_path / "x"),
                       epochs=1, init_from=lm.run_dir, verbose=0)
    assert not os.path.exists(tmp_path / "x")  # refused before it is made


def test_init_from_refuses_classifiers_and_missing_runs(files, lm1, tmp_path):
    clf = training.train(
        "imdb_transfer", files["task"], out=str(tmp_path / "clf"), epochs=1,
        batch_size=16, overrides=CLF, init_from=lm1.run_dir,
        validation_data=files["dev"], max_steps_per_epoch=1, verbose=0)
    with pytest.raises(transfer.TransferError, match="sentiment_classifier run"):
        training.train("imdb_lm", files["task"], out=str(tmp_path / "x"),
                       epochs=1, init_from=clf.run_dir, verbose=0)
    with pytest.raises(transfer.TransferError, match="no such run directory"):
        training.train("imdb_lm", files["task"], out=str(tmp_path / "x"),
                       epochs=1, init_from=str(tmp_path / "nope"), verbose=0)
    with pytest.raises(ValueError, match="--embeddings starts a classifier"):
        training.train("imdb_lm", files["task"], out=str(tmp_path / "x"),
                       epochs=1, embeddings=files["dev"], verbose=0)


def test_cli_lm_from_lm(files, lm1, tmp_path, capsys):
    out = str(tmp_path / "cli")
    assert cli_train.main([
        "imdb_lm", "--data", files["task"], "--out", out, "--init-from",
        lm1.run_dir, "--epochs", "1", "--batch-size", "4", "--bptt", "10",
        "--max-steps-per-epoch", "1", "--verbose", "0"]) == 0
    assert rd.open_run(out).config["transfer"]["init_from"]["run_dir"] == lm1.run_dir
    capsys.readouterr()
    assert cli_train.main([
        "imdb_lm", "--data", files["unsup"], "--out", str(tmp_path / "bad"),
        "--init-from", lm1.run_dir, "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert "has read" in err and "Traceback" not in err


def test_the_sst2_lm_recipe_passes_the_sources_regularisation(lm2):
    from tests._files import load_script

    module = load_script("bench/reproduce/sst2_lm.py", "sst2_lm_recipe")
    # the shape keys recorded with lm2's arguments are the source's, not --set
    assert module.regularisation(lm2.run_dir) == ["--set", "output_dropout=0.4"]
