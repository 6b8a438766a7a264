"""North-south end to end (../shared/seeds/004_*.txt, 003_*.txt): an external flat network
``public`` on every hypervisor's br-ex, an upstream router (203.0.113.1) with an internet
host (198.51.100.10) behind it; x2 is the dvr_snat hypervisor.  VMs without a floating IP
reach the internet through their router's SNAT on x2 (the U-shaped path); a VM with one
is reached, and reaches out, through its own hypervisor."""
import re
import subprocess
import time

import pytest

from tests.e2e.dataplane import (Stream, Tenant, capture, fetches, heard_in, pings, silent,
                                 wait_until, wires_heard)
from tests.emulation import agents, emulation, onboarded_cloud, public_network, serving

INTERNET = "198.51.100.10"
UPSTREAM = "203.0.113.1"
SNAT_HOST = 2


@pytest.fixture(scope="module")
def outside():
    """Three hypervisors x0-x2 with an external network; x2 may host SNAT.  Tenant VLAN
    networks may also be on the external network's physical network."""
    yield from serving(onboarded_cloud(3, "x", 43, external=True, gateways=(SNAT_HOST,), extra={
        "neutron": {"network_vlan_ranges": f"physnet1:3001:4000,{emulation.EXTERNAL_PHYSNET}"}}))


@pytest.fixture(scope="module")
def public(outside):
    return public_network(outside.controller.api, allocation_pools=[
        {"start": "203.0.113.10", "end": "203.0.113.99"}])


