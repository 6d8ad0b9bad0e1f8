"""Evaluation protocol: one episode per emulator, deterministic for a seed, validated parameters."""
import json

import numpy as np
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


def test_only_shipped_agents_are_cached_in_the_committed_cache(tmp_path, monkeypatch):
    import shutil

    from paperlib import cache, evaluate
    from paperlib.agents import save_agent

    monkeypatch.delenv("PAPERLIB_CACHE_DIR", raising=False)
    shipped_agents, shipped_cache = tmp_path / "data" / "agents", tmp_path / "data" / "cache"
    monkeypatch.setattr(cache, "AGENTS_DIR", shipped_agents)
    monkeypatch.setattr(cache, "CACHE_DIR", shipped_cache)
    run_agent = tmp_path / "runs" / "pong-ddqn" / "agent"
    save_agent(run_agent, _random_pong_network(), _card(network="nature"))
    first = evaluate_agent(run_agent, episodes=2, max_frames_per_episode=800, progress=False)
    assert cache.agent_cache_dir(run_agent) == run_agent.parent / "cache"
    assert len(list((run_agent.parent / "cache" / "evaluation").glob("*.npz"))) == 1 and not shipped_cache.exists()

    shipped = shipped_agents / "pong-ddqn"
    shipped_agents.mkdir(parents=True)
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(run_agent.with_suffix(suffix), shipped.with_suffix(suffix))
    assert cache.agent_cache_dir(shipped) == shipped_cache
    assert evaluate.copy_evaluations(run_agent, shipped) == 1
    assert evaluate.copy_evaluations(run_agent, shipped) == 0  # already there
    monkeypatch.setattr(evaluate, "evaluate_network", lambda *a, **k: pytest.fail("played again"))
    assert evaluate_agent(shipped, episodes=2, max_frames_per_episode=800, progress=False) == first

    monkeypatch.setenv("PAPERLIB_CACHE_DIR", str(tmp_path / "chosen"))  # a chosen cache folder holds everything
    assert cache.agent_cache_dir(run_agent) == cache.agent_cache_dir(shipped) == tmp_path / "chosen"


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
    update_card(stem, robustness={attack.label: result}, agent_sha256=read_card(stem).sha256)
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


def _fake_clock(monkeypatch):
    """Every reading of the evaluation's clock advances it by one second."""
    from paperlib import evaluate

    ticks = iter(range(10**9))
    monkeypatch.setattr(evaluate, "monotonic", lambda: float(next(ticks)))


def test_a_paused_evaluation_continues_to_the_same_returns(tmp_path, monkeypatch):
    from paperlib.attacks import AttackSpec
    from paperlib.evaluate import EvaluationPaused

    net = _random_pong_network()
    settings = dict(episodes=3, seed=2, epsilon=0.2, max_frames_per_episode=600, progress=False,
                    attack=AttackSpec(eps=2 / 255, steps=2))
    uninterrupted = evaluate_network(net, "pong", **settings)
    _fake_clock(monkeypatch)
    path = tmp_path / "partial.npz"
    paused_at = []
    for _ in range(2):  # stop twice, at different steps, then run to the end
        with pytest.raises(EvaluationPaused) as paused:
            evaluate_network(net, "pong", checkpoint_path=path, stop_after_seconds=40, **settings)
        paused_at.append(paused.value.steps)
    resumed = evaluate_network(net, "pong", checkpoint_path=path, **settings)
    assert 0 < paused_at[0] < paused_at[1] < 150
    assert resumed == uninterrupted


def test_a_signal_pauses_a_checkpointed_evaluation_which_continues_to_the_same_returns(tmp_path):
    import os
    import signal

    from paperlib.evaluate import EvaluationPaused

    net = _random_pong_network()
    settings = dict(episodes=2, seed=1, epsilon=0.3, max_frames_per_episode=500, progress=False)
    uninterrupted = evaluate_network(net, "pong", **settings)
    calls = {"n": 0}

    def interrupted_forward(module, inputs):
        calls["n"] += 1
        if calls["n"] == 30:
            os.kill(os.getpid(), signal.SIGINT)

    hook = net.register_forward_pre_hook(interrupted_forward)
    path = tmp_path / "partial.npz"
    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN where a non-interactive shell started pytest
    with pytest.raises(EvaluationPaused) as paused:
        evaluate_network(net, "pong", checkpoint_path=path, **settings)
    hook.remove()
    assert paused.value.steps == 30 and path.exists()
    assert signal.getsignal(signal.SIGINT) is handler_before
    assert evaluate_network(net, "pong", checkpoint_path=path, **settings) == uninterrupted


def test_a_checkpoint_that_does_not_replay_is_refused(tmp_path, monkeypatch):
    from paperlib.evaluate import EvaluationPaused
    from paperlib.play_checkpoint import CheckpointError, PlayCheckpoint

    net = _random_pong_network()
    settings = dict(episodes=2, seed=0, epsilon=0.5, max_frames_per_episode=400, progress=False)
    _fake_clock(monkeypatch)
    path = tmp_path / "partial.npz"
    with pytest.raises(EvaluationPaused):
        evaluate_network(net, "pong", checkpoint_path=path, stop_after_seconds=20, **settings)
    checkpoint = PlayCheckpoint.load(path, episodes=2)
    checkpoint.actions = [np.full(2, 3) for _ in checkpoint.actions]  # DOWN all along (the agent went UP)
    checkpoint.save(path)
    with pytest.raises(CheckpointError, match="did not reach the state"):
        evaluate_network(net, "pong", checkpoint_path=path, **settings)
    with pytest.raises(CheckpointError, match=r"not \(steps, 3\)"):
        evaluate_network(net, "pong", checkpoint_path=path, **{**settings, "episodes": 3})
    path.write_bytes(b"not an npz file")
    with pytest.raises(CheckpointError, match="delete .*partial.npz"):
        evaluate_network(net, "pong", checkpoint_path=path, **settings)


