"""Backend-specific gradient helper for the backend-agnostic layer tests."""

import keras
import numpy as np


def loss_and_grads(layer, x, mask=None, weight=None):
    """Gradient of `sum(layer(x) * weight)` w.r.t. `x` and trainable weights.

    Returns `(outputs, [d/dx, d/dw for w in layer.trainable_weights])` as
    numpy arrays, on the TensorFlow, PyTorch or JAX backend.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt, mask=mask)
            w = np.ones(y.shape, "float32") if weight is None else weight
            loss = tf.reduce_sum(y * w)
        grads = tape.gradient(loss, [xt] + [v.value for v in layer.trainable_weights])
        # an embedding lookup's gradient is IndexedSlices
        return np.array(y), [np.array(tf.convert_to_tensor(g)) for g in grads]
    if backend == "torch":
        import torch

        xt = torch.tensor(x, requires_grad=True)
        m = None if mask is None else torch.tensor(mask)
        for v in layer.trainable_weights:
            v.value.grad = None
        y = layer(xt, mask=m)
        w = np.ones(tuple(y.shape), "float32") if weight is None else weight
        loss = (y * torch.tensor(w)).sum()
        loss.backward()
        grads = [xt.grad] + [v.value.grad for v in layer.trainable_weights]
        return y.detach().cpu().numpy(), [g.detach().cpu().numpy() for g in grads]
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        y = np.asarray(layer(x, mask=mask))  # builds the layer
        w = np.ones(y.shape, "float32") if weight is None else weight
        trainable = [v.value for v in layer.trainable_variables]
        frozen = [v.value for v in layer.non_trainable_variables]
        m = None if mask is None else jnp.asarray(mask)

        def loss(xx, tv):
            out, _ = layer.stateless_call(tv, frozen, xx, mask=m)
            return jnp.sum(out * w), out

        (_, y), (dx, dw) = jax.value_and_grad(loss, argnums=(0, 1),
                                              has_aux=True)(jnp.asarray(x),
                                                            trainable)
        return np.asarray(y), [np.asarray(dx)] + [np.asarray(g) for g in dw]
    raise NotImplementedError(f"no gradient helper for backend {backend!r}")
