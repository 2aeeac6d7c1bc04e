"""serving.config: models.config / batching.config, server command lines."""

import os

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving import config as sc


def _parse(path):
    with open(path) as f:
        return text_format.Parse(f.read(),
                                 model_server_config_pb2.ModelServerConfig())


def test_update_writes_parseable_config(tmp_path):
    path = sc.update_models_config(tmp_path, "sentiment")
    assert path == os.path.join(str(tmp_path), "models.config")
    config = _parse(path)
    (entry,) = config.model_config_list.config
    assert entry.name == "sentiment"
    assert entry.base_path == os.path.join(str(tmp_path), "sentiment")
    assert os.path.isabs(entry.base_path)
    assert entry.model_platform == "tensorflow"
    assert not entry.HasField("model_version_policy")  # TF default: latest 1


def test_policies_and_labels(tmp_path):
    sc.update_models_config(tmp_path, "a", version_policy=sc.latest(3),
                            labels={"stable": 1, "canary": 2})
    sc.update_models_config(tmp_path, "b", version_policy=sc.all_versions())
    sc.update_models_config(tmp_path, "c", version_policy=sc.specific(4, 2),
                            base_path=tmp_path / "elsewhere")
    sc.update_models_config(tmp_path, "d", version_policy="latest")
    entries = {c.name: c for c in
               _parse(tmp_path / "models.config").model_config_list.config}
    assert entries["a"].model_version_policy.latest.num_versions == 3
    assert dict(entries["a"].version_labels) == {"stable": 1, "canary": 2}
    assert entries["b"].model_version_policy.HasField("all")
    assert list(entries["c"].model_version_policy.specific.versions) == [2, 4]
    assert entries["c"].base_path == str(tmp_path / "elsewhere")
    assert entries["d"].model_version_policy.latest.num_versions == 1


def test_update_keeps_other_models_and_unchanged_fields(tmp_path):
    sc.update_models_config(tmp_path, "a", version_policy=sc.latest(2),
                            labels={"stable": 1})
    sc.update_models_config(tmp_path, "b")
    sc.update_models_config(tmp_path, "a", labels={"stable": 2})
    entries = sc.model_entries(tmp_path)
    assert list(entries) == ["a", "b"]
    assert entries["a"].model_version_policy.latest.num_versions == 2
    assert dict(entries["a"].version_labels) == {"stable": 2}
    sc.update_models_config(tmp_path, "a", version_policy="all", labels={})
    entries = sc.model_entries(tmp_path)
    assert entries["a"].model_version_policy.HasField("all")
    assert dict(entries["a"].version_labels) == {}
    assert sc.remove_model(tmp_path, "b") is True
    assert sc.remove_model(tmp_path, "b") is False
    assert list(sc.model_entries(tmp_path)) == ["a"]


def test_write_is_atomic_no_temp_files_left(tmp_path):
    for i in range(3):
        sc.update_models_config(tmp_path, f"m{i}")
    # the lock file of the read-change-write stays, empty; no temp files
    assert sorted(os.listdir(tmp_path)) == [".models.config.lock",
                                            "models.config"]


def test_concurrent_updates_keep_every_entry(tmp_path):
    """Two processes adding entries at once: each change is read, made and
    written under the lock, so no entry is lost to the other's rename."""
    import subprocess
    import sys

    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "1" / "saved_model.pb").write_bytes(b"")
    code = ("import sys; from serving import config as sc\n"
            "from serving import models_dir as md\n"
            "for i in range(15):\n"
            "    sc.update_models_config(sys.argv[1], f'{sys.argv[2]}{i}')\n"
            "    md.register(sys.argv[1], 'm', 1, label=f'{sys.argv[2]}{i}')\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), w],
                              cwd=root) for w in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    entries = sc.model_entries(tmp_path)
    assert sorted(entries) == sorted(
        [f"{w}{i}" for w in "ab" for i in range(15)] + ["m"])
    # labels of one model, added at once: each read-change-write is whole
    assert sorted(entries["m"].version_labels) == sorted(
        f"{w}{i}" for w in "ab" for i in range(15))


