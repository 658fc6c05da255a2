"""Recognition networks: trunks for frame sizes, heads, initialisation, modalities."""

from __future__ import annotations

import math

import pytest
import torch

from rpgssm_env.model.recognition import (
    ConvTrunk,
    Recognition,
    RecognitionNetwork,
    SpatialSoftmax,
    default_conv_layout,
)

torch.set_num_threads(1)


def test_paper_trunk_layouts():
    """24x24 -> Conv32/s1, Conv64/s2, Conv32/s2 (6x6x32); 64x64 -> 16/16/32/32/32 (4x4x32)."""
    assert default_conv_layout(24, 24) == ((32, 64, 32), (1, 2, 2))
    assert default_conv_layout(64, 64) == ((16, 16, 32, 32, 32), (1, 2, 2, 2, 2))
    t24 = ConvTrunk((24, 24, 1))
    convs = [m for m in t24.net if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 32]
    assert [c.kernel_size for c in convs] == [(3, 3)] * 3
    assert t24.out_features == 6 * 6 * 32
    assert ConvTrunk((64, 64, 3)).out_features == 4 * 4 * 32


@pytest.mark.parametrize("shape", [(24, 24, 1), (64, 64, 3), (40, 56, 3), (128, 128, 1)])
def test_shapes_for_frame_sizes(shape):
    K, N = 5, 3
    net = RecognitionNetwork(shape, K)
    x = torch.randint(0, 256, (N, *shape), dtype=torch.uint8)
    Lam, h = net(x)
    assert Lam.shape == (N, K, K)
    assert h.shape == (N, K)
    assert net.trunk.out_features == net.trunk(x.float() / 255).shape[1]


def test_uint8_and_float_inputs_agree():
    net = RecognitionNetwork((24, 24, 3), 4)
    x = torch.randint(0, 256, (2, 24, 24, 3), dtype=torch.uint8)
    Lam_u, h_u = net(x)
    Lam_f, h_f = net(x.float() / 255.0)
    torch.testing.assert_close(h_u, h_f)
    torch.testing.assert_close(Lam_u, Lam_f)


def test_channels_last_matches_contiguous():
    torch.manual_seed(0)
    a = RecognitionNetwork((24, 24, 1), 4, channels_last=True)
    b = RecognitionNetwork((24, 24, 1), 4, channels_last=False)
    b.load_state_dict(a.state_dict())
    x = torch.rand(3, 24, 24, 1)
    torch.testing.assert_close(a(x)[1], b(x)[1], rtol=1e-5, atol=1e-6)


def test_diagonal_head_initialisation():
    """Small last layer: h ~ 0, Lam ~ softplus(0) I = 0.693 I at the start."""
    torch.manual_seed(0)
    net = RecognitionNetwork((24, 24, 1), 8)
    w = net.head.linear.weight
    fan_in = w.shape[1]
    assert abs(w.var().item() - 0.1 / fan_in) < 0.3 * 0.1 / fan_in
    assert net.head.linear.bias.abs().max() == 0
    Lam, h = net(torch.rand(16, 24, 24, 1))
    assert h.abs().max() < 0.1
    diag = torch.diagonal(Lam, dim1=-2, dim2=-1)
    assert (diag - math.log(2)).abs().max() < 0.1
    assert (Lam - torch.diag_embed(diag)).abs().max() == 0


def test_diagonal_head_floor():
    net = RecognitionNetwork((3,), 2, head="diagonal", hidden=())
    with torch.no_grad():
        net.head.linear.bias[2:] = -1e4  # softplus underflows to 0
    Lam, _ = net(torch.zeros(1, 3))
    assert torch.diagonal(Lam[0]).min() >= 1e-4


def test_full_head_positive_definite():
    torch.manual_seed(0)
    net = RecognitionNetwork((6,), 4, head="full", hidden=(16,))
    with torch.no_grad():
        net.head.linear.weight.normal_(0, 3)
    Lam, h = net(torch.randn(50, 6))
    assert h.shape == (50, 4)
    assert torch.linalg.eigvalsh(Lam.double()).min() >= 1e-3 * 0.99
    assert (Lam - Lam.mT).abs().max() < 1e-5
    assert (Lam - torch.diag_embed(torch.diagonal(Lam, dim1=-2, dim2=-1))).abs().max() > 1e-3


def test_constant_head():
    net = RecognitionNetwork((6,), 3, head="constant", hidden=())
    Lam, _ = net(torch.randn(7, 6))
    torch.testing.assert_close(Lam, 0.7 * torch.eye(3).expand(7, 3, 3), atol=1e-5, rtol=0)
    # the shared precision's parameter gets a gradient (not stuck at L = 0)
    Lam.sum().backward()
    assert net.head.L_raw.grad.abs().sum() > 0


