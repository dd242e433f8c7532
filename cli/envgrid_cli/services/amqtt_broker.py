"""The demo's fallback broker when Mosquitto is not installed: amqtt, from PyPI (MQTT 3.1.1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from envgrid_cli.services.ports import free_port, wait_for_port
from envgrid_common.lifecycle import start_child


@dataclass
class AmqttBroker:
    """An amqtt process; clients must speak MQTT 3.1.1 to it (the URL says so)."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:PORT?protocol=3.1.1``."""
        return f"mqtt://127.0.0.1:{self.port}?protocol=3.1.1"

    def start(self) -> AmqttBroker:
        """Start the broker and wait until it accepts connections."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "amqtt.yaml"
        conf.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: 127.0.0.1:{self.port}\n    max_connections: 0\n"
        )
        binary = Path(sys.executable).with_name("amqtt")
        with (self.data_dir / "amqtt.log").open("ab") as log:
            self.process = start_child(
                [str(binary), "-c", str(conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port("127.0.0.1", self.port)
        return self

    def stop(self, timeout_s: float = 15) -> None:
        """Stop the broker (SIGTERM, then SIGKILL if it has not ended in ``timeout_s``)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
