"""A stop signal ends the run as interrupted whatever error it surfaces as."""

import os
import signal
import time

import pytest

from studies.engine import failures, stopping


@pytest.fixture(autouse=True)
def no_stop_left(monkeypatch):
    monkeypatch.setattr(stopping, "_stopped", None)
    yield
    monkeypatch.setattr(stopping, "_stopped", None)


def test_a_signal_raises_keyboard_interrupt_named_after_it():
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with stopping.stopping_on_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # The handler runs at once and cuts the sleep short.


def test_an_error_a_library_made_of_the_interrupt_is_the_interrupt():
    # TensorFlow tracing a graph turns a KeyboardInterrupt raised in its callbacks into
    # SystemError or AttributeError; after a stop signal, that is the stop.
    with pytest.raises(KeyboardInterrupt, match="SIGTERM") as raised:
        with stopping.stopping_on_signals():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except KeyboardInterrupt:
                raise AttributeError(
                    "'SymbolicTensor' object has no attribute '_type_spec'"
                ) from None
    assert isinstance(raised.value.__cause__, AttributeError)
    assert failures.of_error(raised.value.__cause__)[0] == "interrupted"


def test_an_error_without_a_signal_is_itself():
    with pytest.raises(AttributeError):
        with stopping.stopping_on_signals():
            raise AttributeError("a real bug")
    assert failures.of_error(AttributeError("a real bug"))[0] == "error"
    assert not stopping.stop_requested()


def test_the_previous_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with stopping.stopping_on_signals():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
