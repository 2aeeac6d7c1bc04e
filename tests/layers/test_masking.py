"""Masking: right-padding a batch does not change the real steps' outputs."""

import keras
import numpy as np
import pytest

from zoo import layers

to_np = keras.ops.convert_to_numpy


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.SimpleRNN])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_right_padding_does_not_change_real_steps(cls, bidirectional):
    rng = np.random.default_rng(0)
    layer = cls(5, return_sequences=True)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer)
    lengths = [6, 3, 1]
    seqs = [rng.normal(size=(n, 4)).astype("float32") for n in lengths]
    pad_to = 9
    padded = np.zeros((3, pad_to, 4), "float32")
    mask = np.zeros((3, pad_to), bool)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
        padded[i, len(s):] = rng.normal(size=(pad_to - len(s), 4))  # junk
        mask[i, : len(s)] = True
    batched = to_np(layer(padded, mask=mask))
    for i, s in enumerate(seqs):
        alone = to_np(layer(s[None]))[0]
        np.testing.assert_allclose(batched[i, : len(s)], alone, atol=1e-5)


def test_embedding_mask_flows_through_stack():
    ids = np.array([[3, 4, 5, 0, 0], [1, 2, 0, 0, 0]])
    emb = keras.layers.Embedding(10, 4, mask_zero=True)
    stack = layers.RecurrentStack("lstm", 6, 2, bidirectional=True, connection="residual")
    pool = layers.SequencePooling("last", bidirectional=True)
    pooled = to_np(pool(stack(emb(ids))))
    # Same rows without padding give the same pooled vectors.
    for i, n in enumerate([3, 2]):
        alone = to_np(pool(stack(emb(ids[i:i + 1, :n]))))
        np.testing.assert_allclose(pooled[i], alone[0], atol=1e-5)


def test_concat_pooling_is_last_max_mean_of_real_steps():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    lengths = [5, 2, 1]
    mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    pooled = to_np(layers.SequencePooling("concat")(x, mask=mask))
    assert pooled.shape == (3, 12)
    for i, n in enumerate(lengths):
        real = x[i, :n]
        expected = np.concatenate([real[-1], real.max(0), real.mean(0)])
        np.testing.assert_allclose(pooled[i], expected, rtol=1e-5, atol=1e-6)
    layer = layers.SequencePooling("concat")
    assert layer.compute_output_shape((None, 7, 4)) == (None, 12)
    again = layers.SequencePooling.from_config(layer.get_config())
    assert again.mode == "concat"


def test_reversed_tokens_read_each_row_backwards_under_the_mask():
    """`ReverseTokens` then `Embedding(mask_zero)`: each padded row's last
    real output is the layer's output on that row's tokens reversed, alone."""
    ids = np.array([[3, 4, 5, 0, 0], [1, 2, 0, 0, 0], [6, 7, 8, 9, 2]])
    reversed_ids = layers.ReverseTokens()(ids)
    np.testing.assert_array_equal(
        to_np(reversed_ids), [[5, 4, 3, 0, 0], [2, 1, 0, 0, 0], [2, 9, 8, 7, 6]])
    emb = keras.layers.Embedding(10, 4, mask_zero=True)
    stack = layers.RecurrentStack("lstm", 6, 1)
    pooled = to_np(layers.SequencePooling("last")(stack(emb(reversed_ids))))
    for i, row in enumerate(ids):
        real = row[row != 0][::-1]
        alone = to_np(stack(emb(np.array([real]))))[0, -1]
        np.testing.assert_allclose(pooled[i], alone, atol=1e-5)
