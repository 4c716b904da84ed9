"""Benchmark: QMP through `vmplatform qmp` vs straight to QEMU, in one run.

One QEMU (TCG, -S, a virtio-net NIC on TAP when root) with two -qmp monitors:
one for the endpoint, one for direct connections. The endpoint runs as its
own process, started with the real CLI, as it is deployed.

A third monitor sits behind a byte relay (asyncio, reads into a kept
buffer, copies both ways, understands nothing): the floor any separate
process in the path costs on this machine, to judge the endpoint against.

Measured, with the real qemu.qmp QMPClient and with a bare socket client
(the second shows the endpoint's own added cost without the client's):
  1. latency: median round trip of sequential query-status;
  2. throughput: query-status per second with several commands in flight;
  3. query-platforms answered by the endpoint: per second, sequential and in flight.

Targets: latency <= 1.10x direct, throughput >= 0.9x direct, query-platforms >= 5,000/s.

Run: .venv/bin/python bench/qmp_endpoint.py [-n 4000] [--inflight 8] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

QUERY_STATUS = b'{"execute": "query-status", "id": 1}\n'
QUERY_PLATFORMS = b'{"execute": "query-platforms", "id": 1}\n'


class RawClient:
    """Minimal QMP client: one line out, one line back (no events expected: QEMU is -S)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, path: str) -> RawClient:
        reader, writer = await asyncio.open_unix_connection(path, limit=16 << 20)
        greeting = json.loads(await reader.readline())
        # Like qemu.qmp: enable oob where offered (QEMU then queues 8 commands, not 1).
        enable = b', "arguments": {"enable": ["oob"]}' if "oob" in greeting["QMP"]["capabilities"] else b""
        writer.write(b'{"execute": "qmp_capabilities"' + enable + b"}\n")
        await reader.readline()
        return cls(reader, writer)

    async def roundtrip(self, msg: bytes) -> bytes:
        self.writer.write(msg)
        return await self.reader.readline()

    async def pipelined(self, msg: bytes, n: int, inflight: int) -> None:
        """n commands, at most ``inflight`` unanswered at any time."""
        sent = 0
        for _ in range(min(inflight, n)):
            self.writer.write(msg)
            sent += 1
        for _ in range(n):
            await self.reader.readline()
            if sent < n:
                self.writer.write(msg)
                sent += 1

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def qmp_client(path: str) -> Any:
    from qemu.qmp import QMPClient

    client = QMPClient("bench")
    await client.connect(path)
    return client


async def latencies(call: Callable[[], Awaitable[object]], n: int) -> list[float]:
    for _ in range(min(200, n)):
        await call()
    out = []
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        await call()
        out.append(clock() - t0)
    return out


async def rate(run: Callable[[], Awaitable[None]], n: int) -> float:
    t0 = time.perf_counter()
    await run()
    return n / (time.perf_counter() - t0)


async def client_throughput(client: Any, command: str, n: int, inflight: int) -> None:
    async def worker(k: int) -> None:
        for _ in range(k):
            await client.execute(command)
    per = n // inflight
    await asyncio.gather(*(worker(per) for _ in range(inflight)))


