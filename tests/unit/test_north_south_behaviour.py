"""North-south, walked offline through the flows the core sent (three hypervisors, n2
the dvr_snat one, an external VLAN network on physnet1, tests/unit/fake_cloud.py): the
U-shaped SNAT path of ../shared/seeds/004_*.txt, floating IPs on their VM's hypervisor,
ARP for external addresses answered in one place, and what goes with associating and
disassociating a floating IP."""
import pytest

from rest.attributes import RESOURCES, parse_body

from ryu.lib.packet import arp, packet

from ryu_app.outputs import CtFlushZone, PacketOut
from ryu_app.pipeline import tables as T
from ryu_app.pipeline.flow import vlan
from ryu_app.pipeline.planner import floatingip_group
from ryu_app.pipeline.simulator import arp_request, ipv4, simulate
from ryu_app.router_packets import arp_sender
from topology.graph import agent_id
from tests.unit import fake_cloud
from tests.unit.test_l2_behaviour import ip
from tests.unit.fake_cloud import (CHASSIS, PHYSNETS, PUBLIC_VLAN, UPSTREAM_IP, UPSTREAM_MAC,
                                   FakeCloud, dpid, north_south, scoped_router)

INTERNET = "198.51.100.10"


@pytest.fixture
def outside(tmp_path):
    """A VXLAN network behind a router with a gateway (SNAT on n2); a VM on n1 without a
    floating IP, one on n0 with."""
    cloud = FakeCloud(tmp_path)
    network, subnet = cloud.network()
    router = cloud.router(subnet)
    cloud.plain = cloud.vm(network, "n1")
    cloud.fip = north_south(cloud, router, network)
    cloud.floating = {**cloud.model.records["port"][cloud.fip["port_id"]], "chassis": "n0"}
    cloud.floating["device"] = cloud.planner.topology.devices_of(cloud.fip["port_id"])["n0"].name
    cloud.gateway = cloud.planner.dvr_interfaces(router["id"])[0]
    cloud.qg = cloud.model.gateway_port_of(router["id"])
    return cloud


def to_internet(cloud, vm: dict, **fields) -> dict:
    return ipv4(vm["mac_address"], cloud.gateway["mac_address"], vm["fixed_ips"][0]["ip_address"],
                INTERNET, **fields)


def physical(result) -> list:
    return result.of_kind("physical")


def test_a_vm_without_floating_ip_leaves_through_snat_on_the_gateway_hypervisor(outside):
    result = outside.send(outside.plain, to_internet(outside, outside.plain))
    [out] = physical(result)
    assert out.chassis == "n2"                             # the U: n1 -> n2 -> outside
    assert out.packet["ipv4_src"] == outside.qg["fixed_ips"][0]["ip_address"]
    assert (out.packet["eth_src"], out.packet["eth_dst"]) == (
        outside.qg["mac_address"], UPSTREAM_MAC)
    assert out.packet["vlan_vid"] == vlan(PUBLIC_VLAN) and out.packet["nw_ttl"] == 63
    assert ("n2", "br-int", T.INT_SNAT) in result.path()
    assert ("n1", "br-tun", T.TUN_UCAST_TO_TUN) in result.path()   # over the tenant network


def test_a_vm_with_a_floating_ip_leaves_from_its_own_hypervisor(outside):
    result = outside.send(outside.floating, to_internet(outside, outside.floating))
    [out] = physical(result)
    fg = outside.model.fip_gateway_port(outside.fip["floating_network_id"], "n0")
    assert (out.chassis, out.packet["ipv4_src"], out.packet["eth_src"]) == (
        "n0", outside.fip["floating_ip_address"], fg["mac_address"])
    assert ("n2", "br-int", T.INT_SNAT) not in result.path()
    assert result.delivered_to() == []    # the simulated physical switch floods; none takes it


def test_a_ping_to_the_routers_gateway_address_is_answered_from_outside_and_inside(outside):
    """From the external network, by the SNAT hypervisor only (the one that answers ARP
    for the address), back onto the wire from the qg- MAC; from a VM, on its own
    hypervisor, as a ping to any address of its router."""
    gateway_ip = outside.qg["fixed_ips"][0]["ip_address"]
    for chassis in CHASSIS:
        request = ipv4(UPSTREAM_MAC, outside.qg["mac_address"], INTERNET, gateway_ip,
                       vlan_vid=vlan(PUBLIC_VLAN))
        result = simulate(outside.fabric(), chassis, "br-eth1", "eth1", request)
        replies = [(o.chassis, o.packet["eth_src"], o.packet["eth_dst"], o.packet["ipv4_src"],
                    o.packet["ipv4_dst"], o.packet["vlan_vid"]) for o in physical(result)
                   if o.packet.get("icmpv4_type") == 0]
        assert replies == ([(chassis, outside.qg["mac_address"], UPSTREAM_MAC, gateway_ip,
                             INTERNET, vlan(PUBLIC_VLAN))] if chassis == "n2" else [])
        assert result.delivered_to() == []
    for vm in (outside.plain, outside.floating):
        # conntrack sees the request new and the answer as its reply
        result = outside.send(vm, to_internet(outside, vm, ipv4_dst=gateway_ip, ct_state_after=(
            T.CT_TRK | T.CT_NEW, T.CT_TRK | T.CT_EST | T.CT_RPL)))
        answer = result.packet_at(vm["chassis"], vm["device"])
        assert (answer["icmpv4_type"], answer["ipv4_src"], answer["eth_src"]) == (
            0, gateway_ip, outside.gateway["mac_address"])
        assert {hop.chassis for hop in result.hops} == {vm["chassis"]} and not physical(result)


