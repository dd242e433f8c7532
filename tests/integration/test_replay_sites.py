"""``envgrid replay --site``: only the nodes the cloud's registry gives the site are replayed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import psycopg

from envgrid_cloud.registry.store import upsert_registry
from envgrid_common.topics import Topics
from envgrid_sim.feeds.writer import FeedWriter
from envgrid_sim.scenarios.luxi import luxi_scenario
from tests.mqtt_clients import Collector
from tests.polling import wait_until

START_NS = 1_777_593_600 * 10**9  # 2026-05-01 00:00 UTC
FARM = "luxi-farm-01"


def _feed(path: Path, topics: Topics, node_ids: list[str]) -> None:
    """Three readings of every node, in turn."""
    writer = FeedWriter(path, {})
    for seq in range(1, 4):
        for n, node_id in enumerate(node_ids):
            at_ns = START_NS + (seq * len(node_ids) + n) * 10**9
            body = {"seq": seq, "ts": "2026-05-01T00:00:00+00:00", "values": {"cod": 1.0}}
            writer.add(at_ns, topics.readings(node_id).encode(), 1, False, b"", orjson.dumps(body))
    writer.close()


def _replay(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENVGRID_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "envgrid_cli", "replay", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_a_sites_nodes_alone_are_replayed_and_a_site_unknown_is_refused(
    tmp_path: Path, migrated_url: str, mqtt_url: str, topics: Topics
) -> None:
    scenario = luxi_scenario()
    with psycopg.connect(migrated_url) as conn:
        upsert_registry(conn, scenario.registry)
    farm_nodes = sorted(n.id for n in scenario.registry.nodes if n.site_id == FARM)
    others = [n.node.id for n in scenario.specs if n.node.site_id != FARM][:3]
    assert farm_nodes
    assert others
    feed = tmp_path / "mixed.egfeed"
    recorded = Topics("recorded")
    _feed(feed, recorded, farm_nodes + others)

    collector = Collector(mqtt_url, topics).start()
    try:
        done = _replay(
            str(feed),
            "--mqtt-url",
            mqtt_url,
            "--max",
            "--site",
            FARM,
            "--topic-root",
            f"recorded:{topics.root}",
            database_url=migrated_url,
        )
        assert done.returncode == 0, done.stderr
        assert f"the nodes of {FARM}: {', '.join(farm_nodes)}" in done.stderr
        expected = {topics.readings(node) for node in farm_nodes}
        wait_until(lambda: len(collector.messages) >= 3 * len(farm_nodes), 10)
        got = [m.topic for m in collector.messages]
        assert set(got) == expected  # none of the other sites' nodes
        assert len(got) == 3 * len(farm_nodes)
    finally:
        collector.stop()

    unknown = _replay(str(feed), "--max", "--site", "atlantis", database_url=migrated_url)
    assert unknown.returncode == 2
    assert "no site 'atlantis' in the registry" in unknown.stderr
    two = _replay(str(feed), "--what-if", "--site", FARM, "--site", "x", database_url=migrated_url)
    assert two.returncode == 2
    assert "--what-if needs one --site" in two.stderr
