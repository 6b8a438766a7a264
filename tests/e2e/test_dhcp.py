"""DHCP answered on the VM's own hypervisor, end to end: Mininet VMs run ISC dhclient (as
a cloud image boots), the real ryu-manager answers through real Open vSwitch; captures on
the underlay and the physical switch, and the switches' counters, show where DHCP went.

The controller here gives 12-second leases, so that clients renew (unicast, every 6 s)
within a test.
"""
from __future__ import annotations

import ipaddress
import subprocess
import time

import pytest

from ryu_app.dhcp import wire
from ryu_app.pipeline import tables as T
from ryu_app.settings import Settings
from tests.e2e.dataplane import (Tenant, flows, heard_in, n_packets, ofport, pings,
                                 settle_counters, spray, wait_until, wires_heard)
from tests.emulation import onboarded_cloud, serving
from tests.unit.dhcp_client import request_frame

LEASE_SECONDS = 12
DNS = ["192.0.2.53", "192.0.2.54"]


@pytest.fixture(scope="module")
def cloud():
    """Three hypervisors d0, d1, d2 with physnet1 between them; short DHCP leases (the
    ``tenants`` fixture of conftest.py makes its tenants on this cloud)."""
    yield from serving(onboarded_cloud(3, "d", 37, extra={"neutron": {
        "dhcp_lease_duration": str(LEASE_SECONDS)}}))


PHYSNET1_VLAN = {"network_type": "vlan", "physical_network": "physnet1"}


def network(tenant: Tenant, cidr: str, routes: bool = True, provider: dict | None = None,
            **subnet_fields):
    """A network with one subnet: DNS servers and a host route unless ``routes`` is off."""
    extra = {"dns_nameservers": DNS,
             "host_routes": [{"destination": "203.0.113.0/24",
                              "nexthop": str(ipaddress.IPv4Network(cidr).network_address + 254)}]
             } if routes else {}
    return tenant.network(cidr, {**extra, **subnet_fields}, **(provider or {}))


def dhcp_server(api, network_id: str) -> dict:
    ports = api.get(f"/v2.0/ports?network_id={network_id}&device_owner=network:dhcp")[1]
    return ports["ports"][0]


def addresses(vm) -> list[str]:
    return vm.host.cmd("ip -4 -o addr show dev eth0 | awk '{print $4}'").split()


def routes(vm) -> str:
    return vm.host.cmd("ip -4 route show dev eth0")


def mtu(vm) -> int:
    return int(vm.host.cmd("cat /sys/class/net/eth0/mtu"))


# ------------------------------------------------------------- leases


def test_vxlan_and_vlan_vms_get_their_whole_lease_then_route_to_each_other(cloud, tenants):
    tenant = tenants("leases")
    vxlan_net, vxlan_subnet = network(tenant, "10.61.0.0/24")
    vlan_net, vlan_subnet = network(tenant, "10.62.0.0/24", provider=PHYSNET1_VLAN)
    router = tenant.api.create("router", name="r", project_id=tenant.project)
    for subnet in (vxlan_subnet, vlan_subnet):
        status, _ = tenant.api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                                   {"subnet_id": subnet["id"]})
        assert status == 200
    a = tenant.vm(vxlan_net, 0, addressing="none")
    b = tenant.vm(vlan_net, 1, addressing="none")
    for vm, net, subnet, expected_mtu in ((a, vxlan_net, vxlan_subnet, 1450),
                                          (b, vlan_net, vlan_subnet, 1500)):
        lease = vm.dhcp()
        assert lease is not None, f"{vm.device} got no lease"
        assert (lease["new_ip_address"], lease["new_subnet_mask"]) == (vm.ip, "255.255.255.0")
        assert lease["new_routers"] == subnet["gateway_ip"]
        assert lease["new_domain_name_servers"].split() == DNS
        assert lease["new_dhcp_server_identifier"] == dhcp_server(
            tenant.api, net["id"])["fixed_ips"][0]["ip_address"]
        assert int(lease["new_interface_mtu"]) == expected_mtu
        assert addresses(vm) == [f"{vm.ip}/24"]                 # applied in the VM
        assert mtu(vm) == expected_mtu
        host_route = str(ipaddress.IPv4Network(subnet["cidr"]).network_address + 254)
        assert f"203.0.113.0/24 via {host_route}" in routes(vm)
        assert f"default via {subnet['gateway_ip']}" in routes(vm)
    assert pings(a, b.ip) and pings(b, a.ip)                    # across d0 and d1, routed


