"""Benchmark: bulk programming, OVN's workload.  H hypervisors, N tenant networks of P
ports each, ports placed round-robin over the hypervisors.

The clock runs from the first REST write until everything the controller sent for the
ports is confirmed: every flow-mod by a barrier reply, every OVSDB transaction (the
ports' local VLAN tags) by its answer.  The networks and subnets are created first; then
each hypervisor boots its VMs as Nova would, all hypervisors at once, up to ``--builds``
at a time each (Nova's ``max_concurrent_builds``, 10 by default): for each VM, create its
port over REST, then plug its device into br-int (one OVSDB transaction).  At the end
every hypervisor must answer ARP (br-tun table 21) for every remote port of its networks,
and every VM port must have its local VLAN tag.
It reports ports per second, the controller's CPU time per port, flows per hypervisor,
and the end-to-end latency of one more port plugged at that size.  Run with
`make bench`.

Everything shares this machine's cores, so it also reports the CPU time per port of each
kind of process (controller, ovs-vswitchd, ovsdb-server, this client) and the rate their
sum allows with every core busy.  And once, on a fresh cloud, "Open vSwitch alone": the
same ports created first, the controller paused (SIGSTOP), then the same plugs, timed
until ovs-vswitchd has taken every device, with the CPU that costs the two daemons; then
the controller resumed and timed until it has programmed everything in one go.

After each of the first ``--ovn`` runs, OVN runs the same workload with the same plugs
(tests/bench/ovn.py; its ports in their default security group, as here, unless
``--ovn-without-security-groups``), and the summary gives the ratio of the two medians.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import time

from tests.bench import NO_QUOTAS, machine
from tests.bench.cpu import CpuSplit, ceiling
from tests.bench.nova import NovaBuild, Placement, Plugger, in_parallel, place
from tests.bench.ovn import measure_ovn
from tests.bench.wiring import confirmed_event
from tests.emulation import onboarded_cloud, tear_down
from tests.harness import Controller

def programmed(ctl: Controller, fabric, since: float, ports: int,
               remote: list[int]) -> float | None:
    """When the last flow-mods and transactions sent since ``since`` were confirmed, once
    every port is ACTIVE, every hypervisor answers ARP for every remote port of its
    networks and has tagged its VMs' ports, and nothing waits for an answer; else None."""
    statuses = ctl.api.get("/v2.0/ports?fields=status")[1]["ports"]
    if sum(port["status"] == "ACTIVE" for port in statuses) < ports:
        return None
    events = [event for event in ctl.api.get("/v2.0/wiring")[1]["wiring"]["events"]
              if event["started_at"] >= since]
    if any(event["confirmed_at"] is None for event in events):
        return None
    # only now read the switches (each read costs a process per hypervisor)
    if any(arp_answers(hypervisor) < wanted
           for hypervisor, wanted in zip(fabric.hypervisors, remote, strict=True)):
        return None
    if any(untagged_vms(hypervisor) for hypervisor in fabric.hypervisors):
        return None
    return max(event["confirmed_at"] for event in events)


def arp_answers(hypervisor) -> int:
    return sum("arp_tpa=" in line for line in
               hypervisor.ofctl("dump-flows", "br-tun", "table=21").splitlines())


def vm_column(hypervisor, table: str, column: str) -> list[str]:
    """The column's value in each row of the table named like a VM's device (vm*, extra*)."""
    rows = hypervisor.vsctl("--format=csv", "--no-headings", f"--columns=name,{column}",
                            "list", table).splitlines()
    return [row.split(",")[1] for row in rows if row.startswith(("vm", "extra"))]


def untagged_vms(hypervisor) -> int:
    """VM ports without a local VLAN tag (none, or the dead VLAN 4095)."""
    return sum(tag in ("[]", "4095") for tag in vm_column(hypervisor, "port", "tag"))


def boot_all(fabric, api_port: int, placement: Placement, builds: int) -> None:
    """Every hypervisor boots its VMs (port over REST, then plug), ``builds`` at a time."""
    in_parallel(fabric, placement, builds, lambda hypervisor: NovaBuild(hypervisor, api_port),
                lambda nova, vm: nova.boot(*vm))


def bulk_networks(ctl: Controller, networks: int) -> list[str]:
    network_ids = [ctl.api.create("network", name=f"bulk{i}")["id"] for i in range(networks)]
    for index, network_id in enumerate(network_ids):
        ctl.api.create("subnet", network_id=network_id, ip_version=4,
                       cidr=f"10.{index}.0.0/24")
    return network_ids


