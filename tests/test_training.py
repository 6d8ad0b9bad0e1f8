"""Smoke training, determinism, checkpoints on a signal, and resume."""
import csv
import dataclasses
import itertools
import json
import os
import shutil
import signal
import time

import pytest
from safetensors import safe_open

import paperlib.ddqn as ddqn
from paperlib.agents import load_agent
from paperlib.ddqn import DDQNConfig, DDQNTrainer
from paperlib.envs import AtariEnvs
from paperlib.schedules import EpsilonGreedy, linear_epsilon

SMALL = dict(game="pong", num_envs=2, buffer_size=2000, learning_starts=100, batch_size=8, train_every=4,
             target_update=100, eps_decay_steps=300, checkpoint_every=200, seed=3)


def _expected_updates(agent_steps):
    """Updates in a (resumed) run of ``agent_steps`` with SMALL: with 2 envs and 3-step returns the buffer
    holds 2 * (k - 2) transitions after k vector steps, so updates start at k = 52 (100 transitions) and each
    vector step from then on adds 2 agent steps of credit, one update per 4."""
    vector_steps = agent_steps // 2
    return (vector_steps - 52 + 1) * 2 // 4


def _train(run_dir, **overrides):
    trainer = DDQNTrainer(DDQNConfig(**{**SMALL, **overrides}), run_dir, progress=False)
    return trainer, trainer.train()


def _run_state(run_dir):
    with safe_open(str(run_dir / "checkpoint.safetensors"), framework="pt") as handle:
        return json.loads(handle.metadata()["run_state"])


def _curve(run_dir):
    with open(run_dir / "learning_curve.csv") as handle:
        return list(csv.DictReader(handle))


def test_smoke_training_writes_a_loadable_agent(tmp_path):
    trainer, card = _train(tmp_path / "run", total_steps=400)
    assert card.env_steps == 400
    assert card.updates == _expected_updates(400) == 74
    network, loaded = load_agent(tmp_path / "run" / "agent")
    assert loaded.sha256 == card.sha256 and loaded.training_config["total_steps"] == 400
    assert (tmp_path / "run" / "config.json").exists()


def test_same_seed_same_weights(tmp_path):
    _, first = _train(tmp_path / "a", total_steps=300)
    _, second = _train(tmp_path / "b", total_steps=300)
    _, other = _train(tmp_path / "c", total_steps=300, seed=4)
    assert first.sha256 == second.sha256
    assert first.sha256 != other.sha256
    _, extended = _train(tmp_path / "d", total_steps=300, explore_zeta_mu=2.0)
    _, extended_again = _train(tmp_path / "e", total_steps=300, explore_zeta_mu=2.0)
    assert extended.sha256 == extended_again.sha256 != first.sha256


