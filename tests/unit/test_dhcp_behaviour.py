"""DHCP answered on the VM's own hypervisor (tests/unit/fake_cloud.py): where a VM's DHCP
frames go through the flows the core sent (simulator), and what the core answers to the
packet-in they become, read back with Ryu's DHCP parser (tests/unit/dhcp_client.py)."""
import ipaddress

import pytest

from ryu_app.dhcp import server
from ryu_app.model.errors import Conflict
from ryu_app.outputs import PacketOut
from ryu_app.pipeline import tables as T
from ryu_app.pipeline.simulator import BROADCAST, arp_request, ipv4
from tests.unit.dhcp_client import read_reply, request_frame
from tests.unit.fake_cloud import FakeCloud, dpid

DISCOVER, REQUEST, INFORM, RELEASE = server.DISCOVER, server.REQUEST, server.INFORM, server.RELEASE


@pytest.fixture
def cloud(tmp_path):
    return FakeCloud(tmp_path)


def ip(port: dict) -> str:
    return port["fixed_ips"][0]["ip_address"]


def dhcp_server(cloud: FakeCloud, network: dict) -> dict:
    return cloud.model.dhcp_port_of(network["id"])


def discover(vm: dict, **fields) -> dict:
    return ipv4(vm["mac_address"], BROADCAST, "0.0.0.0", "255.255.255.255", "udp",
                udp_src=68, udp_dst=67, **fields)


def ask(cloud: FakeCloud, vm: dict, message_type: int, **request) -> dict | None:
    """The core's answer to a DHCP message from the VM's device (None: no answer)."""
    bridge = cloud.topology.bridge(vm["chassis"], "int")
    ofport = cloud.topology.port(bridge, vm["device"]).ofport
    frame = request_frame(request.pop("mac", vm["mac_address"]), message_type, **request)
    outputs = cloud.core.packet_in(bridge.dpid, "action", ofport, frame)
    sent = outputs.after_flows.get(bridge.dpid, [])
    assert all(isinstance(m, PacketOut) and m.port == ofport for m in sent)
    return read_reply(sent[0].data) if sent else None


def went_to_controller(result, chassis: str) -> bool:
    return [(o.chassis, o.table, o.reason) for o in result.of_kind("controller")] == [
        (chassis, T.INT_DHCP, "action")]


# ------------------------------------------------------------------ the model


def test_a_subnet_with_dhcp_gives_its_network_one_dhcp_port_and_the_last_one_takes_it(cloud):
    network, subnet = cloud.network()
    port = dhcp_server(cloud, network)
    assert port["device_owner"] == "network:dhcp"
    assert port["device_id"].startswith("dhcp") and port["device_id"].endswith(network["id"])
    assert [fixed["subnet_id"] for fixed in port["fixed_ips"]] == [subnet["id"]]
    second = cloud.create("subnet", network_id=network["id"], ip_version=4, cidr="10.0.1.0/24")
    assert len(dhcp_server(cloud, network)["fixed_ips"]) == 2
    cloud.model.update_subnet(subnet["id"], {"enable_dhcp": False})
    assert [f["subnet_id"] for f in dhcp_server(cloud, network)["fixed_ips"]] == [second["id"]]
    cloud.model.delete_subnet(second["id"])
    assert dhcp_server(cloud, network) is None
    assert [p for p in cloud.model.all("port") if p["network_id"] == network["id"]] == []


# ------------------------------------------------------------------ the flows


def test_a_discover_reaches_the_controller_on_the_vms_hypervisor_and_goes_nowhere_else(cloud):
    network, _ = cloud.network()
    a, _b = cloud.vm(network, "n0"), cloud.vm(network, "n1")
    result = cloud.send(a, discover(a))
    assert went_to_controller(result, "n0")
    assert result.delivered_to() == []
    assert {hop.chassis for hop in result.hops} == {"n0"}    # no tunnel carried it
    assert ("n0", "br-int", T.INT_DHCP) in result.path()


def test_a_unicast_renewal_to_the_server_reaches_the_controller_too(cloud):
    network, _ = cloud.network()
    a = cloud.vm(network, "n0")
    server_port = dhcp_server(cloud, network)
    renewal = ipv4(a["mac_address"], server_port["mac_address"], ip(a), ip(server_port), "udp",
                   udp_src=68, udp_dst=67)
    assert went_to_controller(cloud.send(a, renewal), "n0")


