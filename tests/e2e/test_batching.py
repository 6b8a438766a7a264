"""Batches, end to end: one OVSDB transaction plugging fifty VMs into a hypervisor is
one recomputation of each (network, hypervisor) it touches, and one barrier per bridge."""
import json
import socket

from ryu_app.ovsdb.protocol import named, ovs_map, ovs_set, transact_request, transaction_error
from tests.e2e.dataplane import flows, wait_until


def plug_all(hypervisor, devices: list[tuple[str, str]]) -> None:
    """(device, port id) pairs added to br-int as internal ports, in one transaction."""
    operations = []
    for number, (device, port_id) in enumerate(devices):
        operations += [
            {"op": "insert", "table": "Interface", "uuid-name": f"i{number}",
             "row": {"name": device, "type": "internal",
                     "external_ids": ovs_map({"iface-id": port_id})}},
            {"op": "insert", "table": "Port", "uuid-name": f"p{number}",
             "row": {"name": device, "interfaces": named(f"i{number}")}}]
    operations.append({"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-int"]],
                       "mutations": [["ports", "insert", ovs_set(
                           [named(f"p{number}") for number in range(len(devices))])]]})
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(hypervisor.rundir / "db.sock"))
        sock.sendall(json.dumps(transact_request(1, operations)).encode())
        reply = b""
        while reply.count(b"{") == 0 or reply.count(b"{") != reply.count(b"}"):
            reply += sock.recv(65536)
    assert transaction_error(json.loads(reply)["result"]) is None


def active(api, ports: list[dict]) -> bool:
    wanted = {port["id"] for port in ports}
    listed = api.get("/v2.0/ports?fields=id&fields=status")[1]["ports"]
    return {port["id"] for port in listed if port["status"] == "ACTIVE"} >= wanted


def test_fifty_ports_in_one_transaction_are_one_recomputation_and_one_barrier_per_bridge(
        cloud):
    api = cloud.controller.api
    e0, e1, e2 = cloud.hypervisors
    networks = [api.create("network", name=f"batch{i}")["id"] for i in range(5)]
    for index, network_id in enumerate(networks):
        api.create("subnet", network_id=network_id, ip_version=4, cidr=f"10.70.{index}.0/24")
    first = {hypervisor: [api.create("port", network_id=network_id) for network_id in networks]
             for hypervisor in (e0, e1)}   # every network already on e0 and e1
    for hypervisor, ports in first.items():
        plug_all(hypervisor, [(f"b{hypervisor.index}v{n}", p["id"]) for n, p in enumerate(ports)])
    wait_until(lambda: active(api, first[e0] + first[e1]), timeout=20, what="first ports up")
    # e2 joins the five networks with fifty ports at once
    fifty = [api.create("port", network_id=networks[n % 5]) for n in range(50)]
    batch = plugged_in_one_batch(api, e2, fifty, "b2v")
    assert batch["recomputed"] == 5 * 3 and batch["recomputed_most"] == 1, batch
    assert batch["barriers"] == batch["bridges"], batch   # one barrier per bridge
    assert batch["started_at"] <= batch["sent_at"] <= batch["confirmed_at"], batch
    wait_until(lambda: len(arp_answers(e0)) == 50 + 5, timeout=20,
               what="e0 answering ARP for e2's fifty and e1's five")   # once tunnels are up
    # fifty more: the networks are already there, so only the new ports' own entries move,
    # on every hypervisor, in the same one batch
    more = [api.create("port", network_id=networks[n % 5]) for n in range(50)]
    batch = plugged_in_one_batch(api, e2, more, "b2w")
    assert batch["recomputed_most"] <= 1 and batch["barriers"] == batch["bridges"], batch
    assert sorted(batch["hosts"]) == [e0.name, e1.name, e2.name], batch
    assert len(arp_answers(e1)) == 100 + 5
    wait_until(lambda: active(api, fifty + more), timeout=10, what="the ports ACTIVE")


def plugged_in_one_batch(api, hypervisor, ports: list[dict], prefix: str) -> dict:
    """Plug the ports' devices in one transaction; the one batch that saw them all, once
    everything it sent is confirmed."""
    devices = [(f"{prefix}{n}", port["id"]) for n, port in enumerate(ports)]
    plug_all(hypervisor, devices)

    def batch_that_saw_them() -> dict | None:
        for event in api.get("/v2.0/wiring")[1]["wiring"]["events"]:
            if {name for name, _ in devices} <= set(event.get("ports_added", ())):
                return event if event["confirmed_at"] else None
        return None
    return wait_until(batch_that_saw_them, timeout=20, what="one batch with all fifty")


def arp_answers(hypervisor) -> list[str]:
    return [line for line in flows(hypervisor, "br-tun", 21) if "arp_tpa=10.70." in line]
