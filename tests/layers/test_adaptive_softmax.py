"""`AdaptiveSoftmaxEmbedding` against PyTorch's `AdaptiveLogSoftmaxWithLoss`
and a NumPy reference, on whichever backend runs tests/layers."""

import keras
import numpy as np
import pytest

from tests.layers._grad import loss_and_grads
from training import recipe as R
from training import trainer as tr
from zoo.layers import AdaptiveSoftmaxEmbedding
from zoo.models.language_model import LanguageModel

V, D = 50, 16
CUTOFFS = [10, 30]


def _layer(tie_weights, seed=1, cutoffs=CUTOFFS, div_value=4.0, v=V, d=D):
    layer = AdaptiveSoftmaxEmbedding(v, d, cutoffs=cutoffs,
                                     div_value=div_value,
                                     tie_weights=tie_weights)
    layer.build()
    rng = np.random.RandomState(seed)
    for w in layer.weights:
        w.assign(rng.standard_normal(w.shape).astype("float32") * 0.5)
    return layer


def _x(shape=(3, 5), seed=0, d=D):
    return np.random.RandomState(seed).standard_normal(
        (*shape, d)).astype("float32")


def _np(v):
    return keras.ops.convert_to_numpy(v)


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _numpy_reference(layer, x):
    """The adaptive softmax written out in NumPy."""
    E = _np(layer.embeddings).astype("float64")
    x = x.astype("float64")
    s = layer.cutoffs[0]
    if layer.tie_weights:
        head_w = np.concatenate([E[:s], _np(layer.cluster_embeddings)], 0).T
    else:
        head_w = _np(layer.head_kernel)
    head = _log_softmax(x @ head_w + _np(layer.head_bias))
    parts = [head[..., :s]]
    bounds = layer.cutoffs + [layer.input_dim]
    for i, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
        h = x @ _np(layer.tail_projections[i])
        if layer.tie_weights:
            words = (E[lo:hi] @ _np(layer.tail_kernels[i])).T
        else:
            words = _np(layer.tail_kernels[i])
        tail = _log_softmax(h @ words + _np(layer.tail_biases[i]))
        parts.append(tail + head[..., s + i:s + i + 1])
    return np.concatenate(parts, -1)


def test_untied_log_probs_and_loss_match_torch():
    torch = pytest.importorskip("torch")
    layer = _layer(tie_weights=False)
    for b in layer.tail_biases:  # PyTorch's tail has no bias
        b.assign(np.zeros(b.shape, "float32"))
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(D, V, cutoffs=CUTOFFS,
                                              div_value=4.0, head_bias=True)
    with torch.no_grad():
        ref.head.weight.copy_(torch.tensor(_np(layer.head_kernel).T))
        ref.head.bias.copy_(torch.tensor(_np(layer.head_bias)))
        for i in range(len(CUTOFFS)):
            ref.tail[i][0].weight.copy_(
                torch.tensor(_np(layer.tail_projections[i]).T))
            ref.tail[i][1].weight.copy_(
                torch.tensor(_np(layer.tail_kernels[i]).T))
    x = _x()
    targets = np.array([[0, 9, 10, 29, 30], [49, 5, 15, 35, 1],
                        [12, 40, 3, 20, 48]])
    flat = torch.tensor(x.reshape(-1, D))
    want = ref.log_prob(flat).detach().numpy().reshape(3, 5, V)
    np.testing.assert_allclose(_np(layer(x, reverse=True)), want, atol=2e-5)
    out = ref(flat, torch.tensor(targets.reshape(-1)))
    np.testing.assert_allclose(_np(layer.nll(x, targets)),
                               -out.output.detach().numpy().reshape(3, 5),
                               atol=2e-5)


@pytest.mark.parametrize("tie_weights", [True, False])
def test_log_probs_match_numpy_and_sum_to_one(tie_weights):
    layer = _layer(tie_weights)  # every bias non-zero
    x = _x()
    got = _np(layer(x, reverse=True))
    assert got.shape == (3, 5, V) and got.dtype == np.float32
    np.testing.assert_allclose(got, _numpy_reference(layer, x), atol=2e-5)
    np.testing.assert_allclose(np.exp(got.astype("float64")).sum(-1), 1.0,
                               atol=1e-5)


