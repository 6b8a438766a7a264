"""Benchmark: port creates over the REST API, with durable (SQLite WAL) writes.

Starts the real controller, creates one network and subnet, then N ports from C
keep-alive clients, and prints throughput and latency percentiles; then the median time
to list a page of 100 ports on a keep-alive connection.  Run with
`make bench`; figures go in the README with the machine they came from.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import threading
import time

from tests.bench import NO_QUOTAS, machine
from tests.harness import Api, Controller


def _create_ports(port: int, network_id: str, count: int, latencies: list[float]) -> None:
    api = Api(port)
    for _ in range(count):
        started = time.perf_counter()
        status, body = api.post("/v2.0/ports", {"port": {"network_id": network_id}})
        latencies.append(time.perf_counter() - started)
        if status != 201:
            raise RuntimeError(f"port create failed: {status} {body}")
    api.close()


def run(ports: int, clients: int, synchronous: str) -> dict:
    ctl = Controller(extra={"neutron": {"db_synchronous": synchronous}, **NO_QUOTAS}).start()
    try:
        network = ctl.api.create("network", name="bench")
        ctl.api.create("subnet", network_id=network["id"], cidr="10.128.0.0/16", ip_version=4)
        per_client = [ports // clients + (1 if i < ports % clients else 0)
                      for i in range(clients)]
        latencies: list[list[float]] = [[] for _ in range(clients)]
        threads = [threading.Thread(target=_create_ports,
                                    args=(ctl.api_port, network["id"], n, latencies[i]))
                   for i, n in enumerate(per_client)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        all_latencies = sorted(x for chunk in latencies for x in chunk)
        assert len(all_latencies) == ports, "some creates did not finish"
        listed = ctl.api.get(f"/v2.0/ports?network_id={network['id']}&device_owner="
                             "&fields=id")[1]["ports"]   # not the network's DHCP port
        assert len(listed) == ports
        pages = []
        for _ in range(50):   # one keep-alive connection, 100 ports (~70 kB) a page
            started = time.perf_counter()
            ctl.api.get("/v2.0/ports?limit=100")
            pages.append(time.perf_counter() - started)
        return {
            "page_ms": 1000 * statistics.median(pages),
            "synchronous": synchronous, "ports": ports, "clients": clients,
            "rate": ports / elapsed,
            "p50_ms": 1000 * statistics.median(all_latencies),
            "p99_ms": 1000 * all_latencies[int(0.99 * (len(all_latencies) - 1))],
            "max_ms": 1000 * all_latencies[-1],
        }
    finally:
        ctl.kill()
        shutil.rmtree(ctl.workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ports", type=int, default=10000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    print(machine())
    print(f"{'sqlite synchronous':>18} {'ports':>6} {'clients':>7} {'creates/s':>10} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'100-port page ms':>17}")
    for synchronous in ("NORMAL", "FULL"):
        r = run(args.ports, args.clients, synchronous)
        print(f"{r['synchronous']:>18} {r['ports']:>6} {r['clients']:>7} {r['rate']:>10.0f} "
              f"{r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['max_ms']:>7.2f} "
              f"{r['page_ms']:>17.1f}")


if __name__ == "__main__":
    main()
