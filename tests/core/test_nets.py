"""The bigger nets by name: shapes, parameter counts, flat flags, and that they can learn."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from mnist_sgd.config.registry import get_model
from mnist_sgd.core.model import takes_flat_input
from mnist_sgd.core.nets import channels_last, cnn, cnn_best, cnn_vgg, conv_bn, mlp


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "flat", "params"),
    [
        ("mlp", True, 235_146),
        ("cnn", False, 33_914),
        ("cnn_best", False, 160_170),
        ("cnn_vgg", False, 288_170),
    ],
)
def test_registered_nets_shapes_counts_and_flat_flags(name: str, flat: bool, params: int) -> None:
    model = get_model(name, n_out=10)
    assert takes_flat_input(model) is flat
    assert n_params(model) == params
    xb = torch.rand(3, 784) if flat else torch.rand(3, 1, 28, 28)
    model.eval()
    assert model(xb).shape == (3, 10)


@pytest.mark.parametrize("name", ["mlp", "cnn", "cnn_best", "cnn_vgg"])
def test_one_output_for_the_binary_losses(name: str) -> None:
    model = get_model(name, n_out=1).eval()
    xb = torch.rand(2, 784) if takes_flat_input(get_model(name)) else torch.rand(2, 1, 28, 28)
    assert model(xb).shape == (2, 1)


def test_cnn_shapes_stage_by_stage() -> None:
    x = torch.rand(2, 1, 28, 28)
    shapes = []
    for layer in cnn():
        x = layer(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(2, 16, 14, 14), (2, 32, 7, 7), (2, 64, 4, 4), (2, 1024), (2, 10)]


def test_cnn_best_ends_in_dropout_and_a_linear_layer() -> None:
    model = cnn_best(widths=(8, 16, 32), dropout=0.5)
    assert isinstance(model[-2], nn.Dropout) and model[-2].p == 0.5
    assert model[-1].in_features == 32 * 4 * 4
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 5


def test_cnn_vgg_keeps_full_size_until_the_first_pool() -> None:
    x = torch.rand(2, 1, 28, 28)
    model = cnn_vgg(widths=(4, 8, 16))
    sizes = []
    for layer in model:
        x = layer(x)
        sizes.append(tuple(x.shape[1:]))
    assert sizes[:3] == [(4, 28, 28), (4, 28, 28), (4, 14, 14)]
    assert sizes[-4:] == [(16, 1, 1), (16,), (16,), (10,)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 6
    with pytest.raises(ValueError, match="widths must give 3"):
        cnn_vgg(widths=(8, 16))


def test_mlp_layers_follow_hidden() -> None:
    model = mlp(hidden=(64, 32, 16), n_out=3)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (784, 64),
        (64, 32),
        (32, 16),
        (16, 3),
    ]
    assert n_params(mlp(hidden=(100,))) == 784 * 100 + 100 + 100 * 10 + 10


def test_conv_bn_keeps_or_halves_the_size() -> None:
    block = conv_bn(3, 5, stride=2)
    assert block(torch.rand(1, 3, 7, 7)).shape == (1, 5, 4, 4)
    assert block[0].bias is None  # batch norm brings its own shift


def test_bad_options_name_the_value() -> None:
    with pytest.raises(ValueError, match="widths must give 3"):
        cnn(widths=(8, 16))
    with pytest.raises(ValueError, match="hidden"):
        mlp(hidden=())
    with pytest.raises(ValueError, match=r"unknown model 'resnet'.*cnn_best"):
        get_model("resnet")


@pytest.mark.parametrize("name", ["mlp", "cnn", "cnn_best", "cnn_vgg"])
def test_each_net_fits_a_tiny_batch(name: str) -> None:
    torch.manual_seed(0)
    small = {"widths": (4, 8, 8)} if name.startswith("cnn") else {"hidden": (32, 16)}
    if name == "cnn_vgg":  # its global max pool leaves only the last width's features
        small = {"widths": (8, 16, 16)}
    model = get_model(name, n_out=4, **small)
    x = torch.rand(8, 784) if takes_flat_input(get_model(name)) else torch.rand(8, 1, 28, 28)
    y = torch.arange(8) % 4
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(25):
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    assert (model(x).argmax(1) == y).float().mean() == 1.0


@pytest.mark.parametrize("name", ["cnn", "cnn_fast", "cnn_best", "cnn_vgg"])
def test_channels_last_hands_the_flatten_gradient_back_channels_last(name: str) -> None:
    """The layout ``train`` uses: the ReLU before the flatten gets its gradient channels-last
    (not in two layouts at once, several times slower: issue 30); every gradient is what the same
    channels-last model without the hook gives (oneDNN's NCHW kernels differ by up to 0.6%)."""
    torch.manual_seed(0)
    model = get_model(name, n_out=10)
    plain = copy.deepcopy(model).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    fast = channels_last(model)
    flatten = next(m for m in fast.modules() if isinstance(m, nn.Flatten))
    seen: list[torch.Tensor] = []  # the gradient after channels_last's hook: hooks chain

    def keep(_module: nn.Module, args: tuple[torch.Tensor]) -> None:
        args[0].register_hook(seen.append)

    handle = flatten.register_forward_pre_hook(keep)
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    for net in (plain, fast):
        net.train()
        torch.manual_seed(2)  # the same dropout masks
        torch.nn.functional.cross_entropy(net(x), torch.arange(6)).backward()
    (grad,) = seen
    assert grad.is_contiguous(memory_format=torch.channels_last)
    if grad.shape[-1] > 1:  # a 1x1 picture is both layouts at once
        assert not grad.is_contiguous()
    for p, q in zip(plain.parameters(), fast.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5)  # summed in other orders
    handle.remove()
    with torch.no_grad():  # no gradient asked: the hook stays out of the way
        torch.testing.assert_close(fast.eval()(x), plain.eval()(x), rtol=1e-4, atol=1e-6)
    assert [type(m) for m in fast.modules()] == [type(m) for m in plain.modules()]


def test_channels_last_twice_adds_no_second_hook() -> None:
    """Laying a model out twice (no caller does today) leaves one hook on each flatten."""
    model = channels_last(channels_last(get_model("cnn", n_out=10)))
    (flatten,) = (m for m in model.modules() if isinstance(m, nn.Flatten))
    assert len(flatten._forward_pre_hooks) == 1