def test_lookup_reads_the_embedding_table():
    layer = _layer(tie_weights=True)
    ids = np.array([[0, 9, 10, 49]])
    np.testing.assert_array_equal(_np(layer(ids)),
                                  _np(layer.embeddings)[ids])


@pytest.mark.parametrize("tie_weights", [True, False])
@pytest.mark.parametrize("cutoffs", [[10], [10, 30], [1, 2, 49]])
def test_nll_equals_the_full_log_probs_at_the_targets(tie_weights, cutoffs):
    layer = _layer(tie_weights, cutoffs=cutoffs, d=64)
    x = _x((4, 6), d=64)
    # every boundary id, both sides of each cutoff
    edges = sorted({0, V - 1, *cutoffs, *[c - 1 for c in cutoffs]})
    targets = np.resize(np.array(edges + [17, 3, 44, 25]), (4, 6))
    full = _np(layer(x, reverse=True))
    want = -np.take_along_axis(full, targets[..., None], -1)[..., 0]
    np.testing.assert_allclose(_np(layer.nll(x, targets)), want, atol=2e-5)


class _Scored(keras.layers.Layer):
    """The NLL at fixed targets of `x` plus the targets' embeddings (so
    that every weight has a gradient), from `nll` or from the full
    log-probabilities."""

    def __init__(self, inner, targets, full, **kwargs):
        super().__init__(**kwargs)
        self.inner, self.targets, self.full = inner, targets, full

    def call(self, x, mask=None):
        t = keras.ops.convert_to_tensor(self.targets)
        x = x + self.inner(t)
        if self.full:
            lp = self.inner(x, reverse=True)
            return -keras.ops.take_along_axis(
                lp, keras.ops.expand_dims(t, -1), axis=-1)[..., 0]
        return self.inner.nll(x, t)


@pytest.mark.parametrize("tie_weights", [True, False])
def test_gradients_of_the_training_loss_equal_the_full_cross_entropy(
        tie_weights):
    layer = _layer(tie_weights)
    x = _x()
    targets = np.array([[0, 9, 10, 29, 30], [49, 5, 15, 35, 1],
                        [12, 40, 3, 20, 48]], "int32")
    y1, g1 = loss_and_grads(_Scored(layer, targets, full=False), x)
    y2, g2 = loss_and_grads(_Scored(layer, targets, full=True), x)
    np.testing.assert_allclose(y1, y2, atol=2e-5)
    assert len(g1) == len(layer.trainable_weights) + 1
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, atol=2e-5)


