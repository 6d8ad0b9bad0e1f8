"""Campaign: work order, promotion of better agents only."""
import csv
import dataclasses
import json
from types import SimpleNamespace

import pytest
import torch

from paperlib import campaign
from paperlib.agents import Evaluation, read_card, save_agent, update_card
from paperlib.ddqn import DDQNConfig
from paperlib.networks import build_network
from tests.test_agents import _card
from tests.test_training import SMALL


def _first_pong_chunk(tmp_path, monkeypatch, random_play: float):
    """One 200-step chunk of pong-ddqn with no agent in data/agents yet, random play patched to score ``random_play``."""
    monkeypatch.setenv("PAPERLIB_CACHE_DIR", str(tmp_path / "cache"))
    agents, runs = tmp_path / "agents", tmp_path / "runs"
    assert campaign.next_target(agents).stem == "pong-ddqn"
    monkeypatch.setattr(campaign, "_config_for", lambda target, _: DDQNConfig(**SMALL, total_steps=200))
    monkeypatch.setattr(campaign, "CAMPAIGN_TOTAL_STEPS", {"ddqn": 200, "sa-ddqn": 200})  # one short chunk
    monkeypatch.setattr(campaign, "evaluate_random_play", lambda *args, **kwargs: SimpleNamespace(mean=random_play))
    trainer = campaign.open_run(campaign.TARGETS[0], agents, runs)
    return agents, runs, campaign.run_chunk(trainer, campaign.TARGETS[0], seconds=120, agents_dir=agents, episodes=1)


def test_work_order_follows_targets(tmp_path, monkeypatch):
    agents, runs, (score, baseline, promoted) = _first_pong_chunk(tmp_path, monkeypatch, -22.0)  # below any score
    assert baseline == -22.0 and promoted and -21 <= score <= 21
    card = read_card(agents / "pong-ddqn")
    assert card.evaluation.mean == score and card.env_steps == 200

    # once pong-ddqn exists, the next missing vanilla agent comes before pong-sa-ddqn
    assert campaign.next_target(agents).stem == "freeway-ddqn"
    update_card(agents / "pong-ddqn", evaluation=dataclasses.replace(card.evaluation, mean=20.0),
                agent_sha256=card.sha256)

    # a second chunk resumes the run (campaign --threads replaces the recorded thread count); a worse agent does
    # not replace the one in data/agents
    before = (agents / "pong-ddqn.safetensors").read_bytes()
    threads_before = torch.get_num_threads()
    try:
        trainer = campaign.open_run(campaign.TARGETS[0], agents, runs, threads=1)
        assert trainer.config.torch_threads == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads_before)
    assert trainer.state.env_step == 200 and len(trainer.buffer) > 0
    score, baseline, promoted = campaign.run_chunk(trainer, campaign.TARGETS[0], seconds=120, agents_dir=agents,
                                                   episodes=1)
    assert baseline == 20.0 and score < 20.0 and not promoted
    assert (agents / "pong-ddqn.safetensors").read_bytes() == before
    assert json.loads((runs / "pong-ddqn" / "config.json").read_text())["total_steps"] == 200


def test_a_first_agent_must_beat_random_play(tmp_path, monkeypatch):
    agents, _, (score, baseline, promoted) = _first_pong_chunk(tmp_path, monkeypatch, 22.0)  # above any score
    assert baseline == 22.0 and not promoted
    assert not list(agents.glob("pong-ddqn*")) and campaign.next_target(agents).stem == "pong-ddqn"


def test_a_run_cut_off_before_its_evaluation_can_be_promoted_later(tmp_path, monkeypatch):
    agents, runs, (score, _, promoted) = _first_pong_chunk(tmp_path, monkeypatch, 22.0)
    assert not promoted
    monkeypatch.setattr(campaign, "evaluate_random_play", lambda *args, **kwargs: SimpleNamespace(mean=-22.0))
    assert campaign.promote_run("pong-ddqn", agents, runs, episodes=1) == (score, -22.0, True)
    assert read_card(agents / "pong-ddqn").evaluation.mean == score
    with pytest.raises(ValueError, match="unknown agent 'pong'"):
        campaign.promote_run("pong", agents, runs)
    with pytest.raises(FileNotFoundError, match="train it first"):
        campaign.promote_run("freeway-ddqn", agents, runs)


