"""The reproduction tables in README.md and docs/reproduction.md are generated
from bench/results/*.json, and the ablation summary is computed correctly."""

import json
import math
import os
import pathlib

import pytest

from tests._files import load_script

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _load(path, name):
    return load_script(path.relative_to(ROOT), name)


@pytest.fixture(scope="module")
def table():
    return _load(ROOT / "bench" / "readme_table.py", "readme_table")


@pytest.fixture(scope="module")
def ablation():
    return _load(ROOT / "bench" / "reproduce" / "ablation_connections.py", "ablation_connections")


@pytest.mark.parametrize("doc", ["README.md", "docs/reproduction.md"])
def test_reproduction_table_is_generated_from_the_results_files(table, doc):
    results = table.load(str(ROOT / "bench" / "results"))
    generated = table.generated(results)
    text = (ROOT / doc).read_text(encoding="utf-8")
    between = text.split(table.BEGIN, 1)[1].split(table.END, 1)[0].strip()
    assert between == generated.strip(), (
        f"{doc}: reproduction table is stale; run "
        f"`python bench/readme_table.py --update {doc}`")


def test_every_recipe_result_is_in_the_table(table):
    results = table.load(str(ROOT / "bench" / "results"))
    text = table.table(results)
    for path in (ROOT / "bench" / "results").glob("*.json"):
        r = json.loads(path.read_text())
        if r.get("schema") == table.SCHEMA:
            assert r["recipe"] == path.stem, path
            assert f"| {r['recipe']}" in text, path


def _run(conn, seed, acc, loss=0.3, train_loss=0.4):
    return {"connection": conn, "seed": seed, "accuracy": acc, "loss": loss,
            "training_seconds": 10.0, "params": 100, "history": [{"loss": train_loss}]}


def test_a_figure_is_never_shown_on_the_other_side_of_its_target(table):
    def row(metric, value, op, target):
        return {"metric": metric, "value": value,
                "target": {"op": op, "value": target}}

    assert table.fmt_result(row("loss", 1.4505, "<=", 1.45)) == "1.4505 nats/char"
    assert table.fmt_result(row("loss", 1.4432, "<=", 1.45)) == "1.443 nats/char"
    assert table.fmt_result(row("loss", 1.45, "<=", 1.45)) == "1.450 nats/char"
    assert table.fmt_result(row("accuracy", 0.879996, ">=", 0.88)) == "87.9996%"
    assert table.fmt_result(row("accuracy", 0.8773, ">=", 0.88)) == "87.73%"
    assert table.fmt_result(row("perplexity", 84.04, "<=", 84)) == "84.04"
    assert table.fmt_result({"metric": "loss", "value": 1.4505}) == "1.450 nats/char"


def test_ablation_summary_pairs_runs_by_seed(ablation):
    runs = [_run("none", 1, 0.80), _run("none", 2, 0.84),
            _run("dense", 1, 0.83, loss=0.2, train_loss=0.5),
            _run("dense", 2, 0.83, loss=0.4, train_loss=0.3)]
    rows = {r["connection"]: r for r in ablation.summarise(runs)}
    assert list(rows) == ["none", "dense"]  # in CONNECTIONS order, missing ones left out
    dense = rows["dense"]
    assert dense["seeds"] == [1, 2]
    assert math.isclose(dense["accuracy"], 0.83)
    assert math.isclose(dense["accuracy_std"], 0.0, abs_tol=1e-12)
    assert math.isclose(rows["none"]["accuracy_std"], math.sqrt(2 * 0.02 ** 2))
    assert [round(d, 6) for d in dense["accuracy_minus_none"]] == [0.03, -0.01]
    assert dense["wins_over_none"] == 1
    assert math.isclose(dense["loss"], 0.3) and math.isclose(dense["train_loss"], 0.4)
    assert dense["training_seconds"] == 20.0


def test_ablation_summary_single_seed_has_no_std(ablation):
    rows = ablation.summarise([_run("none", 1, 0.8), _run("highway", 1, 0.9)])
    assert rows[0]["accuracy_std"] is None
    assert [round(d, 6) for d in rows[1]["accuracy_minus_none"]] == [0.1]


