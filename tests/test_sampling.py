"""The exported `sample` signature and the generation argument checks.

References are computed independently: the next-token distribution from
the Keras model itself, and top-p, the repetition penalty and the ban in
numpy.
"""

import json
import os
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from serving import config as sc  # noqa: E402
from serving import export as ex  # noqa: E402
from serving.server import LocalModelServer  # noqa: E402
from test_export_support import WORD_VOCAB, build_lm, shared_exports  # noqa: E402

BOS = WORD_VOCAB.index("<eos>")         # the word-level context token
UNK = WORD_VOCAB.index("<unk>")
VALID = len(WORD_VOCAB)                 # ids the vocabulary defines


@pytest.fixture(scope="module")
def word():
    shared = shared_exports()
    loaded = tf.saved_model.load(shared["results"]["word"].path)
    return shared["word"], loaded.signatures


@pytest.fixture(scope="module")
def unk_lover(tmp_path_factory):
    """A word LM whose output bias makes <unk> by far the likeliest token."""
    model = build_lm(WORD_VOCAB, "word")
    bias = next(w for w in model.weights if w.path == "logits/bias")
    value = np.zeros(bias.shape, "float32")
    value[UNK] = 8.0
    bias.assign(value)
    root = str(tmp_path_factory.mktemp("unk_lover"))
    result = ex.export_model(model, root, "lm", vocabulary=WORD_VOCAB,
                             level="word", max_generate_length=8,
                             warmup=False)
    return model, tf.saved_model.load(result.path).signatures


def _sample(sigs, prompts, *, max_length=6, temperature=1.0, top_k=0,
            top_p=1.0, penalty=1.0, seed=0, ban_unk=False):
    out = sigs["sample"](
        prompt=tf.constant(prompts), max_length=tf.constant(max_length),
        temperature=tf.constant(temperature, tf.float32),
        top_k=tf.constant(top_k), top_p=tf.constant(top_p, tf.float32),
        repetition_penalty=tf.constant(penalty, tf.float32),
        seed=tf.constant(seed, tf.int64), ban_unk=tf.constant(ban_unk))
    return {k: v.numpy() for k, v in out.items()}


def _greedy(sigs, prompts, max_length=6):
    out = sigs["generate"](prompt=tf.constant(prompts),
                           max_length=tf.constant(max_length),
                           temperature=tf.constant(0.0))
    return {k: v.numpy() for k, v in out.items()}


def _next_logits(model, words):
    """The Keras model's logits for the token after ``words``."""
    ids = [BOS] + [WORD_VOCAB.index(w) for w in words]
    logits = np.asarray(model(np.array([ids], "int32"), training=False))
    return logits[0, -1, :VALID].astype("float64")


PROMPTS = ["the cat", "", "dog ran on"]


def test_top_k_1_is_greedy(word):
    _, sigs = word
    greedy = _greedy(sigs, PROMPTS)
    for seed in range(5):
        got = _sample(sigs, PROMPTS, top_k=1, temperature=1.3, seed=seed)
        assert got["text"].tolist() == greedy["text"].tolist()
        assert got["num_generated"].tolist() == \
            greedy["num_generated"].tolist()


def test_top_p_only_picks_tokens_inside_the_nucleus(word):
    model, sigs = word
    top_p = 0.4
    probs = np.exp(_next_logits(model, ["the", "cat"]))
    probs /= probs.sum()
    order = np.argsort(-probs)
    before = np.cumsum(probs[order]) - probs[order]
    nucleus = {WORD_VOCAB[i] for i, b in zip(order, before) if b < top_p}
    assert 1 <= len(nucleus) < VALID - 2       # a real restriction
    picked = set()
    for seed in range(40):
        out = _sample(sigs, ["the cat"], max_length=1, top_p=top_p,
                      seed=seed)
        token = out["completion"][0].decode() or "<eos>"   # <eos> stops
        picked.add(token)
    assert picked <= nucleus, (picked, nucleus)
    # Without top-p the same seeds leave the nucleus at least once.
    free = {(_sample(sigs, ["the cat"], max_length=1, seed=s)["completion"]
             [0].decode() or "<eos>") for s in range(40)}
    assert free - nucleus


