"""The offline pipeline simulator: OpenFlow 1.3 as Open vSwitch runs it, on hand-built
bridges and on three hypervisors wired with the controller's own flow builders."""
import pytest

from ryu_app.pipeline import br_int, br_phys, br_tun, security
from ryu_app.pipeline.flow import ETH_TYPE_8021Q, Flow, match, vlan
from ryu_app.pipeline.security import FilteredPort, RuleMatch
from ryu_app.pipeline.simulator import (BROADCAST, PACKET_OUT, Fabric, SimBridge, arp_request,
                                        inject, ipv4, simulate)
from topology.naming import PortInfo, tunnel_port_name

NORMAL = ("output", "normal")
MAC1, MAC2, MAC3 = "fa:16:3e:00:00:01", "fa:16:3e:00:00:02", "fa:16:3e:00:00:03"


def one_bridge(flows, ports=None, tags=None, fdb=None) -> Fabric:
    """A lone bridge "br0" on hv1, with VM ports tap1..tap3 unless given others."""
    ports = ports or [PortInfo(f"tap{n}", n, "vm") for n in (1, 2, 3)]
    return Fabric([SimBridge(1, "hv1", "br0", "int", flows, ports, tags or {},
                             fdb=fdb or {})])


def ping(dst_ip="10.0.0.5", dst_mac=MAC2, **fields):
    return ipv4(MAC1, dst_mac, "10.0.0.1", dst_ip, **fields)


# ------------------------------------------------------------- table lookup

def test_the_highest_priority_match_wins_and_ties_go_to_the_first_given():
    flows = [Flow(0, 10, match(eth_type=0x0800), (("output", 2),)),
             Flow(0, 20, match(ipv4_dst="10.0.0.5"), (("output", 3),)),
             Flow(0, 1, (), (("output", 2),))]
    fabric = one_bridge(flows)
    assert simulate(fabric, "hv1", "br0", "tap1", ping()).delivered_to() == [("hv1", "tap3")]
    result = simulate(fabric, "hv1", "br0", 1, ping("10.0.0.6"))
    assert result.delivered_to() == [("hv1", "tap2")]
    assert result.steps[0].flow is flows[0]   # the step keeps the Flow that matched
    tied = [Flow(0, 5, match(eth_type=0x0800), (("output", 3),)),
            Flow(0, 5, match(ipv4_dst="10.0.0.5"), (("output", 2),))]
    assert simulate(one_bridge(tied), "hv1", "br0", 1, ping()).delivered_to() == [
        ("hv1", "tap3")]
    assert simulate(one_bridge(tied[::-1]), "hv1", "br0", 1, ping()).delivered_to() == [
        ("hv1", "tap2")]


def test_masked_matches_and_missing_fields():
    flows = [Flow(0, 50, match(arp_tpa="10.0.0.5"), (("output", 3),)),  # never for IP
             Flow(0, 50, match(tcp_src=0), (("output", 3),)),   # nor a field it lacks
             Flow(0, 10, match(ipv4_dst=("10.0.0.128", "255.255.255.128")), (("output", 2),)),
             Flow(0, 10, match(eth_dst=("01:00:00:00:00:00", "01:00:00:00:00:00")),
                  (("output", 3),)),
             Flow(0, 0)]
    fabric = one_bridge(flows)
    assert simulate(fabric, "hv1", "br0", 1, ping("10.0.0.200")).delivered_to() == [
        ("hv1", "tap2")]
    assert simulate(fabric, "hv1", "br0", 1, ping("10.0.0.5")).of_kind("delivered") == []
    assert simulate(fabric, "hv1", "br0", 1, ping("10.0.0.5", BROADCAST)).delivered_to() == [
        ("hv1", "tap3")]
    assert simulate(fabric, "hv1", "br0", 1,
                    ping("10.0.0.5", "01:00:5e:00:00:05")).delivered_to() == [("hv1", "tap3")]


def test_goto_runs_after_the_actions_and_outputs_send_the_packet_as_it_is_then():
    flows = [Flow(0, 1, (), (("goto", 10), ("set_field", "eth_dst", MAC3), ("output", 2))),
             Flow(10, 1, (), (("set_field", "reg6", 7), ("goto", 20))),
             Flow(20, 1, match(reg6=7), (("set_field", "eth_dst", MAC1), ("output", 3)))]
    result = simulate(one_bridge(flows), "hv1", "br0", 1, ping())
    assert result.path() == [("hv1", "br0", 0), ("hv1", "br0", 10), ("hv1", "br0", 20)]
    assert result.packet_at("hv1", "tap2")["eth_dst"] == MAC3   # output before the goto
    assert result.packet_at("hv1", "tap3")["eth_dst"] == MAC1
    assert result.steps[2].packet["reg6"] == 7   # the packet as it entered table 20


