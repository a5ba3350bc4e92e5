"""The entry point: study names that never collide, answers without TensorFlow, kept commands."""

from __future__ import annotations

from services import settings_for

from studies import run


def test_the_default_study_name_carries_every_identity_setting_that_differs():
    assert settings_for().study_name == "overfitting-fashion_mnist"
    smoke = settings_for("--subset", "2000", "--trials", "3", "--epochs", "2")
    assert smoke.study_name == "overfitting-fashion_mnist-subset2000-epochs2"
    assert (
        settings_for("--objective", "pareto", "--gap-weight", "0.5").study_name
        == "overfitting-fashion_mnist-pareto-gapweight0.5"
    )
    assert settings_for("--study-name", "mine", "--epochs", "2").study_name == "mine"


def test_a_population_on_another_keras_backend_is_a_usage_error(tmp_path, capsys, monkeypatch):
    # This process runs TensorFlow: named here, whether or not Keras is imported yet.
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    options = ["--subset", "500", "--epochs", "1", "--trials", "2", "--population", "4"]
    code = run.main([*options, "--storage", f"{tmp_path}/s.log", "--reports", str(tmp_path)])
    assert code == 2
    assert "--population 4 trains on Keras' JAX backend" in capsys.readouterr().err
    assert not (tmp_path / "s.log").exists()


def test_ctrl_c_while_starting_up_is_one_line_and_status_130(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)

    def starting(settings, module, *rest):
        raise KeyboardInterrupt  # As Ctrl-C while TensorFlow imports.

    from studies import pipeline

    monkeypatch.setattr(pipeline, "run", starting)
    assert run.main(["--storage", "s.log"]) == 130
    assert capsys.readouterr().err == "python -m studies.run: interrupted\n"
