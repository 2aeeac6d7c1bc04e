"""Long-range synthetic tasks: adding problem and copy memory."""

import numpy as np
import pytest

from training.lab.tasks import ADDING_BASELINE_MSE
from training.lab.tasks import adding_arrays
from training.lab.tasks import adding_dataset
from training.lab.tasks import build_adding_model
from training.lab.tasks import build_copy_model
from training.lab.tasks import copy_memory_arrays
from training.lab.tasks import copy_memory_baseline
from training.lab.tasks import copy_memory_dataset
from training.lab.tasks import matched_units


def test_adding_targets_are_sum_of_two_marked_values():
    x, y = adding_arrays(500, 37, seed=3)
    assert x.shape == (500, 37, 2) and y.shape == (500, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    markers = x[..., 1]
    assert set(np.unique(markers)) == {0.0, 1.0}
    np.testing.assert_array_equal(markers.sum(axis=1), 2.0)
    # one marker in each half
    np.testing.assert_array_equal(markers[:, :18].sum(axis=1), 1.0)
    np.testing.assert_allclose(y[:, 0], (x[..., 0] * markers).sum(axis=1),
                               rtol=1e-6)
    assert ((x[..., 0] >= 0) & (x[..., 0] < 1)).all()


def test_adding_baseline_mse():
    _, y = adding_arrays(20000, 10, seed=0)
    assert abs(np.mean((y - 1.0) ** 2) - ADDING_BASELINE_MSE) < 0.01
    assert abs(ADDING_BASELINE_MSE - 0.167) < 1e-3


def test_adding_dataset_is_seeded():
    a = list(adding_dataset(12, batch_size=4, seed=5, num_batches=3))
    b = list(adding_dataset(12, batch_size=4, seed=5, num_batches=3))
    c = list(adding_dataset(12, batch_size=4, seed=6, num_batches=1))
    assert len(a) == 3
    assert a[0][0].shape == (4, 12, 2) and a[0][1].shape == (4, 1)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    assert not np.array_equal(a[0][0].numpy(), c[0][0].numpy())
    assert not np.array_equal(a[0][0].numpy(), a[1][0].numpy())
    x, y = a[1]
    np.testing.assert_allclose(
        y.numpy()[:, 0], (x.numpy()[..., 0] * x.numpy()[..., 1]).sum(1),
        rtol=1e-6)


def test_adding_rejects_bad_length():
    with pytest.raises(ValueError, match="length"):
        adding_arrays(3, 1)


def test_copy_memory_shapes_and_targets():
    x, y = copy_memory_arrays(50, delay=15, num_symbols=4, seed=1)
    assert x.shape == y.shape == (50, 15 + 8)
    np.testing.assert_array_equal(y[:, -4:], x[:, :4])
    assert ((x[:, :4] >= 1) & (x[:, :4] <= 8)).all()
    np.testing.assert_array_equal(x[:, 15 + 4 - 1], 9)
    assert (x[:, 4:15 + 3] == 0).all() and (x[:, -4:] == 0).all()
    assert (y[:, :-4] == 0).all()
    ds = list(copy_memory_dataset(15, batch_size=3, num_symbols=4, seed=2,
                                  num_batches=2))
    assert ds[0][0].shape == (3, 23)
    np.testing.assert_array_equal(ds[0][1].numpy()[:, -4:],
                                  ds[0][0].numpy()[:, :4])
    assert copy_memory_baseline(100, 10) == pytest.approx(10 * np.log(8) / 120)


def test_task_models_and_equal_budgets():
    m = build_adding_model("gru", 8, num_layers=2, connection="residual")
    x, _ = adding_arrays(2, 9)
    assert m(x).shape == (2, 1)
    c = build_copy_model("lstm", 8)
    assert c(np.zeros((2, 13), "int32")).shape == (2, 13, 10)
    units, params = matched_units(3000, "lstm")
    assert params <= 3000
    assert build_adding_model("lstm", units + 1).count_params() > 3000