def test_same_cidr_in_two_tenants_each_gets_its_own_lease_and_no_dhcp_crosses_a_wire(
        cloud, tenants):
    """Red on a VLAN network (its frames cross the physical switch), blue on VXLAN (the
    underlay), both 10.63.0.0/24: each VM gets its own tenant's address and DNS; the
    wires carry the tenants' pings, which shows the captures would see DHCP, and no DHCP."""
    red, blue = tenants("red"), tenants("blue")
    red_net, _ = network(red, "10.63.0.0/24", routes=False, dns_nameservers=["192.0.2.1"],
                         provider=PHYSNET1_VLAN)
    blue_net, _ = network(blue, "10.63.0.0/24", routes=False, dns_nameservers=["192.0.2.2"])
    red_vm = red.vm(red_net, 0, addressing="none", fixed_ips=[{"ip_address": "10.63.0.30"}])
    red_peer = red.vm(red_net, 1, addressing="static", fixed_ips=[{"ip_address": "10.63.0.31"}])
    blue_vm = blue.vm(blue_net, 0, addressing="none", fixed_ips=[{"ip_address": "10.63.0.40"}])
    blue_peer = blue.vm(blue_net, 2, addressing="none", fixed_ips=[{"ip_address": "10.63.0.41"}])
    expected = {red_vm.device: "192.0.2.1", blue_vm.device: "192.0.2.2",
                blue_peer.device: "192.0.2.2"}
    leases = {}
    wires = {f"ul-{h.name}": ("-T", "vxlan", "udp") for h in cloud.hypervisors}
    wires.update({f"sw-{h.name}": () for h in cloud.hypervisors})
    pinged = []

    def lease_and_ping() -> None:
        for vm in (red_vm, blue_vm, blue_peer):
            leases[vm.device] = vm.dhcp()
        pinged.append(pings(red_vm, red_peer.ip) and pings(blue_vm, blue_peer.ip))

    seen = wires_heard({name: ["-e", *expression] for name, expression in wires.items()},
                       lease_and_ping, seconds=1)
    assert pinged == [True]
    for vm in (red_vm, blue_vm, blue_peer):
        lease = leases[vm.device]
        assert (lease["new_ip_address"], lease["new_domain_name_servers"]) == (
            vm.ip, expected[vm.device])
    assert any("ICMP echo request" in text for name, text in seen.items()
               if name.startswith("ul-"))                      # blue's ping, in VXLAN
    assert any("ICMP echo request" in text for name, text in seen.items()
               if name.startswith("sw-"))                      # red's, on physnet1
    for name, text in seen.items():
        assert "BOOTP/DHCP" not in text, f"DHCP on {name}:\n{text}"


def test_a_new_fixed_ip_moves_the_vm_when_it_renews(cloud, tenants):
    tenant = tenants("renew")
    net, subnet = network(tenant, "10.64.0.0/24", routes=False)
    vm = tenant.vm(net, 0, addressing="none")
    assert vm.dhcp()["new_ip_address"] == vm.ip
    # At half the lease it renews, unicast to the server (whose ARP is answered on d0),
    # and keeps its address.
    wait_until(lambda: "RENEW" in vm.lease()["reasons"], timeout=LEASE_SECONDS,
               what="a renewal ACKed")
    assert vm.lease()["new_ip_address"] == vm.ip
    moved = "10.64.0.77"
    status, _ = tenant.api.put(f"/v2.0/ports/{vm.port_id}", {"port": {"fixed_ips": [
        {"subnet_id": subnet["id"], "ip_address": moved}]}})
    assert status == 200
    # Its next renewal is NAKed (the lease is gone: EXPIRE); it starts over and is
    # offered the new address.
    wait_until(lambda: (vm.lease() or {}).get("new_ip_address") == moved,
               timeout=2 * LEASE_SECONDS, what="the VM on its new address")
    wait_until(lambda: addresses(vm) == [f"{moved}/24"], what="the new address applied")
    reasons = vm.lease()["reasons"]
    assert reasons[reasons.index("RENEW"):][-3:] == ["EXPIRE", "PREINIT", "BOUND"], reasons


