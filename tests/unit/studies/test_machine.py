"""The machine settled once, while the settings are built: backend, then K, then precision."""

from __future__ import annotations

import pytest

from studies import machine, pipeline, run
from studies.settings import DEFAULT_GPU_POPULATION

ERROR = "python -m studies.run: error: "


@pytest.fixture
def jax_accelerator(monkeypatch, tmp_path):
    """A process on Keras' JAX backend whose JAX sees an accelerator; running a study is
    replaced by recording the settings it would run with."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(machine, "backend", lambda: "jax")
    monkeypatch.setattr(machine, "_jax_sees_an_accelerator", lambda: True)
    ran = []
    monkeypatch.setattr(pipeline, "run", lambda settings, module, *rest: ran.append(settings) or 0)
    return ran


def test_bfloat16_with_k_left_to_a_jax_accelerator_is_refused_in_one_line(jax_accelerator, capsys):
    code = run.main(["--precision", "bfloat16", "--storage", "s.log"])
    err = capsys.readouterr().err
    assert code == 2 and jax_accelerator == []
    assert err.startswith(ERROR) and err.count("\n") == 1
    assert f"--population {DEFAULT_GPU_POPULATION} trains in float32 only" in err
    assert "this machine's choice" in err


def test_bfloat16_with_one_run_at_a_time_on_a_jax_accelerator_runs(jax_accelerator):
    code = run.main(["--precision", "bfloat16", "--population", "1", "--storage", "s.log"])
    assert code == 0
    [settings] = jax_accelerator
    assert (settings.population, settings.precision) == (1, "bfloat16")


def test_k_left_to_a_jax_accelerator_is_settled_once_in_the_settings(jax_accelerator):
    assert run.main(["--storage", "s.log"]) == 0
    [settings] = jax_accelerator
    assert (settings.population, settings.precision) == (DEFAULT_GPU_POPULATION, "float32")


def test_k_left_to_a_cpu_is_one_run_at_a_time(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(machine, "backend", lambda: "tensorflow")
    assert machine.population(None) == 1


def test_a_population_on_another_backend_is_refused(monkeypatch):
    import keras  # noqa: F401  (Keras imported, on the TensorFlow backend of the tests)

    monkeypatch.setattr(machine, "backend", lambda: "tensorflow")
    with pytest.raises(run.UsageError, match="JAX backend"):
        machine.population(2)


def test_a_backend_keras_does_not_know_is_a_usage_error(monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setenv("KERAS_BACKEND", "nosuch")
    with pytest.raises(run.UsageError, match="KERAS_BACKEND='nosuch' is not a Keras backend"):
        machine.population(None)
