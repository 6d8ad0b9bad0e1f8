"""Game registry, SA-DQN crop and the vectorised environment on real frames."""
import numpy as np
import pytest

from paperlib.envs import AtariEnvs, EnvConfig, reference_env
from paperlib.games import GAMES, get_game
from paperlib.preprocess import crop_frame, crop_frames


def test_unknown_game_lists_known_ones():
    with pytest.raises(ValueError, match="unknown game 'tetris'.*Pong.*Freeway.*BankHeist.*RoadRunner"):
        get_game("tetris")


def test_registry_crop_shifts_and_lookup():
    assert get_game("PONG").crop_shift == 10
    assert get_game("roadrunner").crop_shift == 20
    assert get_game("Freeway").crop_shift == 0 and get_game("bankheist").crop_shift == 0


@pytest.mark.parametrize("name", sorted(GAMES))
def test_action_sets_match_ale_minimal_sets(name):
    env = reference_env(name)
    assert tuple(env.unwrapped.get_action_meanings()) == GAMES[name].actions
    env.close()


def _block_mean_reference(frame, shift):
    """Independent reference: pad, crop, then average 2x2 blocks (area interpolation for a factor of 2)."""
    padded = np.zeros((210, 168))
    padded[:, 4:164] = frame
    square = padded[21 + shift: 21 + shift + 168]
    return square.reshape(84, 2, 84, 2).mean(axis=(1, 3))


@pytest.mark.parametrize("game", ["pong", "roadrunner", "freeway"])
def test_crop_matches_block_mean_on_real_frames(game):
    env = reference_env(game, noop_max=0)
    frame, _ = env.reset(seed=1)
    for _ in range(40):
        frame, *_ = env.step(env.action_space.sample())
    env.close()
    spec = get_game(game)
    cropped = crop_frame(frame, spec.crop_shift)
    assert cropped.shape == (84, 84) and cropped.dtype == np.uint8
    assert np.abs(cropped - _block_mean_reference(frame, spec.crop_shift)).max() <= 0.5 + 1e-9


def test_crop_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="grayscale frame of shape"):
        crop_frame(np.zeros((210, 160, 3), np.uint8), 0)
    with pytest.raises(ValueError, match="crop shift"):
        crop_frame(np.zeros((210, 160), np.uint8), 30)


@pytest.mark.parametrize("game", ["pong", "roadrunner"])
def test_vector_env_matches_plain_gymnasium_frame_for_frame(game):
    spec = get_game(game)
    reference = reference_env(game, noop_max=0)
    envs = AtariEnvs(EnvConfig(game, num_envs=1, noop_max=0))
    obs = envs.reset(seed=3)
    frame, _ = reference.reset(seed=3)
    actions = np.random.default_rng(0).integers(0, spec.n_actions, 150)
    assert np.array_equal(obs[0, 0], crop_frame(frame, spec.crop_shift))
    for action in actions:
        step = envs.step(np.array([action]))
        frame, reward, *_ = reference.step(int(action))
        assert np.array_equal(step.next_obs[0, 0], crop_frame(frame, spec.crop_shift))
        assert step.reward[0] == reward
    envs.close()
    reference.close()


def _rollout(seed, num_envs=3, steps=60, frame_stack=1):
    envs = AtariEnvs(EnvConfig("freeway", num_envs=num_envs, frame_stack=frame_stack))
    observations = [envs.reset(seed=seed)]
    actions = np.random.default_rng(seed).integers(0, envs.n_actions, (steps, num_envs))
    for action in actions:
        observations.append(envs.step(action).obs)
    envs.close()
    return np.stack(observations)


def test_same_seed_same_observations():
    first, second = _rollout(7), _rollout(7)
    assert first.shape == (61, 3, 1, 84, 84) and first.dtype == np.uint8
    assert np.array_equal(first, second)


def test_frame_stack_shape_and_order():
    stacked = _rollout(0, num_envs=2, steps=5, frame_stack=4)
    assert stacked.shape == (6, 2, 4, 84, 84)
    # the newest frame of step t is the second-newest frame of step t+1
    assert np.array_equal(stacked[3, :, -1], stacked[4, :, -2])


def test_training_mode_clips_rewards_and_eval_mode_does_not():
    def rewards(training):
        envs = AtariEnvs(EnvConfig("roadrunner", num_envs=2, training=training, noop_max=0))
        envs.reset(seed=0)
        left = np.full(2, envs.spec.actions.index("LEFT"))  # running left eats birdseed: 100 points each
        seen = np.concatenate([envs.step(left).reward for _ in range(300)])
        envs.close()
        return seen

    raw, clipped = rewards(False), rewards(True)
    assert raw.max() >= 100
    assert set(np.unique(clipped)) <= {-1.0, 0.0, 1.0} and clipped.max() == 1.0


def test_bad_env_config():
    with pytest.raises(ValueError, match="num_envs must be positive"):
        EnvConfig("pong", num_envs=0)
    with pytest.raises(ValueError, match="unknown game"):
        EnvConfig("pacman")
    assert crop_frames(np.zeros((0, 210, 160), np.uint8), 0).shape == (0, 84, 84)
