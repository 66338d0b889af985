"""scratchnet.network: activations, losses, forward pass and backpropagation checked against
numerical differentiation."""

import itertools
import warnings

import numpy as np
import pytest

from scratchnet import network
from scratchnet.errors import ScratchnetError

COMBINATIONS = [  # (hidden, output, loss): every activation and every loss
    (hidden, output, loss)
    for hidden, (output, loss) in itertools.product(
        network.HIDDEN_ACTIVATIONS,
        [("sigmoid", "bce"), ("sigmoid", "mse"), ("softmax", "cross_entropy"), ("softmax", "mse")],
    )
]


def small_net(hidden="sigmoid", output="sigmoid", sizes=(6, 5, 4, 3), init="xavier", dtype="float64", seed=0):
    return network.create(sizes, hidden, output, init, dtype, np.random.default_rng(seed))


def batch(sizes=(6, 5, 4, 3), n=7, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, sizes[0]))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
    return x, y


@pytest.mark.parametrize("hidden,output,loss", COMBINATIONS)
def test_gradients_match_numerical_differentiation(hidden, output, loss):
    net = small_net(hidden, output)
    for b in net.biases:  # non-zero biases, so relu sees both signs and bias gradients matter
        b[:] = np.random.default_rng(2).normal(0, 0.3, b.shape)
    x, y = batch()
    grads_w, grads_b = net.gradients(x, y, loss)
    eps = 1e-6
    for params, grads in ((net.weights, grads_w), (net.biases, grads_b)):
        for param, grad in zip(params, grads):
            numeric = np.zeros_like(param)
            for i in np.ndindex(param.shape):
                saved = param[i]
                param[i] = saved + eps
                up = net.loss(x, y, loss)
                param[i] = saved - eps
                down = net.loss(x, y, loss)
                param[i] = saved
                numeric[i] = (up - down) / (2 * eps)
            np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_sigmoid_is_stable_and_exact():
    z = np.array([-1000.0, -745.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0])
    with np.errstate(over="ignore"):
        s = network.sigmoid(z)
    assert np.all(np.isfinite(s)) and s[0] == 0.0 and s[-1] == 1.0 and s[4] == 0.5
    moderate = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(network.sigmoid(moderate), 1 / (1 + np.exp(-moderate)), rtol=1e-14)
    assert network.sigmoid(np.float32(3.0)).dtype == np.float32


