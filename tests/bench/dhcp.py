"""Benchmark: DHCP answered on the VMs' own hypervisors.  Run with `make bench`.

Boot storm: H hypervisors, V VMs spread evenly over one network (Mininet hosts, booted
and wired first, not timed); then every VM starts ISC dhclient, all in one go, and the
clock runs until each VM has applied its lease.  It reports the time until all have
theirs (of which starting the clients, one process each, takes most) and, per VM, the
time from its client's start to its lease; with the default rate limits (5 requests/s
per port, 100 per hypervisor), which a storm of this size stays within.  Then ten VMs
boot afresh one at a time on the quiet cloud: start to lease, each.

Sustained rate: one VM per hypervisor sends DISCOVERs as fast as asked (raw frames),
with the rate limits raised out of the way, and counts the OFFERs it gets back; the
answers per second, over all of them, are what the controller (and the switches, on the
same cores) sustain, with the controller's CPU time per answer.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from tests.bench import NO_QUOTAS, machine
from tests.bench.cpu import cpu_seconds
from tests.emulation import onboarded_cloud, tear_down
from tests.unit.dhcp_client import request_frame

LOAD = """
import socket, sys, threading, time
frame, seconds, rate = bytes.fromhex(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("eth0", 0))
s.settimeout(0.2)
answers, stop = [0], [False]
def count():
    while not stop[0]:
        try:
            data, address = s.recvfrom(2048)
        except socket.timeout:
            continue
        if address[2] != socket.PACKET_OUTGOING and data[23:24] == b"\\x11" \\
                and data[36:38] == b"\\x00\\x44":
            answers[0] += 1
listener = threading.Thread(target=count)
listener.start()
start = time.time()
due = start
while time.time() < start + seconds:
    s.send(frame)
    due += 1 / rate
    time.sleep(max(0.0, due - time.time()))
time.sleep(1)
stop[0] = True
listener.join()
print(answers[0])
"""


def boot_vms(fabric, count: int, dhcp: bool = True) -> list:
    api = fabric.controller.api
    network = api.create("network", name="dhcp-bench")
    api.create("subnet", network_id=network["id"], cidr="10.0.0.0/22", ip_version=4)
    vms = []
    for index in range(count):
        port = api.create("port", network_id=network["id"])
        vms.append(fabric.boot(port, fabric.hypervisors[index % len(fabric.hypervisors)],
                               dhcp=dhcp))
    ids = {vm.port_id for vm in vms}
    fabric.controller.wait_for(lambda: all(
        port["status"] == "ACTIVE" for port in api.get(
            f"/v2.0/ports?network_id={network['id']}")[1]["ports"] if port["id"] in ids),
        timeout=120)
    return vms


def storm(hypervisors: int, count: int) -> dict:
    fabric = onboarded_cloud(hypervisors, "q", 63, extra=NO_QUOTAS)
    try:
        vms = boot_vms(fabric, count)
        time.sleep(1)   # the last flows confirmed
        started = time.time()
        began, clients = {}, []
        for vm in vms:
            began[vm.port_id] = time.time()
            clients.append(vm.start_dhcp())
        spawned = time.time() - started
        leased: dict[str, float] = {}   # port -> when its VM had applied its lease
        deadline = started + 60
        while len(leased) < len(vms) and time.time() < deadline:
            for vm in vms:
                if vm.port_id not in leased and vm.lease() is not None:
                    leased[vm.port_id] = time.time()
            time.sleep(0.02)
        for client in clients:
            client.wait()
        wrong = [vm for vm in vms if (vm.lease() or {}).get("new_ip_address") != vm.ip]
        each = [leased[port] - began[port] for port in leased]   # one client's start to lease
        return {"vms": len(vms), "leased": len(leased), "wrong": len(wrong), "spawned": spawned,
                "all": max(leased.values()) - started, "median": statistics.median(each),
                "max": max(each), "alone": statistics.median(alone(vms[:10]))}
    finally:
        tear_down(fabric)


def alone(vms: list) -> list[float]:
    """Seconds from dhclient's start to the lease applied, for one VM at a time, each
    booting afresh (no address, no lease file) on the quiet cloud."""
    times = []
    for vm in vms:
        vm.stop_dhcp()
        vm.host.cmd("ip addr flush dev eth0")
        began = time.time()
        lease = vm.dhcp()
        assert lease is not None and lease["new_ip_address"] == vm.ip, lease
        times.append(time.time() - began)
    return times


def sustained(hypervisors: int, rates: list[float], seconds: float) -> list[dict]:
    """For each per-VM rate in turn, on one cloud: answers per second received."""
    unlimited = {"neutron": {"dhcp_rate_limit_per_port": "100000",
                             "dhcp_rate_limit_per_bridge": "100000",
                             "packet_in_rate_limit": "100000"}}
    fabric = onboarded_cloud(hypervisors, "q", 63, extra={**unlimited, **NO_QUOTAS})
    try:
        vms = boot_vms(fabric, hypervisors, dhcp=False)
        time.sleep(1)
        pid = fabric.controller.process.pid
        results = []
        for rate in rates:
            cpu_before = cpu_seconds(pid)
            loads = [vm.host.popen([sys.executable, "-c", LOAD, request_frame(vm.mac, 1).hex(),
                                    str(seconds), str(rate)], stdout=-1, text=True)
                     for vm in vms]
            answers = sum(int(load.communicate()[0].strip() or 0) for load in loads)
            cpu = cpu_seconds(pid) - cpu_before
            results.append({"offered": rate * len(vms), "answers": answers / seconds,
                            "cpu_ms": 1000 * cpu / max(answers, 1),
                            "cpu_share": cpu / (seconds + 1)})
        return results
    finally:
        tear_down(fabric)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hypervisors", type=int, default=8)
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--rates", default="50,100,200,300,400,800",
                        help="DISCOVERs per second each load VM sends, one step each")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    print(f"dhcp: {args.vms} VMs on {args.hypervisors} hypervisors start dhclient at once")
    for run in range(args.runs):
        result = storm(args.hypervisors, args.vms)
        print(f"  run {run + 1}: {result['leased']}/{result['vms']} leased "
              f"({result['wrong']} with a wrong address); all in {result['all']:.2f} s "
              f"(starting the {result['vms']} dhclients took {result['spawned']:.2f} s of "
              f"it); one client's start to its lease: median {result['median']:.2f} s, max "
              f"{result['max']:.2f} s; then one VM at a time: median "
              f"{1000 * result['alone']:.0f} ms")
    rates = [float(rate) for rate in args.rates.split(",")]
    print(f"dhcp: one VM per hypervisor sends DISCOVERs for {args.seconds:.0f} s at each "
          "rate, rate limits raised")
    best = []
    for run in range(args.runs):
        steps = sustained(args.hypervisors, rates, args.seconds)
        best.append(max(step["answers"] for step in steps))
        print(f"  run {run + 1}: " + "; ".join(
            f"{step['offered']:.0f} offered/s -> {step['answers']:.0f} answered/s "
            f"({step['cpu_ms']:.2f} ms controller CPU each, {100 * step['cpu_share']:.0f}% "
            "of a core)" for step in steps))
    print(f"  most answers per second: {', '.join(f'{value:.0f}' for value in best)}")


if __name__ == "__main__":
    main()
