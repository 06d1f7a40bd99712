"""The journal writers' ledger: reads wait for other processes' writers, not for ever."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from typing import Any

import pytest

from mockserver.state.writer import Ledger

FORK_WARNING = "ignore:This process .* is multi-threaded:DeprecationWarning"
"""Python 3.12+ warns about forking with threads; a forked server worker is what is tested."""


@pytest.mark.filterwarnings(FORK_WARNING)
def test_a_dead_process_s_unwritten_entries_do_not_hold_up_reads() -> None:
    ledger = Ledger()
    finished = multiprocessing.get_context("fork").Process(target=os.getpid)
    finished.start()
    finished.join()
    assert finished.pid is not None
    slot = ledger.claim(finished.pid)
    assert slot is not None
    ledger.handed[slot] = 5  # handed over, never written: the process died
    started = time.monotonic()
    ledger.settle(timeout=30)
    assert time.monotonic() - started < 5
    assert ledger.claim(os.getpid()) == slot  # its slot is reused


def test_a_stuck_writer_holds_up_reads_no_longer_than_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = Ledger()
    slot = ledger.claim(os.getpid())
    assert slot is not None
    ledger.handed[slot] = 1
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="mockserver"):
        ledger.settle(timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 5
    assert f"process {os.getpid()} has not written" in caplog.text


def _die_holding(lock: Any) -> None:
    lock.acquire()
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.filterwarnings(FORK_WARNING)
def test_a_process_killed_holding_the_slot_lock_does_not_block_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = Ledger()
    killed = multiprocessing.get_context("fork").Process(
        target=_die_holding,
        args=(ledger._claim,),
    )
    killed.start()
    killed.join(30)
    assert killed.exitcode == -signal.SIGKILL
    with caplog.at_level(logging.WARNING, logger="mockserver"):
        started = time.monotonic()
        slot = ledger.claim(os.getpid())
    assert slot is not None and time.monotonic() - started < 10
    assert "died holding the slot lock" in caplog.text
