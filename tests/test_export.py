"""zoo export: SavedModels that run with TensorFlow alone, TF Serving layout."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from serving import config as sc  # noqa: E402
from serving import export as ex  # noqa
from serving import models_dir as md  # noqa: E402
from test_export_support import (  # noqa: E402
    CHAR_VOCAB, CLASS_NAMES, TEXTS, WORD_VOCAB, build_lm,
    lm_reference_scores, shared_exports)

WORD_TEXTS = ["the cat sat on the mat", "", "dog zebra ran"]
CHAR_TEXTS = ["abc", "", "cab dez"]


@pytest.fixture(scope="module")
def exported():
    """A classifier run (v1, label "stable", and v2), a stateful word LM run
    and a char LM, exported once per test session."""
    shared = shared_exports()
    expected = {
        "clf_probs": shared["clf_probs"],
        "word_lp": lm_reference_scores(shared["word"], WORD_VOCAB,
                                       WORD_TEXTS, "word"),
        "char_lp": lm_reference_scores(shared["char"], CHAR_VOCAB,
                                       CHAR_TEXTS, "char"),
    }
    return {**shared, "expected": expected}


_FRESH = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    paths = json.loads(sys.argv[1])
    out = {}
    def run(fn, **kw):
        return {k: v.numpy().tolist() for k, v in fn(**kw).items()}
    def dec(xs):
        return [x.decode() for x in xs]
    c = tf.saved_model.load(paths["clf"]).signatures["serving_default"]
    r = run(c, text=tf.constant(json.loads(sys.argv[2])))
    out["clf"] = {"probabilities": r["probabilities"],
                  "label": dec(r["label"]), "class_index": r["class_index"]}
    for key, texts in (("word", json.loads(sys.argv[3])),
                       ("char", json.loads(sys.argv[4]))):
        m = tf.saved_model.load(paths[key])
        out[key] = {"score": run(m.signatures["score"], text=tf.constant(texts)),
                    "default": run(m.signatures["serving_default"],
                                   text=tf.constant(texts))}
        g = m.signatures["generate"]
        prompts = tf.constant(["the cat", "", "a b"])
        greedy = [dec(run(g, prompt=prompts, max_length=tf.constant(5),
                          temperature=tf.constant(0.0))["completion"])
                  for _ in range(2)]
        sampled = run(g, prompt=prompts, max_length=tf.constant([2, 40, 0]),
                      temperature=tf.constant([1.0, 1.5, 1.0]))
        s = m.signatures["generate_seeded"]
        seeded = [dec(run(s, prompt=prompts, max_length=tf.constant(6),
                          temperature=tf.constant(1.0),
                          seed=tf.constant(42, tf.int64))["text"])
                  for _ in range(2)]
        out[key]["greedy"] = greedy
        out[key]["sampled"] = {"text": dec(sampled["text"]),
                               "completion": dec(sampled["completion"]),
                               "num_generated": sampled["num_generated"]}
        out[key]["seeded"] = seeded
    out["zoo_imported"] = "zoo" in sys.modules
    print("RESULT" + json.dumps(out))
""")


@pytest.fixture(scope="module")
def fresh(exported):
    """Runs every signature in a fresh process that imports only TF."""
    paths = {k: exported["results"][k].path for k in ("clf", "word", "char")}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH="")
    proc = subprocess.run(
        [sys.executable, "-c", _FRESH, json.dumps(paths), json.dumps(TEXTS),
         json.dumps(WORD_TEXTS), json.dumps(CHAR_TEXTS)],
        capture_output=True, text=True, timeout=180, env=env,
        cwd=exported["root"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])


def test_fresh_process_never_imports_zoo(fresh):
    assert fresh["zoo_imported"] is False