def test_same_seed_same_text_other_seeds_differ(word):
    _, sigs = word
    a = _sample(sigs, PROMPTS, max_length=8, temperature=1.5, seed=7,
                top_k=5, top_p=0.95, penalty=1.3)
    b = _sample(sigs, PROMPTS, max_length=8, temperature=1.5, seed=7,
                top_k=5, top_p=0.95, penalty=1.3)
    assert a["text"].tolist() == b["text"].tolist()
    others = {tuple(_sample(sigs, PROMPTS, max_length=8, temperature=1.5,
                            seed=s)["text"].tolist()) for s in range(8)}
    assert len(others) > 1


def test_ban_unk(unk_lover):
    _, sigs = unk_lover
    greedy = _greedy(sigs, ["the", ""], max_length=4)
    assert all("<unk>" in t.decode().split() for t in greedy["completion"])
    for seed in range(10):
        out = _sample(sigs, ["the", ""], max_length=4, seed=seed,
                      temperature=1.0, ban_unk=True)
        for text in out["completion"]:
            assert "<unk>" not in text.decode().split()
    # a large temperature flattens the logits, but not the masks: <unk>
    # stays banned and nothing beyond the vocabulary is drawn
    for seed in range(5):
        out = _sample(sigs, ["the"], max_length=4, seed=seed,
                      temperature=1e9, ban_unk=True)
        assert "<unk>" not in out["completion"][0].decode().split()
    banned_greedy = _sample(sigs, ["the"], max_length=1, temperature=0.0,
                            ban_unk=True)
    logits = _next_logits(unk_lover[0], ["the"])
    logits[UNK] = -np.inf
    expected = WORD_VOCAB[int(np.argmax(logits))]
    assert (banned_greedy["completion"][0].decode() or "<eos>") == expected


def test_repetition_penalty_matches_numpy(unk_lover):
    model, sigs = unk_lover
    penalty = 4.0
    # Greedy from "the": the first token is <unk> (nothing to penalise but
    # "the"); the second is chosen with "the" and <unk> penalised.
    first = _next_logits(model, ["the"])
    first[0] = first[0] / penalty if first[0] > 0 else first[0] * penalty
    tok1 = int(np.argmax(first))
    assert tok1 == UNK
    second = _next_logits(model, ["the", "<unk>"])
    for seen in {0, UNK}:
        second[seen] = (second[seen] / penalty if second[seen] > 0
                        else second[seen] * penalty)
    tok2 = int(np.argmax(second))
    out = _sample(sigs, ["the"], max_length=2, temperature=0.0,
                  penalty=penalty)
    words = out["completion"][0].decode().split()
    expected = [WORD_VOCAB[tok1]] + ([] if tok2 == BOS else
                                     [WORD_VOCAB[tok2]])
    assert words == expected
    # Penalty 1 is greedy generation itself.
    plain = _sample(sigs, ["the"], max_length=4, temperature=0.0, penalty=1.0)
    assert plain["text"].tolist() == _greedy(sigs, ["the"], 4)["text"].tolist()


@pytest.mark.parametrize("signature, changes, message", [
    ("generate", {"temperature": -1.0}, "temperature must be a finite number >= 0"),
    ("generate", {"temperature": float("nan")}, "temperature must be a finite"),
    ("generate", {"temperature": float("inf")}, "temperature must be a finite"),
    ("generate", {"max_length": -5}, "max_length must be >= 0"),
    ("generate_seeded", {"temperature": -0.5}, "temperature must be a finite"),
    ("sample", {"top_p": 0.0}, "top_p must be in (0, 1]"),
    ("sample", {"top_p": 1.5}, "top_p must be in (0, 1]"),
    ("sample", {"top_p": float("nan")}, "top_p must be in (0, 1]"),
    ("sample", {"top_k": -1}, "top_k must be >= 0"),
    ("sample", {"repetition_penalty": 0.0}, "repetition_penalty must be a finite number > 0"),
    ("sample", {"repetition_penalty": float("inf")}, "repetition_penalty must be a finite"),
    ("sample", {"max_length": [3, -1]}, "max_length must be >= 0"),
])
def test_invalid_generation_arguments(word, signature, changes, message):
    _, sigs = word
    inputs = {"prompt": ["a", "b"], "max_length": 3, "temperature": 1.0}
    if signature != "generate":
        inputs["seed"] = np.int64(1)
    if signature == "sample":
        inputs.update(top_k=0, top_p=1.0, repetition_penalty=1.0,
                      ban_unk=False)
    inputs.update(changes)
    fn = sigs[signature]
    specs = fn.structured_input_signature[1]
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        fn(**{k: tf.constant(v, specs[k].dtype) for k, v in inputs.items()})
    assert message in e.value.message
    assert "Received:" in e.value.message


