"""How many virtual nodes one simulator process keeps on time, on one core (``--scale`` mode).

For each node count (``--nodes``, default 1,000, 5,000, 10,000, 19,000), in the same run and
on a private Mosquitto (the shipped configuration, on a port of its own, its open-file limit
raised to this process's hard limit so that a session per node fits):

(s) swarm: a generated county of that many sensor nodes (``envgrid sim generate``), each
    reporting every ``--interval`` seconds (default 10), run by the simulator's swarm in a
    process pinned to one core, for ``--seconds`` (default 40) after every connection is
    up. Each node has its own MQTT session and Last Will (``--connections 0``), or the
    nodes share N connections (``--connections N``).
(b) baseline: one bare paho client (its own network thread) in a process pinned to the same
    core publishes the same number of readings of the same size at QoS 1, at the same
    pace, for the same time.

A reading is **on time** when it is published (written to its connection) within 1 s of its
slot (the slot plus the node's jitter); held back (no session, full window) it is late by
definition. A count is **sustained** when at least 99 % of the readings after the first
interval (the warm-up, connections settling) are on time and every reading published is
acknowledged by the end. Figures: lateness p50/p99/p99.9, share on time, CPU seconds used
per second (1.0 = the whole core), RSS per node, the time to connect every session. A count
that is not sustained ends the climb and is reported as such; a step that does not report
within its time is killed and reported as the machine not taking the load.

It also times the township mode's disk outbox (one SQLite file, a stream per node): what
storing, handing over and deleting one reading costs, to show why the scale mode keeps
readings in memory.

Run: ``.venv/bin/python -m bench.sim_scale [--nodes 1000,10000 --seconds 40]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import threading
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.support import exit_on_sigterm
from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_common.lifecycle import die_with_parent
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.topics import Topics

ON_TIME_S = 1.0
SUSTAINED = 0.99
SITES_PER_TOWNSHIP = 100  # about 130 nodes a township


def _raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def county_specs(nodes: int, interval_s: float) -> Any:
    """The first ``nodes`` sensor nodes of a generated county (without writing YAML), and
    what they were made from (held by the caller so that the swarm's memory is not that of
    the freed generation reused)."""
    from envgrid_sim.scenariofile.build import build_scenario
    from envgrid_sim.scenariofile.generate import generate_county
    from envgrid_sim.scenariofile.load import Located
    from envgrid_sim.scenariofile.model import ScenarioFile

    townships = max(1, -(-nodes // int(SITES_PER_TOWNSHIP * 1.2)))
    content = generate_county(townships, SITES_PER_TOWNSHIP, report_interval_s=interval_s)
    model = ScenarioFile.model_validate(content)
    scenario = build_scenario(model, Located("<generated>", ""))
    while len(scenario.specs) < nodes:  # the mix gave fewer nodes a site than guessed
        townships += 1
        content = generate_county(townships, SITES_PER_TOWNSHIP, report_interval_s=interval_s)
        model = ScenarioFile.model_validate(content)
        scenario = build_scenario(model, Located("<g>", ""))
    return scenario.specs[:nodes], (content, model, scenario)


def _swarm_case(
    parent: int, url: str, nodes: int, args: dict[str, Any], data: str, pipe: Connection
) -> None:
    """Child: run a swarm of ``nodes`` and send back its figures."""
    die_with_parent(parent)
    _pin(args["core"])
    _raise_fd_limit()
    from envgrid_sim.swarm.seqs import SeqBook
    from envgrid_sim.swarm.swarm import Swarm, SwarmOptions

    rss0 = _rss_kib()
    specs, made_from = county_specs(nodes, args["interval"])
    rss_specs = _rss_kib()
    options = SwarmOptions(
        address=BrokerAddress.parse(url),
        topics=Topics(f"bench-swarm-{uuid.uuid4().hex[:6]}"),
        client_id_prefix=f"b{uuid.uuid4().hex[:4]}-",
        connections=args["connections"],
        connect_timeout_s=30.0,
    )
    seqs = SeqBook(Path(data) / "seqs.sqlite")
    seqs.open(s.node.id for s in specs)
    swarm = Swarm(tuple(specs), options, seqs)
    swarm.check_limits()

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        began = time.monotonic()
        task = asyncio.create_task(swarm.run(stop, drain_s=5.0))
        while swarm.counters.produced == 0 and not task.done():  # noqa: ASYNC110 - a bench probe
            await asyncio.sleep(0.05)
        connect_s = time.monotonic() - began
        up = swarm.connected
        await asyncio.sleep(args["interval"])  # warm-up: every node's first slot
        c = swarm.counters
        c.lateness.reset()
        c.ack_s.reset()
        published0, cpu0, t0 = c.published, _cpu_s(), time.monotonic()
        await asyncio.sleep(args["seconds"])
        cpu, wall = _cpu_s() - cpu0, time.monotonic() - t0
        published = c.published - published0
        rss = _rss_kib()
        # Let the last PUBACKs come in before counting what was acknowledged.
        deadline = time.monotonic() + 10
        while any(s.in_flight for s in swarm.sessions) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        acked_all = c.acked + c.refused >= c.published
        stop.set()
        await task
        late = c.lateness
        return {
            "nodes": nodes,
            "sessions": len(swarm.sessions),
            "up": up,
            "connect_s": connect_s,
            "readings": late.total,
            "rate": published / wall,
            "p50": late.percentile_s(50),
            "p99": late.percentile_s(99),
            "p999": late.percentile_s(99.9),
            "on_time": late.within(ON_TIME_S) / late.total if late.total else 0.0,
            "ack_p99": c.ack_s.percentile_s(99),
            "acked_all": acked_all,
            "refused": c.refused,
            "held": c.held,
            "cpu": cpu / wall,
            "rss_mib": rss / 1024,
            "kib_per_node": (rss - rss_specs) / nodes,
            "spec_kib_per_node": (rss_specs - rss0) / nodes,
            "all_kib_per_node": rss / nodes,
        }

    try:
        pipe.send(asyncio.run(main()))
    finally:
        seqs.close()
        del made_from


def _baseline_case(
    parent: int, url: str, count: int, payload: bytes, seconds: float, core: int, pipe: Connection
) -> None:
    """Child: a bare paho client publishing ``count`` messages a second at QoS 1, paced."""
    die_with_parent(parent)
    _pin(core)
    import paho.mqtt.client as mqtt

    from envgrid_common.mqtt import new_client

    client = new_client(f"bench-base-{uuid.uuid4().hex[:6]}", BrokerAddress.parse(url))
    acked = threading.Semaphore(0)
    client.on_publish = lambda *a: acked.release()
    address = BrokerAddress.parse(url)
    client.connect(address.host, address.port)
    client.loop_start()
    topic = f"bench-base-{uuid.uuid4().hex[:6]}/v1/nodes/base/readings"
    total = int(count * seconds)
    cpu0, t0 = _cpu_s(), time.monotonic()
    late_worst, late = 0.0, []
    for i in range(total):
        due = t0 + i / count
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        info = client.publish(topic, payload, qos=1)
        lateness = time.monotonic() - due
        late.append(lateness)
        late_worst = max(late_worst, lateness)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            break
    cpu, wall = _cpu_s() - cpu0, time.monotonic() - t0
    got = 0
    deadline = time.monotonic() + 10
    while got < total and acked.acquire(timeout=max(0.0, deadline - time.monotonic())):
        got += 1
    client.disconnect()
    client.loop_stop()
    late.sort()
    pipe.send(
        {
            "rate": total / wall,
            "cpu": cpu / wall,
            "p99": late[int(len(late) * 0.99) - 1] if late else 0.0,
            "acked": got,
            "total": total,
        }
    )


def _run_child(target: Any, args: tuple[Any, ...], timeout_s: float) -> dict[str, Any] | None:
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe(duplex=False)
    process = ctx.Process(target=target, args=(os.getpid(), *args, theirs), daemon=True)
    process.start()
    theirs.close()
    try:
        if ours.poll(timeout_s):
            result: dict[str, Any] = ours.recv()
            return result
        return None
    except EOFError:
        return None
    finally:
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()


def outbox_cost(readings: int = 5000) -> float:
    """Microseconds of one thread's time to store, hand over and delete one reading in the
    township mode's outbox (NORMAL durability, as the simulator opens it)."""
    from envgrid_common.outbox import Kind, Outbox, OutMessage

    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        outbox = Outbox(Path(tmp) / "outbox.sqlite", durability="normal")
        payload = b'{"seq":1,"ts":"2026-12-06T08:00:00.000+08:00","values":{"cod":35.2}}'
        began = time.thread_time()
        for i in range(readings):
            stream = f"node-{i % 1000}"
            message = OutMessage(Kind.READING, f"t/{stream}", payload)
            outbox.put([message], counters={f"seq/{stream}": i + 1}, stream=stream)
            outbox.ack([row.id for row in outbox.take(1, stream=stream)])
        spent = time.thread_time() - began
        outbox.close()
    return spent / readings * 1e6


