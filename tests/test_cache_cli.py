"""Cache, atomic writes, outputs and the command line."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from paperlib.atomic import atomic_path, write_text
from paperlib.cache import cache_key, cached, copy_agent_entries
from paperlib.cli import main
from paperlib.outputs import save_table


def test_cache_computes_once_and_keys_on_everything(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3.0)}

    first = cached("demo", {"a": 1}, ["abc"], compute, cache_dir=tmp_path)
    second = cached("demo", {"a": 1}, ["abc"], compute, cache_dir=tmp_path)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["x"], second["x"])
    cached("demo", {"a": 2}, ["abc"], compute, cache_dir=tmp_path)
    cached("demo", {"a": 1}, ["abd"], compute, cache_dir=tmp_path)
    assert len(calls) == 3
    assert cache_key("demo", {"a": 1, "b": 2}, ["h"]) == cache_key("demo", {"b": 2, "a": 1}, ["h"])


def test_copying_entries_takes_only_the_finished_ones_of_one_agent(tmp_path):
    source, destination = tmp_path / "source", tmp_path / "destination"
    for agents in (["abc"], ["abd"], ["abc", "abd"]):
        cached("demo", {"a": 1}, agents, lambda: {"x": np.arange(3.0)}, cache_dir=source)
    (source / "demo" / "unfinished.npz").write_bytes(b"")  # no .json: not an entry
    assert copy_agent_entries("demo", "abc", source, destination) == 1
    assert copy_agent_entries("demo", "abc", source, destination) == 0
    assert copy_agent_entries("demo", "abc", source, source) == 0
    assert copy_agent_entries("other", "abc", source, destination) == 0
    key = cache_key("demo", {"a": 1}, ["abc"])
    assert sorted(p.name for p in (destination / "demo").iterdir()) == [f"{key}.json", f"{key}.npz"]
    cached("demo", {"a": 1}, ["abc"], lambda: pytest.fail("computed again"), cache_dir=destination)


def test_atomic_write_leaves_target_untouched_on_failure(tmp_path):
    target = tmp_path / "result.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-written")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_tables_are_written_as_csv_and_markdown(tmp_path):
    paths = save_table(pd.DataFrame({"game": ["Pong"], "score": [20.456]}), tmp_path / "scores")
    assert [p.suffix for p in paths] == [".csv", ".md"]
    assert "20.46" in paths[0].read_text() and "| Pong" in paths[1].read_text()


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["agents"], ["reproduce"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(command + ["--help"])
    assert exit_info.value.code == 0
    assert "usage: paperlib" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["evaluate", "--agent", "data/agents/missing-agent"], "missing-agent.json not found"),
    (["evaluate", "--agent", "x", "--episodes", "0"], "must be a positive integer"),
    (["evaluate", "--agent", "x", "--epsilon", "1.5"], "must lie in [0, 1]"),
    (["train", "--game", "pacman"], "unknown game 'pacman'"),
    (["train", "--game", "pong", "--eps-end", "2"], "eps_end must lie in [0, 1]"),
    (["train", "--game", "pong", "--total-steps", "0"], "total_steps must be positive"),
    (["train", "--resume"], "--resume needs --run-dir"),
    (["campaign", "--run-dir", "runs/x"], "--run-dir goes only with --promote"),
    (["reproduce", "--only", "nosuchnotebook"], "unknown notebook"),
])
def test_bad_input_fails_fast_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code != 0
    captured = capsys.readouterr()
    assert message in captured.err + captured.out + str(exit_info.value.code)


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "paperlib.cli", "reproduce", "--list"], capture_output=True, text=True)
    assert result.returncode == 0 and "agents" in result.stdout