def routed_tenant(outside, public, project: str, chassis: tuple[int, ...], **provider):
    """A tenant network 10.60.0.0/24 (the same for every tenant; ``provider``: its
    provider attributes) behind its own router with a gateway on public; one VM per
    hypervisor given."""
    tenant = Tenant(outside.controller.api, outside, project)
    network, subnet = tenant.network("10.60.0.0/24", **provider)
    router = tenant.api.create("router", name=f"{project}-router", project_id=project)
    tenant.api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                   {"subnet_id": subnet["id"]})
    status, body = tenant.api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": public[0]["id"]}}})
    assert status == 200, body
    gateway_ip = body["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    vms = [tenant.vm(network, index) for index in chassis]
    # the internet reaches the VMs at their floating IPs: their group lets it in, as a
    # user opens a VM (ICMP and TCP; the default group lets in only its own members)
    default = tenant.api.get(f"/v2.0/security-groups?project_id={project}&name=default")[1][
        "security_groups"][0]
    for protocol in ("icmp", "tcp"):
        tenant.api.create("security_group_rule", security_group_id=default["id"],
                          direction="ingress", ethertype="IPv4", protocol=protocol,
                          project_id=project)
    return tenant, router, gateway_ip, vms


@pytest.fixture(scope="module")
def red(outside, public):
    tenant, router, gateway_ip, vms = routed_tenant(outside, public, "red", (0, 1))
    yield tenant, router, gateway_ip, vms
    tenant.cleanup()


@pytest.fixture(scope="module")
def blue(outside, public):
    tenant, router, gateway_ip, vms = routed_tenant(outside, public, "blue", (0,))
    yield tenant, router, gateway_ip, vms
    tenant.cleanup()


def external_wires(outside) -> dict[str, str]:
    return {hv.name: f"ex-{hv.name}" for hv in outside.hypervisors}


def sources_seen_upstream(outside, action, seconds: float = 2.0) -> dict[str, list[str]]:
    """ICMP frames on each hypervisor's external wire while ``action`` runs."""
    wires = external_wires(outside)
    heard = wires_heard({wire: ["icmp"] for wire in wires.values()}, action, seconds)
    return {name: [line for line in heard[wire].splitlines() if "ICMP" in line]
            for name, wire in wires.items()}


def test_a_vm_without_floating_ip_reaches_the_internet_through_snat(outside, red):
    _, _, gateway_ip, (vm, _) = red
    assert pings(vm, INTERNET, attempts=10)
    seen = sources_seen_upstream(outside, lambda: vm.host.cmd(f"ping -c3 -i0.2 {INTERNET}"))
    snat, compute = seen[f"x{SNAT_HOST}"], seen["x0"]
    requests = [line for line in snat if "echo request" in line]
    assert len(requests) >= 3, snat
    assert all(line.split()[2] == gateway_ip for line in requests), requests
    assert compute == [] and seen["x1"] == [], seen    # the U: only x2 speaks outside
    assert fetches(vm, outside.upstream.internet)


def test_the_routers_gateway_address_answers_pings_from_outside_and_inside(outside, red):
    """As Neutron's snat namespace: the internet's pings are answered by the SNAT
    hypervisor, and the router's VMs' on their own hypervisors, nothing on the wire."""
    _, _, gateway_ip, vms = red
    internet = outside.upstream.internet
    assert pings(internet, gateway_ip, attempts=10)
    seen = sources_seen_upstream(outside, lambda: internet.host.cmd(
        f"ping -c3 -i0.2 {gateway_ip}"))
    replies = {name: [line for line in lines if f"{gateway_ip} > {INTERNET}: ICMP echo reply"
                      in line] for name, lines in seen.items()}
    assert len(replies[f"x{SNAT_HOST}"]) >= 3 and replies["x0"] == replies["x1"] == [], seen
    for vm in vms:
        assert pings(vm, gateway_ip)
        seen = sources_seen_upstream(outside, lambda vm=vm: vm.host.cmd(
            f"ping -c3 -i0.2 {gateway_ip}"))
        assert all(lines == [] for lines in seen.values()), seen


def test_a_vlan_network_on_the_external_physical_network_reaches_the_internet(outside, public):
    """Its frames reach x2 on the external network's wire and leave x2 by the same patch
    (a hairpin, were the routed frame not a new one), as do the replies."""
    tenant, _, gateway_ip, (vm, ) = routed_tenant(outside, public, "green", (0,),
                                                  network_type="vlan",
                                                  physical_network=emulation.EXTERNAL_PHYSNET,
                                                  segmentation_id=2100)
    try:
        assert pings(vm, INTERNET, attempts=10)
        assert fetches(vm, outside.upstream.internet)
        seen = sources_seen_upstream(outside, lambda: vm.host.cmd(f"ping -c3 -i0.2 {INTERNET}"))
        # on x2's wire: the VM's own frames in VLAN 2100, then SNATed out of x2
        snatted = [line for line in seen[f"x{SNAT_HOST}"]
                   if "echo request" in line and line.split()[2] == gateway_ip]
        assert len(snatted) >= 3, seen
    finally:
        tenant.cleanup()


def test_a_vm_on_the_external_network_reaches_the_upstream_where_snat_runs(outside, public,
                                                                           red):
    """x2 sends the upstream gateway's ARP answers to the controller (SNAT's next hop)
    and on to the VM that asked."""
    tenant = Tenant(outside.controller.api, outside, "provider")
    vm = tenant.vm(public[0], SNAT_HOST, gateway=UPSTREAM)
    try:
        assert pings(vm, UPSTREAM, attempts=5) and pings(vm, INTERNET)
    finally:
        tenant.cleanup()


def test_a_vm_on_the_external_network_reaches_a_floating_ip_of_its_own_hypervisor(outside,
                                                                                public):
    """Its frames for the floating IP never come in from the wire, where x1's DNAT waits
    for the outside's: x1 answers and DNATs them on br-int too (the reply goes by the
    upstream router, as any reply to the outside)."""
    tenant, _, _, (vm, ) = routed_tenant(outside, public, "violet", (1,))
    fip = tenant.api.create("floatingip", floating_network_id=public[0]["id"],
                            port_id=vm.port_id)
    near = Tenant(outside.controller.api, outside, "onlink")
    provider_vm = near.vm(public[0], 1, gateway=UPSTREAM)
    try:
        assert pings(provider_vm, fip["floating_ip_address"], attempts=10)
    finally:
        near.cleanup()
        tenant.cleanup()


def test_two_tenants_with_one_cidr_reach_the_internet_at_once(outside, red, blue):
    red_vm, blue_vm = red[3][0], blue[3][0]
    assert red_vm.ip == blue_vm.ip   # same CIDR, same first address: only the router tells
    for vm in (red_vm, blue_vm):
        assert pings(vm, INTERNET, attempts=10)
    outputs = []

    def both():
        pingers = [vm.host.popen(["ping", "-c", "20", "-i", "0.1", "-W", "1", INTERNET],
                                 stdout=subprocess.PIPE, text=True) for vm in (red_vm, blue_vm)]
        outputs.extend(pinger.communicate(timeout=30)[0] for pinger in pingers)
    frames = capture(outside.uplink, 0.5, both)
    for output in outputs:
        received = int(output.split(" received")[0].rsplit(" ", 1)[1])
        assert received >= 18, output
    sources = {re.search(r": ([\d.]+) > ", line).group(1) for line in frames
               if "echo request" in line}
    assert sources == {red[2], blue[2]}, frames   # each router's own gateway address


def test_the_internet_reaches_a_vm_at_its_floating_ip(outside, public, red):
    tenant, _, _, (_, vm) = red
    api = tenant.api
    fip = api.create("floatingip", floating_network_id=public[0]["id"], port_id=vm.port_id,
                     project_id="red")
    address = fip["floating_ip_address"]
    try:
        wait_until(lambda: api.get(f"/v2.0/floatingips/{fip['id']}")[1]["floatingip"]["status"]
                   == "ACTIVE", timeout=15, what="floating IP ACTIVE")
        internet = outside.upstream.internet
        assert pings(internet, address, attempts=10)
        seen = {}
        inside = "\n".join(heard_in(vm, "icmp", lambda: seen.update(sources_seen_upstream(
            outside, lambda: internet.host.cmd(f"ping -c3 -i0.2 {address}")))))
        assert f"{INTERNET} > {vm.ip}: ICMP echo request" in inside, inside
        assert any(f"{address} > {INTERNET}: ICMP echo reply" in line for line in seen["x1"])
        assert seen["x0"] == [] and seen[f"x{SNAT_HOST}"] == [], seen
        assert fetches(internet, vm, address=address)
        # its own traffic out leaves from x1 with the floating IP, not through SNAT
        seen = sources_seen_upstream(outside, lambda: vm.host.cmd(f"ping -c3 -i0.2 {INTERNET}"))
        assert any(f"{address} > {INTERNET}: ICMP echo request" in line for line in seen["x1"])
        assert seen[f"x{SNAT_HOST}"] == [], seen
    finally:
        api.delete(f"/v2.0/floatingips/{fip['id']}")


def test_a_floating_ip_never_reaches_a_vm_whose_binding_failed(outside, public, red):
    """A VM plugged where the agent is disabled is in the dead VLAN; its floating IP stays
    DOWN, and the internet's packets for it reach nothing (before, DNAT sent them
    straight to its device, past its security groups)."""
    tenant, _, _, (vm, _) = red
    api = tenant.api
    host = outside.hypervisors[0]
    agent = agents(outside.controller)[host.name]
    assert api.put(f"/v2.0/agents/{agent['id']}", {"agent": {"admin_state_up": False}})[0] == 200
    late = None
    try:
        network_id = api.get(f"/v2.0/ports/{vm.port_id}")[1]["port"]["network_id"]
        late = outside.boot(api.create("port", network_id=network_id, project_id="red"), host)
        tenant.vms.append(late)
        wait_until(lambda: api.get(f"/v2.0/ports/{late.port_id}")[1]["port"][
            "binding:vif_type"] == "binding_failed", what="the late port's binding refused")
        fip = api.create("floatingip", floating_network_id=public[0]["id"],
                         port_id=late.port_id, project_id="red")
        address = fip["floating_ip_address"]
        cut = []
        inside = heard_in(late, "icmp", lambda: cut.append(
            silent(outside.upstream.internet, address)))
        assert cut == [True] and not [line for line in inside if INTERNET in line], inside
        assert not [line for line in host.ofctl("dump-flows", "br-int").splitlines()
                    if f"nw_dst={address}" in line]
        assert api.get(f"/v2.0/floatingips/{fip['id']}")[1]["floatingip"]["status"] == "DOWN"
        api.delete(f"/v2.0/floatingips/{fip['id']}")
    finally:
        api.put(f"/v2.0/agents/{agent['id']}", {"agent": {"admin_state_up": True}})
    tenant.wait_wired(late)


def test_disassociating_cuts_inbound_and_the_address_moves_with_garp(outside, public, red):
    tenant, _, _, (first, second) = red
    api = tenant.api
    internet, router = outside.upstream.internet, outside.upstream.router
    fip = api.create("floatingip", floating_network_id=public[0]["id"],
                     port_id=second.port_id, project_id="red")
    address = fip["floating_ip_address"]
    try:
        wait_until(lambda: pings(internet, address), timeout=15, what="FIP reachable")
        stream = Stream(second, internet, address)
        host = second.hypervisor
        assert address in host.appctl("dpctl/dump-conntrack")   # the stream's entry
        cut = time.time()
        status, body = api.put(f"/v2.0/floatingips/{fip['id']}",
                               {"floatingip": {"port_id": None}})
        assert status == 200 and body["floatingip"]["status"] == "DOWN"
        time.sleep(2.0)
        received = stream.stop()
        assert received and received[0] < cut, "the connection never carried data"
        assert max(received) < cut + 0.5, f"data {max(received) - cut:.2f} s after the cut"
        assert silent(internet, address)
        assert api.get(f"/v2.0/floatingips/{fip['id']}")[1]["floatingip"]["status"] == "DOWN"
        assert address not in host.appctl("dpctl/dump-conntrack")   # its zone was flushed
        # to a VM on another hypervisor: the upstream router's entry follows the GARP
        api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": first.port_id}})
        fg_x0 = fg_mac(api, public, "x0")
        wait_until(lambda: fg_x0 in router.host.cmd(f"ip neigh show {address}"), timeout=10,
                   what="neighbour entry moved to x0's fg- MAC")
        assert pings(internet, address, attempts=10)
        seen = sources_seen_upstream(outside, lambda: internet.host.cmd(
            f"ping -c3 -i0.2 {address}"))
        assert any(f"{address} > {INTERNET}: ICMP echo reply" in line for line in seen["x0"])
        assert seen["x1"] == [], seen
    finally:
        api.delete(f"/v2.0/floatingips/{fip['id']}")


def fg_mac(api, public, host: str) -> str:
    ports = api.get("/v2.0/ports?device_owner=network:floatingip_agent_gateway")[1]["ports"]
    [port] = [port for port in ports if port["binding:host_id"] == host
              and port["network_id"] == public[0]["id"]]
    return port["mac_address"]


def test_traceroute_shows_the_gateway_then_the_upstream_router(red):
    _, _, _, (vm, _) = red
    # the test before ends by deleting this VM's floating IP: let its path settle on SNAT,
    # since traceroute sends each probe once and a reply to the old address is lost
    assert pings(vm, INTERNET, attempts=10)
    out = vm.host.cmd(f"traceroute -n -q 1 -w 1 -m 4 {INTERNET}")
    hops = [line.split()[1] for line in out.splitlines()[1:] if line.split()]
    assert hops[:3] == ["10.60.0.1", UPSTREAM, INTERNET], out


def test_removing_the_gateway_stops_snat(outside, public, blue):
    """And its SNAT connections go from the gateway hypervisor's conntrack: they would
    NAT to the released address, and the router's zone goes to the next router."""
    tenant, router, gateway_ip, (vm, ) = blue
    snat_host = outside.hypervisors[SNAT_HOST]
    assert pings(vm, INTERNET, attempts=10)
    assert gateway_ip in snat_host.appctl("dpctl/dump-conntrack")
    status, _ = tenant.api.put(f"/v2.0/routers/{router['id']}",
                               {"router": {"external_gateway_info": {}}})
    assert status == 200
    time.sleep(0.5)
    assert silent(vm, INTERNET)
    wait_until(lambda: gateway_ip not in snat_host.appctl("dpctl/dump-conntrack"),
               timeout=5, what="the router's SNAT entries flushed")
    status, _ = tenant.api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": public[0]["id"]}}})
    assert status == 200
    assert pings(vm, INTERNET, attempts=10)


def test_a_floating_ip_never_takes_another_address_scope_outside(outside, public):
    """A router without SNAT joins a scoped network and an unscoped one; the scoped VM
    has a floating IP and reaches the internet through it, but its pings to the other
    scope's VM are neither routed nor put on any external wire."""
    api = outside.controller.api
    tenant = Tenant(api, outside, "scoped")
    try:
        pool = tenant.scoped_pool("10.74.0.0/16")
        scoped = api.create("network", name="scoped", project_id="scoped")
        scoped_subnet = api.create("subnet", network_id=scoped["id"], ip_version=4,
                                   subnetpool_id=pool["id"], project_id="scoped")
        plain, plain_subnet = tenant.network("10.75.0.0/24")
        router = api.create("router", name="scoped", project_id="scoped")
        for subnet in (scoped_subnet, plain_subnet):
            assert api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                           {"subnet_id": subnet["id"]})[0] == 200
        status, body = api.put(f"/v2.0/routers/{router['id']}", {"router": {
            "external_gateway_info": {"network_id": public[0]["id"], "enable_snat": False}}})
        assert status == 200, body
        inside, other = tenant.vm(scoped, 0), tenant.vm(plain, 1)
        fip = api.create("floatingip", floating_network_id=public[0]["id"],
                         port_id=inside.port_id, project_id="scoped")
        wait_until(lambda: api.get(f"/v2.0/floatingips/{fip['id']}")[1]["floatingip"][
            "status"] == "ACTIVE", what="the floating IP ACTIVE")
        assert pings(inside, INTERNET, attempts=10), "out through the floating IP"
        seen = sources_seen_upstream(outside, lambda: inside.host.cmd(
            f"ping -c3 -i0.2 -W1 {other.ip}"))
        leaked = [line for lines in seen.values() for line in lines if other.ip in line]
        assert leaked == [], leaked
        assert silent(inside, other.ip), "routed across address scopes"
    finally:
        tenant.cleanup()