def test_arp_for_external_addresses_is_answered_in_one_place(outside):
    answers = {}
    for address in (outside.fip["floating_ip_address"], outside.qg["fixed_ips"][0]["ip_address"]):
        for chassis in CHASSIS:
            request = arp_request(UPSTREAM_MAC, "203.0.113.1", address,
                                  vlan_vid=vlan(PUBLIC_VLAN))
            result = simulate(outside.fabric(), chassis, "br-eth1", "eth1", request)
            if any(o.packet.get("arp_op") == 2 for o in physical(result)):
                answers.setdefault(address, []).append(chassis)
    assert answers == {outside.fip["floating_ip_address"]: ["n0"],
                       outside.qg["fixed_ips"][0]["ip_address"]: ["n2"]}


def from_internet(cloud, address: str) -> dict:
    """A new connection's first packet from the internet to a floating IP on n0."""
    fg = cloud.model.fip_gateway_port(cloud.fip["floating_network_id"], "n0")
    return ipv4(UPSTREAM_MAC, fg["mac_address"], INTERNET, address, vlan_vid=vlan(PUBLIC_VLAN),
                ct_state_after=T.CT_TRK | T.CT_NEW)


def test_a_floating_ip_reaches_its_vm_only_through_the_vm_s_filter(outside):
    """The default group lets nothing in from the internet; a port that stops being a VM's
    (another owner, here network:custom) loses its floating IP's flows rather than taking
    the internet's packets past the filter the firewall no longer gives it."""
    inbound = from_internet(outside, outside.fip["floating_ip_address"])
    result = simulate(outside.fabric(), "n0", "br-eth1", "eth1", inbound)
    assert result.delivered_to() == []
    assert ("n0", "br-int", T.INT_RULES_INGRESS) in result.path()
    # nor as a DHCP server's reply: the client's port 68 is no way in from outside
    dhcp = {**{key: value for key, value in inbound.items() if not key.startswith("icmpv4")},
            "ip_proto": 17, "udp_src": 67, "udp_dst": 68}
    for source in (INTERNET, "10.0.0.77"):   # the second, one of the VM's own subnet
        result = simulate(outside.fabric(), "n0", "br-eth1", "eth1",
                          {**dhcp, "ipv4_src": source})
        assert result.delivered_to() == [], source
        assert ("n0", "br-int", T.INT_RULES_INGRESS) in result.path()
    outside.update("port", outside.fip["port_id"], device_owner="network:custom")
    assert outside.sent[-1].fip_status == {outside.fip["id"]: "DOWN"}
    result = simulate(outside.fabric(), "n0", "br-eth1", "eth1", inbound)
    assert result.delivered_to() == []


def test_a_port_whose_binding_failed_gets_no_floating_ip_flows(outside):
    """A VM plugged where the agent is disabled: its port's binding failed and its device
    is dead; its floating IP must not become a way in that skips the filter."""
    outside.model.update_agent(agent_id("n1"), "n1", {"admin_state_up": False})
    outside.written()
    late = outside.vm({"id": outside.plain["network_id"]}, "n1")
    assert late["binding:vif_type"] == "binding_failed"
    fip = outside.create("floatingip", floating_network_id=outside.fip["floating_network_id"],
                         port_id=late["id"])
    outside.upstream_answers("n1")
    assert floatingip_group(fip["id"]) not in outside.held("n1", "int")
    assert outside.model.records["floatingip"][fip["id"]]["status"] == "DOWN"


def test_a_router_set_down_takes_its_snat_and_floating_ips_with_it(outside):
    router_id = outside.gateway["device_id"]
    outside.update("router", router_id, admin_state_up=False)
    assert outside.sent[-1].fip_status == {outside.fip["id"]: "DOWN"}
    for vm in (outside.plain, outside.floating):
        assert physical(outside.send(vm, to_internet(outside, vm))) == []
    assert not [flow for flows in outside.held("n2", "int").values() for flow in flows.values()
                if flow.builder == "nat.snat_flow"]
    outside.update("router", router_id, admin_state_up=True)
    assert outside.sent[-1].fip_status == {outside.fip["id"]: "ACTIVE"}
    assert physical(outside.send(outside.plain, to_internet(outside, outside.plain)))[
        0].chassis == "n2"