def test_arp_for_the_dhcp_server_is_answered_on_the_vms_hypervisor(cloud):
    network, _ = cloud.network()
    a, _b = cloud.vm(network, "n0"), cloud.vm(network, "n1")
    server_port = dhcp_server(cloud, network)
    result = cloud.send(a, arp_request(a["mac_address"], ip(a), ip(server_port)))
    reply = result.packet_at("n0", a["device"])
    assert (reply["arp_op"], reply["arp_sha"], reply["arp_spa"]) == (
        2, server_port["mac_address"], ip(server_port))
    assert {hop.chassis for hop in result.hops} == {"n0"}


def test_a_vm_acting_as_dhcp_server_reaches_nobody(cloud):
    network, _ = cloud.network()
    rogue, _victim = cloud.vm(network, "n0"), cloud.vm(network, "n1")
    offer = ipv4(rogue["mac_address"], BROADCAST, ip(rogue), "255.255.255.255", "udp",
                 udp_src=67, udp_dst=68)
    result = cloud.send(rogue, offer)
    assert result.delivered_to() == [] and result.of_kind("controller") == []
    assert [(o.table, o.reason) for o in result.of_kind("dropped")] == [
        (T.INT_LOCAL_SWITCHING, "drop flow")]


def test_dhcp_disabled_leaves_requests_to_the_tenants_server_and_enabling_it_serves_them(
        cloud):
    """With DHCP off, a tenant may run its own server (PXE, say) on a port without port
    security: a filtered client's requests reach it on the network, as Neutron's
    firewall lets them out whatever the egress rules, and never the controller."""
    network = cloud.create("network")
    subnet = cloud.create("subnet", network_id=network["id"], ip_version=4,
                          cidr="10.0.0.0/24", enable_dhcp=False)
    other = cloud.create("network")
    cloud.create("subnet", network_id=other["id"], ip_version=4, cidr="10.0.0.0/24",
                 enable_dhcp=False)
    a = cloud.vm(network, "n0")
    own_servers = [cloud.vm(network, chassis, port_security_enabled=False)
                   for chassis in ("n0", "n1")]
    stranger = cloud.vm(other, "n0", port_security_enabled=False)
    result = cloud.send(a, discover(a))
    assert result.of_kind("controller") == []
    assert set(result.delivered_to()) == {(vm["chassis"], vm["device"]) for vm in own_servers}
    assert (stranger["chassis"], stranger["device"]) not in result.delivered_to()
    assert ask(cloud, a, DISCOVER) is None                   # nor answered if it got up
    spoofed = cloud.send(a, discover(a, eth_src="fa:16:3e:12:34:56"))
    assert spoofed.delivered_to() == []                      # from its own MAC only
    renewal = cloud.send(a, discover(a, ipv4_src=ip(a)))     # from its own address too
    assert set(renewal.delivered_to()) == set(result.delivered_to())
    borrowed = cloud.send(a, discover(a, ipv4_src=ip(own_servers[0])))
    assert borrowed.delivered_to() == []                     # no other source: a spoof
    assert borrowed.of_kind("dropped")[0].table == T.INT_BASE_EGRESS
    server = own_servers[1]   # its OFFER, unicast: the client's ingress lets it in
    offer = ipv4(server["mac_address"], a["mac_address"], ip(server), "10.0.0.77", "udp",
                 udp_src=67, udp_dst=68)
    assert cloud.send(server, offer).delivered_to() == [(a["chassis"], a["device"])]
    cloud.model.update_subnet(subnet["id"], {"enable_dhcp": True})
    cloud.written()
    assert went_to_controller(cloud.send(a, discover(a)), "n0")
    assert ask(cloud, a, DISCOVER)["yiaddr"] == ip(a)


def test_a_port_without_port_security_is_served_and_its_own_dhcp_server_passes(cloud):
    network, _ = cloud.network()
    open_vm = cloud.vm(network, "n0", port_security_enabled=False)
    neighbour = cloud.vm(network, "n0")
    assert went_to_controller(cloud.send(open_vm, discover(open_vm)), "n0")
    offer = ipv4(open_vm["mac_address"], BROADCAST, ip(open_vm), "255.255.255.255", "udp",
                 udp_src=67, udp_dst=68)
    assert ("n0", neighbour["device"]) in cloud.send(open_vm, offer).delivered_to()


def test_each_port_has_a_meter_set_with_its_flows_and_deleted_after_them(cloud):
    network, _ = cloud.network()
    a = cloud.vm(network, "n0")
    ofport = cloud.topology.port(cloud.topology.bridge("n0", "int"), a["device"]).ofport
    meter = T.dhcp_port_meter(ofport)
    plugged = [out.flow_mods[dpid("n0", "int")] for out in cloud.sent
               if dpid("n0", "int") in out.flow_mods]
    assert (meter, cloud.planner.dhcp_port_rate) in plugged[-1].meter_sets
    mods = cloud.unplug("n0", a["device"]).flow_mods[dpid("n0", "int")]
    assert mods.meter_deletes == [meter]
    assert any(meter_id == T.DHCP_BRIDGE_METER for out in plugged for meter_id, _ in
               out.meter_sets)


