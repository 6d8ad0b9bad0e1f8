import pytest

from benchmarks.timing import describe, time_interleaved


def test_methods_are_warmed_up_then_timed_in_turns():
    calls = []
    methods = {name: (lambda name=name: calls.append(name) or len(calls)) for name in ("a", "b")}
    seconds, results = time_interleaved(methods, repeats=2)
    assert calls == ["a", "b"] * 3  # one untimed warm-up each, then two timed turns
    assert {name: len(times) for name, times in seconds.items()} == {"a": 2, "b": 2}
    assert results == {"a": 5, "b": 6}  # the last call's result


def test_describe_divides_by_the_count():
    assert describe([2.0, 4.0, 9.0], per=2) == "2.000 (1.000-4.500)"


def test_at_least_one_repeat():
    with pytest.raises(ValueError, match="repeats"):
        time_interleaved({"a": lambda: None}, repeats=0)


def test_machine_names_threads_and_load():
    from benchmarks.timing import machine

    description = machine()
    assert "thread(s)" in description and "load average" in description and "torch" in description
