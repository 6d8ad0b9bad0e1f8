"""The git commit recorded with results: dirty for code changes, not for the compendium's own data."""
import subprocess

import pytest

from paperlib.provenance import git_commit


def _git(root, *args):
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "campaign-log.csv").write_text("row\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    return tmp_path


def test_clean_tree_is_the_head_commit(repo):
    assert git_commit(repo) == _git(repo, "rev-parse", "HEAD")


def test_changes_under_data_do_not_make_it_dirty(repo):
    (repo / "data" / "campaign-log.csv").write_text("row\nanother row\n")
    assert git_commit(repo) == _git(repo, "rev-parse", "HEAD")


def test_a_code_change_makes_it_dirty(repo):
    (repo / "code.py").write_text("x = 2\n")
    assert git_commit(repo) == _git(repo, "rev-parse", "HEAD") + "-dirty"


def test_outside_a_repository_it_is_unknown(tmp_path):
    assert git_commit(tmp_path) == "unknown"
