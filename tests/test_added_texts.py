"""`zoo train LM --add-texts FILE --leave-out-group COLUMN`: a review LM
also trains on a classifier's training texts, never on the texts of the
classifier's validation carve, and `--init-from` refuses a classifier whose
validation texts the LM saw."""

import json
import os
import random

import pytest

import training
from training import cli_train
from training import transfer
from training.data import (
    AddedTexts,
    DataError,
    EOS_TOKEN,
    load_language_model,
    load_text_classification,
)
from training.data.vocab import text_tokens
from tests._files import write_csv

LM_SHAPE = {"embedding_dim": 8, "units": 8, "num_layers": 1, "cell": "lstm",
            "connection": "none"}
CLF = dict(LM_SHAPE, bidirectional=False, max_length=32,
           ngram_vocabulary_size=300)
STD = "lower_and_strip_punctuation"


def _words(rng, lab):
    pos = "good great fine lovely superb".split()
    neg = "bad awful poor dull boring".split()
    common = "the film movie a it was plot acting".split()
    return rng.choices(pos if lab else neg, k=3) + rng.choices(common, k=5)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """unsup.csv (no labels) and train.csv, whose every text starts with
    its own id word (`lab17`) so that a token stream tells which texts it
    holds; 24 movies of 5 reviews."""
    d = tmp_path_factory.mktemp("added")
    rng = random.Random(3)
    unsup = write_csv(d / "unsup.csv", ["id", "text"],
                   [[str(i), " ".join(_words(rng, i % 2))] for i in range(120)])
    rows = []
    for i in range(120):
        lab = (i // 5) % 2  # one label per movie
        rows.append([str(lab), f"tt{i // 5:03d}",
                     f"lab{i} " + " ".join(_words(rng, lab))])
    train = write_csv(d / "train.csv", ["label", "movie", "text"], rows)
    other = write_csv(d / "other.csv", ["label", "text"],
                   [[str(i % 2), " ".join(_words(rng, i % 2))] for i in range(40)])
    return {"dir": d, "unsup": unsup, "train": train, "other": other,
            "movie": {f"lab{i}": r[1] for i, r in enumerate(rows)}}


def _ids_in(tokens):
    return [t for t in tokens if t.startswith("lab")]


def test_added_texts_are_the_classifiers_training_side(files):
    clf = load_text_classification(files["train"], validation_split=0.25,
                                   seed=7, validation_group="movie")
    data = load_language_model(
        files["unsup"], validation_fraction=0.05,
        add_texts=AddedTexts(files["train"], leave_out_group="movie",
                             leave_out_split=0.25, seed=7))
    stream = data.vocab.decode(data.train)
    # unsup's 114 training texts, then the classifier's training texts in
    # the classifier's order, each standardised and closed by <eos>
    expected = [t for text in clf.train.texts
                for t in [*text_tokens(text, STD), EOS_TOKEN]]
    assert stream[len(stream) - len(expected):] == expected
    assert stream.count(EOS_TOKEN) == 114 + len(clf.train)
    added = set(_ids_in(stream))
    held = {text.split()[0] for text in clf.validation.texts}
    assert added == {text.split()[0] for text in clf.train.texts}
    assert held and not added & held
    # no movie on both sides
    assert not ({files["movie"][i] for i in added}
                & {files["movie"][i] for i in held})
    record = data.added_texts
    assert record["texts"] == len(clf.train) and record["source"] == files["train"]
    assert record["leave_out"] == {"group": "movie", "fraction": 0.25,
                                   "seed": 7, "texts": len(clf.validation)}
    assert data.counts["added_texts"] == len(clf.train)
    assert data.summary()["added_texts"] == record


def test_added_texts_keep_the_corpus_validation_and_change_the_fingerprint(files):
    plain = load_language_model(files["unsup"], validation_fraction=0.05)
    every = load_language_model(files["unsup"], validation_fraction=0.05,
                                add_texts=AddedTexts(files["train"]))
    carved = load_language_model(
        files["unsup"], validation_fraction=0.05,
        add_texts=AddedTexts(files["train"], leave_out_group="movie"))
    assert plain.vocab.decode(plain.validation) == every.vocab.decode(every.validation)
    assert every.added_texts["leave_out"] is None
    assert every.added_texts["texts"] == 120
    assert carved.added_texts["texts"] + carved.added_texts["leave_out"]["texts"] == 120
    assert len({plain.fingerprint, every.fingerprint, carved.fingerprint}) == 3
    assert "train also: 120 texts of train.csv" in every.description
    assert "added_texts" not in plain.summary()


def test_added_texts_errors(files, tmp_path):
    with pytest.raises(DataError, match=r"train.csv, line 1: --leave-out-group "
                       r"'nope': no group column 'nope'.*'movie'.*Pass "
                       r"--leave-out-group with one of them"):
        load_language_model(files["unsup"], add_texts=AddedTexts(
            files["train"], leave_out_group="nope"))
    txt = tmp_path / "c.txt"
    txt.write_text("abc " * 100)
    with pytest.raises(DataError, match=r"c.txt: --add-texts takes a \.csv/\.tsv "
                       "file of texts"):
        load_language_model(files["unsup"], add_texts=AddedTexts(str(txt)))
    with pytest.raises(ValueError, match="--add-texts adds texts to a .csv"):
        load_language_model(str(txt), add_texts=AddedTexts(files["train"]))

    def attempt(preset="imdb_lm", **kw):
        return training.train(preset, files["unsup"], out=str(tmp_path / "x"),
                              epochs=1, verbose=0, **kw)

    with pytest.raises(ValueError, match="imdb_transfer' is a sentiment_classifier"):
        attempt("imdb_transfer", add_texts=files["train"])
    with pytest.raises(ValueError, match="pass --add-texts FILE too"):
        attempt(leave_out_group="movie")
    with pytest.raises(ValueError, match="pass the group too"):
        attempt(add_texts=files["train"], leave_out_split=0.2)
    with pytest.raises(ValueError, match=r"must be in \(0, 1\)"):
        attempt(add_texts=files["train"], leave_out_group="movie",
                leave_out_split=1.0)
    with pytest.raises(DataError, match="no such file"):
        attempt(add_texts=str(tmp_path / "missing.csv"))
    assert not os.path.exists(tmp_path / "x")  # checked before RUN_DIR


@pytest.fixture(scope="module")
def lm_run(files):
    return training.train(
        "imdb_lm", files["unsup"], out=str(files["dir"] / "lm"), epochs=1,
        batch_size=4, bptt=10, validation_split=0.05,
        overrides=dict(LM_SHAPE, vocabulary_size=80), max_steps_per_epoch=3,
        add_texts=files["train"], leave_out_group="movie", leave_out_split=0.25,
        verbose=0)


def test_the_lm_run_records_and_resumes_with_its_added_texts(files, lm_run):
    with open(os.path.join(lm_run.run_dir, "config.json")) as f:
        config = json.load(f)
    record = config["data"]["added_texts"]
    assert record["leave_out"]["group"] == "movie"
    assert record["leave_out"]["seed"] == config["seed"] == 1337
    assert record["leave_out"]["fraction"] == 0.25
    # --resume reads the same texts again (the fingerprint would refuse others)
    resumed = training.train("imdb_lm", files["unsup"], out=lm_run.run_dir,
                             epochs=2, max_steps_per_epoch=3, resume=True,
                             verbose=0)
    assert resumed.metrics["epochs_completed"] == 2
    # zoo evaluate reads the same data, added texts included
    result = training.evaluate(lm_run.run_dir, files["unsup"], split="train",
                               max_steps=2)
    assert result["same_data_as_training"] is True


def test_resume_checks_add_texts_given_again(files, lm_run, tmp_path):
    """Given again on a resume, --add-texts and its carve must be the
    run's (a moved file may be given where it is now); a run started
    without added texts refuses them, naming --add-texts, not --data."""
    import shutil

    run = tmp_path / "lm"
    shutil.copytree(lm_run.run_dir, run)
    again = dict(out=str(run), epochs=3, max_steps_per_epoch=3, resume=True,
                 verbose=0)
    with pytest.raises(ValueError, match="the run added the texts of .*train"):
        training.train("imdb_lm", files["unsup"], add_texts=files["other"],
                       **again)
    for flag, value in (("leave_out_group", "label"), ("leave_out_split", 0.5),
                        ("leave_out_seed", 7)):
        with pytest.raises(ValueError,
                           match=f"with {flag}={value!r}: the run left out"):
            training.train("imdb_lm", files["unsup"],
                           add_texts=files["train"],
                           **{"leave_out_group": "movie", flag: value}, **again)
    from training.data import AddedTexts

    with pytest.raises(ValueError, match="leave_out_group='label'"):
        training.train("imdb_lm", files["unsup"], **again, add_texts=AddedTexts(
            files["train"], leave_out_group="label"))
    # the recorded file has moved: given where it is now (with its carve),
    # the run goes on
    moved = tmp_path / "elsewhere.csv"
    shutil.copy(files["train"], moved)
    config = json.loads((run / "config.json").read_text())
    config["data"]["added_texts"]["source"] = str(tmp_path / "gone.csv")
    (run / "config.json").write_text(json.dumps(config))
    result = training.train("imdb_lm", files["unsup"], add_texts=str(moved),
                            leave_out_group="movie", leave_out_split=0.25,
                            leave_out_seed=1337, **again)
    assert result.metrics["epochs_completed"] == 3

    plain = training.train(
        "imdb_lm", files["unsup"], out=str(tmp_path / "plain"), epochs=1,
        batch_size=4, bptt=10, validation_split=0.05,
        overrides=dict(LM_SHAPE, vocabulary_size=80), max_steps_per_epoch=1,
        verbose=0)
    with pytest.raises(ValueError, match="started without added texts"):
        training.train("imdb_lm", files["unsup"], out=plain.run_dir, epochs=2,
                       resume=True, add_texts=files["train"], verbose=0)


def test_init_from_takes_a_classifier_that_carves_as_the_lm_left_out(
        files, lm_run):
    run = training.train(
        "imdb_transfer", files["train"], out=str(files["dir"] / "clf"),
        epochs=1, batch_size=16, overrides=CLF, init_from=lm_run.run_dir,
        validation_group="movie", validation_split=0.25, verbose=0)
    assert run.run.carve.group == "movie"


def test_init_from_takes_other_seeds_that_carve_with_the_lms_seed(
        files, lm_run, tmp_path):
    run = transfer.open_language_model(lm_run.run_dir)
    common = dict(validation_data=None, validation_group="movie",
                  validation_split=0.25)
    transfer.check_held_out(run, files["train"], seed=1337, **common)
    with pytest.raises(transfer.TransferError, match="'seed': 2"):
        transfer.check_held_out(run, files["train"], seed=2, **common)
    # a classifier of seed 2 that carves with seed 1337 is taken
    clf = training.train(
        "imdb_transfer", files["train"], out=str(tmp_path / "s2"), epochs=1,
        batch_size=16, overrides=CLF, init_from=lm_run.run_dir, seed=2,
        validation_seed=1337, verbose=0, **{k: v for k, v in common.items()
                                           if k != "validation_data"})
    assert clf.run.seed == 2 and clf.run.carve.seed == 1337
    # its validation texts are exactly the ones the LM left out
    left_out = load_text_classification(
        files["train"], validation_split=0.25, seed=1337,
        validation_group="movie").validation.texts
    assert clf.run.config["data"]["counts"]["validation"] == len(left_out)
    with pytest.raises(transfer.TransferError, match="--validation-seed 1337"):
        training.train("imdb_transfer", files["train"],
                       out=str(tmp_path / "s3"), epochs=1, overrides=CLF,
                       init_from=lm_run.run_dir, seed=2, verbose=0,
                       validation_group="movie", validation_split=0.25)


@pytest.mark.parametrize("carve,match", [
    (dict(validation_group="movie"),  # default share 0.1
     r"except the validation carve .*--validation-group movie "
     r"--validation-split 0.25 --validation-seed 1337 \(any --seed\)"),
    (dict(validation_group="movie", validation_split=0.25, seed=2),
     "'seed': 2"),
    (dict(validation_split=0.25), "'group': None"),
    (dict(validation_data="TRAIN"), "cannot validate this classifier"),
])
def test_init_from_refuses_a_classifier_whose_validation_the_lm_saw(
        files, lm_run, tmp_path, carve, match):
    if carve.get("validation_data") == "TRAIN":
        carve["validation_data"] = files["train"]
    with pytest.raises(transfer.TransferError, match=match):
        training.train("imdb_transfer", files["train"], out=str(tmp_path / "c"),
                       epochs=1, overrides=CLF, init_from=lm_run.run_dir,
                       verbose=0, **carve)
    assert not os.path.exists(tmp_path / "c")


def test_check_held_out_compares_files_by_content(files, lm_run, tmp_path):
    run = transfer.open_language_model(lm_run.run_dir)
    copy = tmp_path / "copy.csv"
    copy.write_bytes(open(files["train"], "rb").read())
    common = dict(validation_data=None, validation_group="movie",
                  validation_split=0.1, seed=1337)
    with pytest.raises(transfer.TransferError, match="--validation-split 0.25"):
        transfer.check_held_out(run, str(copy), **common)
    # another file, and another file as validation, are not the LM's
    transfer.check_held_out(run, files["other"], **common)
    transfer.check_held_out(run, files["train"], **dict(
        common, validation_data=files["other"], validation_group=None))


def test_init_from_an_lm_that_added_every_text_refuses_any_carve_of_it(
        files, tmp_path):
    lm = training.train(
        "imdb_lm", files["unsup"], out=str(tmp_path / "lm"), epochs=1,
        batch_size=4, bptt=10, validation_split=0.05,
        overrides=dict(LM_SHAPE, vocabulary_size=80), max_steps_per_epoch=2,
        add_texts=files["train"], verbose=0)
    run = transfer.open_language_model(lm.run_dir)
    with pytest.raises(transfer.TransferError, match="all of them"):
        transfer.check_held_out(run, files["train"], validation_data=None,
                                validation_group="movie", validation_split=0.1,
                                seed=1337)


def test_cli_add_texts(files, tmp_path, capsys):
    out = str(tmp_path / "cli")
    status = cli_train.main([
        "imdb_lm", "--data", files["unsup"], "--out", out, "--epochs", "1",
        "--batch-size", "4", "--bptt", "10", "--validation-split", "0.05",
        "--max-steps-per-epoch", "2", "--verbose", "0",
        "--set", "embedding_dim=8", "--set", "units=8", "--set", "num_layers=1",
        "--set", "vocabulary_size=80",
        "--add-texts", files["train"], "--leave-out-group", "movie",
        "--leave-out-split", "0.25", "--leave-out-seed", "7"])
    assert status == 0
    with open(os.path.join(out, "config.json")) as f:
        config = json.load(f)
    leave = config["data"]["added_texts"]["leave_out"]
    assert leave["fraction"] == 0.25 and leave["seed"] == 7
    assert config["seed"] == 1337
    # the texts left out are seed 7's carve
    carve7 = load_text_classification(files["train"], validation_split=0.25,
                                      seed=7, validation_group="movie")
    assert leave["texts"] == len(carve7.validation)
    capsys.readouterr()
    status = cli_train.main(["imdb_transfer", "--data", files["train"],
                             "--out", str(tmp_path / "bad"),
                             "--add-texts", files["train"]])
    assert status == 2
    assert "--add-texts adds texts to a language model" in capsys.readouterr().err
    status = cli_train.main(["imdb_lm", "--data", files["unsup"],
                             "--out", str(tmp_path / "bad2"),
                             "--add-texts", files["train"],
                             "--leave-out-seed", "7"])
    assert status == 2
    assert "--leave-out-seed is the seed of the carve by --leave-out-group" \
        in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "bad2")


def test_evaluate_without_the_added_texts_file(files, lm_run, tmp_path):
    """The validation split never holds the added texts, so a moved
    --add-texts file does not stop its evaluation; the train split does
    hold them, and says where the path is recorded."""
    import shutil

    from training.data import DataError

    run = tmp_path / "lm"
    shutil.copytree(lm_run.run_dir, run)
    config = json.loads((run / "config.json").read_text())
    config["data"]["added_texts"]["source"] = str(tmp_path / "moved.csv")
    (run / "config.json").write_text(json.dumps(config))
    result = training.evaluate(str(run), files["unsup"], split="validation")
    reference = training.evaluate(lm_run.run_dir, files["unsup"],
                                  split="validation")
    assert result["perplexity"] == pytest.approx(reference["perplexity"])
    assert "moved.csv (the run's --add-texts) is not there" in result["added_texts"]
    assert result["same_data_as_training"] is False
    with pytest.raises(DataError, match="config.json, is not there"):
        training.evaluate(str(run), files["unsup"], split="train")
