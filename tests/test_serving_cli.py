"""Exported models over real HTTP on loopback; `zoo serve` / `zoo predict`."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from serving import cli  # noqa: E402
from serving.client import ServingClient, ServingError  # noqa: E402
from serving.server import LocalModelServer  # noqa: E402
from test_export_support import (  # noqa: E402
    CLASS_NAMES, TEXTS, WORD_VOCAB, lm_reference_scores, shared_exports)


@pytest.fixture(scope="module")
def models():
    return shared_exports()


@pytest.fixture(scope="module")
def server(models):
    with LocalModelServer(models["models"], port=0, host="127.0.0.1",
                          poll_interval=0.0) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    return ServingClient(server.url, timeout=60)


def test_classifier_round_trip(client, models):
    answer = client.predict("clf", instances=TEXTS)
    preds = answer["predictions"]
    assert len(preds) == len(TEXTS)
    probs = np.array([p["probabilities"] for p in preds])
    np.testing.assert_allclose(probs, models["clf_probs"], rtol=1e-5,
                               atol=1e-6)
    # Latest version (2) has class names neg/pos.
    assert [p["label"] for p in preds] == \
        [["neg", "pos"][i] for i in probs.argmax(-1)]
    assert [p["class_index"] for p in preds] == probs.argmax(-1).tolist()
    columnar = client.predict("clf", inputs={"text": TEXTS[:2]})
    assert set(columnar["outputs"]) == {"probabilities", "label",
                                        "class_index"}


def test_version_and_label_routing(client):
    v1 = client.predict("clf", instances=["good"], version=1)
    v2 = client.predict("clf", instances=["good"], version=2)
    stable = client.predict("clf", instances=["good"], label="stable")
    assert v1["predictions"][0]["label"] in CLASS_NAMES
    assert v2["predictions"][0]["label"] in ("neg", "pos")
    assert stable == v1
    status = client.status("clf")
    assert [s["version"] for s in status["model_version_status"]] == ["1", "2"]
    meta = client.metadata("clf", version=1)
    sigs = meta["metadata"]["signature_def"]["signature_def"]
    assert "serving_default" in sigs
    with pytest.raises(ServingError) as e:
        client.predict("clf", instances=["good"], version=9)
    assert e.value.status_code == 404


def test_lm_score_and_generate(client, models):
    texts = ["the cat sat", "dog zebra"]
    answer = client.predict("word", instances=texts, signature_name="score")
    log_probs = [p["log_prob"] for p in answer["predictions"]]
    np.testing.assert_allclose(
        log_probs, lm_reference_scores(models["word"], WORD_VOCAB, texts,
                                       "word"), rtol=1e-4, atol=1e-4)
    default = client.predict("word", instances=texts)
    assert default == answer

    rows = client.predict(
        "word", signature_name="generate",
        instances=[{"prompt": "the cat", "max_length": 4, "temperature": 0.0},
                   {"prompt": "dog", "max_length": 2, "temperature": 0.0}])
    preds = rows["predictions"]
    assert preds[0]["text"].startswith("the cat")
    assert preds[0]["num_generated"] <= 4 and preds[1]["num_generated"] <= 2
    # Columnar: scalar max_length/temperature for the whole batch; greedy
    # decoding gives the same continuation as the row request.
    cols = client.predict(
        "word", signature_name="generate",
        inputs={"prompt": ["the cat", "dog"], "max_length": 4,
                "temperature": 0.0})
    assert cols["outputs"]["completion"][0] == preds[0]["completion"]
    seeded = [client.predict(
        "char", signature_name="generate_seeded",
        inputs={"prompt": ["ab"], "max_length": 8, "temperature": 1.0,
                "seed": 5})["outputs"]["text"] for _ in range(2)]
    assert seeded[0] == seeded[1] and seeded[0][0].startswith("ab")


def test_zoo_predict_against_running_server(server, capsys):
    rc = cli.main(["predict", "--url", server.url, "--name", "clf",
                   "--label", "stable", "good film", "bad film"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["label"] in CLASS_NAMES for p in out["predictions"]] == \
        [True, True]

    rc = cli.main(["predict", "--url", server.url, "--name", "word",
                   "--signature", "generate", "--param", "max_length=3",
                   "--param", "temperature=0", "the"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["predictions"][0]["num_generated"] <= 3

    # Errors carry the server's message and exit non-zero.
    rc = cli.main(["predict", "--url", server.url, "--name", "nope", "x"])
    captured = capsys.readouterr()
    assert rc == 1 and "Servable not found" in captured.err
    rc = cli.main(["predict", "--url", server.url, "--name", "clf",
                   "--signature", "missing", "x"])
    captured = capsys.readouterr()
    assert rc == 1 and "missing" in captured.err and "400" in captured.err


def test_zoo_predict_with_models_dir(models, capsys):
    rc = cli.main(["predict", "--models-dir", models["models"], "--name",
                   "word", "--signature", "score", "the cat"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["predictions"][0]["num_tokens"] == 3


def test_zoo_serve_errors(tmp_path, capsys):
    assert cli.main(["serve", "--models-dir", str(tmp_path)]) == 1
    assert "models.config" in capsys.readouterr().err
    assert cli.main(["bogus"]) == 2
    for flag in ("--port", "--grpc-port"):
        for value in ("70000", "-1", "http"):
            with pytest.raises(SystemExit) as e:
                cli.main(["serve", "--models-dir", str(tmp_path), flag, value])
            assert e.value.code == 2
            expected = "not an integer" if value == "http" else "from 0 to 65535"
            assert expected in capsys.readouterr().err
    for value in ("inf", "nan", "-1"):
        with pytest.raises(SystemExit) as e:
            cli.main(["serve", "--models-dir", str(tmp_path),
                      "--poll-interval", value])
        assert e.value.code == 2
        assert "--poll-interval" in capsys.readouterr().err


def test_zoo_predict_flag_errors(tmp_path, capsys):
    base = ["predict", "--url", "http://127.0.0.1:9", "--name", "m"]
    for value in ("0", "-1", "inf"):
        with pytest.raises(SystemExit) as e:
            cli.main(base + ["--timeout", value, "hi"])
        assert e.value.code == 2
        assert "--timeout" in capsys.readouterr().err
    # --param may not replace the text of every instance
    for signature, key in ((None, "text"), ("generate", "prompt")):
        argv = base + ["--param", f"{key}=x", "hi"]
        if signature:
            argv += ["--signature", signature]
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 2
        assert f"--param {key}=" in capsys.readouterr().err
    with pytest.raises(ValueError, match="would replace every text"):
        cli.predict(["hi"], "m", url="http://127.0.0.1:9",
                    params={"text": "x"})


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_zoo_serve_subprocess(models):
    port = _free_port()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo_cli", "serve", "--models-dir",
         models["models"], "--port", str(port), "--grpc-port",
         str(_free_port()), "--backend", "local"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        client = ServingClient(f"http://127.0.0.1:{port}", timeout=30)
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            try:
                client.wait_until_available("clf", timeout=1)
                break
            except ServingError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.5)
        answer = client.predict("clf", instances=["good film"])
        assert answer["predictions"][0]["label"] in ("neg", "pos")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    assert rc == 0
