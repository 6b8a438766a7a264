"""Benchmark: security groups.  Run with `make bench`.

Three hypervisors, one network; group "svc" has 10 rules (Neutron's two egress ones, 7
ingress port rules and one ingress rule from remote group "members"); "members" has 50
ports (unbound, as VMs elsewhere would be); one "svc" VM per hypervisor and a prober VM
in group "probe" on hv0.

Flows: what br-int holds for one "svc" port (its device's group: anti-spoofing, DHCP,
its rules and conjunction clauses) and what the hypervisor's filtered ports share (each
zone's commit and kill, one clause-1 flow per member address), read from /v2.0/flows;
then again with 100 members, to show that a port's flows do not grow with the group.

Rule to enforcement: the prober pings every "svc" VM every 10 ms (each silent: no rule
lets ICMP in); an ICMP ingress rule is created in "svc"; the time from the POST to the
first echo reply from every VM (three hypervisors), then the rule is deleted and the
time until every VM is silent again.  Repeated.
"""
from __future__ import annotations

import argparse
import statistics
import time

from tests.bench import NO_QUOTAS, machine
from tests.emulation import onboarded_cloud, tear_down

INGRESS_PORTS = (22, 80, 443, 5432, 6379, 8080, 9090)


def setup(fabric, members: int) -> tuple:
    api = fabric.controller.api
    network = api.create("network", name="bench")
    subnet = api.create("subnet", network_id=network["id"], cidr="10.72.0.0/22", ip_version=4,
                        enable_dhcp=False)
    groups = {name: api.create("security_group", name=name)
              for name in ("svc", "members", "probe")}
    for port in INGRESS_PORTS:
        api.create("security_group_rule", security_group_id=groups["svc"]["id"],
                   direction="ingress", ethertype="IPv4", protocol="tcp",
                   port_range_min=port, port_range_max=port)
    api.create("security_group_rule", security_group_id=groups["svc"]["id"],
               direction="ingress", ethertype="IPv4", protocol="tcp",
               remote_group_id=groups["members"]["id"])
    add_members(api, network, groups["members"], members)
    vms = [fabric.boot(api.create("port", network_id=network["id"],
                                  security_groups=[groups["svc"]["id"]]), hypervisor)
           for hypervisor in fabric.hypervisors]
    prober = fabric.boot(api.create("port", network_id=network["id"],
                                    security_groups=[groups["probe"]["id"]]),
                         fabric.hypervisors[0])
    fabric.controller.wait_for(lambda: all(
        api.get(f"/v2.0/ports/{vm.port_id}")[1]["port"]["status"] == "ACTIVE"
        for vm in vms + [prober]), timeout=60)
    return api, network, subnet, groups, vms, prober


def add_members(api, network: dict, group: dict, count: int) -> None:
    for _ in range(count):
        api.create("port", network_id=network["id"], security_groups=[group["id"]])


def flow_counts(api, vm, network: dict) -> tuple[int, int]:
    """Flows on the VM's br-int: its device's (anti-spoofing, DHCP, security groups), and
    the security-group flows its hypervisor's filtered ports share (zones, members)."""
    status, entries = api.get(f"/v2.0/flows?host={vm.hypervisor.name}&bridge=int")
    assert status == 200, entries
    entries = entries if isinstance(entries, list) else entries["flows"]
    own = [entry for entry in entries if f"device {vm.device} " in (entry["group"] or "")]
    shared = [entry for entry in entries if (entry["group"] or "").startswith("security groups")]
    return len(own), len(shared)


def enforcement(api, group: dict, prober, vms) -> tuple[float, float]:
    """Seconds from a rule's POST until every VM answered the prober's pings (every
    10 ms each), and from its DELETE until none answers any more."""
    pingers = [prober.host.popen(["ping", "-D", "-n", "-i", "0.01", "-W", "1", "-c", "350",
                                  vm.ip], stdout=-1, text=True) for vm in vms]
    time.sleep(0.3)
    created_at = time.time()
    created = api.create("security_group_rule", security_group_id=group["id"],
                         direction="ingress", ethertype="IPv4", protocol="icmp")
    time.sleep(1.5)
    deleted_at = time.time()
    api.delete(f"/v2.0/security-group-rules/{created['id']}")
    replies = [reply_times(pinger.communicate()[0]) for pinger in pingers]
    if not all(replies) or min(min(times) for times in replies) < created_at:
        return float("nan"), float("nan")   # a VM silent throughout, or open before
    return (max(min(times) for times in replies) - created_at,
            max(max(times) for times in replies) - deleted_at)


def reply_times(output: str) -> list[float]:
    return [float(line[1:line.index("]")]) for line in output.splitlines()
            if line.startswith("[") and "bytes from" in line]


def run(rounds: int) -> dict:
    fabric = onboarded_cloud(3, "v", 49, extra=NO_QUOTAS)
    try:
        api, network, _, groups, vms, prober = setup(fabric, 50)
        time.sleep(1)
        own, shared = flow_counts(api, vms[0], network)
        add_members(api, network, groups["members"], 50)
        time.sleep(1)
        own_100, shared_100 = flow_counts(api, vms[0], network)
        times = [enforcement(api, groups["svc"], prober, vms) for _ in range(rounds)]
        return {"own": own, "shared": shared, "own_100": own_100, "shared_100": shared_100,
                "open": [opened for opened, _ in times], "close": [closed for _, closed in times]}
    finally:
        tear_down(fabric)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    print(f"security groups: a port of a group with 10 rules, one from a 50-member remote "
          f"group; an ICMP rule created and deleted {args.rounds} times")
    for number in range(args.runs):
        result = run(args.rounds)
        print(f"  run {number + 1}: flows per port {result['own']} (with 100 members "
              f"{result['own_100']}), shared per hypervisor {result['shared']} "
              f"({result['shared_100']}); "
              f"rule -> enforced on 3 hypervisors median "
              f"{1000 * statistics.median(result['open']):.0f} ms (max "
              f"{1000 * max(result['open']):.0f}), delete -> cut median "
              f"{1000 * statistics.median(result['close']):.0f} ms (max "
              f"{1000 * max(result['close']):.0f})")


if __name__ == "__main__":
    main()
