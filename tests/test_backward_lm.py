"""A backward language model (`--set reverse=true`, ULMFiT's backward LM)
reads its corpus from the last token to the first, and a classifier started
from it reads its texts reversed (`ReverseTokens`), so that it sees text as
the LM did."""

import json
import os
import random

import keras
import numpy as np
import pytest

import training
import zoo
from training import run_dir as rd
from training import transfer
from training.data import load_language_model
from training.data.vocab import text_tokens
from training.evaluate import evaluate_language_model
from zoo.layers import ReverseTokens
from tests._files import write_csv

LM_SHAPE = {"embedding_dim": 8, "units": 8, "num_layers": 1, "cell": "lstm",
            "connection": "none"}
CLF = dict(LM_SHAPE, bidirectional=False, max_length=32,
           ngram_vocabulary_size=300)


def _texts(n, seed):
    rng = random.Random(seed)
    words = ("good great fine bad awful dull the film movie a it was plot "
             "acting story").split()
    return [" ".join(rng.choices(words, k=rng.randint(4, 11))) for _ in range(n)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("backward")
    unsup = write_csv(d / "unsup.csv", ["id", "text"],
                      [[str(i), t] for i, t in enumerate(_texts(160, 1))])
    train = write_csv(d / "train.csv", ["label", "movie", "text"],
                      [[str(i % 2), f"tt{i % 12:03d}", t]
                       for i, t in enumerate(_texts(96, 3))])
    return {"dir": d, "unsup": unsup, "train": train}


@pytest.fixture(scope="module")
def backward_lm(files):
    return training.train(
        "imdb_lm", files["unsup"], out=str(files["dir"] / "bwd"), epochs=1,
        batch_size=4, bptt=10, validation_split=0.1,
        overrides=dict(LM_SHAPE, vocabulary_size=40, reverse=True),
        max_steps_per_epoch=4, verbose=0)


@pytest.fixture(scope="module")
def backward_clf(files, backward_lm):
    return training.train(
        "imdb_transfer", files["train"], out=str(files["dir"] / "clf"),
        epochs=1, batch_size=16, overrides=CLF, init_from=backward_lm.run_dir,
        validation_group="movie", max_steps_per_epoch=2, verbose=0)


def _reverse_real_tokens(rows):
    """numpy: each row's nonzero prefix reversed, padding kept at the end."""
    out = np.array(rows)
    for r in out:
        n = int(np.count_nonzero(r))
        r[:n] = r[:n][::-1].copy()
    return out


def test_reverse_tokens_matches_numpy():
    rng = np.random.default_rng(0)
    lengths = [0, 1, 2, 5, 7, 7]
    rows = np.zeros((len(lengths), 7), "int64")
    for r, n in zip(rows, lengths):
        r[:n] = rng.integers(1, 50, n)
    got = keras.ops.convert_to_numpy(ReverseTokens()(rows))
    np.testing.assert_array_equal(got, _reverse_real_tokens(rows))
    assert got.tolist()[2] == rows[2][:2][::-1].tolist() + [0] * 5


def test_reversed_corpus_is_each_split_read_backwards(files):
    forward = load_language_model(files["unsup"], validation_fraction=0.1)
    backward = load_language_model(files["unsup"], validation_fraction=0.1,
                                   reverse=True)
    for split in ("train", "validation"):
        np.testing.assert_array_equal(getattr(backward, split),
                                      getattr(forward, split)[::-1])
    assert backward.test is None
    assert backward.vocab.tokens == forward.vocab.tokens
    assert backward.fingerprint == forward.fingerprint
    assert "read backwards" in backward.description


def test_backward_lm_run_records_and_evaluates_the_reversed_stream(
        files, backward_lm):
    run = rd.open_run(backward_lm.run_dir)
    assert run.model_config["reverse"] is True
    assert run.overrides["reverse"] is True
    assert "read backwards" in run.data["description"]
    result = training.evaluate(backward_lm.run_dir, files["unsup"])
    model = run.load_model()
    data = load_language_model(files["unsup"], vocab=run.vocabulary,
                               validation_fraction=0.1)
    backward = evaluate_language_model(
        model, data.validation[::-1].copy(), level="word", bptt=10)
    forward = evaluate_language_model(
        model, data.validation, level="word", bptt=10)
    assert result["loss"] == pytest.approx(backward["loss"], rel=1e-5)
    assert result["loss"] != pytest.approx(forward["loss"], rel=1e-5)


def test_classifier_reads_a_text_as_the_backward_lm_read_it(
        backward_lm, backward_clf):
    """The classifier's last-step features equal the backward LM's stack
    run on the text's LM ids in reverse order (its tokens mapped through
    the LM's own vocabulary, not the classifier's)."""
    lm_run = rd.open_run(backward_lm.run_dir)
    clf_run = rd.open_run(backward_clf.run_dir)
    assert clf_run.model_config["reverse"] is True
    assert clf_run.overrides.get("reverse") in (None, True)
    lm = lm_run.load_model()
    # rebuild the classifier at its start: the LM's weights, not trained
    config = dict(zoo.get_preset("imdb_transfer")["config"], **CLF)
    clf = zoo.build("imdb_transfer", **{
        **CLF, **transfer.classifier_overrides(lm_run, config, CLF)})
    assert clf.reverse is True
    transfer.copy_language_model(clf, lm_run)
    text = "the film was good but the plot was dull"
    lm_ids = lm_run.vocabulary.encode(
        text_tokens(text, lm_run.data["standardize"]))[::-1]
    x = lm.get_layer("embedding")(np.asarray([lm_ids], "int32"))
    expected = np.asarray(lm.get_layer("recurrent_stack")(x))[0, -1]
    pooled = keras.Model(clf.input, clf.get_layer("pooling").output)(
        np.array([text]))
    last = np.asarray(pooled)[0, :8]  # concat pooling: last, max, mean
    np.testing.assert_allclose(last, expected, atol=1e-5)


def test_backward_classifier_saves_loads_and_its_run_evaluates(
        files, backward_clf, tmp_path):
    run = rd.open_run(backward_clf.run_dir)
    model = run.load_model()
    texts = np.array(["a good film", "dull plot, awful acting", ""])
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = keras.saving.load_model(path)
    assert again.reverse is True
    np.testing.assert_allclose(np.asarray(again(texts)),
                               np.asarray(model(texts)), atol=1e-6)
    result = training.evaluate(backward_clf.run_dir, files["train"])
    assert result["accuracy"] == pytest.approx(
        backward_clf.metrics["validation"]["accuracy"])


@pytest.mark.slow
def test_backward_classifier_exports_and_a_backward_lm_does_not(
        backward_lm, backward_clf, tmp_path):
    from serving import export as ex
    from serving.models_dir import ExportError

    result = ex.export(backward_clf.run_dir, str(tmp_path / "models"), "bwd",
                       warmup=False)
    import tensorflow as tf

    loaded = tf.saved_model.load(result.path)
    texts = ["a good film", "dull plot, awful acting"]
    out = loaded.signatures["serving_default"](text=tf.constant(texts))
    probs = [v for k, v in out.items() if "prob" in k][0].numpy()
    model = rd.open_run(backward_clf.run_dir).load_model()
    np.testing.assert_allclose(probs, np.asarray(model(np.array(texts))),
                               atol=1e-5)
    with pytest.raises(ExportError, match="backward language model"):
        ex.export(backward_lm.run_dir, str(tmp_path / "models"), "lm",
                  warmup=False)
    # the archive builder itself (public) refuses it too
    run = rd.open_run(backward_lm.run_dir)
    with pytest.raises(ExportError, match="backward language model"):
        ex.build_export_archive(run.load_model(), vocabulary=run.vocabulary)


def test_direction_errors(files, backward_lm, tmp_path):
    with pytest.raises(transfer.TransferError,
                       match=r"takes the LM's reverse \(True\).*reverse=False"):
        training.train("imdb_transfer", files["train"],
                       out=str(tmp_path / "x"), epochs=1,
                       overrides=dict(CLF, reverse=False),
                       init_from=backward_lm.run_dir,
                       validation_group="movie", verbose=0)
    assert not os.path.exists(tmp_path / "x")
    # a backward LM goes on backwards; it cannot be turned forward
    with pytest.raises(transfer.TransferError, match=r"differ in \['reverse'\]"):
        transfer.language_model_overrides(rd.open_run(backward_lm.run_dir),
                                          {"reverse": False})
    assert transfer.language_model_overrides(
        rd.open_run(backward_lm.run_dir), {})["reverse"] is True
    for bad in ("yes", 1, None):
        with pytest.raises(ValueError, match="Received: reverse="):
            zoo.build("imdb_transfer", reverse=bad)
        with pytest.raises(ValueError, match="Received: reverse="):
            zoo.build("imdb_lm", reverse=bad)


def test_set_reverse_true_with_a_backward_lm_is_accepted(
        files, backward_lm, tmp_path):
    """`--set reverse=true` that agrees with the LM is not a conflict."""
    result = training.train(
        "imdb_transfer", files["train"], out=str(tmp_path / "y"), epochs=1,
        batch_size=16, overrides=dict(CLF, reverse=True),
        init_from=backward_lm.run_dir, validation_group="movie",
        max_steps_per_epoch=1, verbose=0)
    assert rd.open_run(result.run_dir).model_config["reverse"] is True


def test_cli_set_reverse_trains_a_backward_lm(files, tmp_path):
    from training import cli_train

    out = str(tmp_path / "cli")
    code = cli_train.main([
        "imdb_lm", "--data", files["unsup"], "--out", out, "--epochs", "1",
        "--set", "reverse=true", "--set", "units=4", "--set",
        "embedding_dim=4", "--set", "num_layers=1", "--batch-size", "4",
        "--bptt", "10", "--max-steps-per-epoch", "1", "--verbose", "0"])
    assert code == 0
    with open(os.path.join(out, "config.json")) as f:
        assert json.load(f)["model_config"]["reverse"] is True


def test_resume_with_an_lm_of_the_other_direction_is_refused(
        files, backward_clf, tmp_path):
    import shutil

    forward = training.train(
        "imdb_lm", files["unsup"], out=str(tmp_path / "fwd"), epochs=1,
        batch_size=4, bptt=10, validation_split=0.1,
        overrides=dict(LM_SHAPE, vocabulary_size=40), max_steps_per_epoch=1,
        verbose=0)
    run_dir = str(tmp_path / "clf")
    shutil.copytree(backward_clf.run_dir, run_dir)
    with open(os.path.join(run_dir, "config.json")) as f:
        before = f.read()
    with pytest.raises(transfer.TransferError,
                       match=r"reads its texts backwards .*forward language model"):
        training.train("imdb_transfer", files["train"], out=run_dir, epochs=2,
                       batch_size=16, overrides=CLF, init_from=forward.run_dir,
                       validation_group="movie", resume=True, verbose=0)
    with open(os.path.join(run_dir, "config.json")) as f:
        assert f.read() == before


def test_resume_refuses_another_or_a_changed_lm(files, backward_lm,
                                                backward_clf, tmp_path):
    """The resumed classifier's token ids index embedding rows learned under
    its LM's vocabulary, which the backup does not restore: another LM, a
    retrained one, or an LM for a run that started without one, is refused
    before anything is written."""
    import shutil

    record = rd.open_run(backward_clf.run_dir).config["transfer"]["init_from"]
    assert record["vocabulary_sha256"] == transfer.vocabulary_digest(
        rd.open_run(backward_lm.run_dir))
    assert os.path.isabs(record["run_dir"])
    other = str(tmp_path / "other_lm")
    shutil.copytree(backward_lm.run_dir, other)  # same shape and direction
    vocab = os.path.join(other, "vocab.txt")
    lines = open(vocab).read().splitlines(keepends=True)
    lines[5], lines[6] = lines[6], lines[5]  # two tokens' ids swapped
    with open(vocab, "w") as f:
        f.writelines(lines)
    run_dir = str(tmp_path / "clf")

    def resume(init_from, edit=None, match=""):
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.copytree(backward_clf.run_dir, run_dir)
        path = os.path.join(run_dir, "config.json")
        if edit:
            config = json.load(open(path))
            edit(config)
            with open(path, "w") as f:
                json.dump(config, f)
        before = open(path).read()
        with pytest.raises(transfer.TransferError, match=match):
            training.train("imdb_transfer", files["train"], out=run_dir,
                           epochs=2, batch_size=16, overrides=CLF,
                           init_from=init_from, validation_group="movie",
                           resume=True, verbose=0)
        assert open(path).read() == before

    resume(other, match=r"started from --init-from .*bwd, and .*other_lm has "
           "another vocabulary")

    def retrained(config):
        config["transfer"]["init_from"]["vocabulary_sha256"] = "0" * 64

    resume(None, retrained, match="vocabulary of .*bwd has changed")

    def from_scratch(config):
        config["model_config"]["reverse"] = True
        del config["transfer"]

    resume(backward_lm.run_dir, from_scratch,
           match="started without --init-from")

    # the LM moved: without --init-from the error says to give it
    moved = str(tmp_path / "moved_lm")
    shutil.copytree(backward_lm.run_dir, moved)

    def gone(config):
        config["transfer"]["init_from"]["run_dir"] = str(tmp_path / "gone")

    resume(None, gone, match="if it has moved, pass --init-from")

    # a run stopped before its first backup starts again from its LM's
    # weights: only from the folder it recorded
    def no_backup(config):
        gone(config)
        shutil.rmtree(os.path.join(run_dir, "backup"))

    resume(moved, no_backup, match="stopped before its first backup")

    # given where it is now, the moved LM (its vocabulary unchanged) is
    # accepted and the run goes on from its backup
    shutil.rmtree(run_dir)
    shutil.copytree(backward_clf.run_dir, run_dir)
    path = os.path.join(run_dir, "config.json")
    config = json.load(open(path))
    gone(config)
    with open(path, "w") as f:
        json.dump(config, f)
    result = training.train("imdb_transfer", files["train"], out=run_dir,
                            epochs=2, batch_size=16, overrides=CLF,
                            init_from=moved, validation_group="movie",
                            resume=True, verbose=0)
    assert [r["epoch"] for r in result.history] == [0, 1]


def test_tools_that_read_text_forward_refuse_a_backward_lm(
        backward_lm, tmp_path):
    from training.lab import pairs

    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"good": "the film was good",
                                "bad": "the film was dull"}) + "\n")
    with pytest.raises(pairs.PairsError, match="backward language model"):
        pairs.evaluate_run(backward_lm.run_dir, str(path))


