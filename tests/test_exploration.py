"""Epsilon-greedy and its temporally extended form (ez-greedy) against a per-environment reference."""
import itertools

import numpy as np
import pytest

from paperlib.ddqn import DDQNConfig
from paperlib.schedules import MAX_RUN_STEPS, EpsilonGreedy


def _reference_actions(greedy_per_step, epsilons, n_actions, mu, seed, episode_ends):
    """The same random draws as EpsilonGreedy.act, then one environment at a time."""
    rng = np.random.default_rng(seed)
    num_envs = greedy_per_step.shape[1]
    run_action, run_left = [0] * num_envs, [0] * num_envs
    out = []
    for greedy, epsilon, ended in zip(greedy_per_step, epsilons, episode_ends):
        explore = rng.random(num_envs) < epsilon
        random_actions = rng.integers(0, n_actions, num_envs)
        durations = rng.zipf(mu, num_envs) if mu else None
        actions = []
        for env in range(num_envs):
            if mu == 0:
                actions.append(random_actions[env] if explore[env] else greedy[env])
                continue
            if run_left[env] == 0 and explore[env]:
                run_action[env], run_left[env] = random_actions[env], min(durations[env], MAX_RUN_STEPS)
            if run_left[env] > 0:
                actions.append(run_action[env])
                run_left[env] -= 1
            else:
                actions.append(greedy[env])
        for env in range(num_envs):
            if ended[env]:
                run_left[env] = 0
        out.append(actions)
    return np.array(out)


@pytest.mark.parametrize("mu", [0.0, 2.0, 1.5])
def test_matches_the_reference(mu):
    data = np.random.default_rng(7)
    steps, num_envs, n_actions = 400, 3, 6
    greedy = data.integers(0, n_actions, (steps, num_envs))
    epsilons = np.linspace(1.0, 0.0, steps)
    ends = data.random((steps, num_envs)) < 0.02
    explorer, rng = EpsilonGreedy(num_envs, n_actions, mu), np.random.default_rng(11)
    actions = []
    for t in range(steps):
        actions.append(explorer.act(greedy[t], epsilons[t], rng))
        explorer.end_runs(ends[t])
    np.testing.assert_array_equal(np.array(actions), _reference_actions(greedy, epsilons, n_actions, mu, 11, ends))


def test_plain_epsilon_greedy_draws_as_before():
    """mu = 0 uses the random stream exactly as the trainer's original one-step rule (agents stay reproducible)."""
    greedy = np.array([1, 2, 3, 4])
    first, second = np.random.default_rng(5), np.random.default_rng(5)
    actions = EpsilonGreedy(4, 6).act(greedy, 0.5, first)
    expected = np.where(second.random(4) < 0.5, second.integers(0, 6, 4), greedy)
    np.testing.assert_array_equal(actions, expected)
    assert first.random() == second.random()


def test_runs_repeat_one_action_and_end_with_the_episode():
    explorer, rng = EpsilonGreedy(1, 3, 2.0), np.random.default_rng(0)
    actions = [int(explorer.act(np.array([-1]), 1.0, rng)[0]) for _ in range(2000)]  # -1: never greedy
    lengths = [len(list(group)) for _, group in itertools.groupby(actions)]
    assert max(lengths) > 20  # heavy-tailed durations (with mu = 2, P(n > 20) is about 3%)
    explorer.run_left[:] = 50
    explorer.end_runs(np.array([True]))
    assert explorer.run_left[0] == 0
    assert explorer.act(np.array([2]), 0.0, rng)[0] == 2  # no run, epsilon 0: greedy


def test_rejects_a_zeta_exponent_of_one_or_below():
    with pytest.raises(ValueError, match="explore_zeta_mu"):
        DDQNConfig(game="pong", explore_zeta_mu=1.0)
    with pytest.raises(ValueError, match="zeta_mu"):
        EpsilonGreedy(2, 3, 0.5)