def roles(fabric) -> dict[str, list[int]]:
    """The processes whose CPU a run spends, by what they are."""
    def daemons(name: str) -> list[int]:
        return [pid for h in fabric.hypervisors if (pid := h.daemon_pid(name)) is not None]
    return {"controller": [fabric.controller.process.pid],
            "ovs-vswitchd": daemons("ovs-vswitchd"), "ovsdb-server": daemons("ovsdb-server"),
            "benchmark client": [os.getpid()]}


def measure(hypervisors: int, networks: int, per_network: int, extra: int,
            builds: int) -> dict:
    fabric = onboarded_cloud(hypervisors, "k", 62, extra=NO_QUOTAS)
    ctl = fabric.controller
    novas = [NovaBuild(h, ctl.api_port) for h in fabric.hypervisors]
    try:
        split = CpuSplit(roles(fabric))
        started = time.time()
        network_ids = bulk_networks(ctl, networks)
        placement = place(network_ids, per_network, hypervisors)
        boot_all(fabric, ctl.api_port, {h: list(vms) for h, vms in placement.items()}, builds)
        ports = networks * per_network
        # every network spans every hypervisor: all ports elsewhere are remote
        remote = [ports - len(placement[h]) for h in range(hypervisors)]
        done = ctl.wait_for(lambda: programmed(ctl, fabric, started, ports, remote),
                            timeout=120, interval=0.05)
        cpu = split.spent()
        flows = [sum(len(h.ofctl("dump-flows", bridge).splitlines()) - 1
                     for bridge in ("br-int", "br-tun", "br-eth1"))
                 for h in fabric.hypervisors]
        singles = []
        for index in range(extra):
            nova = novas[index % hypervisors]
            port = ctl.api.create("port", network_id=network_ids[index % networks])
            device = f"extra{index}"
            began = time.time()
            nova.plug(device, port["id"])
            event = confirmed_event(ctl, device)
            singles.append((event["confirmed_at"] - began) * 1e3)
        return {"ports": ports, "seconds": done - started, "cpu": cpu["controller"],
                "cpu_by_role": cpu, "flows": statistics.mean(flows),
                "one_more_ms": statistics.median(singles)}
    finally:
        for nova in novas:
            nova.close()
        tear_down(fabric)


def plugged(hypervisor) -> int:
    """VM devices ovs-vswitchd has taken: given an OpenFlow port number."""
    return sum(ofport not in ("[]", "-1")
               for ofport in vm_column(hypervisor, "interface", "ofport"))


def ovs_alone(hypervisors: int, networks: int, per_network: int, builds: int
              ) -> tuple[dict, dict]:
    """The same plugs, made the same way, with the controller paused (SIGSTOP) once their
    ports exist: what Open vSwitch alone spends taking the VMs' devices when nothing
    programs it, the floor under a run's ovs-vswitchd and ovsdb-server figures.  Then the
    controller resumed, programming all of it at once: the same flows as a run's, in as
    few batches as they can be."""
    fabric = onboarded_cloud(hypervisors, "k", 62, extra=NO_QUOTAS)
    ctl = fabric.controller
    try:
        placement = place(bulk_networks(ctl, networks), per_network, hypervisors)
        devices = {h: [(ctl.api.create("port", network_id=network_id)["id"], device)
                       for network_id, device in vms] for h, vms in placement.items()}
        ports = networks * per_network
        os.kill(ctl.process.pid, signal.SIGSTOP)
        try:
            split = CpuSplit(roles(fabric))
            started = time.time()
            in_parallel(fabric, devices, builds, Plugger,
                        lambda nova, device: nova.plug(device[1], device[0]))
            while sum(plugged(hypervisor) for hypervisor in fabric.hypervisors) < ports:
                time.sleep(0.02)
            plugs = {"ports": ports, "seconds": time.time() - started,
                     "cpu_by_role": split.spent()}
        finally:
            os.kill(ctl.process.pid, signal.SIGCONT)
        split, resumed = CpuSplit(roles(fabric)), time.time()
        remote = [ports - len(placement[h]) for h in range(hypervisors)]
        done = ctl.wait_for(lambda: programmed(ctl, fabric, resumed, ports, remote),
                            timeout=120, interval=0.05)
        return plugs, {"ports": ports, "seconds": done - resumed, "cpu_by_role": split.spent()}
    finally:
        tear_down(fabric)


def per_port(result: dict) -> dict[str, float]:
    """CPU milliseconds per port, by role."""
    return {role: 1000 * seconds / result["ports"]
            for role, seconds in result["cpu_by_role"].items()}


def describe(split: dict[str, float], only: tuple[str, ...] | None = None) -> str:
    """"role 1.23 ms, ..." for the roles (``only``: just those)."""
    return ", ".join(f"{role} {ms:.2f} ms" for role, ms in split.items()
                     if only is None or role in only)