@pytest.fixture(scope="module")
def pretraining():
    return _load(ROOT / "bench" / "reproduce" / "ablation_pretraining.py", "ablation_pretraining")


def test_pretraining_arms_differ_only_where_they_should(pretraining):
    pre = pretraining.arm_args("pretrained", "LM", "imdb")
    full = pretraining.arm_args("pretrained_full_rate", "LM", "imdb")
    scratch = pretraining.arm_args("scratch", "LM", "imdb")
    assert pre == ["--init-from", "LM", "--recipe", "layer_lr_decay=2.6",
                   "--recipe", "unfreeze_steps=30"]
    assert "unfreeze_steps=200" in pretraining.arm_args("pretrained", "LM", "sst2")
    assert "--init-from" not in scratch
    # the full-rate arm is scratch's schedule plus the LM's weights
    assert full == ["--init-from", "LM", *scratch]
    assert "layer_lr_decay=1" in scratch and "unfreeze_steps=0" in scratch


def test_pretraining_summary_gains_are_per_seed_against_scratch(pretraining):
    def run(arm, seed, acc):
        return {"dataset": "imdb", "arm": arm, "seed": seed, "accuracy": acc,
                "training_seconds": 5.0}
    runs = [run("scratch", 1, 0.80), run("scratch", 2, 0.84),
            run("pretrained", 1, 0.70), run("pretrained", 2, 0.78),
            run("pretrained_full_rate", 1, 0.85), run("pretrained_full_rate", 2, 0.83)]
    rows = {r["arm"]: r for r in pretraining.summarise(runs)}
    assert set(rows) == {"scratch", "pretrained", "pretrained_full_rate"}
    assert rows["scratch"]["gain_over_scratch"] is None
    assert rows["pretrained"]["gain_over_scratch"] == pytest.approx([-0.10, -0.06])
    assert rows["pretrained_full_rate"]["gain_over_scratch"] == pytest.approx([0.05, -0.01])
    assert rows["pretrained_full_rate"]["accuracy"] == pytest.approx(0.84)
    assert rows["pretrained_full_rate"]["training_seconds"] == 10.0


def test_pretraining_table_names_a_fixed_carve_seed_and_its_splits(table):
    carve = {"group": "movie", "fraction": 0.1}
    runs = [{"dataset": "imdb", "arm": "pretrained_full_rate", "seed": s,
             "accuracy": a, "split": "validation carved from the official "
             "train split by movie", "training_seconds": 60.0,
             "validation_carve": dict(carve, **({"seed": 1337} if s != 7 else {}))}
            for s, a in ((7, 0.8), (1337, 0.81), (1338, 0.82))]
    r = {"recipe": "ablation_x", "task": "t", "metric": "accuracy",
         "budget": {"imdb": "--epochs 1", "sst2": "--epochs 2"}, "runs": runs,
         "rows": [{"dataset": "imdb", "arm": "pretrained_full_rate",
                   "accuracy": 0.81, "accuracy_std": 0.01,
                   "gain_over_scratch": [], "training_seconds": 180.0}]}
    ablation_rows = table.pretraining_table(r)
    assert "same steps for every arm: imdb: --epochs 1):" in ablation_rows
    assert ("80.00% (seed 7) / 81.00% (seed 1337) / "
            "82.00% (seed 1338, carve seed 1337)") in ablation_rows
    assert ablation_rows.rstrip().endswith("| — | 3 min 00 s |")
    row = table.table([r]).splitlines()[-1]
    assert row.startswith("| ablation_x (see the table below; time = all runs) "
                          "| — | accuracy (val, by movie) |")