def test_a_client_asking_for_a_foreign_address_is_naked_then_gets_its_own(cloud, tenants):
    tenant = tenants("nak")
    net, _ = network(tenant, "10.65.0.0/24", routes=False)
    vm = tenant.vm(net, 0, addressing="none")
    foreign = "10.65.0.99"
    remembered = (f'lease {{\n  interface "eth0";\n  fixed-address {foreign};\n'
                  '  option subnet-mask 255.255.255.0;\n  renew 4 2037/1/1 00:00:01;\n'
                  '  rebind 4 2037/1/1 00:00:01;\n  expire 4 2037/1/1 00:00:01;\n}\n')
    leases = []
    seen = "\n".join(heard_in(vm, "udp port 68", lambda: leases.append(
        vm.dhcp(lease_file=remembered)), options=["-v"]))   # INIT-REBOOT: REQUEST for .99
    lease = leases[0]
    assert f"Requested-IP (50), length 4: {foreign}" in seen   # it did ask
    assert "NACK" in seen                                       # and was refused
    assert lease["new_ip_address"] == vm.ip and addresses(vm) == [f"{vm.ip}/24"]


def test_a_vm_on_a_subnet_without_dhcp_gets_nothing(cloud, tenants):
    tenant = tenants("nodhcp")
    net, _ = network(tenant, "10.66.0.0/24", routes=False, enable_dhcp=False)
    vm = tenant.vm(net, 0, addressing="none")
    assert vm.dhcp() is None and addresses(vm) == []