def test_a_second_run_of_an_agent_is_promoted_from_its_own_folder(tmp_path, monkeypatch):
    from paperlib import cache

    agents, runs, (score, _, promoted) = _first_pong_chunk(tmp_path, monkeypatch, 22.0)
    assert not promoted
    monkeypatch.setattr(campaign, "evaluate_random_play", lambda *args, **kwargs: SimpleNamespace(mean=-22.0))
    second = (runs / "pong-ddqn").rename(tmp_path / "pong-ddqn-seed1")  # not under runs/<stem>
    with pytest.raises(FileNotFoundError, match="train it first"):
        campaign.promote_run("pong-ddqn", agents, runs, episodes=1)
    # without $PAPERLIB_CACHE_DIR the candidate's evaluation is cached in its run folder, and carried over to the
    # shipped cache only with the promotion
    monkeypatch.delenv("PAPERLIB_CACHE_DIR")
    monkeypatch.setattr(cache, "AGENTS_DIR", agents)
    monkeypatch.setattr(cache, "CACHE_DIR", tmp_path / "shipped-cache")
    assert campaign.promote_run("pong-ddqn", agents, runs, episodes=1, run_dir=second) == (score, -22.0, True)
    assert read_card(agents / "pong-ddqn").sha256 == read_card(second / "agent").sha256
    in_run = sorted(p.name for p in (second / "cache" / "evaluation").glob("*.*"))
    assert len(in_run) == 2 and sorted(p.name for p in (tmp_path / "shipped-cache" / "evaluation").glob("*.*")) == in_run


def _save(agents_dir, target, mean):
    """A stand-in agent for ``target`` scoring ``mean`` on both metrics."""
    evaluation = Evaluation(mean, 0.0, 1, [mean], 0, 0.0)
    robustness = {campaign.PGD10.label: dataclasses.replace(evaluation, attack=campaign.PGD10.label)}
    save_agent(agents_dir / target.stem, build_network("dueling", 1, 6),
               _card(game=target.game, method=target.method, evaluation=evaluation, robustness=robustness))


def test_missing_agents_come_first_vanilla_before_sa_then_those_below_minimum(tmp_path):
    def save(target, mean):
        _save(tmp_path, target, mean)

    order = []
    while (target := campaign.next_target(tmp_path)) is not None and target.stem not in order:
        order.append(target.stem)
        save(target, target.minimum - 1)  # every agent exists but is below its minimum
    assert order == ["pong-ddqn", "freeway-ddqn", "roadrunner-ddqn", "bankheist-ddqn",
                     "pong-sa-ddqn", "freeway-sa-ddqn", "roadrunner-sa-ddqn", "bankheist-sa-ddqn"]
    assert target.stem == "pong-ddqn"  # then the first agent in work order below its minimum
    assert campaign.next_target(tmp_path, not_promoted="pong-ddqn").stem == "pong-sa-ddqn"
    for target in campaign.TARGETS[:3]:
        save(target, target.minimum)
    assert campaign.next_target(tmp_path).stem == "freeway-sa-ddqn"
    for target in campaign.TARGETS[:-1]:
        save(target, target.minimum)
    assert campaign.next_target(tmp_path, not_promoted="bankheist-sa-ddqn").stem == "bankheist-sa-ddqn"  # no other
    save(campaign.TARGETS[-1], campaign.TARGETS[-1].minimum)
    assert campaign.next_target(tmp_path) is None


def test_an_agent_that_was_not_promoted_lets_the_others_go_first(tmp_path, monkeypatch):
    assert campaign.next_target(tmp_path, not_promoted="pong-ddqn").stem == "freeway-ddqn"
    chunks = []

    def chunk_without_promotion(trainer, target, seconds, agents_dir):
        chunks.append(target.stem)
        trainer.stop_requested = len(chunks) == 3
        return 0.0, 1.0, False

    monkeypatch.setattr(campaign, "open_run", lambda target, agents, runs, threads: SimpleNamespace(
        run_dir=runs / target.stem, stop_requested=False))
    monkeypatch.setattr(campaign, "run_chunk", chunk_without_promotion)
    campaign.run_campaign(hours=1, agents_dir=tmp_path / "agents", runs_dir=tmp_path / "runs")
    assert chunks == ["pong-ddqn", "freeway-ddqn", "pong-ddqn"]


