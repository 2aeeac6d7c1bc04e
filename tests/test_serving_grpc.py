"""The local server's gRPC API, driven with TF Serving's own client stubs."""

import json
import os
import shutil

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
grpc = pytest.importorskip("grpc")

from tensorflow_serving.apis import (get_model_metadata_pb2,  # noqa: E402
                                     get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc)

from serving import cli  # noqa: E402
from serving import config as sc  # noqa: E402
from serving.client import ServingClient, ServingError  # noqa: E402
from serving.server import LocalModelServer  # noqa: E402
from test_export_support import TEXTS, shared_exports  # noqa: E402

MAX_BYTES = 256 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    shared = shared_exports()
    root = str(tmp_path_factory.mktemp("grpc_models"))
    for name in ("clf", "word"):
        shutil.copytree(os.path.join(shared["models"], name),
                        os.path.join(root, name))
    sc.update_models_config(root, "clf", labels={"stable": 1},
                            version_policy=sc.all_versions())
    sc.update_models_config(root, "word")
    srv = LocalModelServer(root, port=0, grpc_port=0, batching="off",
                           max_body_bytes=MAX_BYTES).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(server.grpc_target)
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel))
    channel.close()


def _request(name, signature="", version=None, label=None, **inputs):
    """A PredictRequest as TF Serving's client example builds it."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request


def _code(call, request):
    with pytest.raises(grpc.RpcError) as e:
        call(request, timeout=30)
    return e.value.code(), e.value.details()


def _alive(stubs):
    response = stubs[0].Predict(_request("clf", text=["still here"]),
                                timeout=30)
    assert tf.make_ndarray(response.outputs["probabilities"]).shape == (1, 2)


def test_predict_matches_the_keras_model_and_rest(server, stubs):
    response = stubs[0].Predict(_request("clf", text=TEXTS), timeout=30)
    probs = tf.make_ndarray(response.outputs["probabilities"])
    np.testing.assert_allclose(probs, shared_exports()["clf_probs"],
                               atol=1e-6)
    labels = [b.decode() for b in tf.make_ndarray(response.outputs["label"])]
    assert set(labels) <= {"neg", "pos"}                 # v2's class names
    assert response.model_spec.name == "clf"
    assert response.model_spec.signature_name == "serving_default"
    assert response.model_spec.version.value == 2        # the latest
    rest = ServingClient(server.url).predict("clf", instances=TEXTS)
    np.testing.assert_allclose(
        [p["probabilities"] for p in rest["predictions"]], probs, atol=1e-6)
    assert [p["label"] for p in rest["predictions"]] == labels


def test_versions_labels_and_output_filter(stubs):
    v1 = stubs[0].Predict(_request("clf", version=1, text=["a good film"]),
                          timeout=30)
    assert v1.model_spec.version.value == 1
    stable = stubs[0].Predict(_request("clf", label="stable",
                                       text=["a good film"]), timeout=30)
    assert stable.model_spec.version.value == 1
    request = _request("clf", text=["a good film"])
    request.output_filter.append("label")
    filtered = stubs[0].Predict(request, timeout=30)
    assert list(filtered.outputs) == ["label"]
    request.output_filter.append("label")
    code, details = _code(stubs[0].Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "duplicate" in details
    request.output_filter[:] = ["probabilities", "nope"]
    code, details = _code(stubs[0].Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "nope" in details


def test_language_model_signatures(stubs):
    score = stubs[0].Predict(_request("word", "score",
                                      text=["the cat sat", ""]), timeout=30)
    assert tf.make_ndarray(score.outputs["num_tokens"]).tolist() == [4, 1]
    request = _request("word", "generate_seeded", prompt=["the cat"],
                       max_length=np.int32(5), temperature=np.float32(1.0),
                       seed=np.int64(3))
    a = stubs[0].Predict(request, timeout=30)
    b = stubs[0].Predict(request, timeout=30)
    assert tf.make_ndarray(a.outputs["text"]).tolist() == \
        tf.make_ndarray(b.outputs["text"]).tolist()


def test_metadata(stubs):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "word"
    request.metadata_field.append("signature_def")
    response = stubs[0].GetModelMetadata(request, timeout=30)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(sig_map)
    assert {"serving_default", "score", "generate", "generate_seeded"} <= \
        set(sig_map.signature_def)
    text = sig_map.signature_def["score"].inputs["text"]
    assert text.dtype == tf.string.as_datatype_enum
    assert response.model_spec.version.value == 1
    for fields in (["nope"], [], ["signature_def", "nope"]):
        request.metadata_field[:] = fields
        code, _ = _code(stubs[0].GetModelMetadata, request)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, fields
    request.model_spec.version.value = 9
    request.metadata_field[:] = ["signature_def"]
    code, _ = _code(stubs[0].GetModelMetadata, request)
    assert code == grpc.StatusCode.NOT_FOUND


def test_model_status(stubs):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "clf"
    response = stubs[1].GetModelStatus(request, timeout=30)
    assert [(s.version, s.state) for s in response.model_version_status] == \
        [(1, get_model_status_pb2.ModelVersionStatus.AVAILABLE),
         (2, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]
    assert response.model_version_status[0].status.error_code == 0
    request.model_spec.name = "missing"
    code, details = _code(stubs[1].GetModelStatus, request)
    assert code == grpc.StatusCode.NOT_FOUND and "missing" in details


@pytest.mark.parametrize("request_kwargs, expected", [
    (dict(name="missing", text=["x"]), grpc.StatusCode.NOT_FOUND),
    (dict(name="clf", version=9, text=["x"]), grpc.StatusCode.NOT_FOUND),
    # TF Serving's ServerCore: "Unrecognized servable version label".
    (dict(name="clf", label="nope", text=["x"]),
     grpc.StatusCode.INVALID_ARGUMENT),
    # TF Serving's gRPC Predict (its REST API says INVALID_ARGUMENT).
    (dict(name="clf", signature="nope", text=["x"]),
     grpc.StatusCode.FAILED_PRECONDITION),
    (dict(name="clf", version=-1, text=["x"]), grpc.StatusCode.NOT_FOUND),
    (dict(name="clf", text=np.array([1.0, 2.0], np.float32)),
     grpc.StatusCode.INVALID_ARGUMENT),                  # wrong dtype
    (dict(name="clf", text=[["a", "b"]]),
     grpc.StatusCode.INVALID_ARGUMENT),                  # wrong shape
    (dict(name="clf", words=["x"]), grpc.StatusCode.INVALID_ARGUMENT),
    (dict(name="", text=["x"]), grpc.StatusCode.INVALID_ARGUMENT),
])
def test_bad_requests_get_tf_serving_codes(stubs, request_kwargs, expected):
    request = _request(**request_kwargs)
    code, details = _code(stubs[0].Predict, request)
    assert code == expected, details
    _alive(stubs)


def _raw_tensor(dtype, dims, content=b"", unknown_rank=False):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "clf"
    tensor = request.inputs["text"]
    tensor.dtype = dtype
    tensor.tensor_shape.unknown_rank = unknown_rank
    for size in dims:
        tensor.tensor_shape.dim.add().size = size
    tensor.tensor_content = content
    return request


@pytest.mark.parametrize("request_", [
    _raw_tensor(tf.float32.as_datatype_enum, [4], b"\x00" * 7),  # not 16
    _raw_tensor(tf.string.as_datatype_enum, [2], b"\x00" * 16),  # content
    _raw_tensor(999, [1]),                                # no such dtype
    _raw_tensor(0, [1]),                                  # DT_INVALID
    _raw_tensor(tf.string.as_datatype_enum, [-1]),        # negative dim
    _raw_tensor(tf.string.as_datatype_enum, [], unknown_rank=True),
], ids=["content_size", "string_content", "dtype_999", "dt_invalid",
        "negative_dim", "unknown_rank"])
def test_malformed_tensor_proto_is_invalid_argument(stubs, request_):
    code, details = _code(stubs[0].Predict, request_)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    _alive(stubs)


def test_broadcast_tensor_is_decoded_within_limits(stubs):
    # One value for a whole shape, as tf.make_tensor_proto(v, shape=...)
    # sends it: TF Serving repeats it, and so does the server...
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "clf"
    request.inputs["text"].CopyFrom(tf.make_tensor_proto("a fine film",
                                                         shape=[3]))
    assert len(request.inputs["text"].string_val) == 1
    response = stubs[0].Predict(request, timeout=30)
    probs = tf.make_ndarray(response.outputs["probabilities"])
    assert probs.shape == (3, 2) and np.allclose(probs[0], probs[2])
    # ... but not past what the message limit allows: a few bytes on the
    # wire must not become gigabytes in the server.
    request.inputs["text"].tensor_shape.dim[0].size = 10 ** 9
    code, details = _code(stubs[0].Predict, request)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "Received" in details
    _alive(stubs)


def test_oversized_request_is_resource_exhausted(stubs):
    request = _request("clf", text=["x" * (MAX_BYTES + 10)])
    code, _ = _code(stubs[0].Predict, request)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    _alive(stubs)


def test_serving_client_over_grpc(server):
    with ServingClient(grpc_target=server.grpc_target) as client:
        over_grpc = client.predict("clf", instances=TEXTS[:3])
        columnar = client.predict("clf", inputs={"text": TEXTS[:3]})
        status = client.status("clf", version=1)
        meta = client.metadata("clf", label="stable")
        with pytest.raises(ServingError) as e:
            client.predict("missing", instances=["x"])
    rest = ServingClient(server.url)
    over_rest = rest.predict("clf", instances=TEXTS[:3])
    for a, b in zip(over_grpc["predictions"], over_rest["predictions"]):
        assert a["label"] == b["label"]
        assert a["class_index"] == b["class_index"]
        np.testing.assert_allclose(a["probabilities"], b["probabilities"],
                                   atol=1e-6)
    assert columnar["outputs"]["label"] == [
        p["label"] for p in over_rest["predictions"]]
    assert status == rest.status("clf", version=1)
    assert meta["model_spec"]["version"] == "1"
    assert meta["metadata"]["signature_def"]["signature_def"][
        "serving_default"]["inputs"]["text"]["dtype"] == "DT_STRING"
    assert e.value.grpc_code == "NOT_FOUND" and e.value.status_code == 404
    with pytest.raises(ValueError, match="HOST:PORT"):
        ServingClient(grpc_target="nowhere")
    with ServingClient(grpc_target=server.grpc_target) as client:
        with pytest.raises(ServingError) as e:
            client.predict("clf", instances=["x"], signature_name="nope")
        assert e.value.grpc_code == "FAILED_PRECONDITION"
        with pytest.raises(ServingError) as e:       # a non-string input
            client.predict("clf", instances=[1.5])
        assert e.value.grpc_code == "INVALID_ARGUMENT"
        assert client.predict("clf", instances=["x"])["predictions"]


def test_zoo_predict_over_grpc(server, capsys):
    rc = cli.main(["predict", "--grpc", server.grpc_target, "--name", "word",
                   "--signature", "score", "the cat"])
    assert rc == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert out["predictions"][0]["num_tokens"] == 3
    rc = cli.main(["predict", "--grpc", server.grpc_target, "--name", "nope",
                   "x"])
    assert rc == 1 and "NOT_FOUND" in capsys.readouterr().err


def test_grpc_requests_are_counted(server, stubs):
    from serving.server.metrics import ServerMetrics

    assert isinstance(server.metrics, ServerMetrics)
    _alive(stubs)
    code, _ = _code(stubs[0].Predict, _request("missing", text=["x"]))
    assert code == grpc.StatusCode.NOT_FOUND
    text = server.metrics.render()[0].decode()
    assert any(line.startswith(":tensorflow:serving:request_count{")
               and 'entrypoint="GRPC"' in line and 'status="OK"' in line
               for line in text.splitlines())
    assert any('entrypoint="GRPC"' in line and 'status="NOT_FOUND"' in line
               and 'model_name=""' in line
               for line in text.splitlines())


class _Scale(tf.Module):
    """A toy whose input changes between versions: v1 takes a string `x`,
    v2 a float `x`."""

    def __init__(self, version):
        super().__init__()
        dtype = tf.string if version == 1 else tf.float32

        @tf.function(input_signature=[tf.TensorSpec([None], dtype, name="x")])
        def serve(x):
            if dtype == tf.string:
                return {"y": tf.strings.length(x)}
            return {"y": tf.cast(x * 2.0, tf.float32)}

        self.serve = serve


def test_a_long_lived_grpc_client_follows_a_changed_signature(tmp_path):
    """The client checks inputs against the signature it read first; when
    a new version takes other inputs, it reads the signature again instead
    of refusing valid inputs for good."""
    models_dir = str(tmp_path / "models")
    for version in (1, 2):
        module = _Scale(version)
        tf.saved_model.save(module, os.path.join(tmp_path, f"s{version}"),
                            signatures={"serving_default": module.serve})
    shutil.copytree(os.path.join(tmp_path, "s1"),
                    os.path.join(models_dir, "scale", "1"))
    sc.update_models_config(models_dir, "scale")
    with LocalModelServer(models_dir, port=0, grpc_port=0, batching="off",
                          poll_interval=0.0) as srv, \
            ServingClient(grpc_target=srv.grpc_target) as client:
        assert client.predict("scale", instances=["ab", "abc"])[
            "predictions"] == [2, 3]
        shutil.copytree(os.path.join(tmp_path, "s2"),
                        os.path.join(models_dir, "scale", "2"))
        assert client.predict("scale", instances=[1.5, 2.0])[
            "predictions"] == [3.0, 4.0]
        with pytest.raises(ServingError) as e:  # wrong for both versions
            client.predict("scale", instances=[[1.0, 2.0]])
    assert "checked in the client" in str(e.value)
