"""KMAP/HMAP: exactness of the fast paths against the literal loop, hand-computed toy maps, invariances."""
import math
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from paperlib.ablation import (ConvStack, _WeightDerived, ablated_q_dense, ablated_q_incremental,
                               ablated_q_literal)
from paperlib.feature_maps import (feature_maps, hmap_from_q, kmap_from_q, map_entropy, sparsity)
from paperlib.agents import load_agent
from paperlib.envs import AtariEnvs, EnvConfig
from paperlib.networks import build_network
from paperlib.preprocess import to_network_input


class SmallConvQ(nn.Module):
    """A configurable conv-stack Q-network (optionally dueling) for exactness tests."""

    def __init__(self, in_channels, in_shape, convs, hidden, n_actions, dueling):
        super().__init__()
        layers, channels = [], in_channels
        for out, kernel, stride in convs:
            layers.append(nn.Conv2d(channels, out, kernel, stride))
            channels = out
        self.convs = nn.ModuleList(layers)
        with torch.no_grad():
            size = self._features(torch.zeros(1, in_channels, *in_shape)).shape[1]
        self.dueling = dueling
        self.fc = nn.ModuleList([nn.Linear(size, hidden) for _ in range(2 if dueling else 1)])
        self.out = nn.ModuleList([nn.Linear(hidden, 1), nn.Linear(hidden, n_actions)] if dueling
                                 else [nn.Linear(hidden, n_actions)])

    def _features(self, x):
        for conv in self.convs:
            x = torch.relu(conv(x))
        return x.flatten(1)

    def _head(self, pre):
        hidden = [torch.relu(p) for p in pre]
        if self.dueling:
            value, advantage = self.out[0](hidden[0]), self.out[1](hidden[1])
            return value + advantage - advantage.mean(dim=1, keepdim=True)
        return self.out[0](hidden[0])

    def forward(self, x):
        features = self._features(x)
        return self._head([fc(features) for fc in self.fc])

    def conv_stack(self):
        return ConvStack(list(self.convs), list(self.fc), self._head)


ARCHITECTURES = {
    "square": dict(in_channels=1, in_shape=(20, 20), convs=[(8, 4, 2), (8, 3, 1)], hidden=16, n_actions=4, dueling=True),
    "non-square": dict(in_channels=2, in_shape=(24, 18), convs=[(6, (5, 3), (2, 1)), (8, (3, 2), (1, 2))], hidden=12,
                       n_actions=3, dueling=False),
    "strided": dict(in_channels=1, in_shape=(21, 17), convs=[(4, 3, 2), (6, 2, 2), (5, 2, 1)], hidden=10, n_actions=5,
                    dueling=True),
    "stride-one-first": dict(in_channels=3, in_shape=(16, 13), convs=[(4, 3, 1), (6, (4, 3), (2, 3)), (5, 2, 1)],
                             hidden=9, n_actions=4, dueling=False),
}


def _state(channels, shape, seed):
    generator = torch.Generator().manual_seed(seed)
    state = torch.rand(channels, *shape, generator=generator)
    state[:, :3] = 0.0  # some pixels are already zero in every frame, as the black parts of Atari frames
    state[0, 5] = 0.0  # and some only in the first frame (ablated: the other frames change)
    return state


def _close(a, b):
    a, b = a.detach(), b.detach()
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_fast_paths_match_the_literal_loop_on_small_networks(name):
    spec = ARCHITECTURES[name]
    torch.manual_seed(1)
    network = SmallConvQ(**spec)
    state = _state(spec["in_channels"], spec["in_shape"], seed=2)
    literal = ablated_q_literal(network, state)
    assert torch.equal(ablated_q_literal(network, state, [5, 0, 3]), literal[[5, 0, 3]])
    _close(ablated_q_dense(network, state, batch_size=37), literal)
    _close(ablated_q_incremental(network, state, batch_size=50), literal)
    q_clean = network(state.unsqueeze(0))[0]
    gaps = literal.topk(2, dim=1).values
    clear = (gaps[:, 0] - gaps[:, 1]) > 1e-5  # argmax agreement wherever the literal top two are not tied
    fast_actions = ablated_q_incremental(network, state).argmax(dim=1)
    assert torch.equal(fast_actions[clear], literal.argmax(dim=1)[clear])
    _close(kmap_from_q(q_clean, ablated_q_incremental(network, state)), kmap_from_q(q_clean, literal))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["strided", "nature-dueling"])
