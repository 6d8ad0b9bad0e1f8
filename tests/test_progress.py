import time

from paperlib.progress import Progress


def test_secondary_counters_show_their_rate_and_the_deadline(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    bar = Progress(10, 0, "evaluate", unit="episode", deadline=1000.0 + 600)
    bar.update(0, updates=100, steps=0)
    clock[0] += 10
    bar.update(2, updates=150, steps=40)
    postfix = bar._bar.postfix
    bar.close()
    assert "upd/s=5.0" in postfix and "step/s=4.0" in postfix and "steps=40" in postfix
    assert "stops_in=10min" in postfix
