"""The optimizer hook: gradient statistics before clipping, on Keras' own
optimizers, checked against numpy and against TensorFlow's gradients."""

import keras
import numpy as np
import pytest

from training import optimizer as O
from training.trainer import Trainer


def _variables(shapes):
    return [keras.Variable(np.zeros(s, "float32")) for s in shapes]


def test_statistics_match_numpy_and_clipping_decisions():
    rng = np.random.default_rng(0)
    variables = _variables([(3, 4), (4,)])
    steps = [[rng.normal(size=(3, 4)) * s, rng.normal(size=(4,)) * s]
             for s in (0.1, 1.0, 10.0)]
    norms = [np.sqrt(sum((g ** 2).sum() for g in grads)) for grads in steps]
    for kwargs, expect_clipped in [
            ({"global_clipnorm": 2.0}, [n > 2.0 for n in norms]),
            ({"clipnorm": 2.0}, [max(np.linalg.norm(g) for g in grads) > 2.0
                                 for grads in steps]),
            ({}, [False] * 3)]:
        opt = O.make_optimizer("sgd", 0.0, **kwargs)
        for grads in steps:
            opt.apply([g.astype("float32") for g in grads], variables)
        assert float(opt.gradient_norm_sum) == pytest.approx(sum(norms),
                                                             rel=1e-5)
        assert float(opt.clipped_steps) == sum(expect_clipped)
        assert int(opt.iterations) == 3 and float(opt.gradient_steps) == 3


def test_statistics_are_taken_before_clipping_and_loss_scaling():
    variables = _variables([(2,)])
    inner = O.make_optimizer("sgd", 1.0, global_clipnorm=0.5)
    opt = keras.optimizers.LossScaleOptimizer(inner, initial_scale=8.0)
    opt.build(variables)
    opt.apply([np.array([3.0 * 8, 4.0 * 8], "float32")], variables)
    assert float(inner.gradient_norm_sum) == pytest.approx(5.0)  # unscaled
    assert float(inner.clipped_steps) == 1.0
    # The update itself was clipped to norm 0.5.
    np.testing.assert_allclose(variables[0].numpy(), [-0.3, -0.4], rtol=1e-5)


def test_sparse_gradients_are_measured_without_densifying():
    import tensorflow as tf

    values = tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    slices = tf.IndexedSlices(values, tf.constant([0, 2, 0]),
                              dense_shape=tf.constant([5, 2]))
    true, clip = O.squared_norms(slices)
    dense = tf.convert_to_tensor(slices).numpy()
    assert float(true) == pytest.approx((dense ** 2).sum())  # rows 0+0 summed
    assert float(clip) == pytest.approx((values.numpy() ** 2).sum())


@pytest.mark.parametrize("loss_scaled", [False, True])
def test_epoch_logs_are_the_mean_norm_of_the_real_gradients(loss_scaled):
    import tensorflow as tf

    keras.utils.set_random_seed(1)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    trainer = Trainer(model)
    opt = O.make_optimizer("sgd", 0.0)  # weights stay put: easy to check
    if loss_scaled:  # what Keras puts around it under mixed_float16
        opt = keras.optimizers.LossScaleOptimizer(opt, initial_scale=64.0)
    loss = keras.losses.MeanSquaredError()
    trainer.compile(optimizer=opt, loss=loss)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 5)).astype("float32")
    y = rng.normal(size=(16, 3)).astype("float32")
    history = trainer.fit(x, y, batch_size=4, epochs=2, shuffle=False,
                          verbose=0, callbacks=[O.GradientLog(opt)])
    expected = []
    for b in range(4):
        with tf.GradientTape() as tape:
            value = loss(y[4 * b:4 * b + 4], model(x[4 * b:4 * b + 4]))
        grads = tape.gradient(value, model.trainable_variables)
        expected.append(np.sqrt(sum((g.numpy() ** 2).sum() for g in grads)))
    assert history.history["grad_norm"] == pytest.approx(
        [np.mean(expected)] * 2, rel=1e-5)
    assert history.history["clipped_fraction"] == [0.0, 0.0]


def test_building_twice_adds_no_variables():
    variables = _variables([(2,)])
    opt = O.make_optimizer("adam", 0.1)
    opt.build(variables)
    count = len(opt.variables)
    opt.build(variables)
    assert len(opt.variables) == count


