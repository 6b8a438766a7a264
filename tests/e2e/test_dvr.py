"""Distributed routing end to end: a VXLAN and a VLAN subnet on one distributed router,
VMs on three emulated chassis, routed on the source chassis."""
import re

import pytest

from ryu_app.settings import Settings
from tests.e2e.dataplane import (Tenant, capture, fetches, flows, n_packets, pings,
                                 settle_counters, silent, tunnel_ports, tx_packets, wait_until)

VLAN = 120


@pytest.fixture(scope="module")
def routed(cloud):
    """Router R joins red (VXLAN, 10.20.0.0/24) and green (VLAN 120, 10.21.0.0/24);
    red VMs on e0 and e1, green VMs on e1 and e2."""
    tenant = Tenant(cloud.controller.api, cloud, "routed")
    red, red_subnet = tenant.network("10.20.0.0/24")
    green, green_subnet = tenant.network("10.21.0.0/24", network_type="vlan",
                                         physical_network="physnet1", segmentation_id=VLAN)
    router = tenant.api.create("router", name="r", project_id="routed")
    for subnet in (red_subnet, green_subnet):
        status, _ = tenant.api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                                   {"subnet_id": subnet["id"]})
        assert status == 200
    vms = {
        "red0": tenant.vm(red, 0, gateway="10.20.0.1"),
        "red1": tenant.vm(red, 1, gateway="10.20.0.1"),
        "green1": tenant.vm(green, 1, gateway="10.21.0.1"),
        "green2": tenant.vm(green, 2, gateway="10.21.0.1"),
    }
    yield tenant, router, {"red": red_subnet, "green": green_subnet}, vms
    tenant.cleanup()


def test_every_vm_reaches_every_other_across_subnets_and_chassis(routed):
    _, _, _, vms = routed
    for name, source in vms.items():
        for other, target in vms.items():
            if other != name:
                assert pings(source, target.ip), f"{name} -> {other}"


def test_the_router_answers_pings_to_its_addresses(routed):
    _, _, _, vms = routed
    for vm in vms.values():
        for address in ("10.20.0.1", "10.21.0.1"):
            assert pings(vm, address), f"{vm.ip} -> {address}"


def test_tcp_crosses_the_router_and_the_chassis(routed):
    _, _, _, vms = routed
    assert fetches(vms["red0"], vms["green2"]) and fetches(vms["green1"], vms["red0"])


def underlay_tx(hypervisor) -> dict[str, int]:
    """Frames a hypervisor sent to the underlay or the physical network, per port."""
    settle_counters(hypervisor)
    sent = {port: tx_packets(hypervisor, "br-tun", port) for port in tunnel_ports(hypervisor)}
    sent["eth2"] = tx_packets(hypervisor, "br-eth1", "eth2")
    return sent


def test_routing_between_vms_on_one_chassis_stays_on_it(cloud, routed):
    _, _, _, vms = routed
    red1, green1 = vms["red1"], vms["green1"]
    assert pings(red1, green1.ip)  # ARP caches warm
    before = underlay_tx(red1.hypervisor)
    for _ in range(3):
        assert pings(red1, green1.ip, attempts=1) and pings(green1, red1.ip, attempts=1)
    assert underlay_tx(red1.hypervisor) == before


def dvr_mac(cloud, chassis) -> str:
    agents = cloud.controller.api.get("/v2.0/agents")[1]["agents"]
    return next(a["configurations"]["dvr_mac_address"] for a in agents
                if a["host"] == chassis.name)


def interface_macs(tenant, router) -> set[str]:
    ports = tenant.api.get(f"/v2.0/ports?device_id={router['id']}")[1]["ports"]
    return {port["mac_address"] for port in ports}


def test_routed_frames_carry_the_dvr_mac_never_the_gateway_mac(cloud, routed):
    tenant, router, _, vms = routed
    red0, green2 = vms["red0"], vms["green2"]
    e0, e2 = red0.chassis, green2.chassis
    d0, d2 = dvr_mac(cloud, e0), dvr_mac(cloud, e2)
    assert len({d0, d2, dvr_mac(cloud, cloud.chassis[1])}) == 3
    gateways = interface_macs(tenant, router)
    # red0 -> green2 is routed on e0 onto VLAN 120: on the wire it comes from e0's DVR MAC
    wire = capture(f"sw-{e0.name}", 1.0, lambda: pings(red0, green2.ip))
    requests = [line for line in wire if "echo request" in line]
    assert requests and all(line.split()[1] == d0 and f"vlan {VLAN}" in line
                            for line in requests), wire
    assert not any(mac in line for line in wire for mac in gateways), wire
    # the replies are routed on e2 onto red's VXLAN: inside the tunnel they come from e2's
    # DVR MAC
    underlay = capture(f"ul-{e2.name}", 1.0, lambda: pings(red0, green2.ip), vxlan=True)
    replies = [frame for frame in underlay if "echo reply" in frame]
    assert replies and all(frame.split(" | ")[1].split()[0] == d2 for frame in replies), \
        underlay
    assert not any(mac in frame for frame in underlay for mac in gateways), underlay
    # e0's br-tun took them as routed (table 9: not learned, the DVR MAC stands for many
    # routers) and never learned a gateway MAC from the underlay
    settle_counters(e0)
    skipped = [line for line in flows(e0, "br-tun", 9) if f"dl_src={d2}" in line]
    assert skipped and n_packets(skipped[0]) > 0
    assert not any(mac in line for line in flows(e0, "br-tun", 20) for mac in gateways
                   if "hard_timeout" in line)