# ---------------------------------------------------------------- the answers


def test_discover_gets_an_offer_of_the_ports_address_from_the_dhcp_port(cloud):
    network, subnet = cloud.network()
    a = cloud.vm(network, "n0")
    server_port = dhcp_server(cloud, network)
    offer = ask(cloud, a, DISCOVER, xid=0xCAFE)
    assert (offer["type"], offer["yiaddr"], offer["xid"], offer["op"]) == (
        server.OFFER, ip(a), 0xCAFE, 2)
    assert (offer["eth_src"], offer["ip_src"]) == (server_port["mac_address"], ip(server_port))
    assert (offer["eth_dst"], offer["ip_dst"]) == (a["mac_address"], ip(a))
    assert (offer["sport"], offer["dport"]) == (67, 68)
    assert offer["ip_checksum_ok"] and offer["udp_checksum_ok"]
    options = offer["options"]
    assert ipaddress.IPv4Address(options[54]) == ipaddress.IPv4Address(ip(server_port))
    assert options[1] == ipaddress.IPv4Network(subnet["cidr"]).netmask.packed
    assert options[3] == ipaddress.IPv4Address(subnet["gateway_ip"]).packed
    assert int.from_bytes(options[26], "big") == 1450           # VXLAN
    assert int.from_bytes(options[51], "big") == 86400          # Neutron's lease
    assert 121 not in options and 6 not in options              # no host routes, no DNS


def test_request_for_its_address_is_acked_and_for_another_is_naked(cloud):
    network, _ = cloud.network()
    a = cloud.vm(network, "n0")
    own = ipaddress.IPv4Address(ip(a)).packed
    server_id = ipaddress.IPv4Address(ip(dhcp_server(cloud, network))).packed
    assert ask(cloud, a, REQUEST, opt_50=own, opt_54=server_id)["type"] == server.ACK
    nak = ask(cloud, a, REQUEST, opt_50=ipaddress.IPv4Address("10.0.0.99").packed)
    assert (nak["type"], nak["yiaddr"], nak["eth_dst"], nak["ip_dst"]) == (
        server.NAK, "0.0.0.0", BROADCAST, "255.255.255.255")
    assert 51 not in nak["options"]
    renewal = ask(cloud, a, REQUEST, ciaddr=ip(a), src_ip=ip(a))    # RENEWING: ciaddr
    assert (renewal["type"], renewal["ip_dst"], renewal["ciaddr"]) == (server.ACK, ip(a), ip(a))
    other_server = ipaddress.IPv4Address("10.0.0.250").packed
    assert ask(cloud, a, REQUEST, opt_50=own, opt_54=other_server) is None


def test_inform_gets_options_without_a_lease_and_release_gets_nothing(cloud):
    network, _ = cloud.network()
    a = cloud.vm(network, "n0")
    inform = ask(cloud, a, INFORM, ciaddr=ip(a), src_ip=ip(a))
    assert (inform["type"], inform["yiaddr"]) == (server.ACK, "0.0.0.0")
    assert 51 not in inform["options"] and 1 in inform["options"]
    assert ask(cloud, a, RELEASE, ciaddr=ip(a)) is None


def test_another_mac_on_the_port_gets_nothing(cloud):
    network, _ = cloud.network()
    a = cloud.vm(network, "n0", port_security_enabled=False)
    assert ask(cloud, a, DISCOVER, mac="02:00:00:00:00:99") is None