def test_evaluate_agent_removes_its_checkpoint_when_done(tmp_path, monkeypatch):
    from paperlib import evaluate
    from paperlib.agents import save_agent
    from paperlib.evaluate import EvaluationPaused

    monkeypatch.setenv("PAPERLIB_CACHE_DIR", str(tmp_path / "cache"))
    stem = tmp_path / "agent"
    save_agent(stem, _random_pong_network(), _card(network="nature"))
    _fake_clock(monkeypatch)
    with pytest.raises(EvaluationPaused) as paused:
        evaluate_agent(stem, episodes=2, max_frames_per_episode=400, progress=False, stop_after_seconds=10)
    assert paused.value.path.parent == tmp_path / "cache" / "evaluation" / "partial" and paused.value.path.exists()
    assert json.loads(paused.value.path.with_suffix(".json").read_text())["agent"] == str(stem)
    monkeypatch.setattr(evaluate, "CHECKPOINT_SECONDS", 5.0)  # saves along the way as well
    result = evaluate_agent(stem, episodes=2, max_frames_per_episode=400, progress=False)
    assert not paused.value.path.exists() and not paused.value.path.with_suffix(".json").exists()
    assert result.returns == evaluate_network(_random_pong_network(), "pong", episodes=2, max_frames_per_episode=400,
                                              progress=False).returns


def test_cli_evaluation_keeps_a_result_written_while_it_ran(tmp_path, monkeypatch):
    """Two evaluations of one agent side by side (PGD-10 and PGD-50): the later one must not drop the other's."""
    from paperlib import evaluate
    from paperlib.agents import Evaluation, save_agent, update_card
    from paperlib.cli import main

    stem = tmp_path / "agent"
    save_agent(stem, _random_pong_network(), _card(network="nature"))
    other = Evaluation(1.0, 0.0, 1, [1.0], 0, 0.0, "pgd-50 eps=1/255")

    def meanwhile(*args, **kwargs):
        update_card(stem, robustness={other.attack: other}, agent_sha256=read_card(stem).sha256)
        return Evaluation(2.0, 0.0, 1, [2.0], 0, 0.0, "pgd-10 eps=1/255")

    monkeypatch.setattr(evaluate, "evaluate_agent", meanwhile)
    main(["evaluate", "--agent", str(stem), "--attack", "pgd", "--steps", "10"])
    assert sorted(read_card(stem).robustness) == ["pgd-10 eps=1/255", "pgd-50 eps=1/255"]


def test_cli_evaluation_of_an_agent_replaced_meanwhile_writes_nothing(tmp_path, monkeypatch, capsys):
    """A campaign may promote a new agent into the file while a long PGD-50 evaluation of the old one runs: the old
    agent's result must not land in the new agent's card."""
    from paperlib import evaluate
    from paperlib.agents import Evaluation, save_agent
    from paperlib.cli import main

    stem = tmp_path / "agent"
    save_agent(stem, _random_pong_network(), _card(network="nature"))

    seeds = iter([1, 2])

    def replaced_meanwhile(*args, **kwargs):
        torch.manual_seed(next(seeds))
        save_agent(stem, build_network("nature", 1, 6), _card(network="nature", env_steps=20))
        return Evaluation(2.0, 0.0, 1, [2.0], 0, 0.0, "pgd-10 eps=1/255")

    monkeypatch.setattr(evaluate, "evaluate_agent", replaced_meanwhile)
    for attack in ([], ["--attack", "pgd"]):
        with pytest.raises(SystemExit):
            main(["evaluate", "--agent", str(stem), *attack])
        assert "describes another agent" in capsys.readouterr().err
        card = read_card(stem)
        assert card.env_steps == 20 and card.evaluation is None and card.robustness == {}


def test_evaluate_agent_refuses_weights_replaced_before_it_loads_them(tmp_path, monkeypatch):
    """The cache key is the sha256 read first; weights swapped before loading would be cached under the old key."""
    from paperlib import evaluate
    from paperlib.agents import AgentFileError, save_agent

    stem = tmp_path / "agent"
    save_agent(stem, _random_pong_network(), _card(network="nature"))
    monkeypatch.setenv("PAPERLIB_CACHE_DIR", str(tmp_path / "cache"))
    real_load = evaluate.load_agent

    def load_after_a_swap(path):
        torch.manual_seed(1)
        save_agent(stem, build_network("nature", 1, 6), _card(network="nature"))
        return real_load(path)

    monkeypatch.setattr(evaluate, "load_agent", load_after_a_swap)
    with pytest.raises(AgentFileError, match="was replaced since this evaluation began"):
        evaluate_agent(stem, episodes=1, max_frames_per_episode=40, progress=False)
    assert not list((tmp_path / "cache").rglob("*.npz"))