def test_diagnose_reads_text_windows_as_a_backward_lm_reads(backward_lm,
                                                            tmp_path):
    """`zoo diagnose --text` of a backward LM: every window is a stretch of
    the file's token stream read from its end."""
    from training.lab.diagnose import _text_ids

    run = rd.open_run(backward_lm.run_dir)
    standardize = run.data["standardize"]
    path = tmp_path / "t.txt"
    path.write_text("the film was good\nthe plot was dull but fine\n" * 3)
    stream = run.vocabulary.encode(
        [t for line in path.read_text().splitlines()
         for t in text_tokens(line, standardize) + ["<eos>"]])
    backwards = [list(stream[::-1][i:i + 5]) for i in range(len(stream) - 4)]
    forwards = [list(stream[i:i + 5]) for i in range(len(stream) - 4)]
    windows, _ = _text_ids(str(path), run.vocabulary, "word", 4, 6, 0,
                           standardize, reverse=True)
    assert all(list(w) in backwards for w in windows)
    assert not all(list(w) in forwards for w in windows)


def test_sampling_a_backward_lm_is_refused(backward_lm):
    from tests._files import load_script

    lm = load_script("bench/reproduce/_lm.py", "lm_helpers")
    with pytest.raises(ValueError, match="backward language model"):
        lm.sample(backward_lm.run_dir, "the film", 5)


