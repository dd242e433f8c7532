"""A Mosquitto broker of our own: configured as shipped, on its own port and data folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from envgrid_cli.services.ports import free_port, wait_for_port
from envgrid_common.lifecycle import start_child

SHIPPED_CONF = "mosquitto.conf"


def mosquitto_binary() -> str | None:
    """Path of the mosquitto executable, if installed (Debian puts it in /usr/sbin)."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def shipped_config(port: int, data_dir: Path) -> str:
    """The shipped broker settings, bound to localhost:``port`` and persisting in ``data_dir``."""
    text = resources.files("envgrid_cli.services").joinpath(SHIPPED_CONF).read_text()
    text = text.replace("listener 1883 0.0.0.0", f"listener {port} 127.0.0.1")
    return text.replace("/mosquitto/data/", f"{data_dir}/")


@dataclass
class MosquittoBroker:
    """A mosquitto process that can be started, killed and started again on the same port."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:PORT``."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> MosquittoBroker:
        """Start (or restart) the broker and wait until it accepts connections."""
        binary = mosquitto_binary()
        if binary is None:
            raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "mosquitto.conf"
        text = shipped_config(self.port, self.data_dir)
        if os.geteuid() == 0:
            # Started as root, mosquitto switches to the "mosquitto" user, which cannot write
            # in our data folder: it would silently keep nothing across a restart.
            text += "user root\n"
        conf.write_text(text)
        with (self.data_dir / "mosquitto.log").open("ab") as log:
            # SIGTERM when we end: Mosquitto saves its sessions and queues, and exits at once.
            self.process = start_child(
                [binary, "-c", str(conf)],
                sig=signal.SIGTERM,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port("127.0.0.1", self.port)
        return self

    def kill(self) -> None:
        """SIGKILL: the broker gets no chance to save anything."""
        self._signal(signal.SIGKILL)

    def stop(self, timeout_s: float = 15) -> None:
        """SIGTERM: the broker saves its state and exits (SIGKILL after ``timeout_s``)."""
        self._signal(signal.SIGTERM, timeout_s)

    def _signal(self, sig: signal.Signals, timeout_s: float = 15) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, sig)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
