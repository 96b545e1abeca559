"""The shared test helpers: what is missing fails under CI and skips only elsewhere, so that a packaging
mistake (weights left out of the wheel, a dev dependency not installed) cannot turn tests into green skips."""

import pytest
from conftest import in_ci, needs_module, needs_shipped, ponder_env, pytest_runtest_setup, run_ponder

from ponder.backends.nano import WEIGHTS


@pytest.mark.parametrize("value, expected", [("true", True), ("1", True), ("TRUE", True), ("", False),
                                             ("false", False), ("0", False)])
def test_ci_is_read_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def test_missing_shipped_weights_fail_under_ci_naming_the_path_and_skip_elsewhere(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        needs_shipped("nano-rl", "no-such-model")
    assert str(WEIGHTS / "no-such-model" / "model.safetensors") in str(failed.value)
    assert "nano-rl" not in str(failed.value)  # only what is missing is named
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="shipped weights missing: .*no-such-model"):
        needs_shipped("no-such-model")


def test_the_shipped_marker_is_checked_before_the_test_runs(monkeypatch):
    class Item:  # what pytest_runtest_setup reads of a test marked @pytest.mark.shipped("no-such-model")
        def iter_markers(self, name):
            return [pytest.mark.shipped("no-such-model").mark] if name == "shipped" else []

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no-such-model"):
        pytest_runtest_setup(Item())


def test_a_missing_dev_dependency_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no_such_module is not installed"):
        needs_module("no_such_module")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="no_such_module is not installed"):
        needs_module("no_such_module")
    assert needs_module("json").dumps([]) == "[]"


def test_ponder_env_lays_values_over_this_environment_and_none_removes(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-here")
    env = ponder_env({"OPENAI_API_KEY": None, "PONDER_X": "1"})
    assert "OPENAI_API_KEY" not in env and env["PONDER_X"] == "1" and env["PYTHONUNBUFFERED"] == "1"


def test_run_ponder_checks_the_exit_code_unless_told_not_to():
    with pytest.raises(AssertionError, match=r"ponder eval --limit 0 failed \(2\)"):
        run_ponder("eval", "--limit", "0")
    assert run_ponder("eval", "--limit", "0", check=False).returncode == 2
