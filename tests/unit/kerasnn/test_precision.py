"""kerasnn.precision: which CPUs compute bfloat16 natively."""

from __future__ import annotations

import platform

import pytest

from kerasnn import precision


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("fpu sse avx2 avx512f avx512_bf16", True),  # AMD Zen 4.
        ("fpu avx512f amx_tile amx_bf16 amx_int8", True),  # Intel Sapphire Rapids.
        ("fpu sse avx2 avx512f avx512_vnni", False),  # AVX-512 without its bfloat16 part.
    ],
)
def test_native_bfloat16_reads_the_cpus_flags(tmp_path, monkeypatch, flags, native):
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n")
    assert precision.native_bfloat16(cpuinfo) is native


def test_native_bfloat16_is_false_where_the_flags_cannot_be_read(tmp_path, monkeypatch):
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    assert precision.native_bfloat16(tmp_path / "missing") is False
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert precision.native_bfloat16() is False