def test_disassociating_flushes_the_zone_and_association_announces(outside):
    fip, zone = outside.fip, outside.planner.nat.zones.get(outside.fip["id"])
    outside.update("floatingip", fip["id"], port_id=None)
    sent = outside.sent[-1]
    # after the flow-mods that stop committing into the zone: before them, the next
    # packet of a connection would put its entry back
    assert CtFlushZone(zone) in sent.after_flows[dpid("n0", "int")]
    assert CtFlushZone(zone) not in sent.messages.get(dpid("n0", "int"), [])
    assert sent.fip_status == {fip["id"]: "DOWN"}
    assert physical(outside.send(outside.floating, to_internet(outside, outside.floating)))[
        0].chassis == "n2"                                 # back to SNAT
    outside.update("floatingip", fip["id"], port_id=outside.plain["id"])   # now on n1
    sent = outside.sent[-1]
    announced = [arp_sender(message.data) for message in sent.announcements[dpid("n1", "int")]]
    fg = outside.model.fip_gateway_port(fip["floating_network_id"], "n1")
    assert (fip["floating_ip_address"], fg["mac_address"]) in announced
    assert sent.fip_status == {fip["id"]: "ACTIVE"}
    # ... once the bridge that serves it confirms: not held back by another that drops
    assert sent.fip_bridges == {fip["id"]: frozenset(  # br-ex's way out may be new too
        dpid("n1", role) for role in ("int", "tun", "phys"))}
    assert outside.model.fip_gateway_port(fip["floating_network_id"], "n0") is None


def flushed(outputs, chassis: str) -> list[int]:
    return [message.zone for message in outputs.after_flows.get(dpid(chassis, "int"), [])
            if isinstance(message, CtFlushZone)]


def test_a_left_zone_is_flushed_again_at_the_next_two_ticks(outside):
    """A packet that takes a deleted flow's megaflow before the revalidators remove it
    commits its entry again after the first flush."""
    fip, zone = outside.fip, outside.planner.nat.zones.get(outside.fip["id"])
    outside.update("floatingip", fip["id"], port_id=None)
    assert zone in flushed(outside.sent[-1], "n0")
    assert [zone in flushed(outside.tick(), "n0") for _ in range(3)] == [True, True, False]


def test_a_zone_in_use_again_is_not_flushed_again(outside):
    fip, zone = outside.fip, outside.planner.nat.zones.get(outside.fip["id"])
    outside.update("floatingip", fip["id"], port_id=None)
    outside.update("floatingip", fip["id"], port_id=outside.floating["id"])   # back on n0
    assert zone not in flushed(outside.tick(), "n0")   # its new connections live there


def test_moving_to_another_vm_of_the_same_hypervisor_flushes_the_zone(outside):
    """The zone stays with the floating IP, but its entries DNAT to the old VM: a packet
    of a connection made before would still reach it."""
    fip, zone = outside.fip, outside.planner.nat.zones.get(outside.fip["id"])
    neighbour = outside.vm({"id": outside.floating["network_id"]}, "n0")
    outside.update("floatingip", fip["id"], port_id=neighbour["id"])
    assert CtFlushZone(zone) in outside.sent[-1].after_flows[dpid("n0", "int")]
    [out] = physical(outside.send(neighbour, to_internet(outside, neighbour)))
    assert (out.chassis, out.packet["ipv4_src"]) == ("n0", fip["floating_ip_address"])
    outside.update("floatingip", fip["id"], description="renamed")   # same target: kept
    assert all(not isinstance(message, CtFlushZone) for sent in outside.sent[-1:]
               for messages in sent.after_flows.values() for message in messages)


def test_a_routers_zone_is_flushed_where_it_snatted_when_its_gateway_goes_or_moves(outside):
    """Its SNAT entries would still NAT to its old address, and a zone left free goes
    to the next router that takes a gateway, maybe another tenant's."""
    router_id = outside.gateway["device_id"]
    zone = outside.planner.nat.zones.get(router_id)
    public = outside.qg["network_id"]
    outside.model.delete_floatingip(outside.fip["id"])   # it needs the gateway
    outside.written()
    outside.update("router", router_id, external_gateway_info={
        "network_id": public, "external_fixed_ips": [{"ip_address": "203.0.113.99"}]})
    assert zone in flushed(outside.sent[-1], "n2")               # another address
    assert not any(zone in flushed(outside.sent[-1], chassis) for chassis in ("n0", "n1"))
    outside.update("router", router_id, description="renamed")
    assert zone not in flushed(outside.sent[-1], "n2")           # the same: kept
    outside.update("router", router_id, external_gateway_info=None)
    assert zone in flushed(outside.sent[-1], "n2")
    _, subnet = outside.network("10.9.0.0/24")
    other = outside.router(subnet)
    outside.update("router", other["id"], external_gateway_info={"network_id": public})
    assert outside.planner.nat.zones.get(other["id"]) == zone   # given again, after its flush