def test_an_sa_agent_waits_for_its_vanilla_parent(tmp_path):
    for target in campaign.TARGETS:
        if target.game != "BankHeist":
            _save(tmp_path, target, target.minimum)
    assert campaign.next_target(tmp_path, not_promoted="bankheist-ddqn").stem == "bankheist-ddqn"


def test_status_lists_every_target(tmp_path):
    rows = campaign.campaign_status(tmp_path)
    assert [row["agent"] for row in rows][:2] == ["pong-ddqn", "pong-sa-ddqn"]
    assert not any(row["met"] for row in rows)


def test_a_new_run_continues_an_existing_agent(tmp_path):
    fresh = campaign._config_for(campaign.TARGETS[0], tmp_path)
    assert fresh.init_agent == "" and fresh.eps_start == 1.0 and fresh.explore_zeta_mu == 2.0
    save_agent(tmp_path / "pong-ddqn", build_network("dueling", 1, 6), _card())
    continued = campaign._config_for(campaign.TARGETS[0], tmp_path)
    assert continued.init_agent == str(tmp_path / "pong-ddqn") and continued.continue_agent
    sa = campaign._config_for(campaign.TARGETS[1], tmp_path)
    assert sa.method == "sa-ddqn" and sa.init_agent == str(tmp_path / "pong-ddqn") and not sa.continue_agent
    # an SA agent is continued with the settings its card records (its radius ramp carries on), except a total
    # step count it has already reached (paperlib train --total-steps 150000): run_config raises it, so the
    # campaign's chunks go on
    recorded = dataclasses.asdict(dataclasses.replace(sa, sa_eps_ramp_steps=123_456, total_steps=150_000))
    save_agent(tmp_path / "pong-sa-ddqn", build_network("dueling", 1, 6),
               _card(method="sa-ddqn", training_config=recorded))
    sa_continued = campaign._config_for(campaign.TARGETS[1], tmp_path)
    assert sa_continued.continue_agent and sa_continued.init_agent == str(tmp_path / "pong-sa-ddqn")
    assert sa_continued.sa_eps_ramp_steps == 123_456 and sa_continued.method == "sa-ddqn"
    assert sa_continued.total_steps == 150_000
    sa_run = campaign.run_config(campaign.TARGETS[1], tmp_path / "runs" / "pong-sa-ddqn", tmp_path)
    assert dataclasses.replace(sa_run, total_steps=150_000) == sa_continued
    assert sa_run.total_steps == campaign.CAMPAIGN_TOTAL_STEPS["sa-ddqn"] > 150_000


def test_a_run_trained_to_its_total_steps_trains_on(tmp_path, monkeypatch):
    """A run folder whose own total_steps is reached (paperlib train --total-steps 150000, then moved to
    runs/<agent>) resumes with the campaign's horizon, not with zero steps left per chunk."""
    agents, runs, _ = _first_pong_chunk(tmp_path, monkeypatch, -22.0)
    monkeypatch.setattr(campaign, "CAMPAIGN_TOTAL_STEPS", {"ddqn": 300, "sa-ddqn": 300})
    trainer = campaign.open_run(campaign.TARGETS[0], agents, runs)
    assert trainer.state.env_step == 200 and trainer.config.total_steps == 300


def test_a_fresh_sa_fine_tune_takes_its_targets_recipe(tmp_path):
    """BankHeist's SA-DDQN recipe (kappa 0.1, a 50k-step ramp from step 10k) differs from the other games'."""
    save_agent(tmp_path / "bankheist-ddqn", build_network("dueling", 1, 18), _card(game="BankHeist"))
    bankheist = campaign._config_for(campaign.find_target("bankheist-sa-ddqn"), tmp_path)
    assert (bankheist.sa_kappa, bankheist.sa_eps_ramp_start, bankheist.sa_eps_ramp_steps) == (0.1, 10_000, 50_000)
    save_agent(tmp_path / "pong-ddqn", build_network("dueling", 1, 6), _card())
    pong = campaign._config_for(campaign.find_target("pong-sa-ddqn"), tmp_path)
    assert (pong.sa_kappa, pong.sa_eps_ramp_start, pong.sa_eps_ramp_steps) == (0.005, 20_000, 200_000)


