"""Benchmark: north-south.  Run with `make bench`.

Three hypervisors with an external network (x2 is the dvr_snat one), a tenant network
behind a router with a gateway, a VM on hv0 without a floating IP and one on hv1 with.

SNAT setup rate: the VM opens TCP connections to the internet host one after another
(connect, the server's one byte, close) for a few seconds: new connections per second
through its router's SNAT on the gateway hypervisor (the U-shaped path: a conntrack
commit with random source ports on x2 for each).  The VM with a floating IP does the
same through its own hypervisor, in the same run, as the baseline.

Associate latency: a floating IP is associated with the VM (PUT) while the internet host
pings it every 10 ms; the time from the PUT to the first echo reply, then to the floating
IP's status ACTIVE; disassociated and repeated.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from tests.bench import NO_QUOTAS, machine
from tests.emulation import onboarded_cloud, public_network, tear_down

ACCEPT = ("import socket, sys; s = socket.socket(); "
          "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
          "s.bind((sys.argv[1], 9100)); s.listen(512)\n"
          "while True:\n"
          "    c, _ = s.accept(); c.sendall(b'x'); c.close()")
CONNECT = ("import socket, sys, time; end = time.time() + float(sys.argv[2]); n = 0\n"
           "while time.time() < end:\n"
           "    c = socket.create_connection((sys.argv[1], 9100), 2); c.recv(1); c.close()\n"
           "    n += 1\n"
           "print(n)")


def setup(fabric) -> tuple:
    api = fabric.controller.api
    public, _ = public_network(api)
    network = api.create("network", name="bench")
    subnet = api.create("subnet", network_id=network["id"], cidr="10.70.0.0/24", ip_version=4,
                        enable_dhcp=False)
    router = api.create("router", name="edge")
    api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]})
    api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": public["id"]}}})
    # the VMs' default group lets their own members in only: the internet host pings
    default = api.get("/v2.0/security-groups?name=default")[1]["security_groups"][0]
    api.create("security_group_rule", security_group_id=default["id"], direction="ingress",
               ethertype="IPv4", protocol="icmp")
    vms = []
    for index in (0, 1):
        port = api.create("port", network_id=network["id"])
        vms.append(fabric.boot(port, fabric.hypervisors[index], gateway="10.70.0.1"))
    fabric.controller.wait_for(lambda: all(
        api.get(f"/v2.0/ports/{vm.port_id}")[1]["port"]["status"] == "ACTIVE" for vm in vms),
        timeout=60)
    internet = fabric.upstream.internet
    fabric.controller.wait_for(lambda: "1 received" in vms[0].host.cmd(
        f"ping -c1 -W1 {internet.ip}"), timeout=30)
    return api, public, vms


def connection_rate(client, server, seconds: float) -> float:
    run = client.host.popen([sys.executable, "-c", CONNECT, server, str(seconds)],
                            stdout=-1, text=True)
    return int(run.communicate()[0].strip()) / seconds


def associate_latency(api, fip_id: str, vm, internet) -> tuple[float, float]:
    """Seconds from the PUT to the first echo reply, and to the status ACTIVE."""
    address = api.get(f"/v2.0/floatingips/{fip_id}")[1]["floatingip"]["floating_ip_address"]
    prober = internet.host.popen(["ping", "-D", "-n", "-i", "0.01", "-W", "1", "-c", "500",
                                  address], stdout=-1, text=True)
    time.sleep(0.3)
    began = time.time()
    api.put(f"/v2.0/floatingips/{fip_id}", {"floatingip": {"port_id": vm.port_id}})
    active = None
    while active is None and time.time() < began + 10:
        if api.get(f"/v2.0/floatingips/{fip_id}")[1]["floatingip"]["status"] == "ACTIVE":
            active = time.time() - began
        time.sleep(0.005)
    output = prober.communicate()[0]
    replies = [float(line[1:line.index("]")]) for line in output.splitlines()
               if line.startswith("[") and "bytes from" in line]
    api.put(f"/v2.0/floatingips/{fip_id}", {"floatingip": {"port_id": None}})
    time.sleep(0.5)
    return (min(replies) - began if replies else float("nan")), (active or float("nan"))


def run(seconds: float, rounds: int) -> dict:
    fabric = onboarded_cloud(3, "y", 45, external=True, gateways=(2,), extra=NO_QUOTAS)
    try:
        api, public, (snat_vm, fip_vm) = setup(fabric)
        internet = fabric.upstream.internet
        server = internet.host.popen([sys.executable, "-c", ACCEPT, internet.ip])
        fip = api.create("floatingip", floating_network_id=public["id"], port_id=fip_vm.port_id)
        fabric.controller.wait_for(lambda: api.get(f"/v2.0/floatingips/{fip['id']}")[1][
            "floatingip"]["status"] == "ACTIVE", timeout=30)
        time.sleep(0.5)
        snat = connection_rate(snat_vm, internet.ip, seconds)
        direct = connection_rate(fip_vm, internet.ip, seconds)
        api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
        time.sleep(0.5)
        latencies = [associate_latency(api, fip["id"], fip_vm, internet) for _ in range(rounds)]
        server.kill()
        return {"snat": snat, "direct": direct,
                "reachable": statistics.median(first for first, _ in latencies),
                "reachable_max": max(first for first, _ in latencies),
                "active": statistics.median(active for _, active in latencies)}
    finally:
        tear_down(fabric)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    print(f"north-south: TCP connections opened one after another for {args.seconds:.0f} s; "
          f"floating IP associated {args.rounds} times while the internet host pings it")
    for number in range(args.runs):
        result = run(args.seconds, args.rounds)
        print(f"  run {number + 1}: via SNAT on the gateway hypervisor "
              f"{result['snat']:.0f} connections/s, via a floating IP on the VM's own "
              f"{result['direct']:.0f}/s (ratio {result['snat'] / result['direct']:.2f}); "
              f"associate -> first reply median {1000 * result['reachable']:.0f} ms "
              f"(max {1000 * result['reachable_max']:.0f}), -> ACTIVE median "
              f"{1000 * result['active']:.0f} ms")


if __name__ == "__main__":
    main()