def test_a_zone_its_router_left_while_its_snat_hypervisor_was_away_is_flushed_on_its_return(
        outside):
    """Meanwhile the zone went to another tenant's router, which starts clean there; the
    first router's later zone is flushed nowhere it is not used."""
    router_id = outside.gateway["device_id"]
    zone, public = outside.planner.nat.zones.get(router_id), outside.qg["network_id"]
    outside.model.delete_floatingip(outside.fip["id"])   # it needs the gateway
    outside.written()
    outside.switch_off("n2")
    outside.update("router", router_id, external_gateway_info=None)
    _, subnet = outside.network("10.9.0.0/24")
    other = outside.router(subnet)
    outside.update("router", other["id"], external_gateway_info={"network_id": public})
    assert outside.planner.nat.zones.get(other["id"]) == zone
    mark = len(outside.sent)
    outside.reconnect("n2")
    assert zone in [z for sent in outside.sent[mark:] for z in flushed(sent, "n2")]
    mark = len(outside.sent)
    outside.update("router", router_id, external_gateway_info={"network_id": public})
    assert zone not in [z for sent in outside.sent[mark:] for z in flushed(sent, "n2")]


def test_a_floating_ip_replaced_in_one_batch_serves_the_new_address(outside):
    """Deleting a port's floating IP and making another for it before the core flushes:
    the new one takes the flows the old one gives up, whichever group comes first (the
    engine goes through them by id: replaced until the new id sorts first)."""
    old = outside.fip
    for _ in range(64):
        outside.model.delete_floatingip(old["id"])
        new = outside.model.create_floatingip(parse_body("floatingip", RESOURCES[
            "floatingip"], {"floatingip": {"floating_network_id": old["floating_network_id"],
                                           "port_id": old["port_id"]}}, True))
        sent = outside.written()
        assert sent.fip_status == {new["id"]: "ACTIVE"}
        [out] = physical(outside.send(outside.floating, to_internet(outside, outside.floating)))
        assert (out.chassis, out.packet["ipv4_src"]) == ("n0", new["floating_ip_address"])
        if new["id"] < old["id"]:
            break
        old = new
    assert new["id"] < old["id"]


def test_a_floating_ip_never_takes_another_address_scope_outside(tmp_path):
    """A router without SNAT joins a scoped network and an unscoped one; the scoped VM
    has a floating IP. A packet for the unscoped VM is neither routed nor sent out
    through the floating IP: the router's own subnets are dropped before that."""
    cloud = FakeCloud(tmp_path)
    _, scoped, plain, router = scoped_router(cloud)
    fip = north_south(cloud, router, scoped)
    cloud.update("router", router["id"], external_gateway_info={
        "network_id": fip["floating_network_id"], "enable_snat": False})
    floating = {**cloud.model.records["port"][fip["port_id"]], "chassis": "n0"}
    floating["device"] = cloud.planner.topology.devices_of(fip["port_id"])["n0"].name
    other = cloud.vm(plain, "n1")
    gateway = next(port for port in cloud.planner.dvr_interfaces(router["id"])
                   if port["network_id"] == scoped["id"])
    result = cloud.send(floating, ipv4(floating["mac_address"], gateway["mac_address"],
                                       floating["fixed_ips"][0]["ip_address"],
                                       other["fixed_ips"][0]["ip_address"]))
    assert result.delivered_to() == [] and physical(result) == [], result.path()
    out = cloud.send(floating, ipv4(floating["mac_address"], gateway["mac_address"],
                                    floating["fixed_ips"][0]["ip_address"], INTERNET))
    assert [hop.packet["ipv4_src"] for hop in physical(out)] == [fip["floating_ip_address"]]