@pytest.mark.parametrize("dtype", network.DTYPES)
def test_forward_on_huge_inputs_gives_no_warning_and_no_nan(dtype):
    net = small_net("sigmoid", "sigmoid", dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outputs = net.predict(np.array([[1e6] * 6, [-1e6] * 6], dtype=dtype))
    assert np.all(np.isfinite(outputs)) and np.all((outputs >= 0) & (outputs <= 1))


def test_softmax_rows_sum_to_one_even_for_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    p = network.softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(p[1], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())


def test_losses_are_the_textbook_formulas():
    z = np.array([[-2.0, 0.5, 3.0]])
    y = np.array([[0.0, 0.0, 1.0]])
    o = 1 / (1 + np.exp(-z))
    bce = -(y * np.log(o) + (1 - y) * np.log(1 - o)).sum()
    assert network.loss_per_sample("bce", z, o, y)[0] == pytest.approx(bce, rel=1e-12)
    p = np.exp(z) / np.exp(z).sum()
    assert network.loss_per_sample("cross_entropy", z, p, y)[0] == pytest.approx(-np.log(p[0, 2]), rel=1e-12)
    assert network.loss_per_sample("mse", z, o, y)[0] == pytest.approx(0.5 * ((o - y) ** 2).sum(), rel=1e-12)


def test_bce_stays_finite_where_the_output_saturates():
    z = np.array([[800.0, -800.0]])
    with np.errstate(over="ignore"):
        loss = network.loss_per_sample("bce", z, network.sigmoid(z), np.array([[0.0, 1.0]]))
    assert loss[0] == pytest.approx(1600.0)


def test_original_output_delta_is_o_minus_l():
    o = np.array([[0.2, 0.9]])
    y = np.array([[0.0, 1.0]])
    np.testing.assert_array_equal(network.output_delta("bce", "sigmoid", o, y), o - y)


def test_forward_on_the_nonzero_inputs_equals_the_dense_forward():
    net = small_net(sizes=(8, 5, 3))
    x = np.array([[0, 0.5, 0, 0, 1.0, 0, 0.25, 0]])
    rows = np.flatnonzero(x[0])
    dense, dense_logits = net.forward(x)
    sparse, sparse_logits = net.forward(x[:, rows], net.weights[0][rows])
    np.testing.assert_allclose(sparse_logits, dense_logits, rtol=1e-14)
    np.testing.assert_allclose(sparse[-1], dense[-1], rtol=1e-14)


def test_backward_returns_every_layers_gradients_and_changes_nothing():
    net = small_net(sizes=(4, 3, 2))
    x, y = batch((4, 3, 2), n=5)
    before = [p.copy() for p in net.weights + net.biases]
    activations, _ = net.forward(x)
    delta = network.output_delta("bce", "sigmoid", activations[-1], y)
    grads_w, grads_b = net.backward(activations, delta)
    assert [g.shape for g in grads_w] == [w.shape for w in net.weights]
    assert [g.shape for g in grads_b] == [b.shape for b in net.biases]
    for p, q in zip(net.weights + net.biases, before):
        np.testing.assert_array_equal(p, q)
    # the first layer's error went back through the weights of the forward pass
    hidden_delta = (delta / 5 @ net.weights[1].T) * activations[1] * (1 - activations[1])
    np.testing.assert_allclose(grads_w[0], x.T @ hidden_delta, rtol=1e-14)


@pytest.mark.parametrize("init", network.INITS)
@pytest.mark.parametrize("dtype", network.DTYPES)
def test_create_shapes_dtypes_and_init_scales(init, dtype):
    net = network.create((784, 100, 10), "relu", "softmax", init, dtype, np.random.default_rng(0))
    assert [w.shape for w in net.weights] == [(784, 100), (100, 10)]
    assert [b.shape for b in net.biases] == [(100,), (10,)]
    assert all(p.dtype == np.dtype(dtype) for p in net.weights + net.biases)
    assert all(not b.any() for b in net.biases)
    w = net.weights[0].astype(np.float64)
    if init == "uniform":
        assert w.min() >= -0.5 and w.max() <= 0.5 and w.std() == pytest.approx(1 / np.sqrt(12), rel=0.02)
    elif init == "xavier":
        limit = np.sqrt(6 / (784 + 100))
        assert np.abs(w).max() <= limit and w.std() == pytest.approx(limit / np.sqrt(3), rel=0.02)
    else:
        assert w.std() == pytest.approx(np.sqrt(2 / 784), rel=0.02)


def test_predict_shape_and_describe():
    net = small_net()
    assert net.predict(np.zeros((3, 6))).shape == (3, 3)
    assert net.describe() == "6-5-4-3 sigmoid/sigmoid float64"


@pytest.mark.parametrize(
    "args,fragment",
    [
        (((784,), "sigmoid", "sigmoid", "bce", "float64"), "at least two layers"),
        (((784, 0, 10), "sigmoid", "sigmoid", "bce", "float64"), "at least two layers"),
        (((784, 10), "swish", "sigmoid", "bce", "float64"), "hidden activation 'swish'"),
        (((784, 10), "relu", "tanh", "bce", "float64"), "output activation 'tanh'"),
        (((784, 10), "relu", "softmax", "bce", "float64"), "does not fit a softmax output"),
        (((784, 10), "relu", "sigmoid", "cross_entropy", "float64"), "does not fit a sigmoid output"),
        (((784, 10), "relu", "sigmoid", "bce", "float16"), "dtype 'float16'"),
    ],
)
def test_check_architecture_names_the_bad_value(args, fragment):
    with pytest.raises(ScratchnetError, match=fragment.replace("(", r"\(")):
        network.check_architecture(*args)