def test_a_goto_backwards_is_refused():
    with pytest.raises(ValueError):
        simulate(one_bridge([Flow(5, 1, (), (("goto", 5),)), Flow(0, 1, (), (("goto", 5),))]),
                 "hv1", "br0", 1, ping())


def test_table_miss_explicit_drop_and_no_output_are_drops_told_apart():
    flows = [Flow(0, 5, match(ipv4_dst="10.0.0.5"), (("goto", 10),)),
             Flow(0, 4, match(ipv4_dst="10.0.0.6")),
             Flow(0, 3, match(ipv4_dst="10.0.0.7"), (("set_field", "eth_dst", MAC3),))]
    fabric = one_bridge(flows)
    drops = [simulate(fabric, "hv1", "br0", 1, ping(ip)).outcomes
             for ip in ("10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8")]
    assert [(o.kind, o.table, o.reason) for [o] in drops] == [
        ("dropped", 10, "table miss"), ("dropped", 0, "drop flow"),
        ("dropped", 0, "no output"), ("dropped", 0, "table miss")]


def test_output_to_the_in_port_by_number_is_dropped_only_in_port_sends_back():
    fabric = one_bridge([Flow(0, 2, match(in_port=1), (("output", 1), ("output", 4))),
                         Flow(0, 1, (), (("output", "in_port"),))])
    result = simulate(fabric, "hv1", "br0", "tap1", ping())
    assert result.delivered_to() == []
    assert [o.reason for o in result.of_kind("dropped")] == ["output to the in_port",
                                                              "no port 4"]
    assert simulate(fabric, "hv1", "br0", "tap2", ping()).delivered_to() == [("hv1", "tap2")]


def test_a_set_in_port_is_what_later_tables_and_outputs_see():
    """in_port set to 0 (no port): the later lookup matches it, output to the port the
    packet came in by is allowed then, IN_PORT has no port to send to; NORMAL from a
    port the packet did not come in by is not modelled and drops."""
    fabric = one_bridge([Flow(0, 1, match(in_port=1), (("set_field", "in_port_nxm", 0),
                                                       ("goto", 1))),
                         Flow(1, 2, match(in_port=0), (("output", 1), ("output", "in_port"),
                                                       NORMAL)),
                         Flow(1, 1, (), (("output", 3),))])
    result = simulate(fabric, "hv1", "br0", "tap1", ping())
    assert result.delivered_to() == [("hv1", "tap1")]
    assert [o.reason for o in result.of_kind("dropped")] == [
        "no port 0", "normal: in_port set to another port"]
    assert [step.in_port for step in result.steps] == [1, 0]
    oxm = one_bridge([Flow(0, 1, (), (("set_field", "in_port", 0), ("output", 2)))])
    with pytest.raises(ValueError, match="in_port_nxm"):   # OVS refuses this one
        simulate(oxm, "hv1", "br0", "tap1", ping())


def test_a_packet_out_runs_its_actions_from_the_controller():
    fabric = one_bridge([Flow(40, 1, match(reg5=2), (("output", 2), ("output", "in_port")))])
    result = inject(fabric, "hv1", "br0", (("set_field", "reg5", 2), ("resubmit", 40)),
                    ping())
    assert result.delivered_to() == [("hv1", "tap2")]
    assert [o.reason for o in result.of_kind("dropped")] == [f"no port {0xFFFFFFFD}"]
    assert result.path() == [("hv1", "br0", PACKET_OUT), ("hv1", "br0", 40)]
    with pytest.raises(ValueError, match="resubmit"):   # OVS refuses it
        inject(fabric, "hv1", "br0", (("goto", 40),), ping())


# ------------------------------------------------------------- packet edits

def test_push_pop_and_set_vlan():
    flows = [Flow(0, 1, (), (("push_vlan", ETH_TYPE_8021Q), ("output", 2),
                             ("set_field", "vlan_vid", vlan(5)), ("goto", 1))),
             Flow(1, 1, match(vlan_vid=vlan(5)),
                  (("push_vlan", ETH_TYPE_8021Q), ("set_field", "vlan_vid", vlan(9)),
                   ("pop_vlan",), ("output", 3), ("pop_vlan",), ("goto", 2))),
             Flow(2, 1, match(vlan_vid=0), (("set_field", "vlan_vid", vlan(7)),
                                            ("pop_vlan",), ("output", 4)))]
    ports = [PortInfo(f"tap{n}", n, "vm") for n in (1, 2, 3, 4)]
    result = simulate(one_bridge(flows, ports), "hv1", "br0", 1, ping())
    assert result.packet_at("hv1", "tap2")["vlan_vid"] == 0x1000   # VID 0 until set
    assert result.packet_at("hv1", "tap3")["vlan_vid"] == vlan(5)  # inner tag back
    assert "vlan_vid" not in result.packet_at("hv1", "tap4")       # untagged
    assert result.steps[2].notes == ["set_field vlan_vid ignored: untagged"]