def test_forward_and_backward_recipe_checks_its_lms_and_members(
        backward_lm, backward_clf, tmp_path):
    import shutil

    from tests._files import load_script

    recipe = load_script("bench/reproduce/sst2_transfer_ensemble_fwd_bwd.py",
                         "fwd_bwd_recipe_checks")
    check = recipe.check_groups
    with pytest.raises(SystemExit, match="--lm .*a backward language model"):
        check(backward_lm.run_dir, backward_lm.run_dir, str(tmp_path / "f"),
              str(tmp_path / "b"), [1])
    clf_lm = rd.open_run(backward_clf.run_dir).config["transfer"]["init_from"]
    assert clf_lm["run_dir"] == backward_lm.run_dir
    shutil.copytree(backward_clf.run_dir, tmp_path / "b" / "seed1")
    forward = str(tmp_path / "not_an_lm")
    with pytest.raises(SystemExit, match="--lm .*not_an_lm.*does not exist"):
        check(forward, backward_lm.run_dir, str(tmp_path / "f"),
              str(tmp_path / "b"), [1])
    # members that started from another LM are not reused as this group's
    shutil.copytree(backward_clf.run_dir, tmp_path / "f" / "seed1")
    fwd_lm = training.train(
        "imdb_lm", rd.open_run(backward_lm.run_dir).data["source"],
        out=str(tmp_path / "fwd_lm"), epochs=1, batch_size=4, bptt=10,
        validation_split=0.1, overrides=dict(LM_SHAPE, vocabulary_size=40),
        max_steps_per_epoch=1, verbose=0)
    with pytest.raises(SystemExit, match=r"seed1 started from .*bwd, not .*fwd_lm"):
        check(fwd_lm.run_dir, backward_lm.run_dir, str(tmp_path / "f"),
              str(tmp_path / "b"), [1])
    shutil.rmtree(tmp_path / "f")
    check(fwd_lm.run_dir, backward_lm.run_dir, str(tmp_path / "f"),
          str(tmp_path / "b"), [1, 2])  # the backward member is its group's