def test_short_command_of_zoo_train_and_of_a_recipe(table):
    zoo = [".venv/bin/zoo", "train", "imdb_fast", "--data", "/x/shared/data/imdb/train.csv",
           "--out", "../runs/imdb_fast", "--verbose", "2", "--overwrite"]
    assert table.short_command(zoo) == (
        "zoo train imdb_fast --data ../shared/data/imdb/train.csv --out runs/imdb_fast")
    nested = zoo[:5] + ["--out", "../runs/ablation_awd_16min/full/"]
    assert table.short_command(nested).endswith(" --out runs/ablation_awd_16min/full")
    # a run another zoo row wrote with `--out runs/NAME` is named the same way
    init = zoo[:3] + ["--init-from", "../runs/imdb_lm"] + zoo[3:7]
    assert table.short_command(init) == (
        "zoo train imdb_fast --init-from runs/imdb_lm --data ../shared/data/imdb/train.csv "
        "--out runs/imdb_fast")
    evaluate = [".venv/bin/zoo", "evaluate", "../runs/ptb", "--data", "../shared/data/ptb"]
    assert table.short_command(evaluate) == "zoo evaluate runs/ptb --data ../shared/data/ptb"
    # A recipe's own command keeps its --out; its --note is in the results
    # file's notes, not a setting.
    recipe = [".venv/bin/python", "bench/reproduce/imdb_transfer_ensemble.py",
              "--seeds", "1", "2", "--note", "why it ran", "--out", "../runs/x"]
    assert table.short_command(recipe) == (
        ".venv/bin/python bench/reproduce/imdb_transfer_ensemble.py --seeds 1 2 "
        "--out ../runs/x")


def test_a_cache_row_names_the_model_and_its_own_figure(table):
    r = {"recipe": "ptb_cache_m", "preset": "ptb_regularized", "metric": "perplexity",
         "value": 80.04, "model_alone": 87.75, "model_results": "bench/results/m.json",
         "split": "validation (ptb.valid.txt)", "target": None, "met": None,
         "cache": {"window": 500, "theta": 1.0, "lambda": 0.1},
         "training_seconds": 3446.0, "params": 6573200,
         "command": [".venv/bin/zoo", "evaluate", "../runs/m", "--data",
                     "/x/shared/data/ptb", "--cache-window", "500"]}
    assert table.table([r]).splitlines()[-1] == (
        "| ptb_cache_m (`m`'s model + the neural cache at evaluation: window 500, θ 1, λ 0.1; "
        "the model alone 87.8; time = the model's training) | `ptb_regularized` "
        "| perplexity (val) | 80.0 | — | 57 min 26 s | 6.57 M "
        "| `zoo evaluate runs/m --data ../shared/data/ptb --cache-window 500` |")


def test_training_time_names_each_language_model_of_a_chain(table):
    one = {"training_seconds": 60.0, "seconds_with_pretraining": 180.0,
           "pretraining": {"recipe": "imdb_lm", "training_seconds": 120.0}}
    assert table.fmt_time_with_pretraining(one) == "1 min 00 s (+ 2 min 00 s imdb_lm)"
    chain = {"training_seconds": 60.0, "seconds_with_pretraining": 3840.0,
             "pretraining": {"recipe": "sst2_lm", "training_seconds": 180.0,
                             "seconds_with_pretraining": 3780.0}}
    assert table.fmt_time_with_pretraining(chain) == (
        "1 min 00 s (+ 3 min 00 s sst2_lm + 60 min 00 s earlier)")
    both = {"training_seconds": 60.0, "seconds_with_pretraining": 7260.0,
            "pretraining": {"recipe": "imdb_lm", "training_seconds": 3600.0},
            "more_pretraining": [{"recipe": "imdb_lm_backward",
                                  "training_seconds": 3600.0}]}
    assert table.fmt_time_with_pretraining(both) == (
        "1 min 00 s (+ 60 min 00 s imdb_lm + 60 min 00 s imdb_lm_backward)")