def test_a_router_without_snat_routes_its_vms_own_addresses_in_and_out(outside):
    """As Neutron's snat namespace with enable_snat false: out through the SNAT
    hypervisor from the gateway port's MAC, the source unchanged; the outside's answers to
    that address routed back to the VM, through its filter."""
    router_id, public = outside.gateway["device_id"], outside.qg["network_id"]
    outside.update("router", router_id, external_gateway_info={
        "network_id": public, "enable_snat": False})
    vm = outside.plain
    [out] = physical(outside.send(vm, to_internet(outside, vm)))
    address = vm["fixed_ips"][0]["ip_address"]
    assert (out.chassis, out.packet["ipv4_src"], out.packet["eth_src"], out.packet["eth_dst"]) \
        == ("n2", address, outside.qg["mac_address"], UPSTREAM_MAC)
    back = ipv4(UPSTREAM_MAC, outside.qg["mac_address"], INTERNET, address,
                vlan_vid=vlan(PUBLIC_VLAN), ct_state_after=T.CT_TRK | T.CT_EST | T.CT_RPL)
    result = simulate(outside.fabric(), "n2", "br-eth1", "eth1", back)
    assert result.delivered_to() == [("n1", vm["device"])]
    assert ("n1", "br-int", T.INT_BASE_INGRESS) in result.path()
    assert result.packet_at("n1", vm["device"])["eth_src"] == outside.gateway["mac_address"]


def test_a_router_without_snat_follows_the_external_pools_address_scope(tmp_path):
    """Out unchanged only within the external network's scope: when its pool leaves its
    scope, an unscoped network behind the router is routed out at once."""
    cloud = FakeCloud(tmp_path)
    scope = cloud.create("address_scope", name="public", ip_version=4)
    pool = cloud.create("subnetpool", name="public", prefixes=["203.0.113.0/24"],
                        default_prefixlen=24, address_scope_id=scope["id"])
    network, subnet = cloud.network()
    router = cloud.router(subnet)
    public = cloud.create("network", **{"provider:network_type": "vlan",
                                        "provider:physical_network": "physnet1",
                                        "provider:segmentation_id": PUBLIC_VLAN})
    cloud.create("subnet", network_id=public["id"], ip_version=4, subnetpool_id=pool["id"])
    cloud.update("network", public["id"], **{"router:external": True})
    cloud.update("router", router["id"], external_gateway_info={
        "network_id": public["id"], "enable_snat": False})
    vm = cloud.vm(network, "n1")
    cloud.upstream_answers("n2")
    cloud.gateway = cloud.planner.dvr_interfaces(router["id"])[0]
    assert physical(cloud.send(vm, to_internet(cloud, vm))) == []   # another scope
    cloud.update("subnetpool", pool["id"], address_scope_id=None)
    assert [out.chassis for out in physical(cloud.send(vm, to_internet(cloud, vm)))] == ["n2"]


def test_a_new_upstream_gateway_is_resolved_and_snat_follows_it(outside):
    """The external subnet's gateway_ip is the routers' next hop: moved, it is asked for
    and SNAT sends to its MAC."""
    public = outside.fip["floating_network_id"]
    [subnet_id] = outside.model.subnets_of[public]
    outside.update("subnet", subnet_id, gateway_ip="203.0.113.254",
                   allocation_pools=[{"start": "203.0.113.2", "end": "203.0.113.200"}])
    zone = outside.planner.nat.zones.get(outside.gateway["device_id"])
    assert zone not in flushed(outside.sent[-1], "n2")   # its connections wait for the MAC
    asked = [packet.Packet(message.data).get_protocol(arp.arp).dst_ip
             for message in outside.sent[-1].after_flows.get(dpid("n2", "int"), [])
             if isinstance(message, PacketOut)]
    assert "203.0.113.254" in asked
    moved = "fa:16:3e:aa:bb:cc"
    outside.upstream_answers("n2", ip="203.0.113.254", mac=moved)
    [out] = physical(outside.send(outside.plain, to_internet(outside, outside.plain)))
    assert (out.chassis, out.packet["eth_dst"]) == ("n2", moved)


def test_the_upstream_gateways_gratuitous_arp_moves_snat_to_its_new_mac(outside):
    """A failover upstream announces its address from another MAC: the hypervisors that
    speak to it send that up and switch it on, as any broadcast of the network."""
    moved = "52:54:00:00:00:99"
    garp = arp_request(moved, UPSTREAM_IP, UPSTREAM_IP, vlan_vid=vlan(PUBLIC_VLAN))
    result = simulate(outside.fabric(), "n2", "br-eth1", "eth1", garp)
    assert [hop.chassis for hop in result.of_kind("controller")] == ["n2"]
    assert ("n2", "br-int", T.INT_TRANSIENT) in result.path()       # and switched on
    outside.from_upstream("n2", arp.ARP_REQUEST, UPSTREAM_IP, moved, UPSTREAM_IP)
    outside.flush()
    [out] = physical(outside.send(outside.plain, to_internet(outside, outside.plain)))
    assert (out.chassis, out.packet["eth_dst"]) == ("n2", moved)