def test_fast_paths_on_cuda_give_the_cpu_values(name):
    """Both fast paths on CUDA agree with the CPU's literal loop (the Nature-CNN: with its dense path)."""
    torch.manual_seed(9)
    if name == "nature-dueling":
        network, state = build_network("dueling", 4, 6), _state(4, (84, 84), seed=10)
        reference = ablated_q_dense(network, state)
    else:
        spec = ARCHITECTURES[name]
        network, state = SmallConvQ(**spec), _state(spec["in_channels"], spec["in_shape"], seed=10)
        reference = ablated_q_literal(network, state)
    network, on_gpu = network.cuda(), state.cuda()
    _close(ablated_q_incremental(network, on_gpu, batch_size=300).cpu(), reference)
    _close(ablated_q_dense(network, on_gpu).cpu(), reference)


def test_incremental_follows_weights_changed_in_place():
    """The incremental path keeps matrices built from the weights between calls; they must not go stale."""
    spec = ARCHITECTURES["strided"]
    torch.manual_seed(5)
    network = SmallConvQ(**spec)
    state = _state(spec["in_channels"], spec["in_shape"], seed=6)
    _close(ablated_q_incremental(network, state), ablated_q_dense(network, state))
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.mul_(-1.5)
    _close(ablated_q_incremental(network, state), ablated_q_dense(network, state))
    network.load_state_dict({name: torch.randn_like(value) for name, value in network.state_dict().items()})
    _close(ablated_q_incremental(network, state), ablated_q_dense(network, state))