def test_dec_ttl_at_one_goes_to_the_controller_and_stops_the_flow():
    flows = [Flow(0, 1, (), (("dec_ttl",), ("output", 2), ("dec_ttl",), ("output", 3)))]
    result = simulate(one_bridge(flows), "hv1", "br0", 1, ping(nw_ttl=2))
    assert result.packet_at("hv1", "tap2")["nw_ttl"] == 1
    [controller] = result.of_kind("controller")
    assert (controller.reason, controller.table, controller.packet["nw_ttl"]) == (
        "invalid_ttl", 0, 1)
    assert result.delivered_to() == [("hv1", "tap2")]
    arp = simulate(one_bridge(flows), "hv1", "br0", 1, arp_request(MAC1, "10.0.0.1", "10.0.0.2"))
    assert arp.delivered_to() == [("hv1", "tap2"), ("hv1", "tap3")]   # not IP: no TTL


def test_learn_is_noted_not_installed():
    learn = br_tun.LEARN_REMOTE_MAC
    fabric = one_bridge([Flow(0, 1, (), (learn, ("output", 2)))])
    first = simulate(fabric, "hv1", "br0", 1, ping())
    assert first.steps[0].notes == ["learn into table 20 priority 1"]
    assert first.delivered_to() == [("hv1", "tap2")]
    assert simulate(fabric, "hv1", "br0", 1, ping()).path() == first.path()   # stateless


# ------------------------------------------------------------- NORMAL

def normal_bridge(fdb=None) -> Fabric:
    """tap1, tap2 in VLAN 1, tap3 in VLAN 2, tap4 dead; eth8 and eth9 trunks."""
    ports = [PortInfo(f"tap{n}", n, "vm") for n in (1, 2, 3, 4)] + [
        PortInfo("eth8", 8), PortInfo("eth9", 9)]
    return one_bridge([Flow(0, 0, (), (NORMAL,))], ports,
                      {"tap1": 1, "tap2": 1, "tap3": 2, "tap4": 4095}, fdb)


def test_normal_floods_within_the_vlan_untagged_to_access_ports_tagged_to_trunks():
    result = simulate(normal_bridge(), "hv1", "br0", "tap1", arp_request(MAC1, "10.0.0.1",
                                                                         "10.0.0.2"))
    assert result.delivered_to() == [("hv1", "tap2"), ("hv1", "eth8"), ("hv1", "eth9")]
    assert "vlan_vid" not in result.packet_at("hv1", "tap2")
    assert result.packet_at("hv1", "eth8")["vlan_vid"] == vlan(1)
    from_trunk = simulate(normal_bridge(), "hv1", "br0", "eth9", ping(vlan_vid=vlan(2)))
    assert from_trunk.delivered_to() == [("hv1", "tap3"), ("hv1", "eth8")]
    assert "vlan_vid" not in from_trunk.packet_at("hv1", "tap3")
    untagged = simulate(normal_bridge(), "hv1", "br0", "eth9", ping())
    assert untagged.delivered_to() == [("hv1", "eth8")]   # VLAN 0: trunks only, untagged
    assert "vlan_vid" not in untagged.packet_at("hv1", "eth8")


def test_normal_passes_nothing_from_the_dead_vlan_nor_tagged_frames_from_access_ports():
    dead = simulate(normal_bridge(), "hv1", "br0", "tap4", ping(BROADCAST))
    assert dead.delivered_to() == [] and dead.of_kind("dropped")[0].reason == \
        "normal: dead VLAN"
    tagged = simulate(normal_bridge(), "hv1", "br0", "tap1", ping(vlan_vid=vlan(2)))
    assert tagged.delivered_to() == []


