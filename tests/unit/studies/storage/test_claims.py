"""Workers on one SQLite file claim each queued trial once: SQLite cannot lock a row."""

from __future__ import annotations

import multiprocessing
import threading

import optuna
from optuna.trial import TrialState

from studies.storage import claims, close, open_storage

QUEUED = 200


def _claim_all(url: str, claimed) -> None:
    storage = open_storage(url, write=True)
    study = optuna.load_study(study_name="queue", storage=storage)
    while (trial_id := study._pop_waiting_trial_id()) is not None:
        claimed.put(trial_id)
    claimed.put(None)


def test_workers_on_one_sqlite_file_claim_each_queued_trial_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name="queue", storage=url)
    for number in range(QUEUED):
        study.enqueue_trial({"x": number})
    context = multiprocessing.get_context("fork")
    claimed = context.Queue()
    workers = [context.Process(target=_claim_all, args=(url, claimed)) for _ in range(4)]
    for worker in workers:
        worker.start()
    ids, done = [], 0
    while done < len(workers):
        trial_id = claimed.get(timeout=120)
        done += trial_id is None
        ids += [] if trial_id is None else [trial_id]
    for worker in workers:
        worker.join()
    assert sorted(ids) == sorted(t._trial_id for t in study.get_trials())  # Each once.


def test_a_claim_waits_while_the_folder_is_locked(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'queue.db'}", write=True)
    study = optuna.create_study(study_name="queue", storage=storage)
    study.enqueue_trial({"x": 1})
    waiting = study.get_trials(deepcopy=False)[0]._trial_id
    claim = threading.Thread(
        target=storage.set_trial_state_values, args=(waiting, TrialState.RUNNING)
    )
    with claims.folder_lock(tmp_path):
        claim.start()
        claim.join(timeout=1.0)
        assert claim.is_alive()  # Held back by the lock.
        assert study.get_trials()[0].state == TrialState.WAITING
    claim.join(timeout=30)
    assert study.get_trials()[0].state == TrialState.RUNNING
    close(storage)
