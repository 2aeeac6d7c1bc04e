"""LocalModelServer: TF Serving's REST API over real HTTP on loopback."""

import base64
import http.client
import json
import math
import os
import shutil
import threading

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from serving import config as sc  # noqa: E402
from serving.server import LocalModelServer  # noqa: E402


# ---------------------------------------------------------------------------
# Tiny SavedModels, built once per module.
# ---------------------------------------------------------------------------


class _Toy(tf.Module):
    """A string classifier on text length plus signatures of other shapes."""

    def __init__(self, version):
        super().__init__()
        self.version = version
        self.labels = ["neg", "pos"] if version == 1 else ["negative",
                                                            "positive"]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "text")])
    def classify(self, text):
        length = tf.cast(tf.strings.length(text), tf.float32)
        p_pos = tf.sigmoid(length - 5.0)
        probs = tf.stack([1.0 - p_pos, p_pos], axis=1)
        index = tf.cast(p_pos > 0.5, tf.int64)
        return {"probabilities": probs,
                "label": tf.gather(tf.constant(self.labels), index),
                "class_index": index}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "text")])
    def info(self, text):
        return {"version": tf.fill(tf.shape(text), tf.constant(
            self.version, tf.int64))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "a"),
                                  tf.TensorSpec([None], tf.float32, "b")])
    def pair(self, a, b):
        return {"joined": tf.strings.join([a, tf.strings.as_string(
            b, precision=1)], separator="|"),
                "total": tf.cast(tf.strings.length(a), tf.float32) + b}

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.int32, "x"),
                                  tf.TensorSpec([], tf.float32, "scale")])
    def numeric(self, x, scale):
        return {"y": tf.cast(tf.reduce_sum(x, axis=1), tf.float32) * scale}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "data")])
    def raw(self, data):
        return {"echo": data, "echo_bytes": data,
                "empty": tf.equal(tf.strings.length(data), 0)}