def test_max_length_above_the_cap_is_cut(word):
    _, sigs = word
    out = _sample(sigs, ["the"], max_length=10_000, temperature=0.0,
                  ban_unk=True)
    assert out["num_generated"][0] <= 16          # the export's cap


# ---------------------------------------------------------------------------
# Over the local server's REST and gRPC APIs.
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("sampling_models"))
    shutil.copytree(os.path.join(shared_exports()["models"], "word"),
                    os.path.join(root, "word"))
    sc.update_models_config(root, "word")
    srv = LocalModelServer(root, port=0, grpc_port=0, batching="off").start()
    yield srv
    srv.stop()


def _post(server, body):
    request = urllib.request.Request(
        f"{server.url}/v1/models/word:predict",
        data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


SAMPLE = {"prompt": "the cat", "max_length": 4, "temperature": 0.8,
          "top_k": 5, "top_p": 0.9, "repetition_penalty": 1.2, "seed": 3,
          "ban_unk": True}


def test_sample_over_rest(server):
    status, out = _post(server, {"signature_name": "sample",
                                 "instances": [SAMPLE]})
    assert status == 200, out
    assert out["predictions"][0]["text"].startswith("the cat")
    for bad, message in [({"temperature": -1}, "temperature"),
                         ({"top_p": 0}, "top_p"),
                         ({"top_k": -2}, "top_k")]:
        status, out = _post(server, {"signature_name": "sample",
                                     "instances": [{**SAMPLE, **bad}]})
        assert status == 400 and message in out["error"], out
        assert "Received:" in out["error"]
    body = ('{"signature_name": "generate", "instances": [{"prompt": "a", '
            '"max_length": 3, "temperature": NaN}]}')
    request = urllib.request.Request(
        f"{server.url}/v1/models/word:predict", data=body.encode(),
        method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=60)
    assert e.value.code == 400
    assert "temperature" in json.loads(e.value.read())["error"]
    status, out = _post(server, {"signature_name": "generate", "instances": [
        {"prompt": "a", "max_length": -5, "temperature": 0.0}]})
    assert status == 400 and "max_length must be >= 0" in out["error"]
    # columnar, an empty seed: the graph says what is wrong
    status, out = _post(server, {"signature_name": "sample", "inputs": {
        **{k: v for k, v in SAMPLE.items() if k != "prompt"},
        "prompt": ["the cat"], "seed": []}})
    assert status == 400 and "seed must hold an integer" in out["error"], out


def test_sample_over_grpc(server):
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(server.grpc_target))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "word"
    request.model_spec.signature_name = "sample"
    dtypes = {"prompt": tf.string, "max_length": tf.int32, "top_k": tf.int32,
              "seed": tf.int64, "ban_unk": tf.bool}
    for key, value in SAMPLE.items():
        value = [value] if key == "prompt" else value
        request.inputs[key].CopyFrom(tf.make_tensor_proto(
            value, dtype=dtypes.get(key, tf.float32)))
    response = stub.Predict(request, timeout=60)
    assert tf.make_ndarray(response.outputs["num_generated"]).shape == (1,)
    request.inputs["temperature"].CopyFrom(tf.make_tensor_proto(
        -1.0, dtype=tf.float32))
    with pytest.raises(grpc.RpcError) as e:
        stub.Predict(request, timeout=60)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "temperature must be a finite number >= 0" in e.value.details()