def test_normal_sends_known_unicast_to_its_port_only():
    fdb = {(1, MAC2): 2, (1, MAC1): 1, (1, MAC3): 3}
    known = simulate(normal_bridge(fdb), "hv1", "br0", "tap1", ping(dst_mac=MAC2))
    assert known.delivered_to() == [("hv1", "tap2")]
    back = simulate(normal_bridge(fdb), "hv1", "br0", "tap1", ping(dst_mac=MAC1))
    assert back.delivered_to() == []
    assert back.of_kind("dropped")[0].reason == "normal: learned on the in_port"
    other_vlan = simulate(normal_bridge(fdb), "hv1", "br0", "tap1", ping(dst_mac=MAC3))
    assert other_vlan.delivered_to() == []   # tap3 is in VLAN 2
    broadcast = simulate(normal_bridge(fdb), "hv1", "br0", "tap1", ping(dst_mac=BROADCAST))
    assert len(broadcast.delivered_to()) == 3   # group bit: always flooded


# ------------------------------------------------------------- loops

def ping_pong(*br_b_actions) -> Fabric:
    """br-a sends tap1's frames to br-b, which sends them back (after ``br_b_actions``),
    and br-a returns what comes back from br-b."""
    br_a = SimBridge(1, "hv1", "br-a", "int", [
        Flow(0, 1, match(in_port=1), (("output", 2),)),
        Flow(0, 1, match(in_port=2), (("output", "in_port"),))],
        [PortInfo("tap1", 1, "vm"), PortInfo("patch-a", 2, "patch", peer="patch-b")])
    br_b = SimBridge(2, "hv1", "br-b", "int", [
        Flow(0, 0, (), (*br_b_actions, ("output", "in_port")))],
        [PortInfo("patch-b", 1, "patch", peer="patch-a")])
    return Fabric([br_a, br_b])


def test_the_same_packet_at_the_same_port_twice_is_a_loop():
    result = simulate(ping_pong(), "hv1", "br-a", "tap1", ping())
    [loop] = result.outcomes
    assert (loop.kind, loop.reason, loop.bridge, loop.port) == ("loop", "revisit", "br-b",
                                                                "patch-b")
    assert [hop.bridge for hop in result.hops] == ["br-a", "br-b", "br-a"]


def test_a_changing_packet_stops_at_the_entry_limit():
    result = simulate(ping_pong(("dec_ttl",)), "hv1", "br-a", "tap1", ping())
    assert [(o.kind, o.reason) for o in result.outcomes] == [("loop", "entry limit")]
    assert len(result.hops) == 64
    short = simulate(ping_pong(("dec_ttl",)), "hv1", "br-a", "tap1", ping(), max_entries=5)
    assert len(short.hops) == 5 and short.outcomes[0].kind == "loop"
    # with a short TTL the controller ends it first
    ttl = simulate(ping_pong(("dec_ttl",)), "hv1", "br-a", "tap1", ping(nw_ttl=3))
    assert [o.kind for o in ttl.outcomes] == ["controller"]


# ------------------------------------------------------------- three hypervisors

TUNNEL_IPS = {"hv1": "192.168.0.1", "hv2": "192.168.0.2", "hv3": "192.168.0.3"}
DVR_MACS = {"hv1": "fa:16:3f:00:00:01", "hv2": "fa:16:3f:00:00:02", "hv3": "fa:16:3f:00:00:03"}
TUNNEL_OFPORT = {"hv1": 11, "hv2": 12, "hv3": 13}   # on every br-tun: the tunnel to hvN
PATCH_TUN, INT_PHY = 1, 2                           # br-int's patch ports
PATCH_INT, PHY_INT, UPLINK = 1, 1, 2                # br-tun's and br-eth1's
NETWORKS = {"A": ("vxlan", 1001), "C": ("vxlan", 1002), "B": ("vlan", 100),
            "F": ("flat", None)}
LVIDS = {"hv1": {"A": 1, "C": 2, "B": 3, "F": 7}, "hv2": {"A": 4, "C": 5},
         "hv3": {"A": 1, "B": 3, "F": 7}}
ROUTER = {"A": ("10.0.0.1", "fa:16:3e:00:00:aa"), "C": ("10.0.1.1", "fa:16:3e:00:00:cc")}
VMS = {  # device: (chassis, network, MAC, IP, ofport)
    "tap1a": ("hv1", "A", "fa:16:3e:00:01:0a", "10.0.0.11", 5),
    "tap1c": ("hv1", "C", "fa:16:3e:00:01:0c", "10.0.1.11", 6),
    "tap1b": ("hv1", "B", "fa:16:3e:00:01:0b", "10.0.2.11", 7),
    "tap1f": ("hv1", "F", "fa:16:3e:00:01:0f", "10.0.3.11", 8),
    "tap2a": ("hv2", "A", "fa:16:3e:00:02:0a", "10.0.0.12", 5),
    "tap2c": ("hv2", "C", "fa:16:3e:00:02:0c", "10.0.1.12", 6),
    "tap3a": ("hv3", "A", "fa:16:3e:00:03:0a", "10.0.0.13", 5),
    "tap3b": ("hv3", "B", "fa:16:3e:00:03:0b", "10.0.2.13", 7),
    "tap3f": ("hv3", "F", "fa:16:3e:00:03:0f", "10.0.3.13", 8),
}


