"""Fault test 6: an edge agent killed with a backlog on disk, then restarted, loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_common.messages import NodeState, Reading
from envgrid_common.outbox import Outbox
from envgrid_common.sequence import seq_counter
from envgrid_common.topics import Topics
from tests.integration.test_edge_support import clear_retained, node_config
from tests.mqtt_clients import Subscriber
from tests.polling import wait_until

NODE = "edge-fault-6"
INTERVAL_S = 0.05  # 20 readings a second
SETTLE_S = 0.3  # time for the agent to notice the broker going away


def spawn_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """``python -m envgrid_edge sensor`` (``envgrid edge sensor``) as a real process."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "envgrid_edge", "sensor", "--config", str(config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def test_agent_killed_with_a_backlog_on_disk_loses_nothing(
    tmp_path: Path, own_broker: MosquittoBroker, topics: Topics
) -> None:
    config = node_config(tmp_path, NODE, own_broker.url, topics, interval_s=INTERVAL_S)
    log = tmp_path / "agent.log"
    sub = Subscriber(own_broker.url, topics, session_expiry_s=300).start()
    own_broker.stop()  # the broker saves the subscriber's session before the outage
    own_broker.start()
    wait_until(lambda: sub.subscriptions >= 2, 10, "subscriber back")
    agent = spawn_agent(config, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_until(lambda: len(sub.seqs(NODE)) >= 20, 15, "live readings")
        outage_from = time.time() + SETTLE_S
        own_broker.stop()
        live = set(sub.seqs(NODE))
        time.sleep(1.5)  # about 30 readings pile up in the outbox
        agent.send_signal(signal.SIGKILL)
        agent.wait(5)
        killed_at = time.time()
        own_broker.start()
        second = spawn_agent(config, log)
        wait_until(
            lambda: any(r.seq > max(live) + 40 and not r.historical for r in sub.readings(NODE)),
            20,
            "the backlog and then live readings from the restarted agent",
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0
        with Outbox(tmp_path / f"{NODE}.sqlite") as box:
            produced = set(range(1, box.counter(seq_counter(NODE))))
            assert len(box) == 0, "a clean stop leaves nothing unsent"
        wait_until(lambda: set(sub.seqs(NODE)) >= produced, 10, "every reading")
    finally:
        for process in (agent, second):
            if process is not None and process.poll() is None:
                process.kill()
        sub.stop()

    got = sub.readings(NODE)
    counts = sub.seqs(NODE)
    duplicates = sum(n - 1 for n in counts.values())
    # Measured after the broker was surely gone and before the kill: only the disk had them.
    backlog = {r.seq for r in got if outage_from < r.ts.timestamp() < killed_at}
    print(
        f"\nfault 6 (edge agent killed with a backlog): produced {len(produced)}, "
        f"received {len(got)}, distinct {len(counts)}, duplicates {duplicates}, "
        f"backlog {len(backlog)} (historical {sum(1 for r in got if r.historical)})"
    )
    assert not sub.invalid, sub.invalid
    missing, extra = sorted(produced - set(counts)), sorted(set(counts) - produced)
    assert not missing, f"lost {len(missing)}: {missing[:10]}"
    assert not extra, f"never produced: {extra[:10]}"
    assert duplicates <= 100, "at most what one window held in flight"
    assert len(backlog) >= 20, "readings piled up while the broker was away"
    first: dict[int, Reading] = {}
    for r in got:
        first.setdefault(r.seq, r)
    assert all(first[s].historical for s in backlog), "the backlog goes out marked historical"
    assert not any(first[s].historical for s in live), "what went out live is not historical"
    assert not first[max(produced)].historical, "live again once the backlog is gone"


def test_a_killed_agent_leaves_its_offline_will(
    tmp_path: Path, mqtt_url: str, topics: Topics
) -> None:
    node = "edge-will-1"
    sub = Subscriber(mqtt_url, topics).start()
    agent = spawn_agent(node_config(tmp_path, node, mqtt_url, topics), tmp_path / "agent.log")
    try:
        wait_until(lambda: len(sub.readings(node)) >= 3, 15, "readings")
        agent.send_signal(signal.SIGKILL)
        agent.wait(5)
        wait_until(lambda: sub.last_state(node) is NodeState.OFFLINE, 10, "the Will")
        online, will = sub.statuses(node)[0], sub.statuses(node)[-1]
        assert online.state is NodeState.ONLINE
        assert online.ts is not None
        assert will.ts is None, "the Will is stamped by nobody: it was set at connect time"
        assert will.kind == "sensor"
    finally:
        if agent.poll() is None:
            agent.kill()
        sub.stop()
        clear_retained(mqtt_url, topics, node)
