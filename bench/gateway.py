"""Gateway forwarding throughput against a bare subscriber, on one private Mosquitto.

(a) bare: a paho QoS 1 subscriber in a process of its own that only counts the readings;
    the receive ceiling of one Python MQTT client on this machine.
(g) gateway: ``python -m envgrid_gateway`` takes the same readings from topic root X on the
    broker, validates them and forwards them at QoS 1 to root X-up on the same broker,
    acknowledging each local message once the broker has acknowledged its copy upstream;
    a bare subscriber process like (a) counts them on X-up.

Each case drains a backlog: the consumer's session exists (the counter's, or the gateway's on
the local side), the whole load is published into it from Python publisher processes while
the consumer is away (each message acknowledged by the broker), then the consumer comes back.
A rate is readings from the first to the last counted. Cases alternate, ``--repeat`` times,
since other work on the machine skews any one run; the table gives the median and the spread.
``--gateway-path DIR`` runs the gateway from another copy of the ``envgrid_gateway`` package
(DIR holds it), for a before/after comparison. ``--profile DIR`` samples the gateway with
py-spy (not a project dependency: ``.venv/bin/pip install py-spy``) while it drains, writes
each run's stacks to DIR, and prints where each thread spent its time, busy and waiting.

Run: ``.venv/bin/python -m bench.gateway [--per-node 25000 --publishers 4 --repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.load import publish_files
from bench.support import Counter
from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_common.clock import shanghai_now
from envgrid_common.lifecycle import start_child
from envgrid_common.messages import GatewayStatus
from envgrid_common.topics import NodeChannel, Topics

VALUES = {"cod": 35.2, "nh3n": 1.4, "tp": 3.1, "ph": 7.2}


@dataclass(frozen=True)
class Load:
    """The prepared readings: one file of JSON lines per publishing node."""

    topics: Topics
    nodes: list[str]
    files: list[Path]
    per_node: int

    @property
    def total(self) -> int:
        return len(self.nodes) * self.per_node


def prepare(workdir: Path, topics: Topics, publishers: int, per_node: int) -> Load:
    """Write the publishers' input files: valid readings stamped within the last hours."""
    start = shanghai_now() - timedelta(milliseconds=per_node * 100)
    nodes = [f"bench-node-{i:02d}" for i in range(publishers)]
    files = []
    for node in nodes:
        path = workdir / f"{node}.jsonl"
        with path.open("wb") as out:
            for seq in range(per_node):
                ts = start + timedelta(milliseconds=seq * 100)
                values = {k: round(v + (seq % 97) * 0.01, 3) for k, v in VALUES.items()}
                out.write(orjson.dumps({"seq": seq, "ts": ts.isoformat(), "values": values}))
                out.write(b"\n")
        files.append(path)
    return Load(topics, nodes, files, per_node)


# The gateway, in a process of its own ---------------------------------------------------------
def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_gateway_ready(url: str, topics: Topics, gateway_id: str, timeout_s: float) -> None:
    """Wait for a status upstream saying the local side is connected too."""
    import paho.mqtt.client as mqtt

    from envgrid_common.mqtt import BrokerAddress, connect, new_client

    ready = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        status = GatewayStatus.model_validate_json(message.payload)
        if status.counters.get("local_connected") == 1:
            ready.set()

    address = BrokerAddress.parse(url)
    client = new_client(f"bench-ready-{uuid.uuid4().hex[:6]}", address)
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(topics.gateway_status(gateway_id), qos=1)
    connect(client, address)
    client.loop_start()
    try:
        if not ready.wait(timeout_s):
            raise SystemExit("the gateway did not come up")
    finally:
        client.disconnect()
        client.loop_stop()


