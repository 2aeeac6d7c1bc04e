"""`bench/reproduce/_recipe.run_ensemble`: members of several seeds on one
carve, evaluated together by `zoo evaluate RUN_DIR ...`, one results file."""

import argparse
import json
import os
import sys

import pytest

import training
from tests._files import load_script

sys.path.insert(0, os.path.dirname(__file__))
from test_train_classifier import write_sentiment_csv  # noqa: E402

TINY = ["--set", "units=8", "--set", "embedding_dim=8", "--set", "vocabulary_size=50",
        "--set", "num_layers=1", "--set", "max_length=16", "--batch-size", "16"]


@pytest.mark.slow
def test_ensemble_recipe_trains_one_member_per_seed_and_records_the_mean(
        tmp_path, monkeypatch):
    module = load_script("bench/reproduce/sst2_transfer_ensemble.py", "ensemble_recipe")
    c = module._recipe.c
    monkeypatch.setattr(c, "RESULTS_DIR", str(tmp_path / "results"))
    os.makedirs(c.RESULTS_DIR)
    data = write_sentiment_csv(tmp_path / "reviews.csv")
    a = argparse.Namespace(seeds=[1, 2], out=str(tmp_path / "ens"), epochs=1, extra=[],
                           collect=False, resume=False, eval_batch_size=None, name="ens",
                           note="n")
    target = {"metric": "accuracy", "op": ">=", "value": 0.0}

    def run(a):
        module._recipe.run_ensemble(
            a, recipe="ens", preset="sentiment_classifier", data=data, metric="accuracy",
            target=target, anchor="-", task="tiny", split="validation",
            member_args=[*TINY, "--validation-seed", "7"])

    run(a)
    with open(tmp_path / "results" / "ens.json") as f:
        r = json.load(f)
    dirs = [str(tmp_path / "ens" / "seed1"), str(tmp_path / "ens" / "seed2")]
    assert [m["seed"] for m in r["members"]] == [1, 2]
    for m, seed in zip(r["members"], (1, 2)):
        cmd = m["command"]
        assert cmd[cmd.index("--seed") + 1] == str(seed)
        assert cmd[cmd.index("--validation-seed") + 1] == "7"
        assert m["validation_carve"] == r["validation_carve"]
        assert m["validation_carve"]["seed"] == 7
    # The figure is the mean of the two saved models' probabilities on the
    # carve (checked against numpy in tests/test_evaluate.py), and each
    # member's own figure is what `zoo evaluate` gives it alone.
    assert r["value"] == pytest.approx(training.evaluate_ensemble(dirs, data)["accuracy"])
    for m, d in zip(r["members"], dirs):
        assert m["accuracy"] == pytest.approx(training.evaluate(d, data)["accuracy"])
    assert r["training_seconds"] == pytest.approx(
        sum(m["training_seconds"] for m in r["members"]), abs=0.2)
    assert r["met"] is True and r["notes"] == "n"
    # (the results file's paths are relative to the repository)
    assert r["evaluate_command"][1] == "evaluate"
    assert r["evaluate_command"][2].endswith(os.path.join("ens", "seed1"))
    assert (tmp_path / "ens" / "curves_ens.png").stat().st_size > 0
    assert (tmp_path / "ens" / "eval_ens.json").exists()
    # Collecting the finished members trains nothing and gives the same figure.
    a.collect, a.name = True, "ens_collected"
    run(a)
    with open(tmp_path / "results" / "ens_collected.json") as f:
        again = json.load(f)
    assert again["value"] == r["value"]
    assert [m["command"] for m in again["members"]] == [m["command"] for m in r["members"]]
    # --resume records the finished member and trains the missing one.
    a.collect, a.resume, a.seeds, a.name = False, True, [1, 3], "ens_resumed"
    run(a)
    with open(tmp_path / "results" / "ens_resumed.json") as f:
        resumed = json.load(f)
    assert resumed["members"][0]["command"] == r["members"][0]["command"]
    assert resumed["members"][0]["training_seconds"] == r["members"][0]["training_seconds"]
    assert os.path.isdir(tmp_path / "ens" / "seed3")
    assert "--resume" not in resumed["members"][1]["command"]


def test_pretraining_seconds_count_towards_the_total_budget(tmp_path, monkeypatch):
    module = load_script("bench/reproduce/sst2_transfer_ensemble.py", "ensemble_recipe")
    c = module._recipe.c
    monkeypatch.setattr(c, "RESULTS_DIR", str(tmp_path))
    lm = {"training_seconds": 3000.0, "command": ["zoo", "train", "imdb_lm"],
          "value": 170.0, "metric": "perplexity"}
    (tmp_path / "lm.json").write_text(json.dumps(lm))
    fields = module._recipe._pretraining_fields
    met, f = fields("lm", 1000.0, True, 4200)
    assert met is True and f["seconds_with_pretraining"] == 4000.0
    assert f["pretraining"] == {"recipe": "lm", **lm} and f["total_budget_s"] == 4200
    assert fields("lm", 1500.0, True, 4200)[0] is False  # 4,500 s > 4,200 s
    assert fields("lm", 1500.0, None, 4200)[0] is None    # no figure, no verdict
    assert "total_budget_s" not in fields("lm", 1.0, True, None)[1]
    assert fields(None, 1.0, True, 4200) == (True, {})


