"""Fourier report on synthetic perturbations with known frequencies."""
import numpy as np

from paperlib.fourier_report import attack_table, claim_checks, plot_figure1, plot_figure2, spectrum_summary


def _attacks(frequency, count=8, success=True):
    y, x = np.mgrid[0:84, 0:84]
    rng = np.random.default_rng(frequency)
    frames = np.stack([np.cos(2 * np.pi * (frequency * x + rng.integers(0, 3) * y) / 84) / 255 for _ in range(count)])
    return {"success": np.full(count, success), "perturbation": frames[:, None], "l2": np.full(count, 0.1),
            "linf": np.full(count, 0.9 / 255), "original_action": np.zeros(count), "new_action": np.ones(count),
            "q_before": np.zeros((count, 2)), "q_after": np.zeros((count, 2))}


def test_low_frequency_perturbations_are_recognised():
    attacks = {("Freeway", "sa-ddqn"): _attacks(3), ("Freeway", "ddqn"): _attacks(30)}
    summary = spectrum_summary(attacks, cutoff=10, resamples=100)
    adversarial = summary.set_index("method").loc["sa-ddqn"]
    assert adversarial["centroid"] < 4 and adversarial["low_fraction"] == 1.0
    assert claim_checks(summary) == ["Freeway: adversarial perturbations at lower frequencies: holds "
                                     "(bootstrap intervals separate) (centroid 3.00 vs 30.00)"]
    assert claim_checks(summary, {"Freeway": "provisional: why"})[0].endswith("30.00) [provisional: why]")
    reversed_claim = spectrum_summary({("Pong", "sa-ddqn"): _attacks(30), ("Pong", "ddqn"): _attacks(3)}, 10, 100)
    assert "does not hold" in claim_checks(reversed_claim)[0]


def test_failed_attacks_are_excluded_and_reported():
    attacks = {("Pong", "ddqn"): _attacks(5, success=False), ("Pong", "sa-ddqn"): _attacks(5)}
    table = attack_table(attacks, bound=1 / 255).set_index("method")
    assert table.loc["ddqn", "successes"] == 0 and np.isnan(table.loc["ddqn", "median_l2"])
    assert table.loc["sa-ddqn", "success_rate"] == 1.0
    assert claim_checks(spectrum_summary(attacks, 10, 50)) == [
        "Pong: not testable (no successful perturbation within the bound: ddqn)"]
    only_vanilla = {("Pong", "ddqn"): _attacks(5)}
    assert claim_checks(spectrum_summary(only_vanilla, 10, 50)) == ["Pong: not testable (no agent: sa-ddqn)"]
    assert len(plot_figure1(attacks, ["Pong"]).axes) == 3  # two panels, one colour bar (the failed one is empty)
    assert plot_figure2(attacks, ["Pong"], resamples=50).axes[0].lines