class StatusWatch:
    """The gateway's status counters while it drains: is a window full, or the writer behind?"""

    WATCHED = ("local_unacked", "buffer_unwritten", "buffer_in_flight", "uplink_outstanding")

    def __init__(self, url: str, topics: Topics, gateway_id: str) -> None:
        import paho.mqtt.client as mqtt

        from envgrid_common.mqtt import BrokerAddress, connect, new_client

        self.seen: dict[str, list[int]] = {name: [] for name in self.WATCHED}

        def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
            counters = GatewayStatus.model_validate_json(message.payload).counters
            for name in self.WATCHED:
                if name in counters:
                    self.seen[name].append(counters[name])

        address = BrokerAddress.parse(url)
        self._client = new_client(f"bench-watch-{uuid.uuid4().hex[:6]}", address)
        self._client.on_message = on_message
        topic = topics.gateway_status(gateway_id)
        self._client.on_connect = lambda c, *_: c.subscribe(topic, qos=0)
        connect(self._client, address)
        self._client.loop_start()

    def stop(self) -> list[str]:
        """Stop watching; the median and highest value of each counter."""
        self._client.disconnect()
        self._client.loop_stop()
        return [
            f"    {name}: median {statistics.median(values):,.0f}, max {max(values):,}"
            f" ({len(values)} statuses)"
            for name, values in self.seen.items()
            if values
        ]