def test_a_vlan_network_gets_mtu_1500_and_dns_host_routes_and_extra_options(cloud):
    network = cloud.create("network", **{"provider:network_type": "vlan",
                                         "provider:physical_network": "physnet1"})
    cloud.create("subnet", network_id=network["id"], ip_version=4, cidr="192.168.5.0/24",
                 dns_nameservers=["192.0.2.53", "192.0.2.54"],
                 host_routes=[{"destination": "172.16.0.0/16", "nexthop": "192.168.5.254"}])
    a = cloud.vm(network, "n1", extra_dhcp_opts=[
        {"opt_name": "tftp-server-address", "opt_value": "192.168.5.9"},
        {"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
        {"opt_name": "42", "opt_value": "192.0.2.123"}])
    options = ask(cloud, a, DISCOVER)["options"]
    assert int.from_bytes(options[26], "big") == 1500
    assert options[6] == bytes([192, 0, 2, 53, 192, 0, 2, 54])
    # RFC 3442: 172.16/16 via .254, then the default route via the gateway
    assert options[121] == bytes([16, 172, 16, 192, 168, 5, 254, 0, 192, 168, 5, 1])
    assert options[150] == bytes([192, 168, 5, 9]) and options[67] == b"pxelinux.0"
    assert options[42] == bytes([192, 0, 2, 123])


@pytest.mark.parametrize("gateway_ip, router, default_via", [
    ("10.0.0.1", [10, 0, 0, 1], [10, 0, 0, 1]),       # the gateway wins, in both options
    (None, [10, 0, 0, 254], [10, 0, 0, 254])])        # no gateway: the route's next hop
def test_a_default_host_route_agrees_with_the_router_option(cloud, gateway_ip, router,
                                                           default_via):
    """RFC 3442 clients ignore option 3 when 121 is there, and others read only 3: both
    must name one router, as Neutron's dnsmasq driver does."""
    network = cloud.create("network")
    cloud.create("subnet", network_id=network["id"], ip_version=4, cidr="10.0.0.0/24",
                 gateway_ip=gateway_ip, host_routes=[
                     {"destination": "0.0.0.0/0", "nexthop": "10.0.0.254"},
                     {"destination": "172.16.0.0/16", "nexthop": "10.0.0.253"}])
    options = ask(cloud, cloud.vm(network, "n0"), DISCOVER)["options"]
    assert options[3] == bytes(router)
    assert options[121] == bytes([16, 172, 16, 10, 0, 0, 253, 0, *default_via])
    assert options[249] == options[121]    # Microsoft's, as Neutron's dnsmasq sends it


def test_ipxe_tagged_options_go_to_ipxe_clients_and_the_others_to_the_rest(cloud):
    """Ironic's pair: a PXE ROM gets iPXE to chain-load, iPXE (its user class says so,
    or it sends its option 175) gets its script."""
    network, _ = cloud.network()
    a = cloud.vm(network, "n0", extra_dhcp_opts=[
        {"opt_name": "tag:!ipxe,67", "opt_value": "undionly.kpxe"},
        {"opt_name": "tag:ipxe,bootfile-name", "opt_value": "http://192.0.2.8/boot.ipxe"},
        {"opt_name": "tftp-server", "opt_value": "192.0.2.8"}])
    rom = ask(cloud, a, DISCOVER)["options"]
    assert (rom[67], rom[66]) == (b"undionly.kpxe", b"192.0.2.8")
    for ipxe in ({"opt_77": b"iPXE"}, {"opt_175": bytes([177, 1, 1])}):
        options = ask(cloud, a, DISCOVER, **ipxe)["options"]
        assert (options[67], options[66]) == (b"http://192.0.2.8/boot.ipxe", b"192.0.2.8")


def test_a_blank_router_option_sends_no_gateway(cloud):
    network, _ = cloud.network()
    a = cloud.vm(network, "n0", extra_dhcp_opts=[{"opt_name": "router", "opt_value": ""}])
    assert 3 not in ask(cloud, a, DISCOVER)["options"]


def test_broadcast_flag_gets_a_broadcast_offer(cloud):
    network, _ = cloud.network()
    a = cloud.vm(network, "n0")
    offer = ask(cloud, a, DISCOVER, flags=0x8000)
    assert (offer["eth_dst"], offer["ip_dst"]) == (BROADCAST, "255.255.255.255")


def test_two_tenants_with_one_cidr_each_get_their_own_answer(cloud):
    red, _ = cloud.network("10.0.0.0/24")
    blue, _ = cloud.network("10.0.0.0/24")
    r, b = cloud.vm(red, "n0"), cloud.vm(blue, "n0")
    red_offer, blue_offer = ask(cloud, r, DISCOVER), ask(cloud, b, DISCOVER)
    assert red_offer["yiaddr"] == ip(r) and blue_offer["yiaddr"] == ip(b)
    assert red_offer["eth_src"] == dhcp_server(cloud, red)["mac_address"]
    assert blue_offer["eth_src"] == dhcp_server(cloud, blue)["mac_address"]


def test_a_dhcp_ports_mac_may_change_and_a_bound_vms_may_not(cloud):
    network, _ = cloud.network()
    a = cloud.vm(network, "n0")
    server_port = dhcp_server(cloud, network)
    cloud.model.update_port(server_port["id"], {"mac_address": "fa:16:3e:00:0d:99"})
    cloud.written()
    assert ask(cloud, a, DISCOVER)["eth_src"] == "fa:16:3e:00:0d:99"   # served at once
    with pytest.raises(Conflict, match="bound"):
        cloud.model.update_port(a["id"], {"mac_address": "fa:16:3e:00:0d:98"})


def test_a_dhcp_reply_a_router_brings_is_judged_by_the_ports_rules(cloud):
    """Whatever its source address: a VM without port security on another network may
    write one of its target's subnet, and the router joined them after both VMs came."""
    near, near_subnet = cloud.network()
    far, far_subnet = cloud.network("10.1.0.0/24")
    target = cloud.vm(near, "n0")
    sender = cloud.vm(far, "n1", port_security_enabled=False)
    router = cloud.router(near_subnet, far_subnet)
    gateway = next(port for port in cloud.planner.dvr_interfaces(router["id"])
                   if port["network_id"] == far["id"])
    for source in ("10.1.0.99", "10.0.0.99"):
        offer = ipv4(sender["mac_address"], gateway["mac_address"], source, ip(target), "udp",
                     udp_src=67, udp_dst=68)
        result = cloud.send(sender, offer)
        assert result.delivered_to() == [], source
        assert ("n0", "br-int", T.INT_RULES_INGRESS) in result.path()


def test_a_next_server_written_with_blanks_is_served_as_its_address(cloud):
    """The API takes " 10.0.0.9" (dnsmasq would); before, every reply to the port then
    failed to pack, and the VM never got an address."""
    network, _ = cloud.network()
    vm = cloud.vm(network, "n0", extra_dhcp_opts=[
        {"opt_name": "server-ip-address", "opt_value": " 10.0.0.9 "}])
    assert ask(cloud, vm, server.DISCOVER)["siaddr"] == "10.0.0.9"


def test_a_request_with_options_overloaded_into_file_is_answered(cloud):
    """RFC 2131 lets a client carry options in 'file' (option 52), ended by 0xff; Ryu's
    parser, which the ARP check ran on every frame sent up, raised on that byte."""
    network, _ = cloud.network()
    vm = cloud.vm(network, "n0")
    frame = bytearray(request_frame(vm["mac_address"], server.DISCOVER, opt_52=b"\x01"))
    file_at = 14 + 20 + 8 + 108
    frame[file_at:file_at + 5] = bytes([55, 2, 1, 3, 0xFF])
    bridge = cloud.topology.bridge("n0", "int")
    ofport = cloud.topology.port(bridge, vm["device"]).ofport
    sent = cloud.core.packet_in(bridge.dpid, "action", ofport, bytes(frame)).after_flows[
        bridge.dpid]
    assert read_reply(sent[0].data)["type"] == server.OFFER


def test_what_is_not_the_servers_to_answer_gets_no_answer(cloud):
    """A renewal unicast to another server, a relayed request (relays are not served)
    and an INFORM without ciaddr go unanswered, as dnsmasq leaves them; before, the
    controller ACKed the first two as if they were its own and sent the third to
    0.0.0.0."""
    network, _ = cloud.network()
    vm = cloud.vm(network, "n0")
    assert ask(cloud, vm, server.REQUEST, ciaddr=ip(vm), src_ip=ip(vm), dst_ip="10.0.0.250",
               dst_mac="fa:16:3e:00:00:fa") is None
    assert ask(cloud, vm, server.INFORM, src_ip=ip(vm)) is None
    frame = bytearray(request_frame(vm["mac_address"], server.DISCOVER))
    giaddr_at = 14 + 20 + 8 + 24
    frame[giaddr_at:giaddr_at + 4] = ipaddress.IPv4Address("192.0.2.1").packed
    bridge = cloud.topology.bridge("n0", "int")
    ofport = cloud.topology.port(bridge, vm["device"]).ofport
    assert not cloud.core.packet_in(bridge.dpid, "action", ofport, bytes(frame)).after_flows
    # what is its: the renewal to it, unicast back
    renewed = ask(cloud, vm, server.REQUEST, ciaddr=ip(vm), src_ip=ip(vm),
                  dst_ip=ip(dhcp_server(cloud, network)))
    assert (renewed["type"], renewed["ip_dst"], renewed["ciaddr"]) == (server.ACK, ip(vm), ip(vm))


def test_an_offer_carries_no_ciaddr_and_goes_to_the_offered_address(cloud):
    """RFC 2131 table 3 (dnsmasq clears a stale one): a buggy client's DISCOVER with an
    old ciaddr was answered there."""
    network, _ = cloud.network()
    vm = cloud.vm(network, "n0")
    offer = ask(cloud, vm, server.DISCOVER, ciaddr="10.0.0.77")
    assert (offer["ciaddr"], offer["ip_dst"]) == ("0.0.0.0", ip(vm))