def test_a_plain_keras_optimizer_state_still_loads():
    variables = _variables([(2, 2)])
    plain = keras.optimizers.Adam(0.1)
    plain.build(variables)
    plain.apply([np.ones((2, 2), "float32")], variables)
    store = {}
    plain.save_own_variables(store)
    tracked = O.make_optimizer("adam", 0.1)
    tracked.build(variables)
    tracked.load_own_variables(store)
    assert int(tracked.iterations) == 1
    assert float(tracked.gradient_norm_sum) == 0.0
    for a, b in zip(plain.variables, tracked.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_bad_optimizer_arguments():
    with pytest.raises(ValueError, match="Received: optimizer='lion'"):
        O.make_optimizer("lion", 1e-3)
    with pytest.raises(ValueError, match="mutually exclusive"):
        O.make_optimizer("adam", 1e-3, clipnorm=1.0, global_clipnorm=1.0)
    opt = O.make_optimizer("rmsprop", 1e-3, clipnorm=0)
    assert isinstance(opt, keras.optimizers.RMSprop) and opt.clipnorm is None


# ------------------------------------------------- per-layer learning rates


def _two_layer_model():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="low"),
                              keras.layers.Dense(1, name="top")])
    return model


def _fit_steps(model, steps):
    x = np.random.default_rng(0).random((8, 3)).astype("float32")
    y = np.random.default_rng(1).random((8, 1)).astype("float32")
    model.fit(x, y, batch_size=8, epochs=steps, verbose=0)


def test_layer_rates_freeze_then_unfreeze_and_scale_sgd_steps():
    import keras

    from training.optimizer import make_optimizer

    model = _two_layer_model()
    low, top = model.get_layer("low"), model.get_layer("top")
    opt = make_optimizer("sgd", 0.1)
    opt.set_layer_rates({low.kernel.path: (0.5, 2), top.kernel.path: (0.0, 0)})
    model.compile(optimizer=opt, loss="mse")
    low0, top0, bias0 = (np.array(low.kernel), np.array(top.kernel),
                         np.array(low.bias))
    _fit_steps(model, 2)
    np.testing.assert_array_equal(np.array(low.kernel), low0)  # not yet
    np.testing.assert_array_equal(np.array(top.kernel), top0)  # factor 0
    assert not np.allclose(np.array(low.bias), bias0)  # plain rate
    # step 3: low.kernel moves by exactly half of plain SGD's step
    w = np.array(low.kernel)
    x = np.random.default_rng(0).random((8, 3)).astype("float32")
    y = np.random.default_rng(1).random((8, 1)).astype("float32")
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, model(x))
    grad = tape.gradient(loss, low.kernel.value)
    _fit_steps(model, 1)
    np.testing.assert_allclose(np.array(low.kernel), w - 0.05 * grad.numpy(),
                               rtol=1e-5, atol=1e-7)


def test_layer_rates_are_checked():
    from training.optimizer import make_optimizer

    with pytest.raises(ValueError, match="factor >= 0"):
        make_optimizer("adam", 1e-3).set_layer_rates({"a": (-1.0, 0)})


def test_classifier_layer_groups_and_rates():
    import zoo
    from training import trainer as tr

    model = zoo.build("sst2_bigru_highway", vocabulary_size=30, units=4,
                      embedding_dim=4)
    model.adapt_vocabulary(["a b c"])
    model(np.array(["a b"]))
    groups = tr.layer_groups(model)
    assert groups[0] == ["embedding/embeddings"]
    assert all("_0/" in p for p in groups[1]) and all("_1/" in p for p in groups[2])
    assert groups[-1] == ["head/kernel", "head/bias"]
    rates = tr.layer_rates(model, {"layer_lr_decay": 2.0, "unfreeze_steps": 10})
    assert rates["head/kernel"] == (1.0, 0)
    assert rates[groups[2][0]] == (0.5, 10)
    assert rates["embedding/embeddings"] == (0.125, 30)
    assert sum(len(g) for g in groups) == len(model.trainable_variables)


def test_one_cycle_schedule_shape():
    from training import trainer as tr

    sched = tr.learning_rate({"learning_rate": 1e-2, "lr_schedule": "one_cycle",
                              "warmup_fraction": 0.1}, total_steps=100)
    lrs = [float(sched(s)) for s in range(0, 101, 5)]
    assert lrs[0] == pytest.approx(1e-2 / 25)
    assert max(lrs) == pytest.approx(1e-2, rel=1e-3) and lrs[2] == max(lrs)
    assert lrs[-1] == pytest.approx(1e-2 * 0.04, rel=1e-3)
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:]))
    with pytest.raises(ValueError, match="schedule_steps"):
        tr.learning_rate({"learning_rate": 1e-2, "lr_schedule": "one_cycle"})
