"""Agent files: round trip, and clear errors for missing, corrupted or inconsistent files."""
import json

import pytest
import torch

from paperlib.agents import AgentFileError, ModelCard, load_agent, save_agent
from paperlib.networks import build_network


def _card(**overrides):
    card = dict(game="Pong", method="ddqn", network="dueling", frame_stack=1,
                actions=["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"], preprocessing={},
                env_steps=10, updates=2, cpu_hours=0.0, gpu_hours=0.0, seed=0)
    card.update(overrides)
    return ModelCard(**card)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    net = build_network("dueling", 1, 6)
    stem = tmp_path / "pong-ddqn"
    card = save_agent(stem, net, _card())
    return stem, net, card


def test_round_trip(saved):
    stem, net, card = saved
    loaded, loaded_card = load_agent(stem)
    x = torch.rand(2, 1, 84, 84)
    torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)
    assert loaded_card == card and len(card.sha256) == 64
    assert not list(stem.parent.glob(".*tmp"))  # no leftovers of the atomic writes


def test_corrupted_weights_are_named(saved):
    stem, _, _ = saved
    weights = stem.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(AgentFileError, match=r"pong-ddqn\.safetensors is corrupted.*sha256"):
        load_agent(stem)


def test_truncated_weights_with_matching_hash_fail_cleanly(saved):
    stem, _, _ = saved
    weights = stem.with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes()[:100])
    card = json.loads(stem.with_suffix(".json").read_text())
    from paperlib.provenance import sha256_file
    card["sha256"] = sha256_file(weights)
    stem.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(AgentFileError, match="cannot be read as safetensors"):
        load_agent(stem)


def test_missing_files_say_how_to_get_them(tmp_path, saved):
    with pytest.raises(AgentFileError, match=r"nothere\.json not found.*paperlib train"):
        load_agent(tmp_path / "nothere")
    stem, _, _ = saved
    stem.with_suffix(".safetensors").unlink()
    with pytest.raises(AgentFileError, match=r"weight file .*pong-ddqn\.safetensors not found"):
        load_agent(stem)


def test_malformed_card(saved):
    stem, _, _ = saved
    stem.with_suffix(".json").write_text("{not json")
    with pytest.raises(AgentFileError, match="is corrupted or malformed"):
        load_agent(stem)


def test_shape_mismatch_is_reported(tmp_path):
    stem = tmp_path / "x"
    save_agent(stem, build_network("dueling", 1, 6), _card(actions=["NOOP", "UP", "DOWN"]))
    with pytest.raises(AgentFileError, match="has shape"):
        load_agent(stem)


def test_weights_are_safetensors_not_pickle(saved):
    stem, _, _ = saved
    header_length = int.from_bytes(stem.with_suffix(".safetensors").read_bytes()[:8], "little")
    header = json.loads(stem.with_suffix(".safetensors").read_bytes()[8:8 + header_length])
    assert "features.0.weight" in header


def test_find_agents_lists_present_pairs(tmp_path, capsys):
    from paperlib.agents import find_agents

    save_agent(tmp_path / "pong-ddqn", build_network("dueling", 1, 6), _card())
    found = find_agents(["pong", "Freeway"], tmp_path)
    assert found == {("Pong", "ddqn"): tmp_path / "pong-ddqn"}
    assert "missing" in capsys.readouterr().out


def _add_many(stem, worker: int, count: int) -> None:
    from paperlib.agents import Evaluation, add_robustness, read_card

    sha256 = read_card(stem).sha256
    for i in range(count):
        label = f"worker{worker}-{i}"
        add_robustness(stem, label, Evaluation(float(i), 0.0, 1, [float(i)], 0, 0.0, label), agent_sha256=sha256)


def test_concurrent_robustness_updates_keep_every_result(saved):
    """Two processes adding results to one card at once (evaluations ending together) lose none of them."""
    import multiprocessing

    from paperlib.agents import read_card

    stem = saved[0]
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_add_many, args=(stem, worker, 40)) for worker in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert len(read_card(stem).robustness) == 80


def test_a_measured_result_needs_the_sha256_of_the_weights_measured(saved):
    """A result written without the sha256 of the weights it was measured on could land in a replaced agent's card
    (session 40), so update_card refuses to write one without it; other fields need none."""
    from paperlib.agents import Evaluation, read_card, update_card

    stem = saved[0]
    result = Evaluation(1.0, 0.0, 1, [1.0], 0, 0.0)
    with pytest.raises(TypeError, match="evaluation needs agent_sha256"):
        update_card(stem, evaluation=result)
    with pytest.raises(TypeError, match="robustness needs agent_sha256"):
        update_card(stem, robustness={"pgd-10 eps=1/255": result})
    assert read_card(stem).evaluation != result
    assert update_card(stem, evaluation=result, agent_sha256=read_card(stem).sha256).evaluation == result
    assert update_card(stem, seed=7).seed == 7


def test_updating_a_missing_card_names_it(tmp_path):
    from paperlib.agents import Evaluation, add_robustness, update_card

    with pytest.raises(AgentFileError, match="model card .*nowhere.*agent.json not found"):
        update_card(tmp_path / "nowhere" / "agent", seed=1)
    with pytest.raises(AgentFileError, match="not found"):
        add_robustness(tmp_path / "agent", "pgd-10 eps=1/255", Evaluation(0.0, 0.0, 1, [0.0], 0, 0.0), agent_sha256="0")