def mac(device):
    return VMS[device][2]


def ip(device):
    return VMS[device][3]


def remote_dvr_macs(chassis):
    return tuple(m for other, m in DVR_MACS.items() if other != chassis)


def routing_flows(chassis, network, lvid):
    """br-int's DVR flows for one routed network, as the planner makes them."""
    gateway_ip, gateway_mac = ROUTER[network]
    flows = [br_int.gateway_arp_flow(lvid, gateway_ip, gateway_mac),
             br_int.unrouted_drop_flow(lvid, gateway_mac)]
    flows += [flow for router_ip, _ in ROUTER.values()
              for flow in br_int.gateway_echo_flows(lvid, gateway_mac, router_ip)]
    for host, net, vm_mac, vm_ip, ofport in VMS.values():
        if net in ROUTER and net != network and net in LVIDS[chassis]:
            delivery = ((("output", ofport),) if host == chassis else
                        (("push_vlan", ETH_TYPE_8021Q),
                         ("set_field", "vlan_vid", vlan(LVIDS[chassis][net])),
                         ("output", PATCH_TUN)))
            flows.append(br_int.route_flow(lvid, gateway_mac, vm_ip, ROUTER[net][1], vm_mac,
                                           delivery))
        if net == network and host == chassis:
            flows.append(br_int.dvr_delivery_flow(br_int.RoutedEntry(1, lvid), vm_mac,
                                                  gateway_mac, (("output", ofport),)))
    return flows


def integration(chassis, dpid):
    flows = br_int.default_flows([INT_PHY], 100) + br_int.dvr_default_flows(
        PATCH_TUN, [INT_PHY], remote_dvr_macs(chassis))
    ports = [PortInfo("patch-tun", PATCH_TUN, "patch", peer="patch-int"),
             PortInfo("int-br-eth1", INT_PHY, "patch", peer="phy-br-eth1")]
    tags = {}
    for network, lvid in LVIDS[chassis].items():
        kind, segmentation_id = NETWORKS[network]
        if kind in ("vlan", "flat"):
            flows.append(br_int.provider_in_flow(INT_PHY, segmentation_id, lvid))
        if network in ROUTER:
            flows += routing_flows(chassis, network, lvid)
    for device, (host, network, vm_mac, vm_ip, ofport) in VMS.items():
        if host == chassis:
            ports.append(PortInfo(device, ofport, "vm", iface_id=device))
            tags[device] = LVIDS[chassis][network]
            flows += br_int.port_security_flows(ofport, tags[device], [(vm_mac, vm_ip)],
                                              [vm_mac])
            flows += open_firewall(FilteredPort(ofport, tags[device], vm_mac,
                                                ((vm_mac, vm_ip),)))
    flows += security.default_flows() + [flow for lvid in LVIDS[chassis].values()
                                         for flow in security.zone_flows(lvid)]
    return SimBridge(dpid, chassis, "br-int", "int", flows, ports, tags)


def open_firewall(port: FilteredPort) -> list:
    """A VM's security-group flows with rules that accept anything, both ways: these
    walks are about switching and routing (tests/unit/test_security_behaviour.py is
    about the firewall)."""
    return security.port_flows(port) + security.handover_flows(port) + [
        flow for direction in ("ingress", "egress")
        for flow in security.rule_flows(port, RuleMatch(direction, (), None))]


def tunnelling(chassis, dpid):
    ports = [PortInfo("patch-int", PATCH_INT, "patch", peer="patch-tun")] + [
        PortInfo(tunnel_port_name("vxlan", remote_ip), TUNNEL_OFPORT[other], "tunnel",
                 tunnel_type="vxlan", remote_ip=remote_ip)
        for other, remote_ip in TUNNEL_IPS.items() if other != chassis]
    flows = br_tun.default_flows(PATCH_INT, remote_dvr_macs(chassis)) + [
        br_tun.tunnel_port_flow(port.ofport, "vxlan") for port in ports[1:]]
    for network, lvid in LVIDS[chassis].items():
        kind, segmentation_id = NETWORKS[network]
        if kind != "vxlan":
            continue
        remote = [(device, host) for device, (host, net, *_) in VMS.items()
                  if net == network and host != chassis]
        segment = br_tun.TunnelSegment(
            lvid=lvid, segmentation_id=segmentation_id, tunnel_type=kind,
            flood_ports=tuple(sorted({TUNNEL_OFPORT[host] for _, host in remote})))
        flows += br_tun.segment_flows(segment)
        for device, host in remote:
            flows += br_tun.remote_port_flows(segment, mac(device), TUNNEL_OFPORT[host],
                                              [ip(device)])
        if network in ROUTER:
            flows += br_tun.dvr_interface_flows(lvid, ROUTER[network][1], DVR_MACS[chassis])
    return SimBridge(dpid, chassis, "br-tun", "tun", flows, ports)