RELAY = r"""
import asyncio, sys
class Half(asyncio.BufferedProtocol):
    def __init__(self): self.buf = memoryview(bytearray(65536)); self.peer = None
    def connection_made(self, t): self.t = t
    def get_buffer(self, n): return self.buf
    def buffer_updated(self, n): self.peer.t.write(self.buf[:n].tobytes())
    def connection_lost(self, exc): self.peer.t.close()
async def main(upstream, listen):
    loop = asyncio.get_running_loop()
    pending = []
    def factory():
        down = Half()
        async def attach():
            _, up = await loop.create_unix_connection(Half, upstream)
            up.peer, down.peer = down, up
        pending.append(loop.create_task(attach()))
        return down
    server = await loop.create_unix_server(factory, listen)
    await asyncio.Event().wait()
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def start_relay(upstream: str, listen: str) -> subprocess.Popen[bytes]:
    """The floor: a process that only copies bytes (one client at a time, no QMP)."""
    proc = subprocess.Popen([sys.executable, "-c", RELAY, upstream, listen], stdin=subprocess.DEVNULL)
    while not os.path.exists(listen):
        if proc.poll() is not None:
            sys.exit("relay exited")
        time.sleep(0.02)
    return proc


def start_qemu(tmp: str) -> tuple[subprocess.Popen[bytes], str, str, str]:
    binary = shutil.which(os.environ.get("VMPLATFORM_QEMU") or "qemu-system-x86_64")
    if binary is None:
        sys.exit("qemu-system-x86_64 not found")
    a, b, c = (os.path.join(tmp, f"{n}.sock") for n in "abc")
    nic = ["-netdev", "tap,id=n0,script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,id=net0"] \
        if os.geteuid() == 0 and os.path.exists("/dev/net/tun") else []
    proc = subprocess.Popen([binary, "-machine", "pc-q35-10.0,accel=tcg", "-nodefaults", "-display", "none",
                             "-S", *nic, "-qmp", f"unix:{a},server=on,wait=off",
                             "-qmp", f"unix:{b},server=on,wait=off", "-qmp", f"unix:{c},server=on,wait=off"],
                            stdin=subprocess.DEVNULL)
    while not all(map(os.path.exists, (a, b, c))):
        if proc.poll() is not None:
            sys.exit("QEMU exited")
        time.sleep(0.01)
    return proc, a, b, c


def start_endpoint(upstream: str, listen: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "vmplatform", "qmp", "--connect", upstream,
                             "--listen", listen], stdin=subprocess.DEVNULL)
    while True:
        if proc.poll() is not None:
            sys.exit("vmplatform qmp exited")
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(listen)
                return proc
            except OSError:
                time.sleep(0.02)


async def bench(ns: argparse.Namespace, direct_path: str, via_path: str, relay_path: str) -> None:
    n, inflight, rounds = ns.n, ns.inflight, ns.rounds
    results: dict[str, dict[str, list[float]]] = {}

    def add(kind: str, where: str, values: list[float]) -> None:
        results.setdefault(kind, {}).setdefault(where, []).extend(values)

    # Interleave direct and endpoint runs so drift (CPU frequency, QEMU state) hits both alike.
    for _ in range(rounds):
        for where, path in (("direct", direct_path), ("endpoint", via_path), ("relay", relay_path)):
            client = await qmp_client(path)
            add("qmp.qmp latency", where, await latencies(lambda: client.execute("query-status"), n))
            add("qmp.qmp throughput", where, [await rate(
                lambda: client_throughput(client, "query-status", n, inflight), n // inflight * inflight)])
            await client.disconnect()
            raw = await RawClient.connect(path)
            add("raw latency", where, await latencies(lambda: raw.roundtrip(QUERY_STATUS), n))
            add("raw throughput", where, [await rate(lambda: raw.pipelined(QUERY_STATUS, n, inflight), n)])
            await raw.close()
        raw = await RawClient.connect(via_path)
        add("query-platforms", "sequential", [1 / x for x in await latencies(
            lambda: raw.roundtrip(QUERY_PLATFORMS), n)])
        add("query-platforms", "in flight", [await rate(lambda: raw.pipelined(QUERY_PLATFORMS, n, inflight), n)])
        reply = json.loads(await raw.roundtrip(QUERY_PLATFORMS))
        assert isinstance(reply["return"], list), reply
        await raw.close()
        client = await qmp_client(via_path)
        add("query-platforms", "qemu.qmp in flight", [await rate(
            lambda: client_throughput(client, "query-platforms", n, inflight), n // inflight * inflight)])
        await client.disconnect()

    print(f"QMP endpoint benchmark: {rounds} rounds x {n} commands, {inflight} in flight for throughput, "
          f"{os.cpu_count()} CPUs")
    print(f"{'':<22}{'direct':>10}{'endpoint':>10}{'ratio':>8}  {'target':<13}"
          f"{'relay floor':>12}{'ratio':>8}")
    for kind, unit, target in (("qmp.qmp latency", "us", "<= 1.10"), ("raw latency", "us", "<= 1.10"),
                               ("qmp.qmp throughput", "cmd/s", ">= 0.90"), ("raw throughput", "cmd/s", ">= 0.90")):
        scale = 1e6 if unit == "us" else 1.0
        dv, ev, rv = (statistics.median(results[kind][w]) * scale for w in ("direct", "endpoint", "relay"))
        ratio = ev / dv
        ok = ratio <= 1.10 if unit == "us" else ratio >= 0.90
        print(f"{kind + ' (' + unit + ')':<22}{dv:>10.1f}{ev:>10.1f}{ratio:>7.3f}x  "
              f"{target + (' met' if ok else ' MISSED'):<13}{rv:>12.1f}{rv / dv:>7.3f}x")
    qp = results["query-platforms"]
    seq = 1 / statistics.median([1 / x for x in qp["sequential"]])
    print(f"query-platforms by the endpoint: {seq:,.0f}/s sequential (raw), "
          f"{statistics.median(qp['in flight']):,.0f}/s {inflight} in flight (raw), "
          f"{statistics.median(qp['qemu.qmp in flight']):,.0f}/s {inflight} in flight (qemu.qmp)  "
          f"target >= 5,000/s")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=4000, help="commands per measurement")
    ap.add_argument("--inflight", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ns = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="vmplatform-bench-")
    qemu, upstream, direct, relayed = start_qemu(tmp)
    listen, relay_listen = os.path.join(tmp, "endpoint.sock"), os.path.join(tmp, "relay.sock")
    endpoint = start_endpoint(upstream, listen)
    relay = start_relay(relayed, relay_listen)
    try:
        asyncio.run(bench(ns, direct, listen, relay_listen))
    finally:
        for proc in (endpoint, relay):
            proc.terminate()
            proc.wait(10)
        qemu.terminate()
        qemu.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
