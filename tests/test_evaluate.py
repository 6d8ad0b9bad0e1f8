"""Evaluation protocol: one episode per emulator, deterministic for a seed, validated parameters."""
import pytest
import torch

from paperlib.agents import read_card
from paperlib.evaluate import evaluate_agent, evaluate_network
from paperlib.networks import build_network
from tests.test_agents import _card


def _random_pong_network():
    torch.manual_seed(0)
    return build_network("nature", 1, 6)


def test_evaluation_is_deterministic_and_counts_episodes():
    net = _random_pong_network()
    first = evaluate_network(net, "pong", episodes=3, seed=5, epsilon=0.1, max_frames_per_episode=1200, progress=False)
    second = evaluate_network(net, "pong", episodes=3, seed=5, epsilon=0.1, max_frames_per_episode=1200, progress=False)
    assert first == second
    assert first.episodes == len(first.returns) == 3
    assert all(-21 <= r <= 21 for r in first.returns)
    assert first.mean == pytest.approx(sum(first.returns) / 3)


@pytest.mark.parametrize("kwargs,message", [({"episodes": 0}, "episodes must be positive"),
                                            ({"epsilon": -0.5}, "epsilon must lie in")])
def test_bad_evaluation_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate_network(_random_pong_network(), "pong", **kwargs)


def test_evaluate_agent_uses_the_cache(tmp_path, monkeypatch):
    from paperlib import evaluate
    from paperlib.agents import save_agent

    monkeypatch.setenv("PAPERLIB_CACHE_DIR", str(tmp_path / "cache"))
    stem = tmp_path / "agent"
    save_agent(stem, _random_pong_network(), _card(network="nature"))
    calls = []
    original = evaluate.evaluate_network
    monkeypatch.setattr(evaluate, "evaluate_network", lambda *a, **k: calls.append(1) or original(*a, **k))
    first = evaluate_agent(stem, episodes=2, max_frames_per_episode=800, progress=False)
    second = evaluate_agent(stem, episodes=2, max_frames_per_episode=800, progress=False)
    assert first == second and len(calls) == 1
    assert len(list((tmp_path / "cache" / "evaluation").glob("*.npz"))) == 1
    assert read_card(stem).sha256


def test_attacked_evaluation_is_recorded_in_the_card(tmp_path, monkeypatch):
    from paperlib.agents import save_agent, update_card
    from paperlib.attacks import AttackSpec

    monkeypatch.setenv("PAPERLIB_CACHE_DIR", str(tmp_path / "cache"))
    stem = tmp_path / "agent"
    save_agent(stem, _random_pong_network(), _card(network="nature"))
    attack = AttackSpec(eps=1 / 255, steps=2)
    result = evaluate_agent(stem, episodes=1, max_frames_per_episode=400, progress=False, attack=attack)
    again = evaluate_network(_random_pong_network(), "pong", episodes=1, max_frames_per_episode=400, progress=False,
                             attack=attack)
    assert result == again and result.attack == "pgd-2 eps=1/255"
    update_card(stem, robustness={attack.label: result})
    assert read_card(stem).robustness["pgd-2 eps=1/255"] == result


def _always(action: int, n_actions: int) -> torch.nn.Module:
    """A Q-network whose greedy action is ``action`` in every state."""
    network = build_network("nature", 1, n_actions)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        network.q[-1].bias[action] = 1.0
    return network


def test_random_play_does_not_depend_on_the_network(tmp_path, monkeypatch):
    """evaluate_random_play is cached per game, not per agent: epsilon-1 play must ignore the network."""
    from paperlib.evaluate import evaluate_random_play

    monkeypatch.setenv("PAPERLIB_CACHE_DIR", str(tmp_path / "cache"))
    short = {"episodes": 1, "max_frames_per_episode": 2000, "progress": False}
    up, noop = _always(1, 3), _always(0, 3)  # Freeway: NOOP, UP, DOWN
    greedy = [evaluate_network(net, "Freeway", **short).mean for net in (up, noop)]
    scores = [evaluate_network(net, "Freeway", epsilon=1.0, **short).mean for net in (up, noop)]
    assert greedy[0] > greedy[1] == 0  # the two networks play differently: always UP crosses, NOOP never does
    assert scores[0] == scores[1] and 0 <= scores[0] <= 34
    from paperlib import evaluate

    calls = []
    monkeypatch.setattr(evaluate, "evaluate_network", lambda *a, **k: calls.append(a) or evaluate_network(*a, **k))
    assert evaluate_random_play("freeway", **short).returns == [scores[0]]
    assert calls[0][4] == 1.0  # epsilon 1: in this short window random and greedy play may both score 0