def physical(chassis, dpid):
    flows = br_phys.default_flows(PHY_INT) + [
        br_phys.provider_out_flow(PHY_INT, lvid, NETWORKS[network][1])
        for network, lvid in LVIDS[chassis].items() if NETWORKS[network][0] in ("vlan", "flat")]
    ports = [PortInfo("phy-br-eth1", PHY_INT, "patch", peer="int-br-eth1"),
             PortInfo("eth1", UPLINK)]
    return SimBridge(dpid, chassis, "br-eth1", "phys", flows, ports, physnet="physnet1")


def three_hypervisors(tunnel_ips=None) -> Fabric:
    bridges = []
    for number, chassis in enumerate(TUNNEL_IPS, start=1):
        bridges += [integration(chassis, 10 * number + 1), tunnelling(chassis, 10 * number + 2),
                    physical(chassis, 10 * number + 3)]
    return Fabric(bridges, dict(TUNNEL_IPS if tunnel_ips is None else tunnel_ips))


@pytest.fixture(scope="module")
def fabric():
    return three_hypervisors()


def from_vm(fabric, device, packet):
    return simulate(fabric, VMS[device][0], "br-int", device, packet)


def test_broadcast_arp_crosses_the_patch_and_the_tunnels_to_the_network_s_vms(fabric):
    result = from_vm(fabric, "tap1a", arp_request(mac("tap1a"), ip("tap1a"), "10.0.0.99"))
    assert sorted(result.delivered_to()) == [("hv2", "tap2a"), ("hv3", "tap3a")]
    hops = {(hop.chassis, hop.bridge): hop for hop in result.hops}
    # into hv1's br-tun over the patch: tagged with hv1's local VLAN, registers cleared
    assert hops[("hv1", "br-tun")].port == "patch-int"
    assert hops[("hv1", "br-tun")].packet["vlan_vid"] == vlan(1)
    assert "reg6" not in hops[("hv1", "br-tun")].packet
    # out of hv2's tunnel to hv1, untagged, with the network's VNI
    assert hops[("hv2", "br-tun")].port == tunnel_port_name("vxlan", TUNNEL_IPS["hv1"])
    assert hops[("hv2", "br-tun")].packet["tunnel_id"] == 1001
    assert "vlan_vid" not in hops[("hv2", "br-tun")].packet
    # into hv2's br-int with hv2's local VLAN, and learned on the way
    assert hops[("hv2", "br-int")].packet["vlan_vid"] == vlan(4)
    assert any(step.notes == ["learn into table 20 priority 1"] for step in result.steps
               if step.chassis == "hv2" and step.table == 10)
    delivered = result.packet_at("hv2", "tap2a")
    assert delivered == arp_request(mac("tap1a"), ip("tap1a"), "10.0.0.99")  # as sent


def test_each_tunnel_comes_out_of_the_port_facing_its_sender(fabric):
    result = from_vm(fabric, "tap3a", arp_request(mac("tap3a"), ip("tap3a"), "10.0.0.99"))
    arrivals = {hop.chassis: (hop.port, hop.ofport) for hop in result.hops
                if hop.bridge == "br-tun" and hop.chassis != "hv3"}
    name = tunnel_port_name("vxlan", TUNNEL_IPS["hv3"])
    assert arrivals == {"hv1": (name, 13), "hv2": (name, 13)}
    assert sorted(result.delivered_to()) == [("hv1", "tap1a"), ("hv2", "tap2a")]


def test_l2pop_unicast_goes_to_the_one_hypervisor(fabric):
    packet = ipv4(mac("tap1a"), mac("tap2a"), ip("tap1a"), ip("tap2a"))
    result = from_vm(fabric, "tap1a", packet)
    assert result.delivered_to() == [("hv2", "tap2a")]
    delivered = result.packet_at("hv2", "tap2a")
    assert {field: delivered[field] for field in packet} == packet   # headers untouched
    assert "hv3" not in {hop.chassis for hop in result.hops}
    assert ("hv1", "br-tun", 20) in result.path()