def _sample_payload() -> bytes:
    from datetime import datetime

    from envgrid_common.clock import shanghai_now
    from envgrid_common.messages import Reading

    specs, _ = county_specs(10, 10.0)
    now: datetime = shanghai_now()
    values = specs[0].signals(0).sample(now)
    return (
        Reading(seq=123456, ts=now, values=values).model_dump_json(exclude_defaults=True).encode()
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print and return the figures."""
    exit_on_sigterm()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", default="1000,5000,10000,19000", help="node counts, climbing")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between readings")
    parser.add_argument("--seconds", type=float, default=40.0, help="measured time a step")
    parser.add_argument("--connections", type=int, default=0, help="0: a session per node")
    parser.add_argument("--core", type=int, default=0, help="the core the simulator runs on")
    parser.add_argument("--no-outbox", action="store_true", help="skip timing the disk outbox")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.nodes.split(",")]
    hard = _raise_fd_limit()
    figures: dict[str, Any] = {"steps": [], "fd_limit": hard}
    payload = _sample_payload()
    print(
        f"open files: {hard}; readings of {len(payload)} bytes every {args.interval:g} s; "
        f"{'a session per node' if args.connections == 0 else f'{args.connections} connections'}",
        flush=True,
    )
    step_args = {k: getattr(args, k) for k in ("interval", "seconds", "connections", "core")}
    with (
        tempfile.TemporaryDirectory(prefix="bench-sim-scale-") as tmp,
        MosquittoBroker(Path(tmp) / "mosquitto") as broker,
    ):
        for nodes in counts:
            if args.connections == 0 and nodes + 200 > hard:
                print(f"{nodes:,} nodes: more sessions than open files ({hard}); stop")
                break
            data = Path(tmp) / f"swarm-{nodes}"
            data.mkdir()
            print(f"(s) {nodes:,} nodes …", flush=True)
            budget = args.interval + args.seconds + 60 + nodes / 200
            step = _run_child(_swarm_case, (broker.url, nodes, step_args, str(data)), budget)
            if step is None:
                print(f"    did not report within {budget:.0f} s: the machine did not take it")
                figures["steps"].append({"nodes": nodes, "failed": True})
                break
            step["sustained"] = step["on_time"] >= SUSTAINED and step["acked_all"]
            figures["steps"].append(step)
            print(
                f"    {step['sessions']:,} sessions ({step['up']:,} up, connected in "
                f"{step['connect_s']:.1f} s); {step['rate']:,.0f} readings/s; lateness "
                f"p50 {step['p50'] * 1000:.0f} ms p99 {step['p99'] * 1000:.0f} ms p99.9 "
                f"{step['p999'] * 1000:.0f} ms; {100 * step['on_time']:.2f} % on time; "
                f"PUBACK p99 {step['ack_p99'] * 1000:.0f} ms; CPU {step['cpu']:.2f} core; "
                f"RSS {step['rss_mib']:,.0f} MiB ({step['all_kib_per_node']:.1f} KiB a node "
                f"all in; the swarm's own {step['kib_per_node']:.1f} KiB a node, its "
                f"scenario entry {step['spec_kib_per_node']:.1f} KiB)"
                f"{'' if step['acked_all'] else '; NOT all acknowledged'}",
                flush=True,
            )
            rate = nodes / args.interval
            base = _run_child(
                _baseline_case,
                (broker.url, rate, payload, args.seconds, args.core),
                args.seconds + 60,
            )
            if base is not None:
                step["baseline"] = base
                print(
                    f"(b) bare paho, {rate:,.0f} publishes/s: {base['rate']:,.0f}/s, CPU "
                    f"{base['cpu']:.2f} core, lateness p99 {base['p99'] * 1000:.0f} ms, "
                    f"{base['acked']:,}/{base['total']:,} acknowledged",
                    flush=True,
                )
            if not step["sustained"]:
                print(f"    {nodes:,} nodes NOT sustained: stop climbing", flush=True)
                break
    if not args.no_outbox:
        figures["outbox_us"] = outbox_cost()
        print(
            f"township mode's disk outbox: {figures['outbox_us']:.0f} µs CPU a reading "
            f"(store, hand over, delete) = {figures['outbox_us'] * 1000 / 1e6:.2f} core at "
            "1,000 readings/s (10,000 nodes every 10 s), on top of the publishing"
        )
    sustained = [s["nodes"] for s in figures["steps"] if s.get("sustained")]
    figures["sustained"] = max(sustained, default=0)
    print()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"sustained on one core: {figures['sustained']:,} nodes at one reading per "
        f"{args.interval:g} s (goal ≥ 10,000)"
    )
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