def test_a_vm_on_the_external_network_gets_the_upstream_gateways_arp_answer(outside):
    """The controller learns the gateway's MAC from every answer it gives, and the VM
    that asked gets it too."""
    public = outside.qg["network_id"]
    provider_vm = outside.vm({"id": public}, "n0")
    answer = {**arp_request(UPSTREAM_MAC, UPSTREAM_IP, provider_vm["fixed_ips"][0]["ip_address"],
                            vlan_vid=vlan(PUBLIC_VLAN)),
              "arp_op": 2, "eth_dst": provider_vm["mac_address"],
              "arp_tha": provider_vm["mac_address"]}
    result = simulate(outside.fabric(), "n0", "br-eth1", "eth1", answer)
    assert result.delivered_to() == [("n0", provider_vm["device"])]
    assert [hop.chassis for hop in result.of_kind("controller")] == ["n0"]


def test_a_vm_on_the_external_network_reaches_a_floating_ip_of_its_own_hypervisor(outside):
    """n0 answers its ARP for the floating IP of n0's VM and DNATs what it sends there, as
    it does for the wire: placement does not decide reachability."""
    public = outside.qg["network_id"]
    floating, fip = outside.floating, outside.fip["floating_ip_address"]
    fg = outside.model.fip_gateway_port(public, "n0")
    for chassis in ("n0", "n1"):
        provider_vm = outside.vm({"id": public}, chassis)
        mac, address = provider_vm["mac_address"], provider_vm["fixed_ips"][0]["ip_address"]
        if chassis == "n0":   # the far one is answered from the wire (n0's own flows)
            answer = outside.send(provider_vm, arp_request(mac, address, fip)).packet_at(
                chassis, provider_vm["device"])
            assert (answer["arp_op"], answer["arp_sha"]) == (2, fg["mac_address"])
        result = outside.send(provider_vm, ipv4(mac, fg["mac_address"], address, fip,
                                                ct_state_after=T.CT_TRK | T.CT_NEW))
        assert result.delivered_to() == [("n0", floating["device"])], chassis
        assert result.packet_at("n0", floating["device"])["ipv4_dst"] == \
            floating["fixed_ips"][0]["ip_address"]


def test_an_external_subnet_without_dhcp_brings_and_takes_its_gateways_answers(outside):
    """Its gateway is a next hop the hypervisors ask for: its answers' flows come and
    go with the subnet (no DHCP port changes with it to recompute the network)."""
    public = outside.qg["network_id"]

    def answer_flows() -> set[str]:
        return {dict(flow.match).get("arp_spa") for group in outside.held("n2", "int").values()
                for flow in group.values() if flow.builder == "nat.neighbour_flows"}

    assert answer_flows() == {UPSTREAM_IP}
    subnet = outside.create("subnet", network_id=public, cidr="192.0.2.0/24", ip_version=4,
                            enable_dhcp=False)
    assert answer_flows() == {UPSTREAM_IP, "192.0.2.1"}
    outside.model.delete_subnet(subnet["id"])
    outside.written()
    assert answer_flows() == {UPSTREAM_IP}


def test_a_floating_ip_recomputed_while_its_br_int_was_away_is_active_again_with_it(outside):
    fip_id = outside.fip["id"]
    outside.core.datapath_down(dpid("n0", "int"))
    outside.update("port", outside.fip["port_id"], name="renamed")   # recomputed meanwhile
    assert outside.sent[-1].fip_status == {fip_id: "DOWN"}
    back = outside.take(outside.core.datapath_up(dpid("n0", "int")))
    assert back.fip_status == {fip_id: "ACTIVE"}     # written once its flows are confirmed
    assert back.fip_bridges == {fip_id: frozenset(dpid("n0", role)
                                                  for role in ("int", "tun", "phys"))}
    assert floatingip_group(fip_id) in outside.held("n0", "int")


def test_an_active_written_late_never_overwrites_a_later_down(outside):
    """The shim writes an ACTIVE once the serving bridges confirm, a DOWN at once: a
    disassociation while the association's barriers are out must stay DOWN."""
    fip = outside.fip
    outside.update("floatingip", fip["id"], port_id=outside.plain["id"])
    associated = outside.sent[-1]
    outside.update("floatingip", fip["id"], port_id=None)
    disassociated = outside.sent[-1]
    assert disassociated.fip_status == {fip["id"]: "DOWN"}
    outside.core.floatingip_status(disassociated.fip_status, disassociated.fip_issue)
    outside.core.floatingip_status(associated.fip_status, associated.fip_issue)   # late
    assert outside.model.records["floatingip"][fip["id"]]["status"] == "DOWN"


