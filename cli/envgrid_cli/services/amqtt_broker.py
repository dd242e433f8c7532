"""The demo's fallback broker when Mosquitto is not installed: amqtt, from PyPI (MQTT 3.1.1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from envgrid_cli.services.ports import free_port, wait_for_port


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
        log = (self.data_dir / "amqtt.log").open("ab")
        self.process = subprocess.Popen(
            [str(binary), "-c", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port("127.0.0.1", self.port)
        return self

    def stop(self) -> None:
        """Stop the broker."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