def test_mixed_precision_returns_float32_log_probs_close_to_float32s():
    reference = _layer(tie_weights=True)
    ids = np.array([[1, 20, 40, 9]])
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = AdaptiveSoftmaxEmbedding(V, D, cutoffs=CUTOFFS)
        layer.build()
        layer.set_weights(reference.get_weights())
        x = layer(ids)
        lp = layer(x, reverse=True)
        nll = layer.nll(x, ids)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert keras.backend.standardize_dtype(x.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(lp.dtype) == "float32"
    assert keras.backend.standardize_dtype(nll.dtype) == "float32"
    np.testing.assert_allclose(np.exp(_np(lp).astype("float64")).sum(-1), 1.0,
                               atol=1e-4)
    want = _numpy_reference(reference, _np(reference(ids)))
    # bfloat16 keeps 8 bits of mantissa
    np.testing.assert_allclose(_np(lp), want, atol=0.1, rtol=0.05)
    np.testing.assert_allclose(
        _np(nll), -np.take_along_axis(want, ids[..., None], -1)[..., 0],
        atol=0.1, rtol=0.05)


@pytest.mark.parametrize("kwargs,match", [
    ({"cutoffs": []}, "non-empty list"),
    ({"cutoffs": 10}, "non-empty list"),
    ({"cutoffs": [10.0]}, "non-empty list"),
    ({"cutoffs": [True]}, "non-empty list"),
    ({"cutoffs": [30, 10]}, "increase strictly"),
    ({"cutoffs": [10, 10]}, "increase strictly"),
    ({"cutoffs": [0]}, r"\[1, 50\)"),
    ({"cutoffs": [50]}, r"\[1, 50\)"),
    ({"cutoffs": [10], "div_value": 0}, "div_value"),
    ({"cutoffs": [10], "div_value": float("nan")}, "div_value"),
    ({"cutoffs": [10], "div_value": "4"}, "div_value"),
    ({"cutoffs": [10, 20, 30], "div_value": 4.0}, "width"),
    ({"cutoffs": [10, 20], "div_value": 1e300}, "width"),
    ({"cutoffs": [10], "tie_weights": "yes"}, "tie_weights"),
])
def test_bad_arguments_are_value_errors_that_say_what_was_received(kwargs,
                                                                   match):
    with pytest.raises(ValueError, match=match) as info:
        AdaptiveSoftmaxEmbedding(V, D, **kwargs)
    assert "Received" in str(info.value)


@pytest.mark.parametrize("tie_weights", [True, False])
def test_config_and_keras_file_round_trip(tmp_path, tie_weights):
    layer = _layer(tie_weights)
    config = layer.get_config()
    assert config["cutoffs"] == CUTOFFS and config["div_value"] == 4.0
    clone = AdaptiveSoftmaxEmbedding.from_config(config)
    assert clone.get_config() == config
    ids = keras.Input((None,), dtype="int32")
    model = keras.Model(ids, layer(layer(ids), reverse=True))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.array([[0, 10, 30, 49]])
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)), atol=1e-6)


def test_numpy_int_cutoffs_are_ints():
    layer = AdaptiveSoftmaxEmbedding(V, D, cutoffs=[np.int64(10), np.int32(30)])
    assert layer.get_config()["cutoffs"] == [10, 30]
    assert all(type(c) is int for c in layer.cutoffs)


@pytest.mark.parametrize("tie_weights,targets", [
    (True, "every cluster"), (False, "every cluster"),
    (True, "no target in the last cluster")])
def test_a_training_step_equals_the_full_softmax_step(tie_weights, targets):
    """One SGD step of `training.trainer` on the adaptive loss (`nll`, on
    this backend) against Keras' cross-entropy of the full outputs."""
    keras.utils.set_random_seed(0)
    model = LanguageModel(vocabulary_size=30, embedding_dim=16, units=16,
                          num_layers=1, tie_weights=tie_weights,
                          adaptive_cutoffs=[8, 20], ar=1.0, tar=1.0)
    twin = LanguageModel.from_config(model.get_config())
    twin.set_weights(model.get_weights())
    recipe = R.resolve("language_model", "language_model",
                       {"optimizer": "sgd", "learning_rate": 1.0,
                        "global_clipnorm": 0})
    fast = tr.compile_trainer(model, "language_model", recipe)
    full = tr.Trainer(twin)
    full._adaptive = False  # Keras' cross-entropy of the full outputs
    full.compile(optimizer=keras.optimizers.SGD(1.0),
                 loss=keras.losses.SparseCategoricalCrossentropy(
                     from_logits=True))
    x = np.random.default_rng(1).integers(0, 30, (4, 7)).astype("int32")
    row = [0, 7, 8, 19, 20, 29, 3] if targets == "every cluster" else \
        [0, 7, 8, 19, 12, 2, 3]
    y = np.array(row * 4, "int32").reshape(4, 7)
    assert isinstance(fast(x, training=True), dict)  # the adaptive path
    loss_fast = float(fast.train_on_batch(x, y, return_dict=True)["loss"])
    loss_full = float(full.train_on_batch(x, y, return_dict=True)["loss"])
    assert loss_fast == pytest.approx(loss_full, rel=1e-5)
    for a, b in zip(model.weights, twin.weights):
        np.testing.assert_allclose(_np(a), _np(b), atol=1e-5, err_msg=a.path)
    layer = model.get_layer("embedding")
    assert not np.allclose(_np(layer.head_bias), 0)
    moved = not np.allclose(_np(layer.tail_biases[1]), 0)
    assert moved == (targets == "every cluster")