def test_with_dhcp_off_a_tenants_own_server_serves_a_filtered_vm(cloud, tenants):
    """dnsmasq on a port without port security (as a PXE server runs): a VM with port
    security on another hypervisor gets its lease, as with Neutron's firewall."""
    tenant = tenants("owndhcp")
    net, _ = network(tenant, "10.69.0.0/24", routes=False, enable_dhcp=False)
    server = tenant.vm(net, 0, addressing="static", port_security_enabled=False)
    client = tenant.vm(net, 1, addressing="none")
    log = f"/tmp/own-dnsmasq-{server.device}.log"
    dnsmasq = server.host.popen(["dnsmasq", "--keep-in-foreground", "--port=0", "--user=root",
                                 "--pid-file=", "--interface=eth0", "--bind-interfaces",
                                 "--no-resolv", "--dhcp-authoritative", "--leasefile-ro",
                                 "--log-dhcp", f"--log-facility={log}",
                                 "--dhcp-range=10.69.0.200,10.69.0.220"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        lease = client.dhcp()
        assert dnsmasq.poll() is None, "dnsmasq is not running"
    finally:
        dnsmasq.kill()
        dnsmasq.wait()
    assert lease is not None and lease["new_dhcp_server_identifier"] == server.ip
    assert ipaddress.IPv4Address(lease["new_ip_address"]) in ipaddress.IPv4Network(
        "10.69.0.192/27")
    # a DHCP request from a source that is not the client's is no DHCP client's: dropped
    heard = lambda source: heard_in(server, f"udp port 67 and ether src {client.mac}",  # noqa: E731
                                    lambda: spray(client, request_frame(
                                        client.mac, 1, src_ip=source), 1.0, 0.1).communicate())
    assert len(heard("0.0.0.0")) >= 5
    assert heard(server.ip) == []


# ----------------------------------------------------------------- safety

def rogue_offer(rogue, victim_mac: str) -> bytes:
    """An OFFER of 10.67.0.200 with the rogue as router and DNS, broadcast."""
    return wire.pack(wire.Reply(
        message_type=2, xid=0, flags=0x8000, ciaddr="0.0.0.0", yiaddr="10.67.0.200",
        siaddr="0.0.0.0", giaddr="0.0.0.0", raw_chaddr=bytes.fromhex(victim_mac.replace(":", "")),
        options=((54, bytes([10, 67, 0, 250])), (1, bytes([255, 255, 255, 0])),
                 (3, bytes([10, 67, 0, 250])), (51, (3600).to_bytes(4, "big"))),
        eth_src=rogue.mac, eth_dst="ff:ff:ff:ff:ff:ff", ip_src=rogue.ip,
        ip_dst="255.255.255.255"))


def test_a_vm_running_a_dhcp_server_answers_nobody(cloud, tenants):
    tenant = tenants("rogue")
    net, _ = network(tenant, "10.67.0.0/24", routes=False)
    rogue = tenant.vm(net, 0, addressing="static")   # by hand, as a server's is
    victims = [tenant.vm(net, 0, addressing="none"), tenant.vm(net, 1, addressing="none")]
    log = f"/tmp/rogue-dnsmasq-{rogue.device}.log"
    server = rogue.host.popen(["dnsmasq", "--keep-in-foreground", "--port=0", "--user=root",
                               "--pid-file=",
                               "--interface=eth0", "--bind-interfaces", "--no-resolv",
                               "--dhcp-authoritative", "--leasefile-ro", "--log-dhcp",
                               f"--log-facility={log}", "--dhcp-range=10.67.0.200,10.67.0.220"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sprayer = spray(rogue, rogue_offer(rogue, victims[0].mac), 3, 0.01)
    try:
        time.sleep(0.5)
        leases = [victim.dhcp() for victim in victims]
        sprayer.wait(timeout=10)                # the whole spray, whatever it took
        assert server.poll() is None, "dnsmasq is not running"
    finally:
        sprayer.kill()
        server.kill()
        sprayer.wait()
        server.wait()
    for victim, lease in zip(victims, leases, strict=True):
        assert lease["new_ip_address"] == victim.ip        # ours, not 10.67.0.2xx
        assert lease["new_dhcp_server_identifier"] == dhcp_server(
            tenant.api, net["id"])["fixed_ips"][0]["ip_address"]
    hypervisor = rogue.hypervisor
    settle_counters(hypervisor)
    drop = [line for line in flows(hypervisor, "br-int", T.INT_LOCAL_SWITCHING)
            if f"in_port={ofport(hypervisor, rogue.device)}," in line and "tp_src=67" in line]
    assert len(drop) == 1 and "actions=drop" in drop[0]
    assert n_packets(drop[0]) >= 50                           # the spray, dropped there
    with open(log) as dnsmasq_log:
        logged = dnsmasq_log.read()
    assert "DHCP, IP range 10.67.0.200" in logged             # it served on eth0 ...
    assert "DHCPDISCOVER" not in logged                       # ... and never heard a request


def meter_drops(hypervisor, meter_id: int) -> int:
    """Packets the meter's drop band took, from `ovs-ofctl meter-stats`."""
    out = hypervisor.ofctl("meter-stats", "br-int", f"meter={meter_id}")
    bands = [line for line in out.splitlines() if "packet_count" in line]
    return int(bands[-1].split("packet_count:")[1].split()[0])


def test_a_discover_flood_is_cut_at_the_switch_and_others_are_still_served(cloud, tenants):
    tenant = tenants("flood")
    net, _ = network(tenant, "10.68.0.0/24", routes=False)
    flooder = tenant.vm(net, 2, addressing="static")
    neighbour = tenant.vm(net, 2, addressing="none")
    hypervisor = flooder.hypervisor
    meter = T.dhcp_port_meter(ofport(hypervisor, flooder.device))
    before = meter_drops(hypervisor, meter)
    seconds = 4
    flood = spray(flooder, request_frame(flooder.mac, 1), seconds, 0.0005)   # up to 2000/s
    try:
        time.sleep(1)
        lease = neighbour.dhcp()
        status, _ = cloud.controller.api.get("/v2.0/networks")  # and the API answers
        sent = int(flood.communicate(timeout=seconds + 10)[0])  # the whole flood
    finally:
        flood.kill()
        flood.wait()
    assert lease is not None and lease["new_ip_address"] == neighbour.ip
    assert status == 200
    # the meter lets through its rate (and a burst as large) and drops the rest
    rate = Settings().dhcp_rate_limit_per_port
    passed = rate * (seconds + 1) + rate
    assert sent > 20 * passed, f"only {sent} sent: no flood"
    dropped = meter_drops(hypervisor, meter) - before
    assert dropped >= sent - passed, f"of {sent} sent, the port's meter dropped {dropped}"
