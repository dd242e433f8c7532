"""The demo restarts a part that died, after a back-off, and gives up on one that dies at once."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from envgrid_cli.demo_supervisor import GIVE_UP_AFTER, GaveUp, Supervisor
from envgrid_common.lifecycle import Restarts
from tests.polling import wait_until


@dataclass
class FakePart:
    """A part whose death the test decides."""

    name: str
    log_path: Path
    status: int | None = None
    starts: int = 0
    pids: list[int] = field(default_factory=lambda: [100])

    @property
    def pid(self) -> int | None:
        return self.pids[-1]

    def start(self) -> None:
        self.starts += 1
        self.status = None
        self.pids.append(100 + self.starts)

    def exit_status(self) -> int | None:
        return self.status

    def stop(self, timeout_s: float) -> None:
        self.status = 0


def no_wait() -> Restarts:
    return Restarts(first_delay_s=0.01, max_delay_s=0.02, healthy_after_s=60)


def test_a_part_that_died_is_restarted_and_the_console_says_so(tmp_path: Path) -> None:
    log = tmp_path / "cloud.log"
    log.write_text("line one\nlast words\n")
    cloud = FakePart("cloud", log)
    said: list[str] = []
    supervisor = Supervisor([cloud], said.append, no_wait)
    supervisor.check()
    assert cloud.starts == 0
    assert said == []

    cloud.status = -9
    supervisor.check()
    assert "cloud (pid 100) died (killed by SIGKILL); restarting it in 0.01 s" in said[0]
    assert "last words" in said[0]

    def restarted() -> bool:
        supervisor.check()
        return cloud.starts == 1

    wait_until(restarted, 2, "the restart")
    assert said[-1] == "cloud restarted (pid 101)"


def test_a_part_that_keeps_dying_at_once_is_given_up_on(tmp_path: Path) -> None:
    gateway = FakePart("gateway", tmp_path / "gateway.log")
    said: list[str] = []
    supervisor = Supervisor([gateway], said.append, no_wait)

    def die_at_once_until_given_up() -> None:
        for _ in range(1000):
            gateway.status = 1  # dies as soon as it is (re)started
            supervisor.check()
            time.sleep(0.02)  # past the back-off

    with pytest.raises(GaveUp, match=f"gateway keeps dying at once \\({GIVE_UP_AFTER} times"):
        die_at_once_until_given_up()
    assert gateway.starts == GIVE_UP_AFTER - 1
    assert "exit status 1" in said[0]
