"""Hostile runs of `python -m studies.run`: torn, foreign, read-only and locked storages,
--fresh after a failed check, paths as study names, unwritable folders. Each ends with one
line on stderr and leaves the stored trials as they were (or trains on, where it should)."""

from __future__ import annotations

import os


def test_jax_programs_are_kept_in_the_users_cache_unless_a_folder_is_named(monkeypatch, tmp_path):
    from studies import machine

    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    machine.use_compilation_cache()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "kerasnn" / "jax")
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "mine"))
    machine.use_compilation_cache()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "mine")