@pytest.mark.parametrize("snat", [True, False])
def test_a_vlan_network_on_the_external_networks_physnet_goes_out_and_back(tmp_path, snat):
    """The tenant VLAN network and the external one share physnet1: on the SNAT
    hypervisor the frame comes in by int-br-eth1 and leaves by it, as does the reply;
    the routed frame is a new one, not a hairpin OVS would drop."""
    cloud = FakeCloud(tmp_path)
    network, subnet = cloud.network("10.1.0.0/24", network_type="vlan",
                                    physical_network="physnet1", segmentation_id=150)
    router = cloud.router(subnet)
    vm = cloud.vm(network, "n1")
    public = north_south(cloud, router, network)["floating_network_id"]
    cloud.update("router", router["id"], external_gateway_info={
        "network_id": public, "enable_snat": snat})
    gateway = cloud.planner.dvr_interfaces(router["id"])[0]
    qg = cloud.model.gateway_port_of(router["id"])
    address = vm["fixed_ips"][0]["ip_address"]
    out = physical(cloud.send(vm, ipv4(vm["mac_address"], gateway["mac_address"], address,
                                       INTERNET)))
    source = qg["fixed_ips"][0]["ip_address"] if snat else address
    assert [(o.chassis, o.packet["ipv4_src"], o.packet["vlan_vid"]) for o in out] == [
        ("n1", address, vlan(150)), ("n2", source, vlan(PUBLIC_VLAN))]   # to n2, then out
    back = ipv4(UPSTREAM_MAC, qg["mac_address"], INTERNET, source, vlan_vid=vlan(PUBLIC_VLAN),
                icmpv4_type=0, ct_state_after=T.CT_TRK | T.CT_EST | T.CT_RPL,
                ct_nat_after=(("ipv4_dst", address),))
    result = simulate(cloud.fabric(), "n2", "br-eth1", "eth1", back)
    assert result.delivered_to() == [("n1", vm["device"])]


def test_two_external_networks_with_one_gateway_address_each_learn_their_own_mac(tmp_path):
    """physnet1's VLAN 130 and a flat network on physnet2, both behind 203.0.113.1: an
    answer from one wire is that network's gateway only."""
    cloud = FakeCloud(tmp_path, physnets=2)
    network, subnet = cloud.network()
    north_south(cloud, cloud.router(subnet), network)   # public, answered on VLAN 130
    other, other_subnet = cloud.network("10.2.0.0/24")
    flat, _ = cloud.network("203.0.113.0/24", network_type="flat", physical_network="physnet2")
    cloud.update("network", flat["id"], **{"router:external": True})
    cloud.update("router", cloud.router(other_subnet)["id"],
                 external_gateway_info={"network_id": flat["id"]})
    neighbours = cloud.planner.nat.neighbours
    public = next(net["id"] for net in cloud.model.records["network"].values()
                  if net["provider:segmentation_id"] == PUBLIC_VLAN)
    assert neighbours.get(public, UPSTREAM_IP) == UPSTREAM_MAC
    assert neighbours.get(flat["id"], UPSTREAM_IP) is None       # not from VLAN 130's answer
    flat_mac, physnet2_patch = "52:54:00:00:00:02", PHYSNETS[1][2]
    cloud.from_upstream("n2", arp.ARP_REPLY, UPSTREAM_IP, flat_mac, "203.0.113.9", vid=None,
                        in_port=physnet2_patch)
    assert (neighbours.get(flat["id"], UPSTREAM_IP), neighbours.get(public, UPSTREAM_IP)) == (
        flat_mac, UPSTREAM_MAC)
    cloud.upstream_answers("n2", mac="52:54:00:00:00:03", vid=None)   # physnet1, untagged
    assert (neighbours.get(flat["id"], UPSTREAM_IP), neighbours.get(public, UPSTREAM_IP)) == (
        flat_mac, UPSTREAM_MAC)                                  # neither network's wire


def floating_vm(cloud, chassis: str) -> tuple[dict, str]:
    """A VM of the routed network on the chassis with a floating IP, unfiltered (its
    ingress rules are not what these tests are about): (it, that IP)."""
    network = {"id": cloud.gateway["network_id"]}
    vm = cloud.vm(network, chassis, port_security_enabled=False)
    fip = cloud.create("floatingip", floating_network_id=cloud.qg["network_id"],
                       port_id=vm["id"])
    return vm, fip["floating_ip_address"]