@pytest.mark.parametrize("name", ["dueling", "nature"])
def test_incremental_matches_dense_and_literal_on_the_nature_cnn(name):
    torch.manual_seed(3)
    network = build_network(name, 1, 6)
    state = _state(1, (84, 84), seed=4)
    dense = ablated_q_dense(network, state)
    incremental = ablated_q_incremental(network, state)
    _close(incremental, dense)
    pixels = torch.randperm(84 * 84, generator=torch.Generator().manual_seed(0))[:150]
    pixels = torch.cat([pixels, torch.tensor([0, 83, 84 * 83, 84 * 84 - 1, 84 * 42 + 41])])  # corners, centre
    for pixel in pixels.tolist():  # literal Algorithm 1 on a sample of pixels
        ablated = state.clone()
        ablated[:, pixel // 84, pixel % 84] = 0.0
        with torch.no_grad():
            _close(incremental[pixel], network(ablated.unsqueeze(0))[0])


@pytest.mark.parametrize("batch_size", [7, 64, 512])
def test_incremental_is_exact_with_scattered_black_pixels(batch_size):
    """Half the pixels black at random, as in RoadRunner frames: the pixels left to propagate are scattered,
    so a batch need not contain the pixels whose windows set the common window size."""
    torch.manual_seed(5)
    network = build_network("dueling", 1, 18)
    generator = torch.Generator().manual_seed(6)
    state = torch.rand(1, 84, 84, generator=generator)
    state[torch.rand(1, 84, 84, generator=generator) < 0.5] = 0.0
    _close(ablated_q_incremental(network, state, batch_size=batch_size), ablated_q_dense(network, state))


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_incremental_on_several_threads_gives_the_values_of_one(workers):
    """With torch on three threads, batches on one or several Python threads give bit for bit the values of one
    batch at a time with torch on one thread (on an AVX-512 machine they did not while the clean pass ran on three),
    build no autograd graph (grad mode is per thread; the parameters require grad) and leave torch's thread count
    as it was."""
    torch.manual_seed(7)
    network = build_network("dueling", 1, 6)
    state = _state(1, (84, 84), seed=8)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ablated_q_incremental(network, state, batch_size=300, workers=1)
        torch.set_num_threads(3)
        several = ablated_q_incremental(network, state, batch_size=300, workers=workers)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(several, one) and not several.requires_grad
    with pytest.raises(ValueError, match="workers"):
        ablated_q_incremental(network, state, workers=0)


def test_weight_derived_tables_may_build_from_other_tables():
    """A table built from another table of the same layer, or of another layer, neither deadlocks nor is built
    twice."""
    class Doubled(_WeightDerived):
        _kept = weakref.WeakKeyDictionary()
        builds = []

        @staticmethod
        def _build(layer: nn.Module, power: int) -> torch.Tensor:
            Doubled.builds.append(power)
            if power == 0:
                return layer.weight.detach().clone()
            return 2 * Doubled.of(layer).get(power - 1)

    layer = nn.Linear(2, 3)
    results = []
    worker = threading.Thread(target=lambda: results.append(Doubled.of(layer).get(3)), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "building one table from another deadlocked"
    assert torch.equal(results[0], 8 * layer.weight.detach())
    assert torch.equal(Doubled.of(layer).get(2), 4 * layer.weight.detach()) and sorted(Doubled.builds) == [0, 1, 2, 3]


def _random_play_state(game: str, frame_stack: int, steps: int = 300) -> torch.Tensor:
    rng = np.random.default_rng(0)
    with AtariEnvs(EnvConfig(game, frame_stack=frame_stack)) as envs:
        envs.reset(seed=0)
        for _ in range(steps):
            obs = envs.step(rng.integers(0, envs.n_actions, 1)).obs
    return to_network_input(obs)[0]


@pytest.mark.parametrize("stem", sorted(p.with_suffix("") for p in Path("data/agents").glob("*.safetensors")),
                         ids=lambda p: p.name)
def test_incremental_is_exact_on_the_committed_agents(stem):
    """Both fast paths against each other on every pixel, and against the literal loop of Algorithm 1 on 64
    pixels (the four corners and 60 drawn at random; all 7056 would take about 10 s per agent)."""
    network, card = load_agent(stem)
    state = _random_play_state(card.game, card.frame_stack)
    dense = ablated_q_dense(network, state)
    incremental = ablated_q_incremental(network, state)
    _close(incremental, dense)
    _, height, width = state.shape
    corners = torch.tensor([0, width - 1, (height - 1) * width, height * width - 1])
    spot = torch.cat([corners, torch.randperm(height * width, generator=torch.Generator().manual_seed(0))[:60]])
    literal = ablated_q_literal(network, state, spot.tolist())
    _close(dense[spot], literal)
    _close(incremental[spot], literal)
    top_two = dense.topk(2, dim=1).values
    clear = (top_two[:, 0] - top_two[:, 1]) > 1e-4 * float(dense.abs().max())
    assert torch.equal(incremental.argmax(dim=1)[clear], dense.argmax(dim=1)[clear])
    assert torch.equal(literal.argmax(dim=1)[clear[spot]], dense[spot].argmax(dim=1)[clear[spot]])


def test_toy_3x3_maps_by_hand():
    network = nn.Sequential(nn.Flatten(), nn.Linear(9, 2, bias=False))
    with torch.no_grad():
        network[1].weight.zero_()
        network[1].weight[0, 0] = 1.0  # Q(s, 0) = s(0, 0)
        network[1].weight[1, 8] = 0.25  # Q(s, 1) = s(2, 2) / 4
    state = torch.zeros(1, 3, 3)
    state[0, 0, 0], state[0, 2, 2] = 1.0, 2.0  # Q(s) = (1, 0.5), a* = 0
    maps = feature_maps(network, state.unsqueeze(0), temperature=1.0, progress=False)
    expected_k = np.zeros((3, 3))
    expected_k[0, 0] = 1.0 - 0.5  # zeroing (0, 0) gives Q = (0, 0.5): the agent switches to action 1
    np.testing.assert_allclose(maps.kmap[0], expected_k, atol=1e-7)
    p0 = math.exp(1) / (math.exp(1) + math.exp(0.5))
    clean_entropy = -(p0 * math.log(p0) + (1 - p0) * math.log(1 - p0))
    q0 = 1 / (1 + math.exp(0.5))  # softmax(0, 0.5)[0]
    expected_h = np.full((3, 3), clean_entropy)
    expected_h[0, 0] = -(p0 * math.log(q0) + (1 - p0) * math.log(1 - q0))
    p0_22 = math.exp(1) / (math.exp(1) + 1)  # zeroing (2, 2): Q = (1, 0)
    expected_h[2, 2] = -(p0 * math.log(p0_22) + (1 - p0) * math.log(1 - p0_22))
    np.testing.assert_allclose(maps.hmap[0], expected_h, rtol=1e-5)


def test_a_pixel_the_network_ignores_gets_zero_kmap():
    torch.manual_seed(5)
    inner = build_network("dueling", 1, 6)
    mask = torch.ones(1, 84, 84)
    mask[0, 30, 40] = 0.0

    class Ignoring(nn.Module):
        def forward(self, x):
            return inner(x * mask)

    state = _state(1, (84, 84), seed=6)
    maps = feature_maps(Ignoring(), state.unsqueeze(0), progress=False)
    assert maps.kmap[0, 30, 40] == 0.0
    with torch.no_grad():
        q = inner(state.unsqueeze(0))[0]
    p = torch.softmax(q, 0)
    assert maps.hmap[0, 30, 40] == pytest.approx(float(-(p * p.log()).sum()), rel=1e-5)
    assert (maps.kmap >= 0).all()  # the clean greedy action maximises Q(s, .)


def test_temperature_enters_hmap_only():
    q_clean, q_ablated = torch.tensor([1.0, 0.0]), torch.tensor([[0.0, 1.0]])
    assert hmap_from_q(q_clean, q_ablated, 100.0) < hmap_from_q(q_clean, q_ablated, 1.0)
    assert kmap_from_q(q_clean, q_ablated).item() == 1.0
    with pytest.raises(ValueError, match="temperature must be positive"):
        hmap_from_q(q_clean, q_ablated, 0.0)


def test_sparsity_and_entropy_maxima_and_errors():
    uniform = np.ones((84, 84))
    assert sparsity(uniform) == pytest.approx(84.0)
    assert map_entropy(uniform) == pytest.approx(math.log(7056), abs=1e-9)
    assert map_entropy(uniform) == pytest.approx(8.8616, abs=1e-4)
    one_hot = np.zeros((84, 84))
    one_hot[3, 4] = 5.0
    assert sparsity(one_hot) == pytest.approx(1.0)
    assert math.isnan(sparsity(np.zeros((84, 84))))  # undefined, never a number
    rng = np.random.default_rng(0)
    random_map = rng.random((84, 84))
    assert 1.0 <= sparsity(random_map) <= 84.0 and map_entropy(random_map) <= math.log(7056)
    with pytest.raises(ValueError, match="2-D map"):
        sparsity(np.ones(7056))
    with pytest.raises(ValueError, match="non-empty batch"):
        feature_maps(build_network("nature", 1, 6), torch.zeros(0, 1, 84, 84))


@pytest.mark.parametrize("name", ["dueling", "nature"])
def test_shift_invariant_path_gives_the_same_maps(name):
    torch.manual_seed(7)
    network = build_network(name, 1, 6)
    state = _state(1, (84, 84), seed=8)
    shifted = ablated_q_incremental(network, state, up_to_shift=True)
    full = ablated_q_dense(network, state)
    _close(shifted - shifted.mean(dim=1, keepdim=True), full - full.mean(dim=1, keepdim=True))
    fast = feature_maps(network, state.unsqueeze(0), temperature=0.5, method="incremental", progress=False)
    dense = feature_maps(network, state.unsqueeze(0), temperature=0.5, method="dense", progress=False)
    np.testing.assert_allclose(fast.hmap, dense.hmap, rtol=1e-4)
    np.testing.assert_allclose(fast.kmap, dense.kmap, atol=1e-5)


def test_relu_change_equals_its_definition():
    """The two-pass ReLU change max(d + min(pre, 0), -max(pre, 0)) is relu(pre + d) - relu(pre), and exactly zero
    where d is zero (the sparse fully connected update relies on it)."""
    from paperlib.ablation import _relu_change

    generator = torch.Generator().manual_seed(0)
    pre = torch.randn(4, 3, 5, 5, generator=generator, dtype=torch.float64)
    delta = torch.randn(4, 3, 5, 5, generator=generator, dtype=torch.float64)
    pre[0, 0, 0, :2] = 0.0
    delta[1] = 0.0
    delta[2, :, 0, 0] = -pre[2, :, 0, 0]  # lands exactly on zero
    expected = torch.relu(pre + delta) - torch.relu(pre)
    got = _relu_change(delta.clone(), (pre.clamp(max=0), -pre.relu()))
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-15)
    assert (got[1] == 0).all()


def test_stride1_scatter_equals_a_convolution_of_the_placed_change():
    """The scatter form of a stride-1 convolution's change equals conv2d (no bias) of the change placed on a zero
    input, at windows against every border (contributions outside the layer dropped) and with all-zero cells."""
    from paperlib.ablation import _stride1_delta

    generator = torch.Generator().manual_seed(0)
    conv = nn.Conv2d(3, 5, 3)
    delta = torch.randn(4, 2, 3, 3, generator=generator)
    delta[1, 0, 1] = 0.0  # a cell unchanged in every channel
    delta[2] = 0.0
    rows, cols = torch.tensor([0, 4, 2, 0]), torch.tensor([0, 3, 1, 3])  # 2x3 input windows on a 6x6 input
    canvas = torch.zeros(4, 3, 6, 6)
    for p in range(4):
        canvas[p, :, rows[p]:rows[p] + 2, cols[p]:cols[p] + 3] = delta[p].permute(2, 0, 1)
    with torch.no_grad():
        expected = nn.functional.conv2d(canvas, conv.weight).permute(0, 2, 3, 1)  # every output: one 4x4 window
        got = _stride1_delta(conv, delta, rows, cols, 4, 4)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert (got[2] == 0).all()


@pytest.mark.parametrize("turned_on_columns", [2, 9])
def test_first_linear_update_equals_the_dense_product(turned_on_columns):
    """Both forms of the first linear layers' update, one dense product (few units turned on) or a dense product
    plus a sparse one over the units off in the clean state (as many turned on as the others, or more), give
    clean + change @ weight; unchanged features and ablations that turn no unit on included."""
    from paperlib.ablation import _first_linear_update

    generator = torch.Generator().manual_seed(0)
    change = torch.zeros(6, 12, dtype=torch.float64)
    off_in_clean = torch.ones(12, dtype=torch.bool)
    off_in_clean[:4] = False  # units 0-3 on in the clean state: changed by every ablation but the last
    change[:5, :4] = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    for pixel, column in [(0, 4), (0, 6), (2, 5), (4, 4), (5, 7), (3, 10), (3, 11), (1, 9), (2, 8)][:turned_on_columns]:
        change[pixel, column] = float(torch.randn(1, generator=generator))
    weights = [torch.randn(12, 5, generator=generator, dtype=torch.float64) for _ in range(2)]
    clean = [torch.randn(5, generator=generator, dtype=torch.float64) for _ in range(2)]
    got = _first_linear_update(change, off_in_clean, weights, clean)
    for pre, weight, clean_pre in zip(got, weights, clean):
        torch.testing.assert_close(pre, clean_pre + change @ weight, rtol=0, atol=1e-12)


def test_incremental_is_exact_where_ablations_turn_units_on(monkeypatch):
    """In the Pong DDQN agent most of the last convolution's units are off in the clean state and many are turned on
    by some ablation (in random networks hardly any), so the sparse update of the first linear layers runs there:
    the same Q-values as the dense path."""
    network, card = load_agent(Path("data/agents/pong-ddqn"))
    sparse_updates = []
    embedding_bag = nn.functional.embedding_bag
    monkeypatch.setattr(nn.functional, "embedding_bag", lambda *a, **k: sparse_updates.append(1) or embedding_bag(*a, **k))
    state = _random_play_state(card.game, card.frame_stack)
    _close(ablated_q_incremental(network, state), ablated_q_dense(network, state))
    assert sparse_updates