def test_claims_are_provisional_while_an_agent_is_below_its_minimum(tmp_path):
    from paperlib.agents import Evaluation, save_agent
    from paperlib.networks import build_network
    from tests.test_agents import _card

    def evaluation(mean, attack="none"):
        return Evaluation(mean, 0.0, 1, [mean], 0, 0.0, attack)

    network = build_network("dueling", 1, 6)
    save_agent(tmp_path / "pong-ddqn", network, _card(evaluation=evaluation(21.0)))
    assert campaign.provisional_games(tmp_path) == {}
    save_agent(tmp_path / "pong-sa-ddqn", network, _card(method="sa-ddqn"))
    assert campaign.provisional_games(tmp_path) == {
        "Pong": "provisional: pong-sa-ddqn has no pgd-10 eps=1/255 evaluation"}
    label = campaign.PGD10.label
    sha256 = read_card(tmp_path / "pong-sa-ddqn").sha256
    update_card(tmp_path / "pong-sa-ddqn", robustness={label: evaluation(-3.0, label)}, agent_sha256=sha256)
    assert campaign.provisional_games(tmp_path) == {
        "Pong": "provisional: pong-sa-ddqn scores -3 on pgd-10 eps=1/255, below its minimum 19"}
    update_card(tmp_path / "pong-sa-ddqn", robustness={label: evaluation(20.0, label)}, agent_sha256=sha256)
    assert campaign.provisional_games(tmp_path) == {}


def test_an_agent_must_also_beat_random_play_without_an_attack(tmp_path, monkeypatch):
    bankheist_sa = next(target for target in campaign.TARGETS if target.stem == "bankheist-sa-ddqn")
    candidate = tmp_path / "run" / "agent"
    save_agent(candidate, build_network("dueling", 1, 18), _card(game="BankHeist", method="sa-ddqn"))
    monkeypatch.setattr(campaign, "evaluate_random_play", lambda *args, **kwargs: SimpleNamespace(mean=14.0))

    def scores(natural, attacked):
        monkeypatch.setattr(campaign, "evaluate_agent", lambda stem, episodes, attack=None: Evaluation(
            attacked if attack else natural, 0.0, 1, [attacked if attack else natural], 0, 0.0))

    scores(natural=13.0, attacked=19.0)  # BankHeist's first SA-DDQN agent: robust, but plays like chance
    assert campaign.evaluate_and_promote(candidate, bankheist_sa, tmp_path / "agents") == (19.0, 14.0, False)
    assert list((tmp_path / "agents").iterdir()) == [tmp_path / "agents" / campaign.LOG_NAME]  # no agent copied
    scores(natural=15.0, attacked=19.0)
    assert campaign.evaluate_and_promote(candidate, bankheist_sa, tmp_path / "agents") == (19.0, 14.0, True)
    assert read_card(tmp_path / "agents" / "bankheist-sa-ddqn").robustness[campaign.PGD10.label].mean == 19.0