def test_pretraining_seconds_follow_a_chain_of_language_models(tmp_path, monkeypatch):
    """A classifier from an LM fine-tuned from another LM (bench/reproduce/
    sst2_lm.py) counts both LMs' seconds."""
    module = load_script("bench/reproduce/sst2_transfer_ensemble.py", "ensemble_recipe")
    c = module._recipe.c
    monkeypatch.setattr(c, "RESULTS_DIR", str(tmp_path))
    stage2 = {"training_seconds": 300.0, "seconds_with_pretraining": 3300.0,
              "command": ["zoo", "train", "imdb_lm", "--init-from", "../runs/lm"],
              "value": 90.0, "metric": "perplexity"}
    (tmp_path / "lm2.json").write_text(json.dumps(stage2))
    met, f = module._recipe._pretraining_fields("lm2", 1000.0, True, None)
    assert f["seconds_with_pretraining"] == 4300.0
    assert f["pretraining"]["training_seconds"] == 300.0
    assert f["pretraining"]["seconds_with_pretraining"] == 3300.0


@pytest.mark.slow
def test_ensemble_of_two_groups_reuses_finished_members(tmp_path, monkeypatch):
    """`groups` (the forward and backward members of
    `sst2_transfer_ensemble_fwd_bwd.py`): one member per seed and group,
    finished ones reused, all of them evaluated together."""
    module = load_script("bench/reproduce/sst2_transfer_ensemble_fwd_bwd.py",
                         "fwd_bwd_recipe")
    c = module._recipe.c
    monkeypatch.setattr(c, "RESULTS_DIR", str(tmp_path / "results"))
    os.makedirs(c.RESULTS_DIR)
    data = write_sentiment_csv(tmp_path / "reviews.csv")
    common = [*TINY, "--validation-seed", "7"]
    a = argparse.Namespace(seeds=[1], out=str(tmp_path / "both"), epochs=1, extra=[],
                           collect=False, resume=True, eval_batch_size=None,
                           name="both", note=None)
    groups = [("forward", str(tmp_path / "fwd"), common),
              ("backward", str(tmp_path / "bwd"), [*common, "--set", "reverse=true"])]

    def run(name):
        a.name = name
        module._recipe.run_ensemble(
            a, recipe="both", preset="sentiment_classifier", data=data,
            metric="accuracy", target={"metric": "accuracy", "op": ">=", "value": 0.0},
            anchor="-", task="tiny", split="validation", member_args=None,
            groups=groups)
        with open(tmp_path / "results" / f"{name}.json") as f:
            return json.load(f)

    r = run("both")
    dirs = [str(tmp_path / "fwd" / "seed1"), str(tmp_path / "bwd" / "seed1")]
    assert [(m["group"], m["seed"]) for m in r["members"]] == [
        ("forward", 1), ("backward", 1)]
    assert "reverse=true" in r["members"][1]["command"]
    assert "reverse=true" not in r["members"][0]["command"]
    assert r["value"] == pytest.approx(training.evaluate_ensemble(dirs, data)["accuracy"])
    assert "group" in r["value_note"]
    assert (tmp_path / "both" / "curves_both.png").stat().st_size > 0
    # a second run reuses both finished members: same commands and seconds
    again = run("both_again")
    assert [m["command"] for m in again["members"]] == [m["command"] for m in r["members"]]
    assert [m["training_seconds"] for m in again["members"]] == [
        m["training_seconds"] for m in r["members"]]
    assert again["value"] == r["value"]


def test_pretraining_of_two_language_models_counts_both(tmp_path, monkeypatch):
    module = load_script("bench/reproduce/sst2_transfer_ensemble_fwd_bwd.py",
                         "fwd_bwd_recipe")
    c = module._recipe.c
    monkeypatch.setattr(c, "RESULTS_DIR", str(tmp_path))
    for name, secs in (("fwd", 3000.0), ("bwd", 3100.0)):
        (tmp_path / f"{name}.json").write_text(json.dumps(
            {"training_seconds": secs, "command": ["zoo", "train", "imdb_lm"],
             "value": 170.0, "metric": "perplexity"}))
    met, f = module._recipe._pretraining_fields(["fwd", "bwd"], 1000.0, True, 7000)
    assert f["seconds_with_pretraining"] == 7100.0 and met is False
    assert f["pretraining"]["recipe"] == "fwd"
    assert [m["recipe"] for m in f["more_pretraining"]] == ["bwd"]
    assert module._recipe._pretraining_fields("fwd", 1.0, True, None)[1].get(
        "more_pretraining") is None