def test_a_tunnel_to_an_unknown_hypervisor_goes_nowhere():
    result = from_vm(three_hypervisors({"hv1": "192.168.0.1", "hv2": "192.168.0.2"}), "tap1a",
                     arp_request(mac("tap1a"), ip("tap1a"), "10.0.0.99"))
    assert result.delivered_to() == [("hv2", "tap2a")]
    [nowhere] = result.of_kind("tunnel to nowhere")
    assert (nowhere.chassis, nowhere.port, nowhere.packet["tunnel_id"]) == (
        "hv1", tunnel_port_name("vxlan", "192.168.0.3"), 1001)


def test_the_tunnel_bridge_answers_arp_for_a_remote_vm(fabric):
    result = from_vm(fabric, "tap1a", arp_request(mac("tap1a"), ip("tap1a"), ip("tap2a")))
    assert result.delivered_to() == [("hv1", "tap1a")]
    reply = result.packet_at("hv1", "tap1a")
    assert (reply["arp_op"], reply["arp_sha"], reply["arp_spa"]) == (2, mac("tap2a"),
                                                                   ip("tap2a"))
    assert (reply["eth_src"], reply["eth_dst"], reply["arp_tha"], reply["arp_tpa"]) == (
        mac("tap2a"), mac("tap1a"), mac("tap1a"), ip("tap1a"))
    assert "vlan_vid" not in reply
    assert {hop.chassis for hop in result.hops} == {"hv1"}
    assert ("hv1", "br-tun", 21) in result.path()


def test_the_gateway_arp_and_pings_are_answered_on_br_int(fabric):
    gateway_ip, gateway_mac = ROUTER["A"]
    arp = from_vm(fabric, "tap1a", arp_request(mac("tap1a"), ip("tap1a"), gateway_ip))
    assert arp.delivered_to() == [("hv1", "tap1a")]
    assert arp.packet_at("hv1", "tap1a")["arp_sha"] == gateway_mac
    assert [hop.bridge for hop in arp.hops] == ["br-int"]
    echo = from_vm(fabric, "tap1a", ipv4(mac("tap1a"), gateway_mac, ip("tap1a"), "10.0.1.1"))
    reply = echo.packet_at("hv1", "tap1a")
    assert (reply["icmpv4_type"], reply["ipv4_src"], reply["ipv4_dst"], reply["eth_src"]) == (
        0, "10.0.1.1", ip("tap1a"), gateway_mac)


def test_dvr_routes_locally_with_ttl_minus_one_and_ttl_one_goes_to_the_controller(fabric):
    packet = ipv4(mac("tap1a"), ROUTER["A"][1], ip("tap1a"), ip("tap1c"), "tcp", tcp_dst=22)
    result = from_vm(fabric, "tap1a", packet)
    assert result.delivered_to() == [("hv1", "tap1c")]
    routed = result.packet_at("hv1", "tap1c")
    assert (routed["eth_src"], routed["eth_dst"], routed["nw_ttl"], routed["tcp_dst"]) == (
        ROUTER["C"][1], mac("tap1c"), 63, 22)
    expired = from_vm(fabric, "tap1a", {**packet, "nw_ttl": 1})
    assert expired.delivered_to() == []
    assert [(o.kind, o.reason, o.table) for o in expired.outcomes] == [
        ("controller", "invalid_ttl", 60)]


def test_dvr_routes_to_another_hypervisor_with_the_dvr_mac_on_the_wire(fabric):
    packet = ipv4(mac("tap1a"), ROUTER["A"][1], ip("tap1a"), ip("tap2c"))
    result = from_vm(fabric, "tap1a", packet)
    assert result.delivered_to() == [("hv2", "tap2c")]
    routed = result.packet_at("hv2", "tap2c")
    assert (routed["eth_src"], routed["eth_dst"], routed["nw_ttl"]) == (
        ROUTER["C"][1], mac("tap2c"), 63)
    assert "vlan_vid" not in routed and "tunnel_id" not in routed
    arrival = next(hop for hop in result.hops if (hop.chassis, hop.bridge) == ("hv2", "br-tun"))
    assert (arrival.packet["eth_src"], arrival.packet["tunnel_id"]) == (DVR_MACS["hv1"], 1002)
    hv2 = [(step.bridge, step.table) for step in result.steps if step.chassis == "hv2"]
    assert hv2 == [("br-tun", 0), ("br-tun", 4), ("br-tun", 9),   # not learned
                   ("br-int", 0), ("br-int", 1)]