def test_a_robust_candidate_must_not_lose_under_pgd50(tmp_path, monkeypatch):
    """Session 37: a BankHeist SA-DDQN candidate tied under PGD-10 (283 against 282) but scored 213 against 285
    under PGD-50. A candidate is evaluated under PGD-50 only if it passes PGD-10 and the agent in place has that
    card entry."""
    bankheist_sa = next(target for target in campaign.TARGETS if target.stem == "bankheist-sa-ddqn")
    candidate, agents = tmp_path / "run" / "agent", tmp_path / "agents"
    monkeypatch.setattr(campaign, "evaluate_random_play", lambda *args, **kwargs: SimpleNamespace(mean=14.0))
    _save(agents, bankheist_sa, 282.0)
    update_card(agents / "bankheist-sa-ddqn", robustness={campaign.PGD10.label: Evaluation(282.0, 0.0, 1, [282.0], 0, 0.0),
                                                         campaign.PGD50.label: Evaluation(285.0, 0.0, 1, [285.0], 0, 0.0)},
                agent_sha256=read_card(agents / "bankheist-sa-ddqn").sha256)
    calls = []

    def scores(natural, pgd10, pgd50):
        def evaluate(stem, episodes, attack=None):
            calls.append(attack.steps if attack else 0)
            mean = {0: natural, 10: pgd10, 50: pgd50}[attack.steps if attack else 0]
            return Evaluation(mean, 0.0, 1, [mean], 0, 0.0)
        calls.clear()
        save_agent(candidate, build_network("dueling", 1, 18), _card(game="BankHeist", method="sa-ddqn"))
        monkeypatch.setattr(campaign, "evaluate_agent", evaluate)

    scores(natural=297.0, pgd10=283.0, pgd50=213.0)
    assert campaign.evaluate_and_promote(candidate, bankheist_sa, agents) == (283.0, 282.0, False)
    assert calls == [0, 10, 50] and read_card(agents / "bankheist-sa-ddqn").robustness[campaign.PGD50.label].mean == 285
    scores(natural=297.0, pgd10=281.0, pgd50=300.0)  # fails PGD-10: PGD-50 is not played
    assert campaign.evaluate_and_promote(candidate, bankheist_sa, agents) == (281.0, 282.0, False)
    assert calls == [0, 10]
    scores(natural=297.0, pgd10=283.0, pgd50=285.0)  # a tie under PGD-50 is enough
    assert campaign.evaluate_and_promote(candidate, bankheist_sa, agents) == (283.0, 282.0, True)
    promoted = read_card(agents / "bankheist-sa-ddqn").robustness
    assert promoted[campaign.PGD10.label].mean == 283 and promoted[campaign.PGD50.label].mean == 285
    assert campaign.missing_evaluations(agents, only="bankheist-sa-ddqn") == []


def test_every_evaluated_chunk_is_logged_promoted_or_not(tmp_path, monkeypatch):
    """The campaign log keeps what a chunk reached after its run folder is gone (session 25 lost one that way)."""
    bankheist_sa = next(target for target in campaign.TARGETS if target.stem == "bankheist-sa-ddqn")
    candidate, agents = tmp_path / "run" / "agent", tmp_path / "agents"
    save_agent(candidate, build_network("dueling", 1, 18), _card(game="BankHeist", method="sa-ddqn"))
    monkeypatch.setattr(campaign, "evaluate_random_play", lambda *args, **kwargs: SimpleNamespace(mean=14.0))
    for natural in (13.0, 15.0):
        monkeypatch.setattr(campaign, "evaluate_agent", lambda stem, episodes, attack=None, natural=natural: Evaluation(
            19.0 if attack else natural, 0.0, 1, [19.0 if attack else natural], 0, 0.0))
        campaign.evaluate_and_promote(candidate, bankheist_sa, agents)
    with open(agents / campaign.LOG_NAME, newline="") as handle:
        rows = list(csv.DictReader(handle))
    card = read_card(candidate)
    assert [row["promoted"] for row in rows] == ["False", "True"]
    assert [row["natural"] for row in rows] == ["13", "15"]
    assert all(row["agent"] == "bankheist-sa-ddqn" and row["metric"] == campaign.PGD10.label and row["score"] == "19"
               and row["to_beat"] == "14" and row["random_play"] == "14" and row["sha256"] == card.sha256
               and int(row["agent_steps"]) == card.env_steps and int(row["updates"]) == card.updates for row in rows)
    assert list(rows[0]) == list(campaign.LOG_COLUMNS)