def test_classifier_matches_keras(exported, fresh):
    probs = np.array(fresh["clf"]["probabilities"])
    np.testing.assert_allclose(probs, exported["expected"]["clf_probs"],
                               rtol=1e-5, atol=1e-6)
    index = probs.argmax(-1)
    assert fresh["clf"]["class_index"] == index.tolist()
    assert fresh["clf"]["label"] == [CLASS_NAMES[i] for i in index]


@pytest.mark.parametrize("key,texts", [("word", WORD_TEXTS),
                                       ("char", CHAR_TEXTS)])
def test_lm_score_matches_keras(exported, fresh, key, texts):
    expected = exported["expected"][f"{key}_lp"]
    score = fresh[key]["score"]
    np.testing.assert_allclose(score["log_prob"], expected, rtol=1e-4,
                               atol=1e-4)
    assert score == fresh[key]["default"]
    if key == "word":  # words + <eos>
        assert score["num_tokens"] == [7, 1, 4]
    else:  # characters
        assert score["num_tokens"] == [3, 0, 7]
    n = np.maximum(score["num_tokens"], 1)
    np.testing.assert_allclose(score["perplexity"],
                               np.exp(-np.array(score["log_prob"]) / n),
                               rtol=1e-4)


@pytest.mark.parametrize("key", ["word", "char"])
def test_lm_generate(fresh, key):
    greedy = fresh[key]["greedy"]
    assert greedy[0] == greedy[1], "greedy decoding must be deterministic"
    sampled = fresh[key]["sampled"]
    # max_length per prompt [2, 40 (clipped to the cap 16), 0]
    assert sampled["num_generated"][0] <= 2
    assert sampled["num_generated"][1] <= 16
    assert sampled["num_generated"][2] == 0
    assert sampled["completion"][2] == ""
    assert all(isinstance(t, str) for t in sampled["text"])
    if key == "char":
        assert sampled["num_generated"] [:2] == [2, 16]
        assert [len(c) for c in sampled["completion"][:2]] == [2, 16] or \
            "<unk>" in "".join(sampled["completion"])
        assert sampled["text"][0].startswith("the cat")
    else:
        assert len(sampled["completion"][0].split()) == \
            sampled["num_generated"][0]
        assert "<eos>" not in " ".join(sampled["completion"])
    seeded = fresh[key]["seeded"]
    assert seeded[0] == seeded[1], "the same seed must give the same text"


