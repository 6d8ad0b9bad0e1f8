"""The robustness contrast of the Agents chapter on hand-made score tables."""
import numpy as np
import pandas as pd

from paperlib.agent_report import robustness_contrast


def _table(rows):
    return pd.DataFrame(rows, columns=["game", "method", "card_mean", "card_pgd10"])


def test_contrast_holds_only_when_the_robust_agent_keeps_its_return():
    table = _table([("Pong", "ddqn", 21.0, -21.0), ("Pong", "sa-ddqn", 20.0, 17.0)])
    assert robustness_contrast(table) == [
        "Pong: ddqn keeps -100% of its natural return under PGD-10 (-21 of 21), loses most of it: holds; "
        "sa-ddqn keeps 85% of its natural return under PGD-10 (17 of 20), keeps at least 80%: holds"]
    weak = _table([("Freeway", "ddqn", 30.0, 20.0), ("Freeway", "sa-ddqn", 30.0, 21.0)])
    line = robustness_contrast(weak)[0]
    assert "loses most of it: does not hold" in line and "keeps at least 80%: does not hold" in line


def test_contrast_names_missing_or_unusable_scores():
    table = _table([("Pong", "ddqn", 21.0, np.nan), ("Pong", "sa-ddqn", -20.0, -21.0)])
    assert robustness_contrast(table) == [
        "Pong: ddqn: natural or PGD-10 score not recorded; "
        "sa-ddqn: natural return -20 is not positive, no share to keep"]
