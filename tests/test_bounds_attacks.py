"""IBP margin bounds are sound; PGD stays in the ball and finds what it should."""
import pytest
import torch

from paperlib.attacks import pgd_attack, pgd_margin, worst_margin
from paperlib.bounds import interval_forward, margin_upper_bounds
from paperlib.networks import build_network


def _setup(name, seed, n_actions=6, batch=4):
    torch.manual_seed(seed)
    network = build_network(name, 1, n_actions)
    states = torch.rand(batch, 1, 84, 84)
    states[:, :, :20] = 0.0  # pixels at the box edge, as on Atari frames
    states[:, :, 20:30] = 1.0
    with torch.no_grad():
        actions = network(states).argmax(dim=1)
    return network, states, actions


def _margins(network, states, actions):
    with torch.no_grad():
        q = network(states)
    return q - q.gather(1, actions.unsqueeze(1))


@pytest.mark.parametrize("name", ["dueling", "nature"])
@pytest.mark.parametrize("eps", [1 / 255, 0.01, 0.05])
def test_ibp_upper_bound_is_never_below_reached_margins(name, eps):
    network, states, actions = _setup(name, seed=int(eps * 1000))
    bound = margin_upper_bounds(network, states, eps, actions)
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):  # random points of the ball, clipped to [0, 1]
        noise = (torch.rand(states.shape, generator=generator) * 2 - 1) * eps
        reached = _margins(network, (states + noise).clamp(0, 1), actions)
        assert (reached <= bound + 1e-5).all()
    for target in range(bound.shape[1]):  # a plain targeted PGD on Q(target) - Q(a*), written out here
        adversarial = states.clone()
        for _ in range(20):
            adversarial.requires_grad_(True)
            q = network(adversarial)
            objective = (q[:, target] - q.gather(1, actions.unsqueeze(1)).squeeze(1)).sum()
            (grad,) = torch.autograd.grad(objective, adversarial)
            adversarial = (adversarial.detach() + eps / 10 * grad.sign())
            adversarial = torch.min(torch.max(adversarial, states - eps), states + eps).clamp(0, 1)
        reached = _margins(network, adversarial, actions)[:, target]
        assert (reached <= bound[:, target] + 1e-5).all()
    pgd_reached = pgd_margin(network, states, eps, 20, actions, generator)
    assert (pgd_reached <= bound.max(dim=1).values + 1e-5).all()


@pytest.mark.parametrize("name", ["dueling", "nature"])
def test_ibp_is_exact_at_zero_radius(name):
    network, states, actions = _setup(name, seed=1)
    bound = margin_upper_bounds(network, states, 0.0, actions)
    torch.testing.assert_close(bound, _margins(network, states, actions), atol=2e-5, rtol=1e-5)
    assert (bound.gather(1, actions.unsqueeze(1)) == 0).all()


def test_ibp_grows_with_the_radius():
    network, states, actions = _setup("dueling", seed=2)
    small = margin_upper_bounds(network, states, 1 / 255, actions)
    large = margin_upper_bounds(network, states, 4 / 255, actions)
    assert (large >= small - 1e-6).all()


def test_interval_forward_of_a_linear_layer_is_exact():
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    lower, upper = torch.zeros(1, 3), torch.ones(1, 3)
    low, high = interval_forward([layer], lower, upper)
    corners = torch.tensor([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], dtype=torch.float32)
    values = layer(corners)
    torch.testing.assert_close(low[0], values.min(dim=0).values)
    torch.testing.assert_close(high[0], values.max(dim=0).values)


def test_pgd_stays_in_the_ball_and_box_and_is_deterministic():
    network, states, _ = _setup("dueling", seed=3)
    eps = 1 / 255
    first = pgd_attack(network, states, eps, 10, torch.Generator().manual_seed(5))
    second = pgd_attack(network, states, eps, 10, torch.Generator().manual_seed(5))
    assert torch.equal(first, second)
    assert (first - states).abs().max() <= eps + 1e-7
    assert first.min() >= 0 and first.max() <= 1


def test_pgd_flips_a_linear_policy_with_a_known_minimal_radius():
    # Q(s) = W s on a 2-pixel state: a* = 0 with margin 0.1 and |w0 - w1|_1 = 2: any eps > 0.05 flips it
    network = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        network[1].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    states = torch.tensor([[[[0.55, 0.45]]]])
    flipped = pgd_attack(network, states, 0.06, 10, torch.Generator().manual_seed(0))
    assert network(flipped).argmax().item() == 1
    kept = pgd_attack(network, states, 0.04, 10, torch.Generator().manual_seed(0))
    assert network(kept).argmax().item() == 0


def test_worst_margin_and_bad_parameters():
    q = torch.tensor([[1.0, 3.0, 2.0]])
    assert worst_margin(q, torch.tensor([1])).item() == -1.0
    assert worst_margin(q, torch.tensor([0])).item() == 2.0
    network, states, _ = _setup("nature", seed=0, batch=1)
    with pytest.raises(ValueError, match="eps must be positive"):
        pgd_attack(network, states, 0.0, 10)
    with pytest.raises(ValueError, match="steps must be positive"):
        pgd_attack(network, states, 0.01, 0)