@pytest.mark.slow
def test_saved_model_cli_lists_signatures(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if not os.path.exists(cli):
        pytest.skip("saved_model_cli not installed")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")

    procs = {key: subprocess.Popen(
        [cli, "show", "--all", "--dir", exported["results"][key].path],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for key in ("clf", "word")}
    outputs = {}
    for key, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr[-2000:]
        outputs[key] = stdout

    def show(key):
        sigs, current, io = {}, None, None
        for line in outputs[key].splitlines():
            line = line.strip()
            if line.startswith("signature_def['"):
                current = line.split("'")[1]
                sigs[current] = {}
            elif "SignatureDef contains the following input" in line:
                io = "in"
            elif "SignatureDef contains the following output" in line:
                io = "out"
            elif line.startswith(("inputs['", "outputs['")) and current:
                key = (io, line.split("'")[1])
                sigs[current][key] = {}
            elif line.startswith(("dtype:", "shape:")) and current:
                sigs[current][key][line.split(":")[0]] = \
                    line.split(":", 1)[1].strip()
        return sigs

    clf = show("clf")
    sd = clf["serving_default"]
    assert sd[("in", "text")] == {"dtype": "DT_STRING", "shape": "(-1)"}
    assert sd[("out", "probabilities")] == {"dtype": "DT_FLOAT",
                                            "shape": "(-1, 2)"}
    assert sd[("out", "label")] == {"dtype": "DT_STRING", "shape": "(-1)"}
    assert sd[("out", "class_index")] == {"dtype": "DT_INT32",
                                          "shape": "(-1)"}

    lm = show("word")
    for name in ("serving_default", "score"):
        assert lm[name][("in", "text")] == {"dtype": "DT_STRING",
                                            "shape": "(-1)"}
        assert lm[name][("out", "log_prob")] == {"dtype": "DT_FLOAT",
                                                 "shape": "(-1)"}
        assert lm[name][("out", "perplexity")] == {"dtype": "DT_FLOAT",
                                                   "shape": "(-1)"}
    gen = lm["generate"]
    assert gen[("in", "prompt")] == {"dtype": "DT_STRING", "shape": "(-1)"}
    assert gen[("in", "max_length")]["dtype"] == "DT_INT32"
    assert gen[("in", "temperature")]["dtype"] == "DT_FLOAT"
    assert gen[("out", "text")] == {"dtype": "DT_STRING", "shape": "(-1)"}
    assert lm["generate_seeded"][("in", "seed")]["dtype"] == "DT_INT64"


def test_layout_card_and_config(exported):
    models = exported["models"]
    res = exported["results"]["clf"]
    assert res.version == 1 and res.path == os.path.join(models, "clf", "1")
    assert os.path.isfile(os.path.join(res.path, "saved_model.pb"))
    card = ex.read_model_card(res.path)
    assert card["version"] == 1 and card["name"] == "clf"
    assert card["family"] == "sentiment_classifier"
    assert card["class_names"] == CLASS_NAMES
    assert card["data_fingerprint"] == "sha256:test"
    assert card["metrics"] == {"val_accuracy": 0.5}
    assert card["preset"] == "tiny"
    assert card["model_config"]["units"] == 4
    assert card["vocabulary_size"] == len(exported["clf"].get_vocabulary())
    for key in ("tensorflow", "keras", "zoo"):
        assert card["versions"][key]
    assert card["created"]
    word_card = ex.read_model_card(exported["results"]["word"].path)
    assert word_card["vocabulary_size"] == len(WORD_VOCAB)
    assert word_card["level"] == "word"

    entries = sc.model_entries(models)
    assert set(entries) == {"clf", "word", "char"}
    assert entries["clf"].base_path == os.path.join(models, "clf")
    assert dict(entries["clf"].version_labels) == {"stable": 1}
    # The newest version and every labelled one are served.
    assert list(entries["clf"].model_version_policy.specific.versions) == \
        [1, 2]
    assert exported["results"]["clf2"].version == 2
    assert ex.read_model_card(exported["results"]["clf2"].path)[
        "class_names"] == ["neg", "pos"]
    assert os.path.isfile(os.path.join(models, "batching.config"))
    # Nothing but integer versions is left beside the versions.
    assert sorted(os.listdir(os.path.join(models, "clf"))) == ["1", "2"]
    for name in ("word", "char"):
        assert os.listdir(os.path.join(models, name)) == ["1"]


class _FakeArchive:
    """Stands in for the Keras ExportArchive: writes a stub SavedModel fast."""

    def write_out(self, path, verbose=False):
        os.makedirs(os.path.join(path, "variables"))
        with open(os.path.join(path, "saved_model.pb"), "wb") as f:
            f.write(b"stub")


@pytest.fixture
def fast_archive(monkeypatch):
    """Version bookkeeping is tested without tracing TensorFlow graphs."""
    monkeypatch.setattr(ex, "build_export_archive",
                        lambda model, **kw: (_FakeArchive(),
                                             ["serving_default"]))


def test_versions_overwrite_and_failures(exported, monkeypatch, tmp_path,
                                         fast_archive):
    clf, run = exported["clf"], exported["clf_run"]
    models = str(tmp_path / "models")
    first = ex.export_model(clf, models, "m")
    second = ex.export(run, models, "m", label="canary")
    assert (first.version, second.version) == (1, 2)
    assert ex.list_versions(models, "m") == [1, 2]
    entry = sc.model_entries(models)["m"]
    assert dict(entry.version_labels) == {"canary": 2}
    assert list(entry.model_version_policy.specific.versions) == [2]

    with pytest.raises(ex.ExportError, match="exists"):
        ex.export_model(clf, models, "m", version=1)
    card_before = ex.read_model_card(os.path.join(models, "m", "1"))

    # A failure after the SavedModel is written leaves no trace.
    def boom(*a, **k):
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(md, "_write_card", boom)
        with pytest.raises(RuntimeError, match="disk full"):
            ex.export_model(clf, models, "m")
        with pytest.raises(RuntimeError, match="disk full"):
            ex.export_model(clf, models, "m", version=1, overwrite=True)
    assert sorted(os.listdir(os.path.join(models, "m"))) == ["1", "2"]
    assert ex.read_model_card(os.path.join(models, "m", "1")) == card_before

    replaced = ex.export_model(clf, models, "m", version=1, overwrite=True,
                               card={"note": "replacement"})
    assert replaced.replaced and replaced.version == 1
    assert ex.read_model_card(replaced.path)["note"] == "replacement"
    assert sorted(os.listdir(os.path.join(models, "m"))) == ["1", "2"]
    # A new unlabelled version is served along with the labelled one.
    third = ex.export_model(clf, models, "m", version=7)
    entry = sc.model_entries(models)["m"]
    assert third.version == 7
    assert list(entry.model_version_policy.specific.versions) == [2, 7]


def test_a_label_keeps_or_widens_the_models_own_policy(exported, tmp_path,
                                                       fast_archive):
    """A labelled export keeps a hand-written `all` policy, and a `latest N`
    one that serves the labelled versions; one that does not is widened
    (to `specific`), never narrowed."""
    clf = exported["clf"]
    models = str(tmp_path / "models")
    for version in (1, 2, 3):
        ex.export_model(clf, models, "m", version=version)
    sc.update_models_config(models, "m", version_policy="all")
    ex.export_model(clf, models, "m", version=4, label="canary")
    entry = sc.model_entries(models)["m"]
    assert entry.model_version_policy.WhichOneof("policy_choice") == "all"
    assert dict(entry.version_labels) == {"canary": 4}

    sc.update_models_config(models, "m", version_policy={"latest": 2})
    ex.export_model(clf, models, "m", version=5)  # serves 4 and 5: kept
    policy = sc.model_entries(models)["m"].model_version_policy
    assert policy.latest.num_versions == 2
    ex.export_model(clf, models, "m", version=6, label="stable")
    entry = sc.model_entries(models)["m"]
    assert list(entry.model_version_policy.specific.versions) == [4, 5, 6]
    assert dict(entry.version_labels) == {"canary": 4, "stable": 6}
    # `latest {}` (num_versions 0) serves one version, as in TF Serving
    from google.protobuf import text_format

    path = os.path.join(models, "models.config")
    config = sc.read_models_config(path)
    entry, = [e for e in config.model_config_list.config if e.name == "m"]
    entry.ClearField("version_labels")
    entry.model_version_policy.latest.SetInParent()
    with open(path, "w") as f:
        f.write(text_format.MessageToString(config))
    ex.export_model(clf, models, "m", version=7, label="canary")
    policy = sc.model_entries(models)["m"].model_version_policy
    assert policy.WhichOneof("policy_choice") == "latest"  # serves 7: kept
    ex.export_model(clf, models, "m", version=8, label="stable")
    entry = sc.model_entries(models)["m"]
    assert list(entry.model_version_policy.specific.versions) == [7, 8]


@pytest.mark.parametrize("exchange", [True, False])
def test_overwrite_swaps_the_version_in_one_step_where_it_can(
        exported, tmp_path, fast_archive, monkeypatch, exchange):
    """On Linux --overwrite swaps the new directory with the old version
    (`renameat2`): no rename leaves MODELS_DIR/NAME/VERSION missing. Where
    the swap is not available, two renames do it."""
    if exchange and not _can_exchange(tmp_path):
        pytest.skip("this OS or file system has no RENAME_EXCHANGE")
    clf = exported["clf"]
    models = str(tmp_path / "models")
    ex.export_model(clf, models, "m", version=1, card={"note": "old"})
    target = os.path.join(models, "m", "1")
    renamed = []
    real_rename = os.rename

    def rename(src, dst):
        renamed.append(os.fspath(src))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    if not exchange:
        monkeypatch.setattr(md, "_exchange", lambda a, b: False)
    result = ex.export_model(clf, models, "m", version=1, overwrite=True,
                             card={"note": "new"})
    assert result.replaced
    assert ex.read_model_card(target)["note"] == "new"
    assert sorted(os.listdir(os.path.join(models, "m"))) == ["1"]
    # swapped, never moved aside; or moved aside and back in
    assert (target in renamed) is not exchange


def _can_exchange(tmp_path):
    a, b = tmp_path / "probe_a", tmp_path / "probe_b"
    a.mkdir()
    b.mkdir()
    return md._exchange(a, b)


def test_exchange_swaps_two_directories_or_changes_nothing(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d, text in ((a, "A"), (b, "B")):
        d.mkdir()
        (d / "x").write_text(text)
    if not md._exchange(a, b):
        assert (a / "x").read_text() == "A" and (b / "x").read_text() == "B"
        pytest.skip("this OS or file system has no RENAME_EXCHANGE")
    assert (a / "x").read_text() == "B" and (b / "x").read_text() == "A"
    # another failure is the OSError it is, and changes nothing
    with pytest.raises(FileNotFoundError, match="missing"):
        md._exchange(a, tmp_path / "missing")
    assert (a / "x").read_text() == "B"


def test_versions_stay_within_int64(tmp_path):
    """TF Serving's versions are int64: a larger one is refused, a stray
    directory past it is no version, and the last one has no successor."""
    from serving import models_dir as md

    def write(path):
        os.makedirs(path)
        with open(os.path.join(path, "saved_model.pb"), "wb") as f:
            f.write(b"pb")

    models = str(tmp_path / "models")
    with pytest.raises(md.ExportError, match="int64"):
        md.publish(models, "m", write, {}, version=2 ** 63)
    assert not os.path.exists(os.path.join(models, "m", str(2 ** 63)))
    stray = os.path.join(models, "m", "99999999999999999999")
    write(stray)
    assert md.list_versions(models, "m") == []
    assert md.publish(models, "m", write, {})[0] == 1   # not past the stray
    assert md.publish(models, "m", write, {},
                      version=md.MAX_VERSION)[0] == md.MAX_VERSION
    assert md.list_versions(models, "m") == [1, md.MAX_VERSION]
    with pytest.raises(md.ExportError, match="no next version"):
        md.publish(models, "m", write, {})
    assert sorted(os.listdir(os.path.join(models, "m"))) == sorted(
        ["1", str(md.MAX_VERSION), "99999999999999999999"])


def test_concurrent_exports_get_distinct_versions(exported, tmp_path,
                                                  fast_archive):
    import threading

    models = str(tmp_path / "models")
    results, errors = [], []

    def one():
        try:
            results.append(ex.export_model(exported["clf"], models, "m",
                                           update_config=False).version)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(results) == [1, 2, 3, 4]
    assert sorted(os.listdir(os.path.join(models, "m"))) == ["1", "2", "3",
                                                             "4"]


def test_bad_arguments(tmp_path, exported):
    clf = exported["clf"]
    with pytest.raises(ex.ExportError, match="model name"):
        ex.export_model(clf, str(tmp_path), "bad/name")
    for name in ("..", ".", "models.config", "batching.config"):
        with pytest.raises(ex.ExportError, match="Invalid model name"):
            ex.export_model(clf, str(tmp_path / "m"), name)
    with pytest.raises(ex.ExportError, match="Invalid version label"):
        ex.export_model(clf, str(tmp_path / "m"), "ok", label="..")
    assert not os.path.exists(tmp_path / "m")
    with pytest.raises(ex.ExportError, match="vocabulary"):
        ex.export_model(build_lm(WORD_VOCAB), str(tmp_path), "lm")
    with pytest.raises(ex.ExportError, match="not a run directory"):
        ex.export(str(tmp_path), str(tmp_path / "m"), "x")
    assert ex.main([str(tmp_path / "nope"), "--models-dir",
                    str(tmp_path / "m"), "--name", "x"]) == 1
    broken = tmp_path / "broken_run"
    shutil.copytree(exported["clf_run"], broken)
    (broken / "metrics.json").write_text("{")
    with pytest.raises(ex.ExportError, match="metrics.json: cannot be read as JSON"):
        ex.export(str(broken), str(tmp_path / "m"), "x")
    for n in (0, -5, 2 ** 31, 16.0, True):  # the int32 cap of `generate`
        with pytest.raises(ex.ExportError, match=f"max_generate_length={n!r}"):
            ex.export_model(build_lm(WORD_VOCAB), str(tmp_path), "lm",
                            vocabulary=WORD_VOCAB, max_generate_length=n)
    assert not os.path.exists(tmp_path / "lm")
    for flag in ("0", "-5", "x"):
        with pytest.raises(SystemExit) as e:
            ex.main([str(tmp_path), "--models-dir", str(tmp_path / "m"),
                     "--name", "x", "--max-generate-length", flag])
        assert e.value.code == 2


def test_cli_main(exported, tmp_path, capsys, fast_archive):
    models = str(tmp_path / "models")
    argv = [exported["clf_run"], "--models-dir", models, "--name", "cli",
            "--version", "3", "--label", "prod"]
    assert ex.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["version"] == 3 and out["name"] == "cli"
    assert "serving_default" in out["signatures"]
    assert ex.main(argv) == 1
    assert "exists" in capsys.readouterr().err
    assert ex.main(argv + ["--overwrite", "--class-names", "bad,good"]) == 0
    card = ex.read_model_card(os.path.join(models, "cli", "3"))
    assert card["class_names"] == ["bad", "good"]
    assert card["run_class_names"] == CLASS_NAMES
    # spaces around names are dropped; repeated or empty names are refused
    assert ex.main(argv + ["--overwrite", "--class-names", "neg, pos"]) == 0
    card = ex.read_model_card(os.path.join(models, "cli", "3"))
    assert card["class_names"] == ["neg", "pos"]
    capsys.readouterr()
    for names in ("neg,neg", "neg,", ""):
        assert ex.main(argv + ["--overwrite", "--class-names", names]) == 1
        assert "distinct and not empty" in capsys.readouterr().err
    card = ex.read_model_card(os.path.join(models, "cli", "3"))
    assert card["class_names"] == ["neg", "pos"]  # the version is kept


def test_class_names_for_a_language_model_run_are_refused(lm_run, tmp_path,
                                                          capsys):
    models = tmp_path / "models"
    assert ex.main([lm_run[0], "--models-dir", str(models), "--name", "lm",
                    "--class-names", "neg,pos"]) == 1
    err = capsys.readouterr().err
    assert "--class-names names a classifier's classes" in err
    assert "language_model run" in err and "Traceback" not in err
    assert not (models / "lm").exists()


def test_malformed_models_config_is_reported(exported, tmp_path,
                                             fast_archive):
    models = tmp_path / "models"
    models.mkdir()
    (models / "models.config").write_text("model_config_list { oops")
    with pytest.raises(ex.ExportError, match="could not update"):
        ex.export_model(exported["clf"], str(models), "m")
    # The broken file is left for the user to fix, untouched.
    assert (models / "models.config").read_text() == \
        "model_config_list { oops"
