"""Models (book: "The MNIST loss function", "Adding a nonlinearity", pixel similarity)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnist_sgd import (
    Linear1,
    PixelSimilarity,
    batch_accuracy,
    get_model,
    init_params,
    linear1,
    simple_net,
)
from mnist_sgd.config.registry import MODELS
from mnist_sgd.core.model import mnist_distance, takes_flat_input


def test_init_params_shape_grad_and_scale() -> None:
    torch.manual_seed(0)
    weights = init_params((28 * 28, 1))
    bias = init_params(1)
    assert weights.shape == (784, 1) and bias.shape == (1,)
    assert weights.requires_grad and bias.requires_grad and weights.is_leaf
    assert weights.dtype == torch.float32
    assert 0.9 < weights.std().item() < 1.1
    assert 0.09 < init_params(10_000, std=0.1).std().item() < 0.11


def test_linear1_is_xb_at_weights_plus_bias() -> None:
    torch.manual_seed(0)
    xb = torch.rand(5, 784)
    weights, bias = init_params((784, 1)), init_params(1)
    preds = linear1(xb, weights, bias)
    assert preds.shape == (5, 1)
    one = (xb[0] * weights.T).sum() + bias  # the seed's single prediction
    torch.testing.assert_close(one, preds[0])


def test_linear1_module_holds_its_own_parameters() -> None:
    torch.manual_seed(0)
    model = Linear1()
    names = dict(model.named_parameters())
    assert set(names) == {"weights", "bias"}
    assert names["weights"].shape == (784, 1) and names["bias"].shape == (1,)
    xb = torch.rand(3, 784)
    torch.testing.assert_close(model(xb), linear1(xb, model.weights, model.bias))
    assert Linear1(n_out=10)(xb).shape == (3, 10)


def test_simple_net_is_784_30_relu_1() -> None:
    net = simple_net()
    layers = list(net)
    assert [type(m) for m in layers] == [nn.Linear, nn.ReLU, nn.Linear]
    assert (layers[0].in_features, layers[0].out_features) == (784, 30)
    assert (layers[2].in_features, layers[2].out_features) == (30, 1)
    assert net(torch.rand(4, 784)).shape == (4, 1)


def test_mnist_distance_is_mean_absolute_difference() -> None:
    a, b = torch.zeros(2, 28, 28), torch.ones(28, 28)
    b[0, 0] = 29.0
    torch.testing.assert_close(mnist_distance(a, b), torch.full((2,), (783 + 29) / 784))


def test_pixel_similarity_picks_the_nearer_mean() -> None:
    threes = torch.zeros(4, 28, 28)
    threes[:, :, :14] = 1.0  # "3"s light up the left half
    sevens = torch.zeros(4, 28, 28)
    sevens[:, :, 14:] = 1.0
    x = torch.cat([threes, sevens]).view(-1, 784)
    y = torch.tensor([1] * 4 + [0] * 4).unsqueeze(1)
    model = PixelSimilarity().fit(x, y)
    torch.testing.assert_close(model.mean3, threes[0])
    scores = model(x)
    assert scores.shape == (8, 1)
    assert batch_accuracy(scores, y).item() == 1.0
    assert set(model.state_dict()) == {"mean3", "mean7"}


def test_get_model_by_name() -> None:
    assert {"linear", "simple_net"} <= set(MODELS)
    assert isinstance(get_model("linear"), Linear1)
    assert get_model("simple_net", n_out=10)(torch.rand(2, 784)).shape == (2, 10)
    assert takes_flat_input(get_model("linear")) and takes_flat_input(get_model("simple_net"))
    with pytest.raises(ValueError, match=r"unknown model 'resnet'.*linear"):
        get_model("resnet")