def _save_toy(path, version):
    module = _Toy(version)
    tf.saved_model.save(module, path, signatures={
        "serving_default": module.classify,
        "info": module.info,
        "pair": module.pair,
        "numeric": module.numeric,
        "raw": module.raw,
    })
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Saved toy models: {1: path, 2: path} (copy them, never modify)."""
    root = tmp_path_factory.mktemp("store")
    return {v: _save_toy(str(root / f"v{v}"), v) for v in (1, 2)}


def _install(store, models_dir, name, versions, **config_kwargs):
    for v in versions:
        shutil.copytree(store[1 if v % 2 else 2],
                        os.path.join(models_dir, name, str(v)))
    sc.update_models_config(models_dir, name, **config_kwargs)


@pytest.fixture(scope="module")
def server(store, tmp_path_factory):
    models_dir = str(tmp_path_factory.mktemp("models"))
    _install(store, models_dir, "toy", [1, 2], labels={"stable": 1,
                                                       "canary": 2},
             version_policy=sc.all_versions())
    _install(store, models_dir, "latest_only", [1, 2])
    srv = LocalModelServer(models_dir, port=0, poll_interval=0.0,
                           max_body_bytes=64 * 1024).start()
    yield srv
    srv.stop()


def call(server, method, path, body=None, raw=None, headers=None):
    """One HTTP request; returns (status, decoded JSON)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        data = raw if raw is not None else (
            json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        payload = resp.read()
        assert resp.getheader("Content-Type") == "application/json"
        return resp.status, (json.loads(payload) if payload else None)
    finally:
        conn.close()


def assert_alive(server):
    status, out = call(server, "POST", "/v1/models/toy:predict",
                       {"instances": ["hi"]})
    assert status == 200, out


# ---------------------------------------------------------------------------
# Status and metadata.
# ---------------------------------------------------------------------------


def test_model_status_all_versions(server):
    status, out = call(server, "GET", "/v1/models/toy")
    assert status == 200
    assert out == {"model_version_status": [
        {"version": str(v), "state": "AVAILABLE",
         "status": {"error_code": "OK", "error_message": ""}}
        for v in (1, 2)]}


def test_model_status_version_and_label(server):
    status, out = call(server, "GET", "/v1/models/toy/versions/1")
    assert status == 200
    assert [s["version"] for s in out["model_version_status"]] == ["1"]
    status, out = call(server, "GET", "/v1/models/toy/labels/canary")
    assert status == 200
    assert [s["version"] for s in out["model_version_status"]] == ["2"]


def test_default_policy_serves_latest_only(server):
    status, out = call(server, "GET", "/v1/models/latest_only")
    assert [s["version"] for s in out["model_version_status"]] == ["2"]
    status, out = call(server, "GET", "/v1/models/latest_only/versions/1")
    assert status == 404
    assert "Could not find version 1" in out["error"]


def test_metadata_shape(server):
    status, out = call(server, "GET", "/v1/models/toy/versions/1/metadata")
    assert status == 200
    assert out["model_spec"] == {"name": "toy", "signature_name": "",
                                 "version": "1"}
    sigs = out["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "info", "pair", "numeric", "raw"} <= set(sigs)
    default = sigs["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    text = default["inputs"]["text"]
    assert text["dtype"] == "DT_STRING"
    assert text["tensor_shape"]["dim"][0]["size"] == "-1"
    assert set(default["outputs"]) == {"probabilities", "label",
                                       "class_index"}
    assert default["outputs"]["class_index"]["dtype"] == "DT_INT64"
    numeric = sigs["numeric"]["inputs"]
    assert numeric["scale"]["tensor_shape"]["dim"] == []
    status, out = call(server, "GET", "/v1/models/toy/labels/canary/metadata")
    assert status == 200 and out["model_spec"]["version"] == "2"
    status, out = call(server, "GET", "/v1/models/toy/metadata")
    assert status == 200 and out["model_spec"]["version"] == "2"


# ---------------------------------------------------------------------------
# Predict.
# ---------------------------------------------------------------------------


def test_predict_row_format_multi_output(server):
    status, out = call(server, "POST", "/v1/models/toy/versions/1:predict",
                       {"instances": ["hi", "a much longer text"]})
    assert status == 200, out
    preds = out["predictions"]
    assert [p["label"] for p in preds] == ["neg", "pos"]
    assert [p["class_index"] for p in preds] == [0, 1]
    assert len(preds[0]["probabilities"]) == 2
    assert abs(sum(preds[0]["probabilities"]) - 1.0) < 1e-6


def test_predict_columnar_format(server):
    status, out = call(server, "POST", "/v1/models/toy/versions/1:predict",
                       {"inputs": {"text": ["hi", "a much longer text"]}})
    assert status == 200, out
    assert out["outputs"]["label"] == ["neg", "pos"]
    assert out["outputs"]["class_index"] == [0, 1]
    # A single input can be given without its name.
    status, out2 = call(server, "POST", "/v1/models/toy/versions/1:predict",
                        {"inputs": ["hi", "a much longer text"]})
    assert status == 200 and out2 == out


def test_row_format_single_input_may_be_named(server):
    status, out = call(server, "POST", "/v1/models/toy/versions/1:predict",
                       {"instances": [{"text": "hi"}, {"text": "longer!"}]})
    assert status == 200, out
    assert [p["label"] for p in out["predictions"]] == ["neg", "pos"]


def test_predict_single_output_is_unnamed(server):
    body = {"signature_name": "info", "instances": ["x", "y", "z"]}
    status, out = call(server, "POST", "/v1/models/toy:predict", body)
    assert status == 200
    assert out == {"predictions": [2, 2, 2]}
    body = {"signature_name": "info", "inputs": ["x"]}
    status, out = call(server, "POST", "/v1/models/toy:predict", body)
    assert out == {"outputs": [2]}


def test_version_and_label_routing(server):
    def version_of(path):
        status, out = call(server, "POST", path, {"signature_name": "info",
                                                  "instances": ["x"]})
        assert status == 200, out
        return out["predictions"][0]

    assert version_of("/v1/models/toy:predict") == 2
    assert version_of("/v1/models/toy/versions/1:predict") == 1
    assert version_of("/v1/models/toy/versions/2:predict") == 2
    assert version_of("/v1/models/toy/labels/stable:predict") == 1
    assert version_of("/v1/models/toy/labels/canary:predict") == 2
    assert version_of("/V1/MODELS/toy/versions/1:PREDICT") == 1


def test_two_inputs_row_and_columnar(server):
    body = {"signature_name": "pair",
            "instances": [{"a": "ab", "b": 1.5}, {"a": "xyz", "b": -1}]}
    status, out = call(server, "POST", "/v1/models/toy:predict", body)
    assert status == 200, out
    assert out["predictions"] == [{"joined": "ab|1.5", "total": 3.5},
                                  {"joined": "xyz|-1.0", "total": 2.0}]
    body = {"signature_name": "pair",
            "inputs": {"a": ["ab", "xyz"], "b": [1.5, -1]}}
    status, out = call(server, "POST", "/v1/models/toy:predict", body)
    assert out["outputs"] == {"joined": ["ab|1.5", "xyz|-1.0"],
                              "total": [3.5, 2.0]}


def test_int_and_scalar_float_inputs_columnar(server):
    body = {"signature_name": "numeric",
            "inputs": {"x": [[1, 2], [3, 4]], "scale": 0.5}}
    status, out = call(server, "POST", "/v1/models/toy:predict", body)
    assert status == 200, out
    assert out == {"outputs": [1.5, 3.5]}


def test_b64_inputs_and_binary_outputs(server):
    utf8 = "héllo"
    bad = b"\xff\xfe\x00raw"
    body = {"signature_name": "raw", "instances": [
        {"b64": base64.b64encode(utf8.encode()).decode()},
        {"b64": base64.b64encode(bad).decode()},
        ""]}
    status, out = call(server, "POST", "/v1/models/toy:predict", body)
    assert status == 200, out
    preds = out["predictions"]
    assert preds[0]["echo"] == utf8
    assert preds[1]["echo"] == {"b64": base64.b64encode(bad).decode()}
    # Outputs named *_bytes are always base64, as in TF Serving.
    assert preds[0]["echo_bytes"] == {
        "b64": base64.b64encode(utf8.encode()).decode()}
    assert [p["empty"] for p in preds] == [False, False, True]


def test_float_inputs_at_the_edges_of_float32(server):
    # As TF Serving: integers up to 2**24 - 1 (or beyond 64 bits) and numbers
    # up to float32's largest convert; Infinity passes (beyond: the 400s below).
    for scale, value in (("16777215", 16777215), ("-16777215", -16777215),
                         ("3.4e38", 3.4e38), ("Infinity", math.inf),
                         # an integer beyond 64 bits is read as a double
                         ("1" + "0" * 20, 1e20)):
        status, out = call(server, "POST", "/v1/models/toy:predict",
                           raw=_scaled(scale.encode()))
        assert status == 200, (scale, out)
        with np.errstate(over="ignore"):  # 3 * 3.4e38 is inf in float32
            want = float(np.float32(3) * np.float32(value))
        assert out["outputs"] == [want]


def test_nan_and_infinity_are_accepted(server):
    raw = b'{"signature_name": "pair", "inputs": {"a": ["x"], "b": [NaN]}}'
    status, out = call(server, "POST", "/v1/models/toy:predict", raw=raw)
    assert status == 200, out
    assert out["outputs"]["total"][0] != out["outputs"]["total"][0]  # NaN


# ---------------------------------------------------------------------------
# Bad requests: right status, server stays up.
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "complex64"])
def test_json_values_for_dtypes_rest_does_not_convert_are_unimplemented(dtype):
    """As TF Serving's json_tensor.cc: JSON converts to float32/float64,
    integers, bool and string only; a value for another dtype is
    UNIMPLEMENTED (an empty tensor has no value and passes)."""
    from serving.server import codec
    from serving.server.errors import ServingStatus

    spec = tf.TensorSpec([None], getattr(tf, dtype))
    with pytest.raises(ServingStatus, match=f"JSON value 0.5 to type {dtype}") as e:
        codec._to_array([0.5], spec, "inputs")
    assert e.value.code == "UNIMPLEMENTED"
    assert codec._to_array([], spec, "inputs").shape == (0,)
    as_float = codec._to_array([0.5, 3], tf.TensorSpec([None], tf.float32), "x")
    np.testing.assert_array_equal(as_float, np.array([0.5, 3.0], np.float32))


def test_a_surrogate_pair_is_a_character(server):
    """A paired escape (an emoji) is text like any other; the escaped
    backslash before `u` is no escape at all."""
    for text in ("a good film \\ud83d\\ude00", "C:\\\\udd00"):
        status, out = call(server, "POST", "/v1/models/toy:predict",
                           raw=b'{"instances": ["' + text.encode() + b'"]}')
        assert status == 200, out
        assert len(out["predictions"]) == 1


def test_answers_with_a_lone_surrogate_still_encode():
    from serving.server.http import encode_json

    assert encode_json({"error": "caf\u00e9"}) == '{"error": "café"}'.encode()
    raw = encode_json({"error": "bad \ud800 name"})
    assert raw == b'{"error": "bad \\ud800 name"}'
    assert json.loads(raw) == {"error": "bad \ud800 name"}


def _scaled(scale):
    """A request to the `numeric` signature with the JSON number `scale`."""
    return (b'{"signature_name": "numeric", "inputs": {"x": [[1, 2]], "scale": '
            + scale + b'}}')


BAD_REQUESTS = [
    # (method, path, raw body, expected status, error substring)
    ("POST", "/v1/models/toy:predict", b"instances = [1]", 400,
     "JSON Parse error"),
    ("POST", "/v1/models/toy:predict", b"", 400, "document is empty"),
    ("POST", "/v1/models/toy:predict", b"[1, 2]", 400, "JSON object"),
    ("POST", "/v1/models/toy:predict",
     b'{"instances": ["a"], "inputs": ["a"]}', 400, "only one of"),
    ("POST", "/v1/models/toy:predict", b'{"signature_name": "info"}', 400,
     "Missing 'inputs' or 'instances'"),
    ("POST", "/v1/models/toy:predict", b'{"instances": [1, 2]}', 400,
     "not of expected type: string"),
    ("POST", "/v1/models/toy:predict", b'{"instances": [["a"], ["b"]]}', 400,
     "incompatible"),
    ("POST", "/v1/models/toy:predict", b'{"instances": [["a"], "b"]}', 400,
     "ragged"),
    ("POST", "/v1/models/toy:predict", b'{"instances": [{"b64": "%%%"}]}',
     400, "base64"),
    ("POST", "/v1/models/toy:predict",
     b'{"signature_name": "numeric", "instances": [{"x": [1, 2], '
     b'"scale": 1.0}]}', 400, "incompatible"),
    ("POST", "/v1/models/toy:predict",
     b'{"signature_name": "numeric", "inputs": {"x": [[1.5, 2]], '
     b'"scale": 1.0}}', 400, "int32"),
    ("POST", "/v1/models/toy:predict",
     b'{"signature_name": "numeric", "inputs": {"x": [[1, 2]]}}', 400,
     "expects inputs"),
    *[("POST", "/v1/models/toy:predict", _scaled(scale), 400, error)
      for scale, error in ((b"1" + b"0" * 400, "float32 without loss of precision"),
                           (b"-1e39", "-1e+39 to float32 without loss"),
                           (b"16777216", "16777216 to float32 without loss"),
                           (b"-1e400", "Number too big to be stored in double"))],
    ("POST", "/v1/models/toy:predict",
     b'{"signature_name": "pair", "instances": ["a"]}', 400,
     "JSON object naming them"),
    ("POST", "/v1/models/toy:predict",
     b'{"signature_name": "nope", "instances": ["a"]}', 400,
     'Serving signature name: "nope" not found'),
    ("POST", "/v1/models/toy:predict",
     b'{"signature_name": 7, "instances": ["a"]}', 400,
     "must be a string"),
    ("POST", "/v1/models/nope:predict", b'{"instances": ["a"]}', 404,
     "Servable not found for request: Latest(nope)"),
    ("POST", "/v1/models/toy/versions/9:predict", b'{"instances": ["a"]}',
     404, "Specific(toy, 9)"),
    ("POST", "/v1/models/toy/labels/nope:predict", b'{"instances": ["a"]}',
     400, "Unrecognized servable version label: nope"),
    ("GET", "/v1/models/nope", None, 404, "Could not find any versions"),
    ("GET", "/v1/models/toy/versions/9", None, 404, "Could not find version"),
    ("GET", "/v1/models/toy/labels/nope", None, 400, "Unrecognized"),
    ("GET", "/v1/models/nope/metadata", None, 404, "Servable not found"),
    ("GET", "/v1/models", None, 400, "Missing model name"),
    ("GET", "/v1/models/toy:predict", None, 400, "Malformed request"),
    ("PUT", "/v1/models/toy:predict", b'{"instances": ["a"]}', 400,
     "Malformed request"),
    ("DELETE", "/v1/models/toy", None, 400, "Malformed request"),
    ("POST", "/v1/models/toy/versions/abc:predict", b"{}", 400,
     "Malformed request"),
    ("POST", "/v1/models/toy/versions/99999999999999999999:predict", b"{}",
     400, "Failed to convert version"),
    ("GET", "/v1/models/toy/versions/" + "9" * 5000, None, 400,
     "Failed to convert version: 99999999999999999999... (5000 digits)"),
    ("POST", "/v1/models/toy/versions/" + "0" * 30 + "9:predict",
     b'{"instances": ["a"]}', 404, "Specific(toy, 9)"),
    # a lone surrogate anywhere fails the parse, as in rapidjson: in a
    # text, a signature name, an input's name, a key nothing reads
    *[("POST", "/v1/models/toy:predict", body, 400,
       "JSON Parse error: The surrogate pair in string is invalid")
      for body in (b'{"instances": ["\\ud800"]}',
                   b'{"instances": ["a \\ud83d"]}',
                   b'{"signature_name": "\\udc00", "instances": ["a"]}',
                   b'{"signature_name": "pair", "instances": [{"\\ud800": "a"}]}',
                   b'{"instances": ["a"], "note": "\\udfff"}')],
    ("POST", "/v1/models/toy:classify", b'{"examples": []}', 501,
     "classify"),
    ("POST", "/v1/models/toy:regress", b'{"examples": []}', 501, "regress"),
    ("GET", "/v2/whatever", None, 404, "Not found"),
    ("POST", "/", b"{}", 404, "Not found"),
]


@pytest.mark.parametrize(
    "method,path,raw,expected,message", BAD_REQUESTS,
    ids=[f"{m} {p} {r[:20] if r else ''}" for m, p, r, _, _ in BAD_REQUESTS])
def test_bad_request_answered_and_server_survives(server, method, path, raw,
                                                  expected, message):
    status, out = call(server, method, path, raw=raw)
    assert status == expected, out
    assert message in out["error"]
    assert_alive(server)


def test_oversized_body_is_413(server):
    body = json.dumps({"instances": ["x" * 100_000]}).encode()
    status, out = call(server, "POST", "/v1/models/toy:predict", raw=body)
    assert status == 413
    assert "exceeds the limit" in out["error"]
    assert_alive(server)


def test_chunked_body_is_411(server):
    import socket

    # The whole request goes out in one write, so a server that answers
    # before reading the body cannot make the client hit a broken pipe.
    body = b'{"instances": ["a"]}'
    request = (
        b"POST /v1/models/toy:predict HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\n\r\n"
        + f"{len(body):x}".encode() + b"\r\n" + body + b"\r\n0\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    assert b" 411 " in head.split(b"\r\n")[0]
    assert "Content-Length" in json.loads(payload)["error"]
    assert_alive(server)


def test_garbage_request_line(server):
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.") and b" 400 " in data.split(b"\r\n")[0]
    assert_alive(server)


def test_concurrent_requests(server):
    errors = []
    results = []

    def worker(i):
        try:
            for j in range(4):
                text = "x" * (i + j)
                status, out = call(server, "POST",
                                   f"/v1/models/toy/versions/{1 + i % 2}"
                                   ":predict", {"instances": [text]})
                assert status == 200, out
                expected = (["neg", "pos"] if i % 2 == 0 else
                            ["negative", "positive"])[int(len(text) > 5)]
                assert out["predictions"][0]["label"] == expected
                results.append(1)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(results) == 32


# ---------------------------------------------------------------------------
# Hot reload: new versions, non-integer directories, config changes.
# ---------------------------------------------------------------------------


def test_new_version_and_config_changes_without_restart(store, tmp_path):
    models_dir = str(tmp_path / "models")
    _install(store, models_dir, "m", [1])
    with LocalModelServer(models_dir, port=0, poll_interval=0.0) as srv:
        def versions():
            status, out = call(srv, "GET", "/v1/models/m")
            assert status == 200, out
            return [s["version"] for s in out["model_version_status"]]

        assert versions() == ["1"]
        # An export in progress (non-integer directory) is ignored.
        tmp_dir = os.path.join(models_dir, "m", "tmp-export-7")
        shutil.copytree(store[2], tmp_dir)
        os.makedirs(os.path.join(models_dir, "m", "5"))  # empty, no model
        assert versions() == ["1"]
        # Published by rename: picked up on the next request.
        os.rename(tmp_dir, os.path.join(models_dir, "m", "2"))
        assert versions() == ["2"]
        status, out = call(srv, "POST", "/v1/models/m:predict",
                           {"signature_name": "info", "instances": ["a"]})
        assert out["predictions"] == [2]
        # models.config changes: policy, labels, and a new model.
        sc.update_models_config(models_dir, "m", version_policy=sc.latest(2),
                                labels={"old": 1})
        assert versions() == ["1", "2"]
        status, out = call(srv, "POST", "/v1/models/m/labels/old:predict",
                           {"signature_name": "info", "instances": ["a"]})
        assert status == 200 and out["predictions"] == [1]
        status, _ = call(srv, "GET", "/v1/models/n")
        assert status == 404
        _install(store, models_dir, "n", [1])
        status, _ = call(srv, "GET", "/v1/models/n")
        assert status == 200
        # A malformed models.config keeps the last good one in service.
        with open(os.path.join(models_dir, "models.config"), "w") as f:
            f.write("model_config_list { config { nme: 'x' } }")
        assert versions() == ["1", "2"]


def test_corrupt_newest_version_falls_back(store, tmp_path):
    models_dir = str(tmp_path / "models")
    _install(store, models_dir, "m", [1])
    os.makedirs(os.path.join(models_dir, "m", "2"))
    with open(os.path.join(models_dir, "m", "2", "saved_model.pb"), "wb") as f:
        f.write(b"not a saved model")
    with LocalModelServer(models_dir, port=0, poll_interval=0.0) as srv:
        status, out = call(srv, "GET", "/v1/models/m")
        assert status == 200
        states = {s["version"]: s["state"] for s in out["model_version_status"]}
        assert states == {"1": "AVAILABLE", "2": "END"}
        status, out = call(srv, "POST", "/v1/models/m:predict",
                           {"signature_name": "info", "instances": ["a"]})
        assert status == 200 and out["predictions"] == [1]
        status, out = call(srv, "POST", "/v1/models/m/versions/2:predict",
                           {"instances": ["a"]})
        assert status == 404 and "failed to load" in out["error"]


def _states(srv, name):
    status, out = call(srv, "GET", f"/v1/models/{name}")
    assert status == 200, out
    return {s["version"]: s["state"] for s in out["model_version_status"]}


def test_a_version_that_failed_to_load_is_retried(store, tmp_path,
                                                  monkeypatch):
    """A version directory caught half-copied fails once, then loads on a
    retry although its key (path, inode, mtime) has not changed."""
    from serving.models_dir import scan_versions
    from serving.server import registry

    clock = [1000.0]
    monkeypatch.setattr(registry, "_clock", lambda: clock[0])
    models_dir = str(tmp_path / "models")
    _install(store, models_dir, "m", [1])
    v2 = os.path.join(models_dir, "m", "2")
    os.makedirs(v2)
    with open(os.path.join(v2, "saved_model.pb"), "wb") as f:
        f.write(b"half")
    with LocalModelServer(models_dir, port=0, poll_interval=0.0,
                          max_load_retries=1,
                          load_retry_interval=60.0) as srv:
        assert _states(srv, "m") == {"1": "AVAILABLE", "2": "END"}
        key = scan_versions(os.path.join(models_dir, "m"))[2][1]
        mtime = os.stat(v2).st_mtime_ns
        os.remove(os.path.join(v2, "saved_model.pb"))
        shutil.copytree(store[2], v2, dirs_exist_ok=True)  # the copy ends
        os.utime(v2, ns=(mtime, mtime))
        assert scan_versions(os.path.join(models_dir, "m"))[2][1] == key
        clock[0] += 59.0  # within the interval the failure stands
        assert _states(srv, "m") == {"1": "AVAILABLE", "2": "END"}
        clock[0] += 1.0
        # the newest version loads, and (latest policy) replaces version 1
        assert _states(srv, "m") == {"2": "AVAILABLE"}
        status, out = call(srv, "POST", "/v1/models/m:predict",
                           {"signature_name": "info", "instances": ["a"]})
        assert status == 200 and out["predictions"] == [2]


def _install_with_a_broken_version(store, models_dir):
    """Model `m`: version 1 good, version 2 a file that never loads."""
    _install(store, models_dir, "m", [1])
    os.makedirs(os.path.join(models_dir, "m", "2"))
    with open(os.path.join(models_dir, "m", "2", "saved_model.pb"),
              "wb") as f:
        f.write(b"never a saved model")


def _failed_loads(srv):
    """The server's count of failed SavedModel loads (its metrics)."""
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        s.value for family in text_string_to_metric_families(
            srv.metrics.render()[0].decode())
        for s in family.samples
        if s.name.startswith(":tensorflow:cc:saved_model:load_attempt")
        and s.labels.get("status") == "fail")


def test_load_retries_are_bounded(store, tmp_path):
    models_dir = str(tmp_path / "models")
    _install_with_a_broken_version(store, models_dir)
    with LocalModelServer(models_dir, port=0, poll_interval=0.0,
                          max_load_retries=2,
                          load_retry_interval=0.0) as srv:
        for _ in range(5):
            assert _states(srv, "m") == {"1": "AVAILABLE", "2": "END"}
        failures = _failed_loads(srv)
    assert failures == 3  # the first try and two retries


def test_scan_versions_tells_a_missing_directory_from_an_unreadable_one(
        store, tmp_path, monkeypatch):
    from serving import models_dir as md

    assert md.scan_versions(str(tmp_path / "absent")) == {}
    (tmp_path / "a_file").write_text("x")
    assert md.scan_versions(str(tmp_path / "a_file")) == {}
    _install(store, str(tmp_path / "models"), "m", [1])
    base = os.path.join(str(tmp_path / "models"), "m")
    assert sorted(md.scan_versions(base)) == [1]

    def denied(path):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(md.os, "listdir", denied)
    with pytest.raises(PermissionError):
        md.scan_versions(base)
    monkeypatch.undo()
    # a version directory that cannot be read: raised, or recorded in
    # `errors` with the others scanned
    _install(store, str(tmp_path / "models"), "m", [2])
    os.makedirs(os.path.join(base, "3"))          # no SavedModel: no version
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if os.fspath(path).startswith(os.path.join(base, "1") + os.sep):
            raise OSError(5, "Input/output error", path)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(md.os, "stat", stat)
    with pytest.raises(OSError, match="Input/output"):
        md.scan_versions(base)
    errors = {}
    assert sorted(md.scan_versions(base, errors=errors)) == [2]
    assert list(errors) == [1] and errors[1].errno == 5


def test_an_unreadable_model_directory_keeps_what_is_served(
        store, tmp_path, monkeypatch):
    """A poll that cannot list a model's directory (an I/O error, a
    permission flap) keeps the previous scan: the loaded version stays
    AVAILABLE and a broken version keeps its retry count, where an empty
    scan would unload the one and reset the other."""
    from serving import models_dir as md

    models_dir = str(tmp_path / "models")
    _install_with_a_broken_version(store, models_dir)
    base = os.path.join(models_dir, "m")
    real_listdir = os.listdir
    broken = [False]

    def listdir(path):
        if broken[0] and os.path.abspath(path) == base:
            raise OSError(5, "Input/output error", path)
        return real_listdir(path)

    monkeypatch.setattr(md.os, "listdir", listdir)
    with LocalModelServer(models_dir, port=0, poll_interval=0.0,
                          max_load_retries=2,
                          load_retry_interval=0.0) as srv:
        assert _states(srv, "m") == {"1": "AVAILABLE", "2": "END"}
        broken[0] = True
        for _ in range(3):
            assert _states(srv, "m") == {"1": "AVAILABLE", "2": "END"}
            status, out = call(srv, "POST", "/v1/models/m:predict",
                               {"signature_name": "info",
                                "instances": ["a"]})
            assert status == 200 and out["predictions"] == [1]
        broken[0] = False
        for _ in range(5):
            assert _states(srv, "m") == {"1": "AVAILABLE", "2": "END"}
        failures = _failed_loads(srv)
    assert failures == 3  # the first try and two retries, in all


def test_an_unreadable_version_keeps_its_entry_and_the_rest_is_scanned(
        store, tmp_path, monkeypatch):
    """A version whose files cannot be read for a while (an I/O error)
    stays loaded, where the old scan dropped it and loaded the one before;
    a version that appears meanwhile is still found."""
    from serving import models_dir as md

    models_dir = str(tmp_path / "models")
    _install(store, models_dir, "m", [1, 2])
    v2 = os.path.join(models_dir, "m", "2")
    real_stat = os.stat
    broken = [False]

    def stat(path, *args, **kwargs):
        p = os.fspath(path)
        if broken[0] and (p == v2 or p.startswith(v2 + os.sep)):
            raise OSError(5, "Input/output error", p)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(md.os, "stat", stat)
    with LocalModelServer(models_dir, port=0, poll_interval=0.0) as srv:
        assert _states(srv, "m") == {"2": "AVAILABLE"}
        broken[0] = True
        for _ in range(3):
            assert _states(srv, "m") == {"2": "AVAILABLE"}
            status, out = call(srv, "POST", "/v1/models/m:predict",
                               {"signature_name": "info",
                                "instances": ["a"]})
            assert status == 200 and out["predictions"] == [2]
        shutil.copytree(store[1], os.path.join(models_dir, "m", "3"))
        assert _states(srv, "m") == {"3": "AVAILABLE"}


def test_a_kept_scan_is_only_of_the_same_base_path(store, tmp_path,
                                                   monkeypatch):
    """When models.config points a model at a new directory that cannot be
    listed, the old directory's versions are not kept for it."""
    from serving import models_dir as md
    from serving.server.registry import ModelRegistry

    models_dir = str(tmp_path / "models")
    _install(store, models_dir, "m", [1])
    elsewhere = str(tmp_path / "elsewhere")
    os.makedirs(elsewhere)
    real_listdir = os.listdir

    def listdir(path):
        if os.path.abspath(path) == elsewhere:
            raise PermissionError(13, "Permission denied", path)
        return real_listdir(path)

    monkeypatch.setattr(md.os, "listdir", listdir)
    reg = ModelRegistry(models_dir, poll_interval=0.0)
    assert reg.resolve("m").version == 1
    reg.refresh(force=True)           # the same base path, listed again
    assert reg.resolve("m").version == 1
    sc.update_models_config(models_dir, "m", base_path=elsewhere)
    reg.refresh(force=True)
    assert reg._versions["m"] == {}
    assert "cannot list" in reg._scan_errors["m"]


def test_failures_and_load_locks_are_forgotten_with_their_directories(
        store, tmp_path):
    """The registry does not keep the failures of directories that are gone
    (or changed), nor the load locks of models that left the config."""
    from serving.server.registry import ModelRegistry

    models_dir = str(tmp_path / "models")
    _install(store, models_dir, "m", [1])
    _install(store, models_dir, "other", [2])
    bad = os.path.join(models_dir, "m", "2")
    os.makedirs(bad)
    with open(os.path.join(bad, "saved_model.pb"), "wb") as f:
        f.write(b"never a saved model")
    reg = ModelRegistry(models_dir, poll_interval=0.0)
    assert reg.resolve("m").version == 1
    assert reg.resolve("other").version == 2
    assert len(reg._failed) == 1 and set(reg._model_locks) == {"m", "other"}
    shutil.rmtree(bad)
    sc.remove_model(models_dir, "other")
    reg.refresh(force=True)
    assert reg._failed == {}
    assert set(reg._model_locks) == {"m"}
    assert reg.resolve("m").version == 1


def test_a_slow_load_holds_up_only_its_own_model(store, tmp_path,
                                                 monkeypatch):
    """A version loading (a big SavedModel, a long warmup) does not stop
    requests for other models; requests for the model itself wait for that
    one load instead of starting another."""
    from serving.server import registry as registry_lib

    models_dir = str(tmp_path / "models")
    _install(store, models_dir, "fast", [1])
    _install(store, models_dir, "slow", [2])
    release, started = threading.Event(), threading.Event()
    loads = []
    real = registry_lib.Servable

    def servable(name, version, path, key):
        loads.append(name)
        if name == "slow":
            started.set()
            assert release.wait(30)
        return real(name, version, path, key)

    monkeypatch.setattr(registry_lib, "Servable", servable)
    reg = registry_lib.ModelRegistry(models_dir, poll_interval=0.0)
    asked = threading.Event()  # the second request reached the model lock
    real_lock = reg._model_lock

    def model_lock(name):
        if threading.current_thread() is threads[1]:
            asked.set()
        return real_lock(name)

    reg._model_lock = model_lock
    got = {}
    threads = [threading.Thread(
        target=lambda i=i: got.setdefault(i, reg.resolve("slow").version),
        daemon=True) for i in range(2)]
    try:
        threads[0].start()
        assert started.wait(30)
        threads[1].start()
        assert asked.wait(30)
        # while "slow" loads, "fast" loads and answers
        assert reg.resolve("fast").version == 1
        assert reg.status("fast")["model_version_status"][0]["state"] == \
            "AVAILABLE"
        assert threads[0].is_alive()
    finally:
        release.set()
        for t in threads:
            t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert got == {0: 2, 1: 2}
    assert sorted(loads) == ["fast", "slow"]  # one load each


@pytest.mark.parametrize("kwargs", [
    dict(max_load_retries=-1), dict(max_load_retries=1.5),
    dict(max_load_retries=True), dict(max_load_retries=None),
    dict(load_retry_interval=-1.0), dict(load_retry_interval=float("inf")),
    dict(load_retry_interval=None), dict(load_retry_interval="60"),
    dict(load_retry_interval=True)])
def test_bad_load_retry_arguments(kwargs, tmp_path):
    with pytest.raises(ValueError, match="Received: "):
        LocalModelServer(str(tmp_path), port=0, **kwargs)


def test_stop_is_graceful_and_idempotent(store, tmp_path):
    models_dir = str(tmp_path / "models")
    _install(store, models_dir, "m", [1])
    srv = LocalModelServer(models_dir, port=0).start()
    port = srv.port
    assert call(srv, "GET", "/v1/models/m")[0] == 200
    srv.stop()
    srv.stop()
    with pytest.raises(OSError):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/v1/models/m")
        conn.getresponse()


def test_binds_loopback_by_default(tmp_path):
    srv = LocalModelServer(str(tmp_path), port=0)
    try:
        assert srv.host == "127.0.0.1"
    finally:
        srv.stop()


# ---------------------------------------------------------------------------
# serve(): TF Serving binary when present, errors otherwise.
# ---------------------------------------------------------------------------


def test_serve_runs_tensorflow_model_server_when_on_path(tmp_path,
                                                         monkeypatch):
    from serving.server import serve

    models_dir = tmp_path / "models"
    sc.update_models_config(models_dir, "m")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv.txt"
    fake = bin_dir / "tensorflow_model_server"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert serve(models_dir, port=9123, grpc_port=9122) == 0
    assert record.read_text().split() == sc.serving_command(
        models_dir, port=9123, grpc_port=9122)[1:]


def test_serve_errors(tmp_path, monkeypatch):
    from serving.server import serve

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(FileNotFoundError, match="models.config"):
        serve(tmp_path)
    sc.update_models_config(tmp_path, "m")
    with pytest.raises(FileNotFoundError, match="tensorflow_model_server"):
        serve(tmp_path, backend="tfserving")
    with pytest.raises(ValueError, match="backend"):
        serve(tmp_path, backend="triton")


def test_not_found_says_when_models_config_is_missing_or_unreadable(tmp_path):
    """`zoo predict --models-dir` with a mistyped folder, or a damaged
    models.config, must not read like a mere unknown model."""
    from serving.server.errors import ServingStatus
    from serving.server.registry import ModelRegistry

    registry = ModelRegistry(str(tmp_path), poll_interval=0.0)
    with pytest.raises(ServingStatus) as e:
        registry.resolve("m")
    assert e.value.code == "NOT_FOUND"
    assert "models.config does not exist in" in e.value.message
    (tmp_path / "models.config").write_text("model_config_list { config { nam")
    with pytest.raises(ServingStatus) as e:
        registry.status("m")
    assert "Malformed" in e.value.message
    assert "no model is served" in e.value.message
    (tmp_path / "models.config").write_bytes(b"model_config_list {\xff}")
    with pytest.raises(ServingStatus) as e:  # not a 500
        registry.resolve("m")
    assert "is not UTF-8 text" in e.value.message
    import time as _time

    (tmp_path / "models.config").write_text(
        "model_config_list { config { name: 'other' base_path: '%s' "
        "model_platform: 'tensorflow' } }\n" % (tmp_path / "other"))
    with pytest.raises(ServingStatus) as e:
        registry.resolve("m")
    assert "models.config" not in e.value.message  # a good config
    _time.sleep(0.01)
    (tmp_path / "models.config").write_text("model_config_list { nope }\n")
    with pytest.raises(ServingStatus) as e:
        registry.resolve("m")
    assert "the previous configuration is served" in e.value.message
    # --models-dir naming a file: an error that says so, not a 500
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ServingStatus) as e:
        ModelRegistry(str(afile), poll_interval=0.0).resolve("m")
    assert e.value.code == "NOT_FOUND" and "Not a directory" in e.value.message


def test_metadata_describes_the_loaded_graph_after_its_folder_goes(store, tmp_path):
    """Metadata is read when the version loads: a version folder deleted
    (or replaced) before the next rescan does not turn it into a 500, nor
    into another model's signatures."""
    models_dir = str(tmp_path / "models")
    _install(store, models_dir, "toy", [1])
    with LocalModelServer(models_dir, port=0, poll_interval=3600) as srv:
        status, out = call(srv, "POST", "/v1/models/toy:predict",
                           body={"instances": ["hello world"]})
        assert status == 200, out  # version 1 is loaded
        shutil.rmtree(os.path.join(models_dir, "toy", "1"))
        status, after = call(srv, "GET", "/v1/models/toy/metadata")
    assert status == 200, after
    signatures = after["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "info", "pair"} <= set(signatures)
