"""How long optuna-dashboard takes to show a grown study: its JSON, and its page in Chromium.

The real `optuna-dashboard STORAGE --host 127.0.0.1 --port PORT` (the README's command) is
started on the study's storage (a journal file is given by its path, which the dashboard
opens as a journal). Measured, in this order: the study's JSON (`/api/studies/<id>?after=0`,
what the study page fetches) twice, the first filling the dashboard's cache of finished
trials; the parameter importances the page also fetches (cached by the dashboard once
computed); then headless Chromium's `--dump-dom` of the study list (a page that loads no
trials, the baseline of Chromium's own start) and of the study's page, whose DOM must name
the study. The server is stopped afterwards, whatever happened.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# As tests/scenarios/studies/test_dashboard.py drives it: the virtual time budget lets the
# React app fetch the study and draw before the page is captured.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
]
START_SECONDS = 120  # The most the server may take to answer.
REQUEST_SECONDS = 600  # The most one request may take.
PAGE_SECONDS = 300  # The most Chromium may take over one page.


def executable() -> str | None:
    beside = Path(sys.executable).parent / "optuna-dashboard"
    return str(beside) if beside.exists() else shutil.which("optuna-dashboard")


def measure(storage: str, study_name: str, folder: Path) -> dict:
    """The dashboard's times on `study_name` in `storage`, or why none were measured."""
    program = executable()
    if program is None:
        return {"skipped": "optuna-dashboard is not installed"}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with open(folder / "dashboard.log", "w") as log:
        server = subprocess.Popen(
            [program, storage, "--host", "127.0.0.1", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            started = _wait_until_answers(f"{base}/api/studies", server)
            return {"start_seconds": started, **_measured(base, study_name, folder)}
        except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as error:
            # A long run keeps its other measures; the table shows what went wrong.
            return {"error": f"{type(error).__name__}: {error}"}
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _measured(base: str, study_name: str, folder: Path) -> dict:
    summaries = json.loads(_get(f"{base}/api/studies"))["study_summaries"]
    [study_id] = [s["study_id"] for s in summaries if s["study_name"] == study_name]
    first, body = _timed_get(f"{base}/api/studies/{study_id}?after=0")
    again, _ = _timed_get(f"{base}/api/studies/{study_id}?after=0")
    measured = {
        "json_seconds": first,
        "json_again_seconds": again,
        "json_mb": len(body) / 2**20,
        "trials_served": len(json.loads(body)["trials"]),
        "importances_seconds": _importances_seconds(f"{base}/api/studies/{study_id}"),
    }
    if not CHROMIUM.exists():
        return {**measured, "page": "Chromium is not installed"}
    list_seconds, _ = _timed_page(f"{base}/dashboard", folder / "profile-list")
    page_seconds, page = _timed_page(f"{base}/dashboard/studies/{study_id}", folder / "profile")
    return {
        **measured,
        "list_page_seconds": list_seconds,
        "study_page_seconds": page_seconds,
        "page_names_study": study_name in page,
    }


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=REQUEST_SECONDS) as response:
        return response.read()


def _timed_get(url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    body = _get(url)
    return time.perf_counter() - started, body


def _importances_seconds(study: str) -> float | str:
    """Seconds the study's parameter importances take, or why the dashboard refused them
    (it does where it cannot compute them, as on too few trials)."""
    try:
        return _timed_get(f"{study}/param_importances")[0]
    except urllib.error.HTTPError as error:
        return f"refused ({error.code})"


def _wait_until_answers(url: str, server: subprocess.Popen) -> float:
    """Seconds until the server answers `url`; an error if it exits or takes too long."""
    started = time.perf_counter()
    while time.perf_counter() - started < START_SECONDS:
        if server.poll() is not None:
            raise RuntimeError(f"optuna-dashboard exited with {server.returncode}")
        try:
            _get(url)
        except OSError:
            time.sleep(0.2)
            continue
        return time.perf_counter() - started
    raise RuntimeError(f"optuna-dashboard did not answer within {START_SECONDS} s")


def _timed_page(url: str, profile: Path) -> tuple[float, str]:
    """Wall seconds of Chromium's --dump-dom of `url`, and the DOM it dumped."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=PAGE_SECONDS,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"Chromium exited with {done.returncode} on {url}")
    return time.perf_counter() - started, done.stdout
