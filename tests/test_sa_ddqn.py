"""SA-DQN regulariser (seed 001, Eq. 7), its radius schedule, and SA-DDQN training / fine-tuning."""
import pytest
import torch

from paperlib.ddqn import DDQNConfig, DDQNTrainer
from paperlib.networks import build_network
from paperlib.sa_regularizer import sa_eps_at, sa_regularizer
from tests.test_training import SMALL


def _net_and_states(seed=0):
    torch.manual_seed(seed)
    return build_network("dueling", 1, 6), torch.rand(3, 1, 84, 84)


def test_ibp_regulariser_upper_bounds_the_pgd_one():
    network, states = _net_and_states()
    for eps in (0.0, 1 / 255, 0.02):
        ibp = sa_regularizer(network, states, eps, "ibp", c=10.0)
        pgd = sa_regularizer(network, states, eps, "pgd", c=10.0, pgd_steps=10)
        assert ibp.item() >= pgd.item() - 1e-5


def test_zero_radius_gives_the_clean_margin():
    network, states = _net_and_states(1)
    with torch.no_grad():
        q = network(states)
    top2 = q.topk(2, dim=1).values
    expected = (top2[:, 1] - top2[:, 0]).clamp(min=-1.0).mean()
    for bound in ("ibp", "pgd"):
        torch.testing.assert_close(sa_regularizer(network, states, 0.0, bound, c=1.0), expected, atol=1e-5, rtol=1e-5)


def test_hinge_stops_at_minus_c_for_confident_policies():
    network, states = _net_and_states(2)
    with torch.no_grad():
        for layer in network.advantage:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
        network.advantage[-1].bias.copy_(torch.tensor([50.0, 0, 0, 0, 0, 0]))
    assert sa_regularizer(network, states, 1 / 255, "ibp", c=1.0).item() == -1.0


def test_regulariser_is_differentiable_in_the_parameters():
    network, states = _net_and_states(3)
    sa_regularizer(network, states, 1 / 255, "ibp", c=100.0).backward()
    assert network.features[0].weight.grad.abs().sum() > 0


def test_radius_schedule():
    assert sa_eps_at(0, 0.1, 10, 100) == 0.0
    assert sa_eps_at(60, 0.1, 10, 100) == pytest.approx(0.05)
    assert sa_eps_at(10**6, 0.1, 10, 100) == pytest.approx(0.1)


@pytest.mark.parametrize("bound", ["ibp", "pgd"])
def test_sa_ddqn_smoke_training(tmp_path, bound):
    config = DDQNConfig(**SMALL, total_steps=250, method="sa-ddqn", sa_bound=bound, sa_eps_ramp_steps=100)
    card = DDQNTrainer(config, tmp_path / "run", progress=False).train()
    assert card.method == "sa-ddqn" and card.updates > 0 and card.fine_tuned_from == ""


def test_fine_tuning_starts_from_the_given_agent(tmp_path):
    parent = DDQNTrainer(DDQNConfig(**SMALL, total_steps=200), tmp_path / "parent", progress=False).train()
    config = DDQNConfig(**{**SMALL, "learning_starts": 1000}, total_steps=100, method="sa-ddqn",
                        init_agent=str(tmp_path / "parent" / "agent"))
    child = DDQNTrainer(config, tmp_path / "child", progress=False).train()  # no update: weights unchanged
    assert child.updates == 0 and child.sha256 == parent.sha256
    assert child.fine_tuned_from.endswith("@" + parent.sha256)
    with pytest.raises(ValueError, match="cannot fine-tune"):
        DDQNTrainer(DDQNConfig(**{**SMALL, "game": "freeway"}, init_agent=str(tmp_path / "parent" / "agent")),
                    tmp_path / "other", progress=False)


def test_sa_config_validation():
    with pytest.raises(ValueError, match="unknown method"):
        DDQNConfig(game="pong", method="ppo")
    with pytest.raises(ValueError, match="sa_eps must lie in"):
        DDQNConfig(game="pong", sa_eps=0.0)
    with pytest.raises(ValueError, match="unknown sa_bound"):
        DDQNConfig(game="pong", sa_bound="crown")


def test_no_regulariser_before_the_radius_grows(tmp_path):
    # at radius 0 the hinge would still demand a clean action gap of c; SA-DQN adds nothing then, and so do we
    plain = DDQNTrainer(DDQNConfig(**SMALL, total_steps=250), tmp_path / "plain", progress=False).train()
    waiting = DDQNConfig(**SMALL, total_steps=250, method="sa-ddqn", sa_eps_ramp_start=10**6)
    sa = DDQNTrainer(waiting, tmp_path / "sa", progress=False).train()
    assert sa.updates > 0 and sa.sha256 == plain.sha256
