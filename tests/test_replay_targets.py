"""DDQN target math and n-step replay on hand-computed examples."""
import numpy as np
import pytest
import torch

from paperlib.ddqn import DDQNConfig, double_dqn_targets
from paperlib.replay import ReplayBuffer
from paperlib.schedules import linear_epsilon


def test_double_dqn_targets_hand_computed():
    q_online_next = torch.tensor([[1.0, 3.0], [2.0, 0.0]])
    q_target_next = torch.tensor([[10.0, 20.0], [30.0, 40.0]])
    returns = torch.tensor([1.0, 0.5])
    discounts = torch.tensor([0.9, 0.81])
    dones = torch.tensor([0.0, 1.0])
    # row 0: online picks action 1, target values it at 20 -> 1 + 0.9 * 20; row 1 is terminal -> 0.5
    targets = double_dqn_targets(q_online_next, q_target_next, returns, discounts, dones)
    torch.testing.assert_close(targets, torch.tensor([19.0, 0.5]))


def test_double_dqn_differs_from_max_target():
    # plain DQN would bootstrap from max_a Q_target = 40; double DQN uses the online argmax (action 0) -> 30
    targets = double_dqn_targets(torch.tensor([[2.0, 0.0]]), torch.tensor([[30.0, 40.0]]), torch.tensor([0.0]),
                                 torch.tensor([1.0]), torch.tensor([0.0]))
    assert targets.item() == 30.0


def _frame(value):
    return np.full((1, 1, 2, 2), value, dtype=np.uint8)


def test_n_step_returns_hand_computed():
    buffer = ReplayBuffer(capacity=10, obs_shape=(1, 2, 2), num_envs=1, n_step=3, gamma=0.5)
    no = np.array([False])
    for t, reward in enumerate([1.0, 2.0, 3.0, 4.0, 5.0]):
        terminal = np.array([t == 4])
        buffer.add(_frame(t), np.array([t]), np.array([reward]), _frame(t + 1), terminal, no)
    assert len(buffer) == 5
    np.testing.assert_allclose(buffer.returns[:5], [1 + 1 + 0.75, 2 + 1.5 + 1, 3 + 2 + 1.25, 4 + 2.5, 5])
    np.testing.assert_allclose(buffer.discounts[:5], [0.125, 0.125, 0.125, 0.25, 0.5])
    np.testing.assert_array_equal(buffer.dones[:5], [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(buffer.obs[:5, 0, 0, 0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(buffer.next_obs[:5, 0, 0, 0], [3, 4, 5, 5, 5])
    np.testing.assert_array_equal(buffer.actions[:5], [0, 1, 2, 3, 4])


def test_truncation_bootstraps_and_envs_stay_separate():
    buffer = ReplayBuffer(capacity=10, obs_shape=(1, 2, 2), num_envs=2, n_step=2, gamma=1.0)
    obs = np.concatenate([_frame(1), _frame(2)])
    buffer.add(obs, np.array([0, 1]), np.array([1.0, 10.0]), obs + 10, np.array([False, False]), np.array([False, True]))
    # env 1 was truncated: stored at once, not done (bootstraps); env 0 waits for a second step
    assert len(buffer) == 1 and buffer.returns[0] == 10.0 and buffer.dones[0] == 0 and buffer.discounts[0] == 1.0
    buffer.add(obs, np.array([0, 1]), np.array([1.0, 10.0]), obs + 20, np.array([False, False]), np.array([False, False]))
    assert len(buffer) == 2 and buffer.returns[1] == 2.0 and buffer.next_obs[1, 0, 0, 0] == 21


def test_buffer_wraps_and_samples_deterministically():
    buffer = ReplayBuffer(capacity=4, obs_shape=(1, 2, 2), num_envs=1, n_step=1, gamma=0.9)
    for t in range(6):
        buffer.add(_frame(t), np.array([t]), np.array([0.0]), _frame(t + 1), np.array([False]), np.array([False]))
    assert len(buffer) == 4
    assert sorted(buffer.actions) == [2, 3, 4, 5]
    a = buffer.sample(8, np.random.default_rng(1))
    b = buffer.sample(8, np.random.default_rng(1))
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.next_obs[:, 0, 0, 0], a.actions + 1)


def test_saved_buffer_restores_the_same_samples_and_cursor():
    buffer = ReplayBuffer(capacity=4, obs_shape=(1, 2, 2), num_envs=1, n_step=1, gamma=0.9)
    for t in range(6):
        buffer.add(_frame(t), np.array([t]), np.array([0.0]), _frame(t + 1), np.array([False]), np.array([False]))
    copy = ReplayBuffer(capacity=4, obs_shape=(1, 2, 2), num_envs=1, n_step=1, gamma=0.9)
    copy.restore(buffer.arrays())
    a, b = buffer.sample(8, np.random.default_rng(1)), copy.sample(8, np.random.default_rng(1))
    np.testing.assert_array_equal(a.obs, b.obs)
    np.testing.assert_array_equal(a.actions, b.actions)
    for target in (buffer, copy):  # the next transition overwrites the same (oldest) slot
        target.add(_frame(9), np.array([9]), np.array([0.0]), _frame(10), np.array([False]), np.array([False]))
    np.testing.assert_array_equal(buffer.actions, copy.actions)
    with pytest.raises(ValueError, match="does not fit"):
        ReplayBuffer(capacity=2, obs_shape=(1, 2, 2), num_envs=1, n_step=1, gamma=0.9).restore(buffer.arrays())


def test_epsilon_schedule():
    assert linear_epsilon(0, 1.0, 0.1, 100) == 1.0
    assert linear_epsilon(50, 1.0, 0.1, 100) == pytest.approx(0.55)
    assert linear_epsilon(1000, 1.0, 0.1, 100) == pytest.approx(0.1)


@pytest.mark.parametrize("field,value,message", [
    ("eps_end", 1.5, "eps_end must lie in"), ("eps_start", -0.1, "eps_start must lie in"),
    ("total_steps", 0, "total_steps must be positive"), ("batch_size", -1, "batch_size must be positive"),
    ("network", "mlp", "unknown network"), ("game", "zork", "unknown game"),
])
def test_config_rejects_bad_values(field, value, message):
    kwargs = {"game": "pong", field: value}
    with pytest.raises(ValueError, match=message):
        DDQNConfig(**kwargs)