def test_update_keeps_a_custom_base_path(tmp_path):
    from serving import models_dir as md

    sc.update_models_config(tmp_path, "c", base_path=tmp_path / "data" / "c")
    sc.update_models_config(tmp_path, "c", labels={"stable": 1})
    entry = sc.model_entries(tmp_path)["c"]
    assert entry.base_path == str(tmp_path / "data" / "c")
    assert dict(entry.version_labels) == {"stable": 1}
    # an export publishes in MODELS_DIR/NAME, so registering points there
    # (a models directory copied elsewhere serves its own versions)
    md.register(tmp_path, "c", 2)
    assert sc.model_entries(tmp_path)["c"].base_path == str(tmp_path / "c")
    # a URI is kept as given, and the container reads it as it is
    sc.update_models_config(tmp_path, "c", base_path="gs://bucket/c")
    assert sc.model_entries(tmp_path)["c"].base_path == "gs://bucket/c"
    sc.docker_command(tmp_path)
    docker = sc.model_entries(tmp_path / "models.docker.config")
    assert docker["c"].base_path == "gs://bucket/c"


def test_one_pass_policies_and_labels_are_read_once(tmp_path):
    # the values are checked on a scratch entry first: an iterator given
    # as the versions must not arrive empty at the real one
    sc.update_models_config(tmp_path, "a",
                            version_policy={"specific": iter([3, 1])},
                            labels={"stable": 1})
    entry = sc.model_entries(tmp_path)["a"]
    assert sorted(entry.model_version_policy.specific.versions) == [1, 3]
    assert dict(entry.version_labels) == {"stable": 1}


def test_failed_changes_create_nothing(tmp_path):
    missing = tmp_path / "typo"
    with pytest.raises(FileNotFoundError):
        sc.remove_model(missing, "a")
    with pytest.raises(sc.ConfigError, match="Invalid version label"):
        sc.update_models_config(missing, "a", labels={"bad label": 1})
    with pytest.raises(sc.ConfigError):
        sc.update_models_config(missing, "a", version_policy="newest")
    assert not missing.exists()


def test_dot_names_and_relative_base_paths_are_refused(tmp_path):
    for name in (".", ".."):
        assert not sc.valid_name(name)
        with pytest.raises(sc.ConfigError, match="Invalid model name"):
            sc.update_models_config(tmp_path, name)
        with pytest.raises(sc.ConfigError, match="Invalid version label"):
            sc.update_models_config(tmp_path, "a", labels={name: 1})
    assert sc.valid_name("a.b") and sc.valid_name("...")
    assert not os.path.exists(tmp_path / "models.config")
    path = tmp_path / "models.config"
    path.write_text("model_config_list { config { name: 'a' "
                    "base_path: 'sentiment' } }")
    with pytest.raises(sc.ConfigError,
                       match="relative base_path.*base_path='sentiment'"):
        sc.read_models_config(path)
    path.write_text("model_config_list { config { name: 'a' "
                    "base_path: 'gs://bucket/a' } }")
    assert sc.model_entries(path)["a"].base_path == "gs://bucket/a"


def test_malformed_config_raises_and_is_not_overwritten(tmp_path):
    path = tmp_path / "models.config"
    bad = "model_config_list { config { name: 'a' base_pth: '/x' } }"
    path.write_text(bad)
    with pytest.raises(sc.ConfigError) as info:
        sc.read_models_config(path)
    message = str(info.value)
    assert str(path) in message and "base_pth" in message
    with pytest.raises(sc.ConfigError):
        sc.update_models_config(tmp_path, "b")
    assert path.read_text() == bad


def test_duplicate_models_rejected(tmp_path):
    path = tmp_path / "models.config"
    path.write_text("model_config_list { config { name: 'a' base_path: '/x' }"
                    " config { name: 'a' base_path: '/y' } }")
    with pytest.raises(sc.ConfigError, match="Duplicate model 'a'"):
        sc.read_models_config(tmp_path)


@pytest.mark.parametrize("kwargs,match", [
    ({"version_policy": {"latest": 0}}, "latest"),
    ({"version_policy": {"specific": []}}, "specific"),
    ({"version_policy": "newest"}, "version_policy"),
    ({"labels": {"stable": -1}}, "Invalid version"),
    ({"labels": {"bad label": 1}}, "Invalid version label"),
])
def test_invalid_values_rejected(tmp_path, kwargs, match):
    with pytest.raises(sc.ConfigError, match=match):
        sc.update_models_config(tmp_path, "a", **kwargs)
    assert not (tmp_path / "models.config").exists()


