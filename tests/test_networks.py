import pytest
import torch

from paperlib.networks import DuelingNatureCNN, NatureCNN, build_network


@pytest.mark.parametrize("name,cls", [("dueling", DuelingNatureCNN), ("nature", NatureCNN)])
@pytest.mark.parametrize("channels", [1, 4])
def test_shapes(name, cls, channels):
    net = build_network(name, channels, 6)
    assert isinstance(net, cls)
    assert net(torch.rand(5, channels, 84, 84)).shape == (5, 6)


def test_dueling_combines_value_and_centred_advantage():
    torch.manual_seed(0)
    net = DuelingNatureCNN(1, 4)
    x = torch.rand(3, 1, 84, 84)
    h = net.features(x)
    value, advantage = net.value(h), net.advantage(h)
    expected = value + advantage - advantage.mean(dim=1, keepdim=True)
    torch.testing.assert_close(net(x), expected)
    # Q - V has zero mean over actions
    torch.testing.assert_close((net(x) - value).mean(dim=1), torch.zeros(3), atol=1e-6, rtol=0)


def test_nature_cnn_layer_sizes():
    net = NatureCNN(1, 18)
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (32, (8, 8), (4, 4)), (64, (4, 4), (2, 2)), (64, (3, 3), (1, 1))]
    assert net.q[0].in_features == 3136 and net.q[0].out_features == 512


def test_unknown_network():
    with pytest.raises(ValueError, match="unknown network 'resnet'"):
        build_network("resnet", 1, 6)