def test_factor_ablation_table_lists_each_row_against_full(table):
    cmd = [".venv/bin/zoo", "train", "ptb_awd_cpu", "--data", "../shared/data/ptb",
           "--out", "../runs/x/full", "--time-budget", "16"]
    runs = [{"row": "full", "perplexity": 120.04, "minus_full": 0.0, "epochs": 3,
             "training_seconds": 960.0, "command": cmd,
             "history": [{"val_perplexity": 220.04}, {"val_perplexity": 140.96},
                         {"val_perplexity": 120.1}]},
            {"row": "no_ar_tar", "perplexity": 117.5, "minus_full": -2.54, "epochs": 4,
             "training_seconds": 961.0, "history": [{"loss": 5.0}],
             "command": cmd[:6] + ["--set", "ar=0", "--set", "tar=0"] + cmd[6:]}]
    r = {"recipe": "ablation_awd_16min", "task": "PTB ablation", "preset": "ptb_awd_cpu",
         "metric": "perplexity", "value": 120.04, "split": "validation (ptb.valid.txt)",
         "budget": "--time-budget 16 for every row", "partial": True, "runs": runs,
         "training_seconds": 1921.0}
    lines = table.factor_table(r).splitlines()
    assert lines[0] == ("Ablation (PTB ablation; `ptb_awd_cpu`; --time-budget 16 for every row; "
                        "not every row has run):")
    assert lines[-2] == ("| full | the preset | 120.0 | — | 3 | 220.0 / 141.0 / 120.1 "
                         "| 16 min 00 s |")
    assert lines[-1] == ("| no_ar_tar | `--set ar=0`, `--set tar=0` | 117.5 | -2.5 | 4 | — "
                         "| 16 min 01 s |")
    assert table.ablation_table([r]) == table.factor_table(r)
    row = table.table([r]).splitlines()[-1]
    assert row.startswith("| ablation_awd_16min (partial) (the `full` row; see the table below; "
                          "time = all rows) | `ptb_awd_cpu` | perplexity (val) | 120.0 |")
    no_full = dict(r, value=None, runs=[dict(runs[1], minus_full=None)])
    assert table.factor_table(no_full).splitlines()[-1].startswith("| no_ar_tar | `--set ar=0`, "
                                                                   "`--set tar=0` | 117.5 | — |")
    assert "(no `full` row yet;" in table.table([no_full]).splitlines()[-1]
    # rows of one file run on different machines are flagged; a row without its
    # own record ran on the file's machine
    xeon = {"cpu": "Intel Xeon", "avx512_bf16": True, "amx_bf16": True}
    mixed = dict(r, machine=xeon, runs=[dict(runs[0], machine={"cpu": "AMD EPYC"}), runs[1]])
    assert table.factor_table(mixed).splitlines()[0].endswith(
        "; rows ran on different machines (full: AMD EPYC, no_ar_tar: Intel Xeon "
        "(AVX-512 BF16, AMX)), so the budget bought them different numbers of steps):")
    same = dict(mixed, runs=[dict(runs[0], machine=dict(xeon)), runs[1]])
    assert "different machines" not in table.factor_table(same)
    # two AMD EPYCs, one with AVX-512 BF16: different machines
    epyc = {"cpu": "AMD EPYC", "avx512_bf16": False, "amx_bf16": False}
    two = dict(r, machine=None, runs=[dict(runs[0], machine=epyc),
                                      dict(runs[1], machine=dict(epyc, avx512_bf16=True))])
    assert "(full: AMD EPYC, no_ar_tar: AMD EPYC (AVX-512 BF16))" in table.factor_table(two)


@pytest.fixture
def awd():
    return _load(ROOT / "bench" / "reproduce" / "ablation_awd.py", "ablation_awd")


def test_awd_ablation_budget_names_its_own_results_file(awd):
    assert awd.results_name(awd.DEFAULT_BUDGET) == "ablation_awd"
    assert awd.results_name(16.0) == "ablation_awd_16min"
    assert awd.results_name(7.5) == "ablation_awd_7.5min"