def test_floating_ips_reach_each_other_on_link_never_by_the_upstream(outside):
    """As Neutron's fip- namespaces, which find each other on the external network: to a
    floating IP of another hypervisor straight to that hypervisor's fg- MAC, to one of
    its own hypervisor without leaving it; the upstream router is never asked to send a
    frame back where it came from (rp_filter or no hairpin would drop it there)."""
    public = outside.qg["network_id"]
    far, far_ip = floating_vm(outside, "n1")
    near, near_ip = floating_vm(outside, "n0")
    source = outside.floating
    fixed = source["fixed_ips"][0]["ip_address"]
    result = outside.send(source, to_internet(outside, source, ipv4_dst=far_ip))
    [out] = physical(result)
    fg_far = outside.model.fip_gateway_port(public, "n1")["mac_address"]
    assert (out.chassis, out.packet["eth_dst"], out.packet["ipv4_src"]) == (
        "n0", fg_far, outside.fip["floating_ip_address"])
    assert result.delivered_to() == [("n1", far["device"])]
    assert result.packet_at("n1", far["device"])["ipv4_dst"] == ip(far)
    result = outside.send(source, to_internet(outside, source, ipv4_dst=near_ip))
    assert result.delivered_to() == [("n0", near["device"])] and not physical(result)
    arrived = result.packet_at("n0", near["device"])
    assert (arrived["ipv4_src"], arrived["ipv4_dst"]) == (outside.fip["floating_ip_address"],
                                                          ip(near))
    assert fixed != arrived["ipv4_src"]


def test_snat_and_floating_ips_reach_each_other_on_link(outside):
    """A VM without a floating IP (SNAT on n2) to a floating IP on n1: from n2 to n1's
    fg- MAC; the floating IP's VM to the router's gateway address: to its qg- MAC."""
    public = outside.qg["network_id"]
    far, far_ip = floating_vm(outside, "n1")
    result = outside.send(outside.plain, to_internet(outside, outside.plain, ipv4_dst=far_ip))
    out = physical(result)
    assert [(o.chassis, o.packet["eth_dst"]) for o in out] == [
        ("n2", outside.model.fip_gateway_port(public, "n1")["mac_address"])]
    assert result.delivered_to() == [("n1", far["device"])]
    gateway_ip = outside.qg["fixed_ips"][0]["ip_address"]
    result = outside.send(far, to_internet(outside, far, ipv4_dst=gateway_ip, icmpv4_type=0))
    assert [(o.chassis, o.packet["eth_dst"]) for o in physical(result)] == [
        ("n1", outside.qg["mac_address"])]


def test_with_no_hypervisor_to_hold_it_the_gateway_address_answers_no_ping(tmp_path,
                                                                           monkeypatch):
    """No dvr_snat hypervisor: nothing holds the router's gateway address, so its VMs'
    pings to it go unanswered, as they would in Neutron (no snat namespace anywhere),
    rather than tell them the way out works."""
    monkeypatch.setattr(fake_cloud, "SNAT_MODES", {})
    cloud = FakeCloud(tmp_path)
    network, subnet = cloud.network()
    router = cloud.router(subnet)
    vm = cloud.vm(network, "n1")
    north_south(cloud, router, network)
    gateway = cloud.planner.dvr_interfaces(router["id"])[0]
    gateway_ip = cloud.model.gateway_port_of(router["id"])["fixed_ips"][0]["ip_address"]
    ping = ipv4(vm["mac_address"], gateway["mac_address"], ip(vm), gateway_ip,
                ct_state_after=(T.CT_TRK | T.CT_NEW, T.CT_TRK | T.CT_EST | T.CT_RPL))
    assert cloud.send(vm, ping).delivered_to() == []


def test_a_vm_behind_snat_and_a_floating_ip_of_the_snat_hypervisor_talk_there(outside):
    """The floating IP's VM is on n2, where the router SNATs: the request goes on-link
    into its DNAT, and the reply to the router's gateway address into the un-SNAT,
    neither leaving n2 for the upstream (which would have to send them back)."""
    far, far_ip = floating_vm(outside, "n2")
    plain = outside.vm({"id": outside.gateway["network_id"]}, "n0",
                       port_security_enabled=False)
    result = outside.send(plain, to_internet(outside, plain, ipv4_dst=far_ip))
    assert result.delivered_to() == [("n2", far["device"])]
    assert [o.chassis for o in physical(result)] == []
    gateway_ip = outside.qg["fixed_ips"][0]["ip_address"]
    back = ipv4(far["mac_address"], outside.gateway["mac_address"], ip(far), gateway_ip,
                icmpv4_type=0, ct_state_after=T.CT_TRK | T.CT_EST | T.CT_RPL,
                ct_nat_after=(("ipv4_dst", ip(plain)),))
    result = outside.send(far, back)
    assert result.delivered_to() == [("n0", plain["device"])] and not physical(result)


def test_a_vm_to_its_own_floating_ip_goes_by_the_upstream(outside):
    """In one pass its zone would SNAT and DNAT one connection, which conntrack does
    not do: it leaves for the upstream gateway, which sends it back in by the wire."""
    source = outside.floating
    [out] = physical(outside.send(source, to_internet(
        outside, source, ipv4_dst=outside.fip["floating_ip_address"])))
    assert (out.chassis, out.packet["eth_dst"], out.packet["ipv4_src"]) == (
        "n0", UPSTREAM_MAC, outside.fip["floating_ip_address"])