def test_the_campaign_completes_model_cards_before_it_trains(tmp_path, monkeypatch):
    """A card with only PGD-10 (as a promotion leaves it) gets its PGD-50 evaluation before any chunk runs."""
    pong = campaign.TARGETS[0]
    _save(tmp_path, pong, 21.0)
    pgd50 = campaign.CARD_ATTACKS[1]
    assert campaign.missing_evaluations(tmp_path) == [(pong, pgd50)]
    calls = []

    def evaluate(stem, episodes, attack=None, stop_after_seconds=None):
        calls.append((stem.name, attack.label, stop_after_seconds > 0))
        return Evaluation(-5.0, 0.0, 1, [-5.0], 0, 0.0, attack.label)

    monkeypatch.setattr(campaign, "evaluate_agent", evaluate)
    monkeypatch.setattr(campaign, "next_target", lambda *args: None)  # nothing to train: the campaign ends
    campaign.run_campaign(hours=1, agents_dir=tmp_path, runs_dir=tmp_path / "runs")
    assert calls == [("pong-ddqn", pgd50.label, True)]
    card = read_card(tmp_path / "pong-ddqn")
    assert card.robustness[pgd50.label].mean == -5.0 and card.robustness[campaign.PGD10.label].mean == 21.0
    assert campaign.missing_evaluations(tmp_path) == []


def test_campaign_results_never_land_in_a_replaced_agents_card(tmp_path, monkeypatch):
    """Session 40: an agent promoted into a file while an evaluation of the old weights runs. Neither the card
    completion nor a candidate's evaluation writes the old weights' result into the new weights' card."""
    from paperlib.agents import AgentFileError

    pong, bankheist_sa = campaign.TARGETS[0], next(t for t in campaign.TARGETS if t.stem == "bankheist-sa-ddqn")
    _save(tmp_path, pong, 21.0)
    candidate = tmp_path / "run" / "agent"
    save_agent(candidate, build_network("dueling", 1, 18), _card(game="BankHeist", method="sa-ddqn"))
    monkeypatch.setattr(campaign, "evaluate_random_play", lambda *args, **kwargs: SimpleNamespace(mean=14.0))

    def replaced_meanwhile(stem, episodes, attack=None, stop_after_seconds=None):
        card = read_card(stem)
        save_agent(stem, build_network("dueling", 1, len(card.actions)), dataclasses.replace(card, seed=card.seed + 1))
        return Evaluation(5.0, 0.0, 1, [5.0], 0, 0.0, attack.label if attack else "none")

    monkeypatch.setattr(campaign, "evaluate_agent", replaced_meanwhile)
    for stem, run in ((tmp_path / "pong-ddqn", lambda: campaign.complete_cards(deadline=float("inf"), agents_dir=tmp_path)),
                      (candidate, lambda: campaign.evaluate_and_promote(candidate, bankheist_sa, tmp_path / "agents"))):
        with pytest.raises(AgentFileError, match="now describes another agent"):
            run()
        card = read_card(stem)
        assert card.evaluation is None or card.evaluation.mean != 5.0
        assert all(result.mean != 5.0 for result in card.robustness.values())


def test_a_card_evaluation_paused_at_the_deadline_ends_the_campaign(tmp_path, monkeypatch):
    from paperlib.evaluate import EvaluationPaused

    _save(tmp_path, campaign.TARGETS[0], 21.0)
    before = (tmp_path / "pong-ddqn.json").read_text()

    def paused(*args, **kwargs):
        raise EvaluationPaused(tmp_path / "partial.npz", 123)

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the cards were complete")

    monkeypatch.setattr(campaign, "evaluate_agent", paused)
    monkeypatch.setattr(campaign, "open_run", no_training)
    campaign.run_campaign(hours=1, agents_dir=tmp_path, runs_dir=tmp_path / "runs")
    assert (tmp_path / "pong-ddqn.json").read_text() == before


