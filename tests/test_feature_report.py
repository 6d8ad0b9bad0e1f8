"""Tables 1-2 and the claim checks on synthetic maps with known answers."""
import math

import numpy as np
import pytest

from paperlib.feature_maps import FeatureMaps
from paperlib.feature_report import claim_checks, entropy_by_scale, measure_table, plot_entropy_by_scale, plot_pair


def _maps(kind, states=6, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        kmap = np.ones((states, 84, 84)) + 0.01 * rng.random((states, 84, 84))
    elif kind == "sparse":
        kmap = np.zeros((states, 84, 84))
        kmap[:, 10, 20] = 1 + rng.random(states)
    else:
        kmap = np.zeros((states, 84, 84))
    return FeatureMaps(kmap, np.ones((states, 84, 84)), 1.0)


def test_table_values_intervals_and_paper_columns():
    table = measure_table({("Pong", "ddqn"): _maps("uniform"), ("Pong", "sa-ddqn"): _maps("sparse")}, resamples=200)
    vanilla, adversarial = table.set_index("method").loc["ddqn"], table.set_index("method").loc["sa-ddqn"]
    assert vanilla["S(K)"] == pytest.approx(84.0, rel=1e-3) and adversarial["S(K)"] == pytest.approx(1.0)
    assert vanilla["S(H)"] == pytest.approx(84.0) and vanilla["H(H)"] == pytest.approx(math.log(7056))
    assert 83.9 <= vanilla["S(K) low"] <= vanilla["S(K) high"] <= 84.0  # a percentile interval of the resampled sums
    assert adversarial["S(K) low"] == pytest.approx(1.0) and adversarial["S(K) high"] == pytest.approx(1.0)
    assert vanilla["S(K) paper"] == 49.7993 and adversarial["S(K) paper"] == 1.9508
    assert (table["states"] == 6).all() and (table["states with K>0"] == 6).all()
    some = _maps("sparse")
    some.kmap[[0, 2, 5]] = 0.0  # three states where no ablation changes the action
    assert measure_table({("Pong", "sa-ddqn"): some}, resamples=50)["states with K>0"].tolist() == [3]
    assert claim_checks(table)[0].startswith("Pong: adversarial KMAP sparser than vanilla: holds (bootstrap")
    assert claim_checks(table, {"Pong": "provisional: why"})[0].endswith(" [provisional: why]")
    assert not claim_checks(table, {"Freeway": "provisional: why"})[0].endswith("]")


def test_entropy_by_scale_against_closed_forms():
    """One entry v among N = 7056 zeros: softmax p = e^(cv) / (e^(cv) + N - 1) there, q = 1 / (e^(cv) + N - 1)
    elsewhere, H = -p ln p - (N - 1) q ln q; twelve tied maxima: H -> ln 12 as c grows; uniform: ln N at every c."""
    n, value = 84 * 84, 0.05
    spike = np.zeros((2, 84, 84))
    spike[:, 3, 4] = value / 2  # summed over the two states: value
    tied = np.zeros((1, 84, 84))
    tied[0, 0, :12] = 1.0
    maps = {("Pong", "sa-ddqn"): FeatureMaps(spike, np.full((2, 84, 84), 7.0), 1.0),
            ("Pong", "ddqn"): FeatureMaps(tied, np.ones((1, 84, 84)), 1.0)}
    by_scale = entropy_by_scale(maps, scales=[1.0, 100.0, 1e4])
    assert list(by_scale.columns) == ["game", "method", "c", "H(cK)", "H(cH)"] and len(by_scale) == 6
    for c, got in by_scale[by_scale["method"] == "sa-ddqn"][["c", "H(cK)"]].itertuples(index=False):
        z = math.exp(c * value) + n - 1
        p, q = math.exp(c * value) / z, 1 / z
        assert got == pytest.approx(-p * math.log(p) - (n - 1) * q * math.log(q), rel=1e-9)
    assert by_scale["H(cH)"].to_numpy() == pytest.approx(math.log(n))  # a constant HMAP: uniform softmax
    tied_at_large_c = by_scale[(by_scale["method"] == "ddqn") & (by_scale["c"] == 1e4)]["H(cK)"].item()
    assert tied_at_large_c == pytest.approx(math.log(12))
    line = claim_checks(measure_table(maps, resamples=50), by_scale=by_scale)[0]
    assert "adversarial KMAP lower entropy: " in line and "lower at 1 of 3 factors c from 1 to 10000" in line
    assert len(plot_entropy_by_scale(by_scale).axes) == 2
    with pytest.raises(ValueError, match="positive"):
        entropy_by_scale(maps, scales=[0.0, 1.0])


def test_claims_with_missing_agents_or_undefined_sparsity():
    only_vanilla = measure_table({("Freeway", "ddqn"): _maps("uniform")}, resamples=50)
    assert claim_checks(only_vanilla) == ["Freeway: not testable yet (agents present: ddqn)"]
    table = measure_table({("Freeway", "ddqn"): _maps("uniform"), ("Freeway", "sa-ddqn"): _maps("zero")},
                          resamples=50)
    assert math.isnan(table.set_index("method").loc["sa-ddqn", "S(K)"])
    assert "undefined" in claim_checks(table)[0]


def test_plot_pair_handles_a_missing_agent():
    fig = plot_pair({"ddqn": np.ones((1, 84, 84)), "sa-ddqn": None}, "KMAP Pong",
                    frames={"ddqn": np.zeros((84, 84), np.uint8)})
    assert len(fig.axes) == 3  # two panels and one colour bar


def test_plot_pair_titles_state_the_number_of_states_of_each_map():
    fig = plot_pair({"ddqn": np.ones((46, 84, 84)), "sa-ddqn": np.ones((33, 84, 84))}, "KMAP BankHeist")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["adversarially trained (SA-DDQN), 33 states", "vanilla (DDQN), 46 states"]
