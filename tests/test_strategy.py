"""The one chief test, and the strategies on each backend."""

import json

import pytest

import training
from training import strategy as st


def _tf_config(monkeypatch, cluster, task_type, index):
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": cluster, "task": {"type": task_type, "index": index}}))


@pytest.mark.parametrize("cluster,task,index,chief", [
    ({"chief": ["a:1"], "worker": ["b:1"]}, "chief", 0, True),
    ({"chief": ["a:1"], "worker": ["b:1"]}, "worker", 0, False),
    ({"worker": ["a:1", "b:1"]}, "worker", 0, True),
    ({"worker": ["a:1", "b:1"]}, "worker", 1, False),
    ({"chief": ["a:1"], "evaluator": ["b:1"]}, "evaluator", 0, False),
])
def test_is_chief_follows_tf_distribute(monkeypatch, cluster, task, index, chief):
    _tf_config(monkeypatch, cluster, task, index)
    assert st.is_chief("multiworker") is chief
    # Without a multi-worker strategy every process writes its own run.
    assert st.is_chief("none") is True and st.is_chief("auto") is True


def test_is_chief_without_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert st.is_chief("multiworker") is True
    assert st.task_info() == (None, None)


def test_bad_tf_config_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{nope")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        st.is_chief("multiworker")


class _Stop(Exception):
    pass


def test_worker_0_of_a_cluster_with_a_chief_leaves_run_dir_alone(
        monkeypatch, tmp_path):
    # `--overwrite` deletes RUN_DIR; only the chief may do it. Worker 0 is
    # not the chief when the cluster has one (the old environment test said
    # it was, and could delete the chief's run while the chief wrote it).
    _tf_config(monkeypatch, {"chief": ["localhost:1"],
                             "worker": ["localhost:2"]}, "worker", 0)
    out = tmp_path / "run"
    out.mkdir()
    (out / "written_by_the_chief.txt").write_text("keep me")

    def stop(name):
        raise _Stop(name)

    monkeypatch.setattr(st, "make_strategy", stop)
    data = tmp_path / "ptb"
    data.mkdir()
    (data / "x.train.txt").write_text("a b c\n" * 50)
    (data / "x.valid.txt").write_text("a b c\n" * 5)
    with pytest.raises(_Stop):
        training.train("language_model", str(data), out=str(out),
                       strategy="multiworker", overwrite=True, verbose=0)
    assert (out / "written_by_the_chief.txt").read_text() == "keep me"


def test_a_worker_of_a_new_run_ignores_the_backup_of_the_run_it_replaces(
        monkeypatch, tmp_path):
    # With --overwrite the chief replaces RUN_DIR only when it writes the new
    # run's config; a worker that reached its callbacks before that must not
    # restore the old run's backup (it would start at the old run's epoch).
    _tf_config(monkeypatch, {"chief": ["localhost:1"],
                             "worker": ["localhost:2"]}, "worker", 0)
    real = st.make_strategy
    monkeypatch.setattr(st, "make_strategy", lambda name: real("none"))
    out = tmp_path / "run"
    (out / "backup").mkdir(parents=True)
    (out / "config.json").write_text("{}")
    (out / "backup" / "training_metadata.json").write_text('{"epoch": 5, "batch": 0}')
    data = tmp_path / "ptb"
    data.mkdir()
    (data / "x.train.txt").write_text("a b c d\n" * 60)
    (data / "x.valid.txt").write_text("a b c d\n" * 6)
    result = training.train("language_model", str(data), out=str(out),
                            strategy="multiworker", overwrite=True, epochs=1,
                            batch_size=2, bptt=4, verbose=0,
                            overrides={"units": 4, "embedding_dim": 4,
                                       "num_layers": 1})
    assert [r["epoch"] for r in result.history] == [0]
    # the worker wrote nothing into the chief's RUN_DIR
    assert sorted(p.name for p in out.iterdir()) == ["backup", "config.json"]


def test_strategy_names_are_checked():
    with pytest.raises(ValueError, match="Unknown strategy 'fast'"):
        st.check_strategy("fast")
    assert st.make_strategy("none").num_replicas_in_sync == 1