def test_refuses_to_overwrite_or_resume_nothing(tmp_path):
    _train(tmp_path / "run", total_steps=200)
    with pytest.raises(FileExistsError, match="--resume"):
        DDQNTrainer(DDQNConfig(**SMALL, total_steps=400), tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        DDQNTrainer(DDQNConfig(**SMALL, total_steps=400), tmp_path / "empty", resume=True)


def test_signal_checkpoints_and_resume_continues_schedule(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    original_step = AtariEnvs.step
    calls = {"n": 0}

    def step_then_interrupt(self, actions):
        calls["n"] += 1
        if calls["n"] == 150:  # 300 agent steps with 2 envs
            os.kill(os.getpid(), signal.SIGINT)
        return original_step(self, actions)

    monkeypatch.setattr(AtariEnvs, "step", step_then_interrupt)
    _, interrupted = _train(run_dir, total_steps=1000)
    monkeypatch.setattr(AtariEnvs, "step", original_step)
    assert interrupted.env_steps == 300  # stopped at the signal, well before 1000
    state = _run_state(run_dir)
    assert state["env_step"] == 300 and state["updates"] == interrupted.updates

    trainer = DDQNTrainer(DDQNConfig(**SMALL, total_steps=600), run_dir, resume=True, progress=False)
    assert trainer.state.env_step == 300 and trainer.state.resumes == 1
    seen = []
    original_act = EpsilonGreedy.act

    def record_epsilon(self, greedy, epsilon, rng):
        seen.append((trainer.state.env_step, epsilon))
        return original_act(self, greedy, epsilon, rng)

    monkeypatch.setattr(EpsilonGreedy, "act", record_epsilon)
    resumed = trainer.train()
    assert resumed.env_steps == 600
    # the exploration schedule continues from step 300 (decay over 300 steps: already at its end)
    assert seen[0] == (300, pytest.approx(linear_epsilon(300, 1.0, 0.01, 300)))
    assert all(eps == pytest.approx(0.01) for _, eps in seen)
    # the replay buffer saved at the interruption comes back: updates go on from the first step
    assert interrupted.updates == _expected_updates(300)
    assert resumed.updates == interrupted.updates + 300 // 4
    assert _run_state(run_dir)["env_step"] == 600


def test_resume_without_a_saved_replay_refills_it_first(tmp_path):
    run_dir = tmp_path / "run"
    _, first = _train(run_dir, total_steps=300)
    (run_dir / "replay.safetensors").unlink()
    resumed = DDQNTrainer(DDQNConfig(**SMALL, total_steps=600), run_dir, resume=True, progress=False).train()
    assert resumed.updates == first.updates + _expected_updates(300)


def test_a_trainer_trains_on_across_deadlines_with_its_buffer(tmp_path, monkeypatch):
    trainer = DDQNTrainer(DDQNConfig(**SMALL, total_steps=600), tmp_path / "run", progress=False)
    clock = itertools.count(1e9)  # a clock that ticks once per reading: the deadline falls at a fixed step
    monkeypatch.setattr(time, "time", lambda: next(clock))
    first = trainer.train(deadline=1e9 + 600)
    monkeypatch.undo()
    assert 104 < first.env_steps < 600
    second = trainer.train()
    assert second.env_steps == 600
    assert second.updates == _expected_updates(first.env_steps) + (600 - first.env_steps) // 4


def test_resume_drops_curve_rows_logged_after_the_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    _train(run_dir, total_steps=200)
    with open(run_dir / "learning_curve.csv", "w") as handle:
        handle.write("env_step,episode_return,episode_length,epsilon,loss,wall_seconds\n"
                     "150,-21.0,100,0.5,0.1,1.0\n250,-20.0,100,0.4,0.1,2.0\n")
    DDQNTrainer(DDQNConfig(**SMALL, total_steps=400), run_dir, resume=True, progress=False)
    assert [row["env_step"] for row in _curve(run_dir)] == ["150"]


def test_resume_keeps_optimizer_and_weights(tmp_path):
    run_dir = tmp_path / "run"
    first, card = _train(run_dir, total_steps=300)
    trainer = DDQNTrainer(DDQNConfig(**SMALL, total_steps=300), run_dir, resume=True, progress=False)
    for a, b in zip(first.online.parameters(), trainer.online.parameters()):
        assert (a == b).all()
    saved_state = first.optimizer.state_dict()["state"]
    loaded_state = trainer.optimizer.state_dict()["state"]
    assert saved_state.keys() == loaded_state.keys()
    for key in saved_state:
        assert (saved_state[key]["exp_avg"] == loaded_state[key]["exp_avg"]).all()
        assert int(saved_state[key]["step"]) == int(loaded_state[key]["step"])


def test_resume_rejects_a_different_game(tmp_path):
    _train(tmp_path / "run", total_steps=200)
    with pytest.raises(ValueError, match="trained with game='pong'"):
        DDQNTrainer(DDQNConfig(**{**SMALL, "game": "freeway"}, total_steps=400), tmp_path / "run", resume=True)


def test_cli_resume_reuses_the_saved_configuration(tmp_path, capsys):
    from paperlib.cli import main

    run_dir = tmp_path / "run"
    small = ["--num-envs", "2", "--buffer-size", "1000", "--learning-starts", "100", "--batch-size", "8",
             "--checkpoint-every", "100", "--seed", "3"]
    main(["train", "--game", "pong", "--run-dir", str(run_dir), "--total-steps", "200", *small])
    main(["train", "--run-dir", str(run_dir), "--resume", "--total-steps", "300"])
    assert "300 steps" in capsys.readouterr().out
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["batch_size"] == 8 and saved["total_steps"] == 300 and saved["seed"] == 3


def test_continuing_an_agent_carries_on_its_counts_schedules_and_curve(tmp_path, monkeypatch):
    _, first = _train(tmp_path / "first", total_steps=300, method="sa-ddqn", sa_bound="pgd", sa_pgd_steps=1,
                      sa_eps_ramp_start=100, sa_eps_ramp_steps=400)
    stem = tmp_path / "first" / "agent"
    (tmp_path / "first" / "learning_curve.csv").write_text(  # a curve with a row, as a real agent has
        "env_step,episode_return,episode_length,epsilon,loss,wall_seconds\n250,-21.0,250,0.2,0.1,7.5\n")
    shutil.copyfile(tmp_path / "first" / "learning_curve.csv", stem.with_suffix(".curve.csv"))
    config = DDQNConfig(**{**SMALL, "total_steps": 500, "method": "sa-ddqn", "sa_bound": "pgd", "sa_pgd_steps": 1,
                           "sa_eps_ramp_start": 100, "sa_eps_ramp_steps": 400, "init_agent": str(stem),
                           "continue_agent": True})
    trainer = DDQNTrainer(config, tmp_path / "second", progress=False)
    assert (trainer.state.env_step, trainer.state.updates, trainer.state.episodes) == (300, first.updates, 1)
    assert trainer.state.cpu_seconds == pytest.approx(first.cpu_hours * 3600)
    assert trainer.state.wall_seconds == 7.5 and trainer.state.fine_tuned_from == first.fine_tuned_from == ""
    radii = []
    original = ddqn.sa_regularizer
    monkeypatch.setattr(ddqn, "sa_regularizer", lambda net, obs, eps, *a, **k: radii.append(eps) or original(
        net, obs, eps, *a, **k))
    card = trainer.train()
    assert card.env_steps == 500 and card.cpu_hours >= first.cpu_hours
    # the radius ramp carries on from step 300 (half way; updates resume once the buffer is refilled, after about 100
    # more steps) instead of starting again at 0
    assert radii and 0.75 * config.sa_eps <= min(radii) < max(radii) <= config.sa_eps
    assert _curve(tmp_path / "second")[0]["env_step"] == "250"
    # fine-tuning (the default) starts at step 0 and records the parent
    fine_tune = DDQNTrainer(dataclasses.replace(config, continue_agent=False), tmp_path / "third", progress=False)
    assert fine_tune.state.env_step == 0 and fine_tune.state.fine_tuned_from.startswith(str(stem))


def test_continuing_needs_an_agent_of_the_same_method(tmp_path):
    _train(tmp_path / "vanilla", total_steps=200)
    stem = tmp_path / "vanilla" / "agent"
    with pytest.raises(ValueError, match="fine-tune from it instead"):
        DDQNTrainer(DDQNConfig(**SMALL, method="sa-ddqn", init_agent=str(stem), continue_agent=True),
                    tmp_path / "sa", progress=False)
    with pytest.raises(ValueError, match="continue_agent needs init_agent"):
        DDQNConfig(**SMALL, continue_agent=True)