def test_recognition_several_modalities():
    K, B, T = 3, 2, 4
    rec = Recognition([RecognitionNetwork((24, 24, 1), K), RecognitionNetwork((5,), K)])
    out = rec([torch.rand(B, T, 24, 24, 1), torch.randn(B, T, 5)])
    assert len(out) == 2
    for Lam, h in out:
        assert Lam.shape == (B, T, K, K)
        assert h.shape == (B, T, K)
    with pytest.raises(ValueError, match="expected 2 modalities"):
        rec([torch.rand(B, T, 24, 24, 1)])


def test_sequence_flattening_keeps_order():
    """(B, T) flattening must map each frame to its own potential."""
    torch.manual_seed(0)
    net = RecognitionNetwork((4,), 2, hidden=(8,))
    rec = Recognition([net])
    x = torch.randn(3, 5, 4)
    _, h = rec([x])[0]
    torch.testing.assert_close(h[1, 3], net(x[1, 3][None])[1][0])


def test_bad_config():
    with pytest.raises(ValueError, match="head"):
        RecognitionNetwork((4,), 2, head="bogus")
    with pytest.raises(ValueError, match="obs_shape"):
        RecognitionNetwork((4, 4), 2)


def test_spatial_softmax_is_the_expected_position_under_a_softmax():
    torch.manual_seed(0)
    C, h, w = 3, 4, 6
    layer = SpatialSoftmax(C, h, w)
    with torch.no_grad():
        layer.log_temperature.copy_(torch.tensor([0.0, -1.0, 0.5]))
    maps = torch.randn(2, C, h, w)
    out = layer(maps)
    assert out.shape == (2, 2 * C)
    # brute force: softmax over the h*w positions of each map (logits / temperature)
    for n in range(2):
        for c in range(C):
            temp = math.exp(layer.log_temperature[c].item())
            p = torch.softmax(maps[n, c].flatten() / temp, 0).reshape(h, w)
            col = sum(p[i, j] * (-1 + 2 * j / (w - 1)) for i in range(h) for j in range(w))
            row = sum(p[i, j] * (-1 + 2 * i / (h - 1)) for i in range(h) for j in range(w))
            torch.testing.assert_close(out[n, c], col)
            torch.testing.assert_close(out[n, C + c], row)
    # gradients reach the maps and the temperatures (finite differences in float64)
    layer64 = SpatialSoftmax(C, h, w).double()
    maps64 = torch.randn(1, C, h, w, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer64, (maps64,))
    layer64(maps64).sum().backward()
    assert layer64.log_temperature.grad.abs().sum() > 0


def test_keypoint_trunk_reads_where_a_dot_is_anywhere_in_the_frame():
    # one conv that passes the frame through (centre tap 1): the keypoint of a bright dot is the
    # dot's position, and it moves linearly with the dot, also where no weights were trained
    trunk = ConvTrunk((24, 40, 1), channels=(1,), strides=(1,), pool="keypoints")
    assert trunk.out_features == 2
    conv = trunk.net[0]
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = 1.0
        conv.bias.zero_()
        trunk.keypoints.log_temperature.fill_(-4.0)  # sharp: the softmax picks the dot
    for row, col in [(3, 5), (12, 20), (20, 37)]:
        frame = torch.zeros(1, 24, 40, 1)
        frame[0, row, col, 0] = 1.0
        x, y = trunk(frame)[0]
        assert x.item() == pytest.approx(-1 + 2 * col / 39, abs=1e-3)
        assert y.item() == pytest.approx(-1 + 2 * row / 23, abs=1e-3)
    flat = ConvTrunk((24, 40, 1), channels=(1,), strides=(1,))
    assert flat.out_features == 24 * 40
    # both read-outs side by side: the flattened map, then the keypoints
    both = ConvTrunk((24, 40, 1), channels=(1,), strides=(1,), pool="flatten+keypoints")
    both.load_state_dict(trunk.state_dict())
    assert both.out_features == 24 * 40 + 2
    frame = torch.zeros(1, 24, 40, 1)
    frame[0, 20, 37, 0] = 1.0
    out = both(frame)[0]
    torch.testing.assert_close(out[:-2], frame.flatten())  # the pass-through conv's map
    torch.testing.assert_close(out[-2:], trunk(frame)[0])
    with pytest.raises(ValueError, match="pool must be one of"):
        ConvTrunk((24, 40, 1), pool="max")
