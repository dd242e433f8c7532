"""What the demo runs, behind one face: its components as processes, and its brokers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from envgrid_common.lifecycle import start_child

# A component stops within its own stop bound; this much more is for its interpreter to exit.
EXIT_GRACE_S = 1.0


class Part(Protocol):
    """Something the demo starts, watches, restarts and stops."""

    @property
    def name(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def log_path(self) -> Path: ...

    def start(self) -> None: ...

    def exit_status(self) -> int | None: ...

    def stop(self, timeout_s: float) -> None: ...


@dataclass
class Component:
    """``envgrid ARGV`` as a process of its own that dies with the demo, logging to a file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Its process id, once started."""
        return None if self.process is None else self.process.pid

    def start(self) -> None:
        """Start (or start again) the component."""
        with self.log_path.open("ab") as log:
            self.process = start_child(
                [sys.executable, "-m", "envgrid_cli", *self.argv],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                # Out of our terminal's process group: a Ctrl-C reaches the demo alone, and the
                # demo stops its components in order.
                start_new_session=True,
            )

    def exit_status(self) -> int | None:
        """Its exit status once it has ended (negative: the signal that ended it)."""
        return None if self.process is None else self.process.poll()

    def stop(self, timeout_s: float) -> None:
        """SIGTERM, then SIGKILL if it has not ended within its stop bound."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s + EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Broker(Protocol):
    """A broker process the demo started (Mosquitto or amqtt)."""

    data_dir: Path
    process: subprocess.Popen[bytes] | None

    @property
    def url(self) -> str: ...

    def start(self) -> object: ...

    def stop(self, timeout_s: float = ...) -> None: ...


@dataclass
class BrokerPart:
    """A broker seen as a part of the demo; started again on the same port and data."""

    name: str
    broker: Broker
    log_name: str

    @property
    def pid(self) -> int | None:
        """Its process id, once started."""
        return None if self.broker.process is None else self.broker.process.pid

    @property
    def log_path(self) -> Path:
        """Where it logs."""
        return self.broker.data_dir / self.log_name

    def start(self) -> None:
        """Start (or start again) the broker."""
        self.broker.start()

    def exit_status(self) -> int | None:
        """Its exit status once it has ended."""
        return None if self.broker.process is None else self.broker.process.poll()

    def stop(self, timeout_s: float) -> None:
        """SIGTERM (it saves its state), then SIGKILL after ``timeout_s``."""
        self.broker.stop(timeout_s)


def log_tail(path: Path, lines: int = 12) -> str:
    """The end of a log file, indented for the console."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "    (no log)"
    return "\n".join(f"    {line}" for line in text[-lines:])