def test_a_router_without_snat_routes_its_vms_own_addresses_in_and_out(outside, public):
    """enable_snat false, as with BGP or a static route upstream: the VM reaches the
    internet from its own address through the SNAT hypervisor (the upstream routes the
    subnet back to the router's gateway address), and the internet reaches it there."""
    api = outside.controller.api
    tenant = Tenant(api, outside, "routed")
    upstream = outside.upstream.router.host
    try:
        network, subnet = tenant.network("10.62.0.0/24")
        router = api.create("router", name="routed", project_id="routed")
        assert api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                       {"subnet_id": subnet["id"]})[0] == 200
        status, body = api.put(f"/v2.0/routers/{router['id']}", {"router": {
            "external_gateway_info": {"network_id": public[0]["id"], "enable_snat": False}}})
        assert status == 200, body
        gateway_ip = body["router"]["external_gateway_info"]["external_fixed_ips"][0][
            "ip_address"]
        default = api.get("/v2.0/security-groups?project_id=routed&name=default")[1][
            "security_groups"][0]
        api.create("security_group_rule", security_group_id=default["id"], direction="ingress",
                   ethertype="IPv4", protocol="icmp", project_id="routed")
        vm = tenant.vm(network, 0)
        upstream.cmd(f"ip route replace 10.62.0.0/24 via {gateway_ip}")
        assert pings(vm, INTERNET, attempts=10)
        seen = sources_seen_upstream(outside, lambda: vm.host.cmd(
            f"ping -c3 -i0.2 {INTERNET}"))
        requests = [line for line in seen[f"x{SNAT_HOST}"] if "echo request" in line]
        assert len(requests) >= 3 and all(line.split()[2] == vm.ip for line in requests), seen
        assert seen["x0"] == [] and seen["x1"] == [], seen
        assert pings(outside.upstream.internet, vm.ip, attempts=5)
    finally:
        upstream.cmd("ip route del 10.62.0.0/24")
        tenant.cleanup()