@pytest.mark.parametrize("name", ["", "a/b", "a:b", "with space"])
def test_invalid_model_names_rejected(tmp_path, name):
    with pytest.raises(sc.ConfigError, match="Invalid model name"):
        sc.update_models_config(tmp_path, name)


def test_batching_config_round_trip(tmp_path):
    path = sc.write_batching_config(tmp_path, max_batch_size=16,
                                    batch_timeout_micros=2000,
                                    max_enqueued_batches=50,
                                    num_batch_threads=2,
                                    allowed_batch_sizes=[4, 8, 16])
    assert path == os.path.join(str(tmp_path), "batching.config")
    text = open(path).read()
    assert "pad_variable_length_inputs: true" in text
    assert "max_batch_size {\n  value: 16\n}" in text
    params = sc.read_batching_config(tmp_path)
    assert params.DESCRIPTOR.full_name == "tensorflow.serving.BatchingParameters"
    assert params.max_batch_size.value == 16
    assert params.batch_timeout_micros.value == 2000
    assert params.max_enqueued_batches.value == 50
    assert params.num_batch_threads.value == 2
    assert list(params.allowed_batch_sizes) == [4, 8, 16]
    assert params.pad_variable_length_inputs is True


@pytest.mark.parametrize("kwargs", [
    {"max_batch_size": 0},
    {"num_batch_threads": 0},
    {"max_batch_size": 8, "allowed_batch_sizes": [2, 4]},
    {"max_batch_size": 8, "allowed_batch_sizes": [4, 2, 8]},
])
def test_batching_config_validation(tmp_path, kwargs):
    with pytest.raises(sc.ConfigError):
        sc.write_batching_config(tmp_path, **kwargs)
    assert not (tmp_path / "batching.config").exists()


def test_malformed_batching_config(tmp_path):
    (tmp_path / "batching.config").write_text("max_batch_size: 'x'")
    with pytest.raises(sc.ConfigError, match="batching.config"):
        sc.read_batching_config(tmp_path)
    (tmp_path / "batching.config").write_bytes(
        "# caf\u00e9\nmax_batch_size { value: 8 }\n".encode("latin-1"))
    with pytest.raises(sc.ConfigError,
                       match=r"batching.config is not UTF-8 text"):
        sc.read_batching_config(tmp_path)


def test_serving_command(tmp_path):
    sc.update_models_config(tmp_path, "a")
    d = str(tmp_path)
    assert sc.serving_command(tmp_path, port=9001, grpc_port=9000) == [
        "tensorflow_model_server", "--port=9000", "--rest_api_port=9001",
        f"--model_config_file={d}/models.config",
        "--model_config_file_poll_wait_seconds=1"]
    sc.write_batching_config(tmp_path)
    argv = sc.serving_command(tmp_path)
    assert "--rest_api_port=8501" in argv
    assert argv[-2:] == ["--enable_batching=true",
                         f"--batching_parameters_file={d}/batching.config"]
    assert "--enable_batching=true" not in sc.serving_command(
        tmp_path, batching=False)


def test_docker_command_maps_paths(tmp_path):
    sc.update_models_config(tmp_path, "a", labels={"stable": 1})
    sc.write_batching_config(tmp_path)
    argv = sc.docker_command(tmp_path, port=9501)
    assert argv[:2] == ["docker", "run"]
    assert "-v" in argv and argv[argv.index("-v") + 1] == f"{tmp_path}:/models"
    assert "9501:8501" in argv
    image = argv.index("tensorflow/serving")
    assert argv[image + 1:] == [
        "--model_config_file=/models/models.docker.config",
        "--model_config_file_poll_wait_seconds=1",
        "--enable_batching=true",
        "--batching_parameters_file=/models/batching.config"]
    (entry,) = sc.model_entries(tmp_path / "models.docker.config").values()
    assert entry.base_path == "/models/a"
    assert dict(entry.version_labels) == {"stable": 1}
    # The host config is unchanged.
    (host,) = sc.model_entries(tmp_path).values()
    assert host.base_path == str(tmp_path / "a")


def test_docker_command_rejects_paths_outside(tmp_path):
    sc.update_models_config(tmp_path / "models", "a", base_path=tmp_path / "x")
    with pytest.raises(sc.ConfigError, match="outside"):
        sc.docker_command(tmp_path / "models")


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, serving, serving.config, serving.client; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True, cwd=os.path.dirname(
                             os.path.dirname(os.path.abspath(__file__))))
    assert out.stdout.strip() == "False"