def test_unrouted_and_spoofed_frames_are_dropped_by_their_flows(fabric):
    unrouted = from_vm(fabric, "tap1a", ipv4(mac("tap1a"), ROUTER["A"][1], ip("tap1a"),
                                             "8.8.8.8"))
    spoofed_arp = from_vm(fabric, "tap1a", arp_request(mac("tap1a"), "10.0.0.99", ip("tap2a")))
    spoofed_mac = from_vm(fabric, "tap1a", ipv4(MAC3, mac("tap2a"), ip("tap1a"), ip("tap2a")))
    assert [(o.kind, o.table, o.reason) for r in (unrouted, spoofed_arp, spoofed_mac)
            for o in r.outcomes] == [("dropped", 60, "drop flow"), ("dropped", 24, "drop flow"),
                                     ("dropped", 25, "drop flow")]


def test_a_vlan_network_crosses_the_physical_network_with_its_vlan(fabric):
    result = from_vm(fabric, "tap1b", arp_request(mac("tap1b"), ip("tap1b"), ip("tap3b")))
    [wire] = result.of_kind("physical")
    assert (wire.chassis, wire.bridge, wire.port, wire.packet["vlan_vid"]) == (
        "hv1", "br-eth1", "eth1", vlan(100))
    assert result.delivered_to() == [("hv3", "tap3b")]
    assert "vlan_vid" not in result.packet_at("hv3", "tap3b")
    assert ("hv2", "br-eth1", "eth1") in {(h.chassis, h.bridge, h.port) for h in result.hops}
    # hv2 has no port on the network: its br-int drops it at the physical patch
    assert any((o.chassis, o.bridge, o.table, o.kind) == ("hv2", "br-int", 0, "dropped")
               for o in result.outcomes)


def test_a_flat_network_leaves_untagged_and_gets_the_local_vlan_pushed(fabric):
    result = from_vm(fabric, "tap1f", arp_request(mac("tap1f"), ip("tap1f"), ip("tap3f")))
    [wire] = result.of_kind("physical")
    assert "vlan_vid" not in wire.packet
    assert result.delivered_to() == [("hv3", "tap3f")]
    transient = [step for step in result.steps if (step.chassis, step.table) == ("hv3", 60)]
    assert transient[0].packet["vlan_vid"] == vlan(7)


def test_the_trace_reads(fabric):
    text = from_vm(fabric, "tap1a", ipv4(mac("tap1a"), mac("tap2a"), ip("tap1a"),
                                         ip("tap2a"))).format()
    lines = text.splitlines()
    assert lines[0] == "-> hv1 br-int in tap1a (5)"
    assert lines.index("-> hv2 br-tun in vxlan-c0a80001 (11)") < lines.index(
        "-> hv2 br-int in patch-tun (1)") < lines.index("=> delivered hv2 br-int tap2a")
    assert any(line.startswith("   table 20: priority=2") for line in lines)
    assert lines[-1] == "=> dropped hv1 br-eth1 table 0 drop flow"   # NORMAL's other copy


# ------------------------------------------------------------- large tables

def test_lookups_in_a_big_tunnel_bridge_stay_exact():
    segment = br_tun.TunnelSegment(lvid=1, segmentation_id=1001, tunnel_type="vxlan",
                                   flood_ports=(11,))
    macs = [f"fa:16:3e:00:{n // 256:02x}:{n % 256:02x}" for n in range(700)]
    flows = br_tun.default_flows(1) + br_tun.segment_flows(segment)
    for n, vm_mac in enumerate(macs):
        flows += br_tun.remote_port_flows(segment, vm_mac, 11, [f"10.1.{n // 256}.{n % 256}"])
    assert len(flows) > 1400
    bridge = SimBridge(1, "hv1", "br-tun", "tun", flows, [])
    for n in (0, 345, 699):
        frame = ipv4(MAC1, macs[n], "10.0.0.1", "10.0.0.2", vlan_vid=vlan(1))
        assert bridge.lookup(20, frame, 1).actions[-1] == ("output", 11)
        assert bridge.lookup(20, frame, 1).match == match(vlan_vid=vlan(1), eth_dst=macs[n])
        arp = arp_request(MAC1, "10.0.0.1", f"10.1.{n // 256}.{n % 256}", vlan_vid=vlan(1))
        assert bridge.lookup(21, arp, 1).actions[3] == ("set_field", "arp_sha", macs[n])
    wrong_vlan = ipv4(MAC1, macs[5], "10.0.0.1", "10.0.0.2", vlan_vid=vlan(2))
    assert bridge.lookup(20, wrong_vlan, 1).priority == 0
    assert bridge.lookup(20, {**wrong_vlan, "eth_dst": MAC2}, 1).priority == 0