def start_gateway(
    broker: MosquittoBroker,
    local: Topics,
    up: Topics,
    gateway_id: str,
    workdir: Path,
    gateway_path: str | None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``python -m envgrid_gateway`` from ``local`` to ``up`` on the bench broker."""
    env = {
        **os.environ,
        "ENVGRID_MQTT_URL": broker.url,
        "ENVGRID_UPLINK_MQTT_URL": broker.url,
        "ENVGRID_TOPIC_ROOT": local.root,
        "ENVGRID_UPLINK_TOPIC_ROOT": up.root,
        "ENVGRID_GATEWAY_ID": gateway_id,
        "ENVGRID_GATEWAY_STATUS_INTERVAL_S": "1",
        "ENVGRID_GATEWAY_BUFFER_PATH": str(workdir / f"{gateway_id}.sqlite"),
        "ENVGRID_LOG_LEVEL": "WARNING",
    }
    env.update(extra_env or {})
    if gateway_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [gateway_path, env.get("PYTHONPATH")]))
    with (workdir / f"gateway-{gateway_id}.log").open("ab") as log:
        return start_child(
            [sys.executable, "-m", "envgrid_gateway", "--log-level", "WARNING"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _thread_cpu(pid: int) -> dict[int, float]:
    """User + system CPU seconds of each thread of ``pid`` so far."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        cpu[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return cpu


@dataclass
class Profiler:
    """py-spy sampling the gateway while it drains, and each thread's CPU time meanwhile.

    py-spy (not a project dependency: ``.venv/bin/pip install py-spy``) samples only threads
    that are running, without pausing the process (pausing would slow what it measures), so
    its samples say where the CPU goes; a thread's CPU time against the wall time says how
    much of the time it waits.
    """

    pid: int
    out: Path
    proc: subprocess.Popen[bytes]
    started: float
    cpu: dict[int, float]
    broker_pid: int | None
    broker_cpu: float
    machine: tuple[float, float]

    @classmethod
    def start(cls, pid: int, out: Path, broker_pid: int | None = None) -> Profiler:
        """Start sampling ``pid`` into ``out`` (py-spy's raw format, by thread)."""
        spy = Path(sys.executable).with_name("py-spy")
        argv = [str(spy), "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
        argv += ["--threads", "--nonblocking", "--rate", "200"]
        proc = start_child(
            argv, sig=signal.SIGINT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        broker_cpu = _cpu_seconds(broker_pid) if broker_pid else 0.0
        return cls(
            pid, out, proc, time.monotonic(), _thread_cpu(pid), broker_pid, broker_cpu, _machine()
        )

    def stop(self, readings: int) -> list[str]:
        """Stop sampling; per thread: CPU µs per reading, share of the time busy, hot spots."""
        wall = time.monotonic() - self.started
        cpu = {tid: s - self.cpu.get(tid, 0.0) for tid, s in _thread_cpu(self.pid).items()}
        broker = _cpu_seconds(self.broker_pid) - self.broker_cpu if self.broker_pid else 0.0
        busy, total = (now - before for now, before in zip(_machine(), self.machine, strict=True))
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            return ["    py-spy did not stop"]
        if not self.out.exists():
            return [f"    py-spy: {err.decode(errors='replace').strip()[-300:]}"]
        names, own = _samples(self.out)
        lines = [
            f"    profile {self.out} ({wall:.1f} s, {sum(cpu.values()):.1f} s CPU); machine "
            f"{busy / max(total, 1e-9):.0%} busy (all cores); broker "
            f"{broker / readings * 1e6:.1f} µs CPU per reading"
        ]
        for tid, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
            if seconds < 0.01 * wall:
                continue
            lines.append(
                f"    {names.get(tid, f'thread {tid}')}: {seconds / readings * 1e6:.1f} µs CPU "
                f"per reading, busy {seconds / wall:.0%} of the time"
            )
            hot = sorted(((n, f) for (t, f), n in own.items() if t == tid), reverse=True)
            busy = sum(n for n, _ in hot) or 1
            lines += [f"        {n / busy:5.1%}  {frame}" for n, frame in hot[:12]]
        return lines


def _machine() -> tuple[float, float]:
    """The machine's busy and total CPU time so far, all cores (from /proc/stat)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return float(sum(fields) - idle), float(sum(fields))


def _samples(raw: Path) -> tuple[dict[int, str], dict[tuple[int, str], int]]:
    """From py-spy's raw stacks: thread names, and samples per (thread, innermost function)."""
    names: dict[int, str] = {}
    own: dict[tuple[int, str], int] = {}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        head, _, rest = stack.partition(";")
        found = re.match(r"thread \((0x[0-9a-f]+|\d+)\)(?::\s*(.*))?", head)
        if not found or not count.isdigit():
            continue
        tid = int(found[1], 0)
        names[tid] = found[2] or f"thread {tid}"
        leaf = rest.rsplit(";", 1)[-1]
        own[tid, leaf] = own.get((tid, leaf), 0) + int(count)
    return names, own


def stop_gateway(proc: subprocess.Popen[bytes]) -> None:
    """A clean stop: its sessions stay with the broker."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise SystemExit("the gateway did not stop on SIGINT") from None
    if proc.returncode != 0:
        raise SystemExit(f"the gateway exited with status {proc.returncode}")


# The cases ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One measured run: rate, and CPU microseconds per reading of the process under test."""

    rate: float
    cpu_us: float
    extra: int  # messages counted beyond the total (duplicates)


def case_bare(broker: MosquittoBroker, load: Load) -> Run:
    """A backlog drained by a subscriber that only counts."""
    local = Topics(f"{load.topics.root}-{uuid.uuid4().hex[:6]}")
    counter = Counter(broker.url, local.any_node(NodeChannel.READINGS), load.total, backlog=True)
    publish_files(broker.url, [local.readings(n) for n in load.nodes], load.files)
    counter.go()
    counted = counter.finish()
    return Run(counted.rate, counted.cpu_s / load.total * 1e6, counted.count - load.total)


def case_gateway(
    broker: MosquittoBroker,
    load: Load,
    workdir: Path,
    gateway_path: str | None,
    profile: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Run:
    """A backlog in the gateway's local session, forwarded to X-up and counted there."""
    run = uuid.uuid4().hex[:6]
    local, gateway_id = Topics(f"{load.topics.root}-{run}"), f"bench-gw-{run}"
    up = Topics(f"{local.root}-up")
    counter = Counter(broker.url, up.any_node(NodeChannel.READINGS), load.total)
    proc = start_gateway(broker, local, up, gateway_id, workdir, gateway_path, extra_env)
    try:
        _wait_gateway_ready(broker.url, up, gateway_id, 30)
        stop_gateway(proc)
        publish_files(broker.url, [local.readings(n) for n in load.nodes], load.files)
        proc = start_gateway(broker, local, up, gateway_id, workdir, gateway_path, extra_env)
        while counter.count == 0 and proc.poll() is None:
            time.sleep(0.01)
        broker_pid = broker.process.pid if broker.process else None
        spy = Profiler.start(proc.pid, profile, broker_pid) if profile else None
        watch = StatusWatch(broker.url, up, gateway_id) if profile else None
        cpu_before = _cpu_seconds(proc.pid)
        counted = counter.finish()
        cpu = _cpu_seconds(proc.pid) - cpu_before  # includes the 0.5 s idle wait: negligible
        if spy is not None:
            print("\n".join(spy.stop(load.total)), flush=True)
        if watch is not None:
            print("\n".join(watch.stop()), flush=True)
    finally:
        if proc.poll() is None:
            stop_gateway(proc)
    log = (workdir / f"gateway-{gateway_id}.log").read_text(errors="replace").splitlines()
    for line in [line for line in log if " WARNING " in line or " ERROR " in line][:5]:
        print(f"    gateway log: {line}", flush=True)
    return Run(counted.rate, cpu / load.total * 1e6, counted.count - load.total)


def _summary(runs: list[Run]) -> str:
    rates = [r.rate for r in runs]
    cpu = statistics.median(r.cpu_us for r in runs)
    return (
        f"median {statistics.median(rates):>8,.0f}/s  (min {min(rates):,.0f}, "
        f"max {max(rates):,.0f}); {cpu:.0f} µs CPU per reading"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the cases alternately and print each run and the summary."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--publishers", type=int, default=4, help="publishing processes (nodes)")
    parser.add_argument("--per-node", type=int, default=25_000, help="readings per publisher")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case")
    parser.add_argument(
        "--cases", default="bare,gateway", help="bare, gateway, other (with --gateway-path)"
    )
    parser.add_argument(
        "--gateway-path",
        help="PYTHONPATH for the gateway: of case 'other' if it is run, else of 'gateway'",
    )
    parser.add_argument(
        "--other-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for case 'other' only (e.g. ENVGRID_GATEWAY_RECEIVE_MAXIMUM=10000)",
    )
    parser.add_argument("--profile", type=Path, help="sample the gateway with py-spy into DIR")
    args = parser.parse_args(argv)
    cases = args.cases.split(",")
    runs: dict[str, list[Run]] = {case: [] for case in cases}
    with tempfile.TemporaryDirectory(prefix="envgrid-bench-gw-") as tmp:
        workdir = Path(tmp)
        topics = Topics(f"bench-{uuid.uuid4().hex[:6]}")
        load = prepare(workdir, topics, args.publishers, args.per_node)
        print(f"{load.total:,} readings from {args.publishers} publishers", flush=True)
        with MosquittoBroker(workdir / "broker") as broker:
            for rep in range(args.repeat):
                for case in cases:
                    if case == "bare":
                        run = case_bare(broker, load)
                    elif case in ("gateway", "other"):
                        out = None
                        if args.profile is not None:
                            args.profile.mkdir(parents=True, exist_ok=True)
                            out = args.profile / f"{case}-run{rep + 1}.txt"
                        path = args.gateway_path
                        if case == "gateway" and "other" in cases:
                            path = None
                        extra = None
                        if case == "other":
                            extra = dict(item.split("=", 1) for item in args.other_env)
                        run = case_gateway(broker, load, workdir, path, out, extra)
                    else:
                        raise SystemExit(f"unknown case {case!r}")
                    runs[case].append(run)
                    dup = f", {run.extra} duplicate(s)" if run.extra else ""
                    print(
                        f"  run {rep + 1} {case:<8} {run.rate:>9,.0f} readings/s, "
                        f"{run.cpu_us:.0f} µs CPU per reading{dup}",
                        flush=True,
                    )
    print()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for case, case_runs in runs.items():
        print(f"{case:<8} {_summary(case_runs)}")
    result: dict[str, Any] = {case: [r.rate for r in rs] for case, rs in runs.items()}
    for case in ("gateway", "other"):
        if not (runs.get("bare") and runs.get(case)):
            continue
        bare = [r.rate for r in runs["bare"]]
        gateway = [r.rate for r in runs[case]]
        ratios = [g / b for g, b in zip(gateway, bare, strict=True)]
        ratio = statistics.median(gateway) / statistics.median(bare)
        result["ratio" if case == "gateway" else f"ratio_{case}"] = ratio
        print(
            f"ratio {case} / bare: {ratio:.2f} of the medians "
            f"(per run pair {min(ratios):.2f}–{max(ratios):.2f})"
        )
    return result


if __name__ == "__main__":
    main()
