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


def test_a_bar_whose_count_does_not_move_still_shows_its_steps(monkeypatch, capsys):
    import tqdm.std

    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    monkeypatch.setattr(tqdm.std, "time", lambda: clock[0])  # tqdm's own clock
    bar = Progress(10, 0, "evaluate", unit="episode")  # stderr is not a terminal here: prints every 30 s at most
    clock[0] += 40
    bar.update(1, steps=100)  # a first episode ends: tqdm then waits for the count to move again
    for step in range(110, 300, 10):
        clock[0] += 5
        bar.update(1, steps=step)
    printed = capsys.readouterr().err
    bar.close()
    assert "steps=290" in printed or "steps=280" in printed  # no further episode ended, yet the steps were shown
    assert printed.count("steps=") <= 6  # and not on every update