def neighbour_mac(vm, ip: str) -> str | None:
    """The MAC the VM's kernel has for an IP, if any."""
    words = vm.host.cmd(f"ip neigh show {ip}").split()
    return words[words.index("lladdr") + 1] if "lladdr" in words else None


def test_removing_an_interface_stops_routing_and_adding_it_back_restores_it(cloud, routed):
    tenant, router, subnets, vms = routed
    red0, green2 = vms["red0"], vms["green2"]
    assert pings(red0, green2.ip) and pings(green2, red0.ip)
    old_macs = interface_macs(tenant, router)
    path = f"/v2.0/routers/{router['id']}"
    status, body = tenant.api.delete(path)
    assert status == 409 and body["NeutronError"]["type"] == "RouterInUse"
    status, _ = tenant.api.put(f"{path}/remove_router_interface",
                               {"subnet_id": subnets["green"]["id"]})
    assert status == 200
    routes = lambda: [line for hypervisor in cloud.hypervisors  # noqa: E731
                      for line in flows(hypervisor, "br-int", 60) if "dec_ttl" in line]
    wait_until(lambda: routes() == [], what="routes gone")  # one interface: nothing to route
    assert silent(red0, green2.ip)
    status, _ = tenant.api.put(f"{path}/add_router_interface",
                               {"subnet_id": subnets["green"]["id"]})
    assert status == 200
    assert routes()
    # The new interface has a new MAC: its gratuitous ARP tells green's VMs at once (without
    # it they would keep the old one until their next ARP re-probe, up to about 45 s)
    (new_mac,) = interface_macs(tenant, router) - old_macs
    for vm in (vms["green1"], green2):
        wait_until(lambda: neighbour_mac(vm, "10.21.0.1") == new_mac, timeout=3,  # noqa: B023
                   what=f"{vm.ip} told the new gateway MAC")
    assert pings(red0, green2.ip) and pings(green2, red0.ip)


def hops(vm, target, *options) -> list[tuple[int, str]]:
    """(TTL, responder) of each hop traceroute reports; one probe per TTL."""
    output = vm.host.cmd(f"traceroute -n -q 1 -w 2 -m 4 {' '.join(options)} {target}")
    return [(int(words[0]), words[1]) for line in output.splitlines()[1:]
            if (words := line.split()) and words[0].isdigit()]


def test_traceroute_shows_the_gateway_as_the_only_hop(routed):
    _, _, _, vms = routed
    # ICMP probes from the VXLAN subnet, UDP probes from the VLAN subnet
    assert hops(vms["red0"], vms["green2"].ip, "-I") == [(1, "10.20.0.1"), (2, vms["green2"].ip)]
    assert hops(vms["green2"], vms["red1"].ip) == [(1, "10.21.0.1"), (2, vms["red1"].ip)]


def test_the_switch_limits_what_a_vm_can_send_to_the_controller(cloud, routed):
    """Each TTL-1 frame to the gateway costs a packet-in: the switch's controller meter
    lets packet_in_rate_limit per second through (plus a burst of as many) and drops
    the rest, so a VM cannot flood the controller."""
    _, _, _, vms = routed
    rate = Settings().packet_in_rate_limit
    out = vms["red0"].host.cmd(f"ping -q -t 1 -i 0.002 -c 1000 -W 1 {vms['green2'].ip}")
    sent = int(re.search(r"(\d+) packets transmitted", out)[1])
    answered = int(re.search(r"\+(\d+) errors", out)[1])  # time exceeded
    seconds = int(re.search(r"time (\d+)ms", out)[1]) / 1000
    assert 0 < answered < sent and answered <= 1.1 * rate * (seconds + 1), out
    meter = vms["red0"].hypervisor.ofctl("meter-stats", "br-int", "meter=controller")
    assert int(re.search(r"0: packet_count:(\d+)", meter)[1]) > 0, meter  # dropped


def test_two_subnets_of_one_network_on_the_router_are_routed_to_each_other(routed):
    """A second subnet of red on R, without DHCP: its VM, with only a default route,
    reaches red's first subnet through the router, one hop, on its own chassis and on
    another; the answers, to a subnet their VMs have no route to, are routed back."""
    tenant, router, subnets, vms = routed
    red = {"id": subnets["red"]["network_id"]}
    second = tenant.api.create("subnet", network_id=red["id"], cidr="10.22.0.0/24",
                               ip_version=4, enable_dhcp=False, project_id=tenant.project)
    status, _ = tenant.api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                               {"subnet_id": second["id"]})
    assert status == 200
    aside = tenant.vm(red, 1, gateway="10.22.0.1", fixed_ips=[{"subnet_id": second["id"]}])
    for target in (vms["red1"], vms["red0"]):
        assert hops(aside, target.ip, "-I") == [(1, "10.22.0.1"), (2, target.ip)]


def test_a_router_set_down_routes_nothing_until_it_is_up_again(routed):
    """Last in the module: the VMs' ARP for their gateways fails while it is down, and
    re-resolving later floods the VLAN, which the tests counting frames would see."""
    tenant, router, _, vms = routed
    path = f"/v2.0/routers/{router['id']}"
    assert pings(vms["red0"], vms["green2"].ip)
    assert tenant.api.put(path, {"router": {"admin_state_up": False}})[0] == 200
    try:
        wait_until(lambda: silent(vms["red0"], vms["green2"].ip), timeout=5,
                   what="red0 -> green2 cut")
        assert silent(vms["green1"], "10.21.0.1")        # nor is its gateway there
        assert pings(vms["red0"], vms["red1"].ip)        # within a network: switched
    finally:
        assert tenant.api.put(path, {"router": {"admin_state_up": True}})[0] == 200
    assert pings(vms["red0"], vms["green2"].ip, attempts=10)