def report_run(run: int, result: dict) -> dict:
    split = per_port(result)
    result.update(rate=result["ports"] / result["seconds"], cpu_ms=split["controller"],
                  all_ms=sum(split.values()), vswitchd_ms=split["ovs-vswitchd"])
    print(f"  run {run + 1}: {result['ports']} ports in {result['seconds']:.2f} s = "
          f"{result['rate']:.0f} ports/s; controller CPU {result['cpu_ms']:.2f} ms/port; "
          f"{result['flows']:.0f} flows per hypervisor; one more port "
          f"{result['one_more_ms']:.1f} ms median end to end")
    print(f"    CPU per port: {describe(split)}; all {result['all_ms']:.2f} ms, which "
          f"{os.cpu_count()} cores allow at most {ceiling(result['all_ms']):.0f} times a second")
    return result


def report_ovn_run(run: int, result: dict, security_groups: bool) -> float:
    """Prints an OVN run; returns its ports per second."""
    split = per_port(result)
    rate, total = result["ports"] / result["seconds"], sum(split.values())
    groups = "the default security group" if security_groups else "no security groups"
    print(f"  OVN run {run + 1}, the same workload and plugs, {groups}: {result['ports']} ports in "
          f"{result['seconds']:.2f} s = {rate:.0f} ports/s; {result['flows']:.0f} flows per "
          "hypervisor (br-int)")
    print(f"    CPU per port: {describe(split)}; all {total:.2f} ms, which "
          f"{os.cpu_count()} cores allow at most {ceiling(total):.0f} times a second")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hypervisors", type=int, default=8)
    parser.add_argument("--networks", type=int, default=20)
    parser.add_argument("--ports", type=int, default=25, help="per network")
    parser.add_argument("--extra", type=int, default=20, help="single ports plugged after")
    parser.add_argument("--builds", type=int, default=10,
                        help="VMs each hypervisor boots at a time (Nova's max_concurrent_builds)")
    parser.add_argument("--runs", type=int, default=3, help="each on a fresh cloud")
    parser.add_argument("--ovn", type=int, default=3,
                        help="runs of OVN on the same workload, each after one of ours")
    parser.add_argument("--ovn-without-security-groups", action="store_true",
                        help="OVN's ports in no security group (no ACLs): not this "
                        "controller's workload, which has every port in its default group")
    parser.add_argument("--alone", type=int, default=1,
                        help="runs of the same plugs with the controller paused")
    args = parser.parse_args()
    print(machine())
    print(f"bulk: {args.hypervisors} hypervisors, {args.networks} networks x {args.ports} "
          f"ports, {args.builds} builds at a time per hypervisor")
    results, ovn_rates = [], []
    ovn_installed = shutil.which("ovn-northd") is not None
    for run in range(args.runs):   # OVN's runs in between ours: the same machine speed
        result = measure(args.hypervisors, args.networks, args.ports, args.extra, args.builds)
        results.append(report_run(run, result))
        if run < args.ovn and ovn_installed:
            groups = not args.ovn_without_security_groups
            ovn_rates.append(report_ovn_run(run, measure_ovn(
                args.hypervisors, args.networks, args.ports, args.builds,
                security_groups=groups), groups))
    for key, what in (("rate", "ports/s"), ("cpu_ms", "controller CPU ms/port"),
                      ("vswitchd_ms", "ovs-vswitchd CPU ms/port"),
                      ("all_ms", "all processes' CPU ms/port"),
                      ("one_more_ms", "one more port, ms end to end")):
        values = sorted(result[key] for result in results)
        print(f"  {what}: min {values[0]:.1f}, median {statistics.median(values):.1f}, "
              f"max {values[-1]:.1f}")
    if ovn_rates:
        ours, theirs = (statistics.median(rates) for rates in
                        ([result["rate"] for result in results], ovn_rates))
        print(f"  OVN ports/s: min {min(ovn_rates):.1f}, median {theirs:.1f}, max "
              f"{max(ovn_rates):.1f}; this controller's median is {ours / theirs:.2f}x OVN's")
    elif args.ovn:
        print("  OVN: not installed (make install brings it), so no comparison")
    for run in range(args.alone):
        plugs, programming = ovs_alone(args.hypervisors, args.networks, args.ports,
                                       args.builds)
        print(f"  Open vSwitch alone, the same plugs with the controller paused, run {run + 1}: "
              f"{plugs['ports']} devices taken in {plugs['seconds']:.2f} s; CPU per port: "
              + describe(per_port(plugs), ("ovs-vswitchd", "ovsdb-server")))
        print(f"    then the controller resumed: all programmed in {programming['seconds']:.2f} "
              "s; CPU per port: " + describe(per_port(programming)))


if __name__ == "__main__":
    main()