def test_one_chosen_agent_is_trained_and_only_its_card_completed(tmp_path, monkeypatch):
    """--agent: the chosen agent's chunks only, even while others are missing or below their minimum."""
    pong, freeway = campaign.TARGETS[0], campaign.TARGETS[2]
    _save(tmp_path, pong, 21.0)  # meets its minimum, but lacks PGD-50: not this campaign's work
    _save(tmp_path, freeway, 3.0)
    chunks, evaluated = [], []

    def chunk(trainer, target, seconds, agents_dir):
        chunks.append(target.stem)
        trainer.stop_requested = len(chunks) == 2
        return 0.0, 1.0, False

    def evaluate(stem, episodes, attack=None, stop_after_seconds=None):
        evaluated.append((stem.name, attack.label))
        return Evaluation(4.0, 0.0, 1, [4.0], 0, 0.0, attack.label)

    monkeypatch.setattr(campaign, "open_run", lambda target, agents, runs, threads: SimpleNamespace(
        run_dir=runs / target.stem, stop_requested=False))
    monkeypatch.setattr(campaign, "run_chunk", chunk)
    monkeypatch.setattr(campaign, "evaluate_agent", evaluate)
    campaign.run_campaign(hours=1, agents_dir=tmp_path, runs_dir=tmp_path / "runs", only="freeway-ddqn",
                          complete_cards_first=False)  # --skip-cards: its PGD-50 stays missing
    assert chunks == ["freeway-ddqn", "freeway-ddqn"] and evaluated == []
    assert campaign.missing_evaluations(tmp_path, "freeway-ddqn")
    chunks.clear()
    campaign.run_campaign(hours=1, agents_dir=tmp_path, runs_dir=tmp_path / "runs", only="freeway-ddqn")
    assert chunks == ["freeway-ddqn", "freeway-ddqn"]
    assert evaluated == [("freeway-ddqn", campaign.CARD_ATTACKS[1].label)]  # its PGD-50; not Pong's
    with pytest.raises(ValueError, match="unknown agent 'pong'"):
        campaign.run_campaign(hours=1, agents_dir=tmp_path, only="pong")
    with pytest.raises(FileNotFoundError, match="bankheist-ddqn, which does not exist"):
        campaign.run_campaign(hours=1, agents_dir=tmp_path, runs_dir=tmp_path / "runs", only="bankheist-sa-ddqn")


def test_an_sa_agent_of_a_replaced_parent_is_reported_and_continued(tmp_path, monkeypatch):
    """A better vanilla agent replaced the one the SA-DDQN agent was fine-tuned from: --status reports it, and the
    campaign continues the SA agent (its run folder, else its card) instead of fine-tuning the new parent."""
    from safetensors.torch import save_file

    agents, runs = tmp_path / "agents", tmp_path / "runs"
    sa_target = campaign.TARGETS[1]
    save_agent(agents / "pong-ddqn", build_network("dueling", 1, 6), _card())
    parent_sha = read_card(agents / "pong-ddqn").sha256
    recorded = dataclasses.asdict(campaign._config_for(sa_target, agents))
    save_agent(agents / "pong-sa-ddqn", build_network("dueling", 1, 6),
               _card(method="sa-ddqn", training_config=recorded, fine_tuned_from=f"/elsewhere/pong-ddqn@{parent_sha}"))
    assert not campaign.replaced_parent(sa_target, agents)
    better_parent = build_network("dueling", 1, 6)
    better_parent.advantage[2].bias.data += 1.0  # a different parent: different weights, different sha256
    save_agent(agents / "pong-ddqn", better_parent, _card())
    assert campaign.replaced_parent(sa_target, agents)
    continued = campaign._config_for(sa_target, agents)
    assert continued.continue_agent and continued.init_agent == str(agents / "pong-sa-ddqn")

    old_run = runs / "pong-sa-ddqn"
    old_run.mkdir(parents=True)
    run_state = json.dumps({"fine_tuned_from": f"/elsewhere/pong-ddqn@{parent_sha}"})
    save_file({"x": torch.zeros(1)}, str(old_run / "checkpoint.safetensors"), metadata={"run_state": run_state})
    (old_run / "config.json").write_text(json.dumps(recorded))
    opened = []
    monkeypatch.setattr(campaign, "DDQNTrainer", lambda config, run_dir, resume=False: opened.append(
        (config, run_dir, resume)))
    campaign.open_run(sa_target, agents, runs)
    (config, run_dir, resume), = opened
    assert run_dir == old_run and resume and config.init_agent == recorded["init_agent"]
    assert sorted(p.name for p in runs.iterdir()) == ["pong-sa-ddqn"]  # nothing moved aside