def test_floating_ips_reach_each_other_with_an_upstream_that_forwards_nothing(outside, public,
                                                                             red, blue):
    """As Neutron's fip- namespaces find each other on the external network: with the
    upstream router's forwarding off, a VM reaches a floating IP on another hypervisor and
    one on its own, and a VM behind SNAT reaches one elsewhere and one of its SNAT
    hypervisor; before, each went to the upstream router, which had to send it back
    where it came from (a VM's own floating IP still does)."""
    tenant, _, _, (red0, red1) = red
    api = tenant.api
    network = {"id": api.get(f"/v2.0/ports/{red0.port_id}")[1]["port"]["network_id"]}
    neighbour, on_snat = tenant.vm(network, 0), tenant.vm(network, SNAT_HOST)
    fips = {vm.port_id: api.create("floatingip", floating_network_id=public[0]["id"],
                                   port_id=vm.port_id, project_id="red")
            for vm in (red1, neighbour, on_snat)}
    upstream = outside.upstream.router.host
    try:
        for fip in fips.values():
            wait_until(lambda fip=fip: api.get(f"/v2.0/floatingips/{fip['id']}")[1][
                "floatingip"]["status"] == "ACTIVE", timeout=15, what="floating IP ACTIVE")
        far, near = (fips[vm.port_id]["floating_ip_address"] for vm in (red1, neighbour))
        # its own floating IP a VM reaches by the upstream, which sends it back
        assert pings(red1, far, attempts=5), "to its own floating IP"
        upstream.cmd("sysctl -qw net.ipv4.ip_forward=0")
        assert silent(red0, INTERNET)                  # the upstream routes nothing now
        assert pings(red0, far, attempts=5), "to a floating IP on another hypervisor"
        assert pings(red0, near, attempts=5), "to a floating IP on its own hypervisor"
        assert pings(blue[3][0], far, attempts=5), "from behind SNAT"
        assert pings(blue[3][0], fips[on_snat.port_id]["floating_ip_address"], attempts=5), \
            "from behind SNAT to a floating IP of the SNAT hypervisor"
    finally:
        upstream.cmd("sysctl -qw net.ipv4.ip_forward=1")
        for fip in fips.values():
            api.delete(f"/v2.0/floatingips/{fip['id']}")
        for vm in (neighbour, on_snat):
            tenant.vms.remove(vm)
            outside.destroy(vm)