def test_awd_ablation_rows_of_a_budget_go_to_its_own_file_and_folder(awd, tmp_path, monkeypatch):
    """main() with the training stubbed: where each row runs, what it is
    given, the file it writes, the rows and notes it keeps."""
    c = awd.c
    trained, written = [], {}
    monkeypatch.setattr(c, "RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(c, "RESULTS_DIR", str(tmp_path / "results"))
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "ablation_awd_16min.json").write_text(json.dumps({
        "notes": "kept", "machine": {"cpu": "Old CPU"},
        "runs": [{"row": "full", "perplexity": 130.0, "budget_minutes": 16.0,
                                   "training_seconds": 960.0, "params": 1, "command": ["f"]},
                                  {"row": "no_ar_tar", "perplexity": 1.0, "budget_minutes": 57.0,
                                   "training_seconds": 1.0, "params": 1, "command": ["x"]}]}))

    def train(preset, data, out, *args):
        trained.append((preset, out, list(args)))
        return ["zoo", "train", preset, *args], 961.0
    monkeypatch.setattr(c, "train", train)
    monkeypatch.setattr(c, "evaluate", lambda d, data, split: (["ev"], {"perplexity": 120.5,
                                                                        "loss": 4.79}))
    monkeypatch.setattr(c, "run_summary", lambda d: {"history": [{"val_perplexity": 121.0}]})
    monkeypatch.setattr(c, "train_loadavg", lambda d: None)
    monkeypatch.setattr(c, "count_params", lambda d: 1)
    monkeypatch.setattr(c, "write_result", lambda name, r: written.update({name: r}))
    monkeypatch.setattr("sys.argv", ["ablation_awd.py", "--budget", "16", "--only", "no_ar_tar"])
    awd.main()
    assert trained == [("ptb_awd_cpu", str(tmp_path / "runs" / "ablation_awd_16min" / "no_ar_tar"),
                        ["--set", "ar=0", "--set", "tar=0", "--time-budget", "16"])]
    r = written["ablation_awd_16min"]
    assert [x["row"] for x in r["runs"]] == ["full", "no_ar_tar"]  # the 57-min row is not kept
    assert r["runs"][1]["minus_full"] == pytest.approx(-9.5)
    assert r["value"] == 130.0 and r["partial"] is True and r["notes"] == "kept"
    assert r["budget"] == "--time-budget 16 for every row"
    # the new row records the machine it ran on; a kept row without a record of
    # its own gets the old file's, the machine that wrote it
    assert r["runs"][1]["machine"]["cores"] == os.cpu_count()
    assert r["runs"][0]["machine"] == {"cpu": "Old CPU"}


def test_train_log_keeps_earlier_runs_and_times_the_latest_with_its_resumes(
        awd, tmp_path, monkeypatch):
    c, out = awd.c, str(tmp_path / "runs" / "row")
    log = out + ".train.log"
    os.makedirs(tmp_path / "runs")
    with open(log, "w") as f:  # a log from before the run markers existed,
        f.write("1327/1327 - 300s - 226ms/step - loss: 5.1\n"  # its process
                "Epoch 2/9\n512/1327")  # killed in mid-line
    assert c.logged_epoch_seconds(out) == 300.0
    steps = iter([(0, [100]), (1, []), (0, [40])])  # (exit status, epoch seconds)

    def run(cmd, log):
        rc, seconds = next(steps)
        with open(log, "a") as f:
            f.writelines(f"1327/1327 - {s}s - 75ms/step - loss: 4.9\n" for s in seconds)
        return rc, 1.0
    monkeypatch.setattr(c, "run", run)
    c.train("ptb_awd_cpu", "data", out)  # a new run over the old one
    assert c.logged_epoch_seconds(out) == 100.0
    with pytest.raises(SystemExit, match="exit status 1"):  # fails before training:
        c.train("ptb_awd_cpu", "data", out)  # the 100 s run is still the latest
    assert c.logged_epoch_seconds(out) == 100.0
    c.train("ptb_awd_cpu", "data", out, resume=True)
    assert c.logged_epoch_seconds(out) == 140.0
    text = open(log).read()
    assert text.startswith("1327/1327 - 300s")  # the earlier run's lines stay
    assert [line.split(" 20")[0].split(" with")[0] for line in text.splitlines()
            if line.startswith("##")] == [c.NEW_RUN, c.NEW_RUN, c.FAILED, c.RESUMED]
    assert "\n512/1327\n" + c.NEW_RUN in text  # the marker starts its own line


@pytest.mark.parametrize("budget", ["0", "-3", "inf", "nan"])
def test_awd_ablation_refuses_a_budget_that_is_not_a_positive_number(awd, budget, monkeypatch,
                                                                      capsys):
    monkeypatch.setattr(awd.c, "train", lambda *a: pytest.fail("trained"))
    monkeypatch.setattr("sys.argv", ["ablation_awd.py", "--budget", budget])
    with pytest.raises(SystemExit) as e:
        awd.main()
    assert e.value.code == 2
    assert "--budget must be a positive number of minutes. Received:" in capsys.readouterr().err
