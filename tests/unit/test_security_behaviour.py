"""Security groups, walked offline through the flows the core sent (tests/unit/fake_cloud.py,
three hypervisors): members of the default group reach each other across hypervisors, a
VM of another group cannot open a connection to them while replies to its own pass, port
rules, remote groups as conjunctions, spoofed sources, ports without port security, and
routed traffic judged by the destination's group.  The simulator's conntrack is given the
state a packet comes back with (``ct_state_after``)."""
import pytest

from ryu_app.outputs import CtFlushAddress, CtFlushZone
from ryu_app.pipeline import tables as T
from ryu_app.pipeline.flow import Flow, match
from tests.unit.fake_cloud import FakeCloud, dpid, expired_echo
from tests.unit.test_l2_behaviour import ip, ipv4

NEW = T.CT_TRK | T.CT_NEW
REPLY = T.CT_TRK | T.CT_EST | T.CT_RPL
RELATED = T.CT_TRK | T.CT_REL


@pytest.fixture
def guarded(tmp_path):
    """One network; default-group VMs on n0 and n1, a "web" VM (egress rules only) on n2."""
    cloud = FakeCloud(tmp_path)
    cloud.net, _ = cloud.network()
    cloud.web = cloud.create("security_group", name="web")
    cloud.a0 = cloud.vm(cloud.net, "n0")
    cloud.a1 = cloud.vm(cloud.net, "n1")
    cloud.w = cloud.vm(cloud.net, "n2", security_groups=[cloud.web["id"]])
    cloud.default = cloud.model.records["security_group"][cloud.a0["security_groups"][0]]
    return cloud


def send(cloud, source: dict, target: dict, state: int = NEW, proto: str = "icmp", **fields):
    packet = ipv4(source["mac_address"], target["mac_address"], ip(source), ip(target),
                  proto=proto, ct_state_after=state, **fields)
    return cloud.send(source, packet)


def rule(cloud, group: dict, **fields) -> dict:
    fields.setdefault("direction", "ingress")
    return cloud.create("security_group_rule", security_group_id=group["id"], **fields)


def reaches(result, target: dict) -> bool:
    return (target["chassis"], target["device"]) in result.delivered_to()


def test_members_of_one_group_reach_each_other_across_hypervisors(guarded):
    result = send(guarded, guarded.a0, guarded.a1)
    assert reaches(result, guarded.a1)
    assert ("n1", "br-int", T.INT_RULES_INGRESS) in result.path()   # judged where it lands


def test_a_member_with_an_any_address_pair_is_a_member_from_any_address_by_its_mac(guarded):
    """A router or NAT VM in the default group (its 0.0.0.0/0 pair lets it send from any
    address): its peers' "from the group" rules take what it forwards, as Neutron's
    firewall matches such a member by MAC; a stranger from that address is no member."""
    router_vm = guarded.vm(guarded.net, "n0", allowed_address_pairs=[
        {"ip_address": "0.0.0.0/0"}])
    forwarded = ipv4(router_vm["mac_address"], guarded.a1["mac_address"], "192.168.50.7",
                     ip(guarded.a1), ct_state_after=NEW)
    assert reaches(guarded.send(router_vm, forwarded), guarded.a1)
    stranger = {**forwarded, "eth_src": guarded.w["mac_address"],
                "ipv4_src": ip(guarded.w)}
    assert not reaches(guarded.send(guarded.w, stranger), guarded.a1)
    def by_mac() -> list:
        return [flow for group in guarded.held("n1", "int").values() for flow in group.values()
                if dict(flow.match).get("eth_src") == router_vm["mac_address"]
                and flow.builder == "security.member_flow"]

    assert by_mac()
    guarded.update("port", router_vm["id"], allowed_address_pairs=[])
    assert by_mac() == []                                   # a member by address only now


def test_another_group_cannot_open_a_connection_and_its_replies_pass(guarded):
    result = send(guarded, guarded.w, guarded.a0)
    assert result.delivered_to() == []
    [drop] = result.of_kind("dropped")
    assert (drop.chassis, drop.table) == ("n0", T.INT_RULES_INGRESS)
    # a0's reply to a connection w opened passes both ways' filters: stateful
    assert reaches(send(guarded, guarded.a0, guarded.w, state=REPLY), guarded.w)


def test_a_port_rule_opens_that_port_only(guarded):
    rule(guarded, guarded.default, protocol="tcp", port_range_min=22, port_range_max=22)
    assert reaches(send(guarded, guarded.w, guarded.a0, proto="tcp", tcp_dst=22), guarded.a0)
    assert not reaches(send(guarded, guarded.w, guarded.a0, proto="tcp", tcp_dst=80),
                       guarded.a0)
    assert not reaches(send(guarded, guarded.w, guarded.a0), guarded.a0)   # nor ping


def test_a_port_range_is_matched_exactly(guarded):
    rule(guarded, guarded.default, protocol="udp", port_range_min=1000, port_range_max=1999)
    for port, passes in ((999, False), (1000, True), (1500, True), (1999, True),
                         (2000, False)):
        result = send(guarded, guarded.w, guarded.a0, proto="udp", udp_dst=port)
        assert reaches(result, guarded.a0) is passes, port


def test_an_sctp_port_rule_opens_that_port_only(guarded):
    """As Neutron's OVS firewall: SCTP ports are matched (sctp_dst), not the protocol alone."""
    rule(guarded, guarded.default, protocol="sctp", port_range_min=5000, port_range_max=5001)
    for port, passes in ((4999, False), (5000, True), (5001, True), (5002, False)):
        result = send(guarded, guarded.w, guarded.a0, proto="sctp", sctp_dst=port)
        assert reaches(result, guarded.a0) is passes, port


def test_protocol_0_by_name_matches_protocol_0_and_the_other_rules_still_apply(guarded):
    """'hopopt' and 'ip' are IP protocol 0 as '0' is: a rule naming them opens nothing else,
    and the group's other rules still reach the switches."""
    for name in ("hopopt", "ip"):
        rule(guarded, guarded.default, protocol=name)
    rule(guarded, guarded.default, protocol="udp", port_range_min=53, port_range_max=53)
    assert reaches(send(guarded, guarded.w, guarded.a0, proto=0), guarded.a0)
    assert reaches(send(guarded, guarded.w, guarded.a0, proto="udp", udp_dst=53), guarded.a0)
    assert not reaches(send(guarded, guarded.w, guarded.a0), guarded.a0)   # nor ping


def test_a_remote_group_rule_is_a_conjunction_that_follows_members(guarded):
    rule(guarded, guarded.web, protocol="icmp", remote_group_id=guarded.default["id"])
    result = send(guarded, guarded.a0, guarded.w)
    assert reaches(result, guarded.w)
    accepting = [step.flow for step in result.steps if step.table == T.INT_RULES_INGRESS
                 and step.chassis == "n2"]
    assert any(flow and dict(flow.match).get("conj_id") for flow in accepting)
    # a0 leaves the default group: its address is no member any more
    guarded.update("port", guarded.a0["id"], security_groups=[guarded.web["id"]])
    assert not reaches(send(guarded, guarded.a0, guarded.w), guarded.w)


def test_a_spoofed_source_is_dropped_on_the_way_out(guarded):
    packet = ipv4(guarded.a0["mac_address"], guarded.a1["mac_address"], "10.0.0.99",
                  ip(guarded.a1), ct_state_after=NEW)
    result = guarded.send(guarded.a0, packet)
    [drop] = result.of_kind("dropped")
    assert (drop.chassis, drop.table, result.delivered_to()) == ("n0", T.INT_BASE_EGRESS, [])


def test_a_port_without_port_security_is_not_filtered(guarded):
    bare = guarded.vm(guarded.net, "n1", port_security_enabled=False)
    result = send(guarded, guarded.w, bare)
    assert reaches(result, bare)
    assert ("n1", "br-int", T.INT_BASE_INGRESS) not in result.path()


def test_routed_traffic_is_judged_by_the_destination_group(guarded):
    other, other_subnet = guarded.network("10.1.0.0/24")
    subnet_id = guarded.a0["fixed_ips"][0]["subnet_id"]
    router = guarded.router(guarded.model.records["subnet"][subnet_id], other_subnet)
    gateway = next(port for port in guarded.planner.dvr_interfaces(router["id"])
                   if port["network_id"] == guarded.net["id"])
    member = guarded.vm(other, "n1")
    stranger = guarded.vm(other, "n1", security_groups=[guarded.web["id"]])
    for target, passes in ((member, True), (stranger, False)):
        packet = ipv4(guarded.a0["mac_address"], gateway["mac_address"], ip(guarded.a0),
                      ip(target), ct_state_after=NEW)
        assert reaches(guarded.send(guarded.a0, packet), target) is passes


def test_a_rule_touches_only_its_group_members_hypervisors(guarded):
    """A rule in "web" (a VM on n2) changes n2's br-int and nothing else; a new member of
    the default group (which n0 and n1 name as remote) changes n0 and n1 only."""
    rule(guarded, guarded.web, protocol="tcp", port_range_min=80, port_range_max=80)
    assert set(guarded.sent[-1].flow_mods) == {dpid("n2", "int")}
    guarded.create("port", network_id=guarded.net["id"])   # unbound, default group
    assert set(guarded.sent[-1].flow_mods) == {dpid("n0", "int"), dpid("n1", "int")}
    recomputed = guarded.sent[-1].recomputed
    assert not recomputed, recomputed   # no network's flows, only the shared group


# ------------------------------------------------------------- stateless groups

@pytest.fixture
def stateless(guarded):
    """A stateless group "sl" (its two default egress rules and an ingress ICMP rule),
    its VMs s2 on n2 and s0 on n0, next to the default group's a0 on n0."""
    guarded.sl = guarded.create("security_group", name="sl", stateful=False)
    rule(guarded, guarded.sl, protocol="icmp")
    guarded.s2 = guarded.vm(guarded.net, "n2", security_groups=[guarded.sl["id"]])
    guarded.s0 = guarded.vm(guarded.net, "n0", security_groups=[guarded.sl["id"]])
    return guarded


def commits(result) -> list[tuple[str, int]]:
    """(chassis, table) of each conntrack commit on the way."""
    return [(step.chassis, step.table) for step in result.steps
            if any(" commit" in note for note in step.notes)]


def test_a_stateless_port_passes_what_its_rules_allow_and_tracks_nothing(stateless):
    result = send(stateless, stateless.a0, stateless.s2)
    assert reaches(result, stateless.s2)
    assert ("n2", "br-int", T.INT_RULES_INGRESS) in result.path()
    assert not [step for step in result.steps if step.chassis == "n2" and any(
        action[0] in ("ct", "ct_mark") for action in step.actions)], "conntrack on n2"
    # stateless: no rule allows TCP in, so a reply to a connection s2 opened is dropped
    [drop] = send(stateless, stateless.a0, stateless.s2, state=REPLY, proto="tcp",
                  tcp_dst=40000).of_kind("dropped")
    assert (drop.chassis, drop.table) == ("n2", T.INT_RULES_INGRESS)
    # a stateful port's replies pass without a rule, as before
    assert reaches(send(stateless, stateless.s2, stateless.w, state=REPLY, proto="tcp",
                        tcp_dst=40000), stateless.w)


def test_a_stateless_ports_egress_is_its_rules_alone(stateless):
    """Its default egress rules let it send anything; without them, nothing leaves."""
    assert reaches(send(stateless, stateless.s2, stateless.s0), stateless.s0)
    for egress in stateless.model.rules_of(stateless.sl["id"]):
        if egress["direction"] == "egress":
            stateless.model.delete_security_group_rule(egress["id"])
    stateless.written()
    for target in (stateless.s0, stateless.a1):   # not even a reply to a1
        [drop] = send(stateless, stateless.s2, target, state=REPLY).of_kind("dropped")
        assert (drop.chassis, drop.table) == ("n2", T.INT_RULES_EGRESS)


def test_a_stateful_port_talking_to_a_stateless_one_on_its_hypervisor_commits(stateless):
    """a0's connection to s0 (both on n0) is committed on the way out, since s0's ingress
    commits nothing: s0's answer comes back to a0 as a reply."""
    result = send(stateless, stateless.a0, stateless.s0)
    assert reaches(result, stateless.s0)
    assert commits(result) == [("n0", T.INT_ACCEPT_OR_INGRESS)]
    answer = send(stateless, stateless.s0, stateless.a0, state=REPLY)
    assert reaches(answer, stateless.a0) and commits(answer) == []
    # between two stateful ports there the ingress commits, as before
    b0 = stateless.vm(stateless.net, "n0")
    assert commits(send(stateless, stateless.a0, b0)) == [("n0", T.INT_RULES_INGRESS)]


def test_a_remote_group_rule_of_a_stateless_group_is_a_conjunction_too(stateless):
    rule(stateless, stateless.sl, protocol="tcp", remote_group_id=stateless.default["id"])
    result = send(stateless, stateless.a1, stateless.s2, proto="tcp", tcp_dst=22)
    assert reaches(result, stateless.s2)
    assert any(step.flow and dict(step.flow.match).get("conj_id") for step in result.steps
               if (step.chassis, step.table) == ("n2", T.INT_RULES_INGRESS))
    # w is no member of the default group
    assert not reaches(send(stateless, stateless.w, stateless.s2, proto="tcp", tcp_dst=22),
                       stateless.s2)


def routed_network(cloud) -> tuple[dict, dict]:
    """A router on the VMs' subnet and another (10.1.0.0/24) with a VM on n1: the
    router's interface on the VMs' network, and that VM."""
    other, other_subnet = cloud.network("10.1.0.0/24")
    subnet = cloud.model.records["subnet"][cloud.a0["fixed_ips"][0]["subnet_id"]]
    router = cloud.router(subnet, other_subnet)
    gateway = next(port for port in cloud.planner.dvr_interfaces(router["id"])
                   if port["network_id"] == cloud.net["id"])
    return gateway, cloud.vm(other, "n1")


def test_a_stateless_ports_router_answers_pass_its_ingress_rules_only(stateless):
    """The router's echo reply to s0's ping of its gateway, and the controller's time
    exceeded for s0's routed frame whose TTL ran out, reach s0 through its ingress
    filter: the group's ICMP rule lets them in; without it they are dropped there."""
    gateway, far = routed_network(stateless)
    s0, gateway_mac = stateless.s0, gateway["mac_address"]
    gateway_ip = gateway["fixed_ips"][0]["ip_address"]
    echo = ipv4(s0["mac_address"], gateway_mac, ip(s0), gateway_ip)
    expired = expired_echo(s0, gateway_mac, ip(far))

    def answered() -> tuple[bool, bool]:
        [time_exceeded] = stateless.answers(s0, "invalid_ttl", expired)
        return reaches(stateless.send(s0, echo), s0), reaches(time_exceeded, s0)

    assert answered() == (True, True)
    [icmp_in] = [found for found in stateless.model.rules_of(stateless.sl["id"])
                 if found["direction"] == "ingress"]
    stateless.model.delete_security_group_rule(icmp_in["id"])
    stateless.written()
    assert answered() == (False, False)
    [time_exceeded] = stateless.answers(s0, "invalid_ttl", expired)
    [drop] = time_exceeded.of_kind("dropped")
    assert (drop.chassis, drop.table) == ("n0", T.INT_RULES_INGRESS)


def test_a_stateful_ports_time_exceeded_passes_as_related_and_an_open_port_gets_it_straight(
        guarded):
    """a0 (default group: no ICMP rule in) gets the time exceeded for its own frame
    through its ingress filter, as related to the connection its egress committed, and
    not one that conntrack does not relate; a port without port security gets it
    straight out of its device."""
    gateway, far = routed_network(guarded)
    expired = expired_echo(guarded.a0, gateway["mac_address"], ip(far))
    [related] = guarded.answers(guarded.a0, "invalid_ttl", expired, ct_state_after=RELATED)
    assert reaches(related, guarded.a0)
    assert ("n0", "br-int", T.INT_RULES_INGRESS) in related.path()
    [unrelated] = guarded.answers(guarded.a0, "invalid_ttl", expired, ct_state_after=NEW)
    assert not reaches(unrelated, guarded.a0)
    bare = guarded.vm(guarded.net, "n0", port_security_enabled=False)
    [straight] = guarded.answers(bare, "invalid_ttl", expired_echo(
        bare, gateway["mac_address"], ip(far)))
    assert reaches(straight, bare) and len(straight.steps) == 1   # the packet-out alone


def test_a_port_without_port_security_gets_its_gateways_echo_reply_straight_back(guarded):
    gateway, _ = routed_network(guarded)
    bare = guarded.vm(guarded.net, "n0", port_security_enabled=False)
    echo = ipv4(bare["mac_address"], gateway["mac_address"], ip(bare),
                gateway["fixed_ips"][0]["ip_address"])
    result = guarded.send(bare, echo)
    assert result.delivered_to() == [("n0", bare["device"])]
    assert result.packet_at("n0", bare["device"])["icmpv4_type"] == 0
    assert [step.table for step in result.steps] == [T.INT_LOCAL_SWITCHING, T.INT_TRANSIENT]

# ------------------------------------------------------------ address pairs' MACs

def paired(cloud, chassis: str, mac: str) -> dict:
    return cloud.vm(cloud.net, chassis, allowed_address_pairs=[
        {"ip_address": "10.0.0.250", "mac_address": mac}])


def test_an_address_pairs_mac_reaches_its_port_through_its_filter(guarded):
    vmac = "00:00:5e:00:01:07"   # a VRRP virtual MAC, no port's own
    holder = paired(guarded, "n0", vmac)
    for source in (guarded.a0, guarded.a1):   # from n0 itself, and over the tunnel
        packet = ipv4(source["mac_address"], vmac, ip(source), "10.0.0.250",
                      ct_state_after=NEW)
        result = guarded.send(source, packet)
        assert ("n0", holder["device"]) in result.delivered_to()
        assert ("n0", "br-int", T.INT_RULES_INGRESS) in result.path()
    stranger = ipv4(guarded.w["mac_address"], vmac, ip(guarded.w), "10.0.0.250",
                    ct_state_after=NEW)   # w is no member of the group that lets in
    assert ("n0", holder["device"]) not in guarded.send(guarded.w, stranger).delivered_to()


def test_a_pair_naming_another_ports_mac_or_the_gateways_takes_nothing_from_them(guarded):
    """A port whose address pair names a0's MAC, or its router's gateway MAC, on n0:
    a0 still gets what is sent to it, the router still answers and routes what is sent
    to the gateway, and the port itself keeps its filter (no clash of flows)."""
    gateway, far = routed_network(guarded)
    victim, thief = guarded.a0, paired(guarded, "n0", guarded.a0["mac_address"])
    raider = paired(guarded, "n0", gateway["mac_address"])
    b0 = guarded.vm(guarded.net, "n0")
    assert guarded.send(b0, ipv4(b0["mac_address"], victim["mac_address"], ip(b0), ip(victim),
                                 ct_state_after=NEW)).delivered_to() == [
        ("n0", victim["device"])]
    gateway_ip = gateway["fixed_ips"][0]["ip_address"]
    echo = ipv4(b0["mac_address"], gateway["mac_address"], ip(b0), gateway_ip,
                ct_state_after=(NEW, REPLY))
    assert guarded.send(b0, echo).delivered_to() == [("n0", b0["device"])]
    routed = ipv4(b0["mac_address"], gateway["mac_address"], ip(b0), ip(far),
                  ct_state_after=NEW)
    assert guarded.send(b0, routed).delivered_to() == [("n1", far["device"])]
    for port in (thief, raider):   # filtered: a spoofed source goes nowhere
        spoofed = ipv4(port["mac_address"], b0["mac_address"], "10.0.0.99", ip(b0))
        [drop] = guarded.send(port, spoofed).of_kind("dropped")
        assert drop.table == T.INT_BASE_EGRESS

def test_a_pair_naming_the_mac_of_an_open_port_or_a_remote_one_takes_nothing_from_them(
        guarded):
    """Neither an unfiltered port on the thief's hypervisor nor a port on another one
    (before and after it exists) has its frames handed to the thief's filter."""
    bare = guarded.vm(guarded.net, "n0", port_security_enabled=False)
    later_mac = "fa:16:3e:77:77:77"
    thief = guarded.vm(guarded.net, "n0", allowed_address_pairs=[
        {"ip_address": "10.0.0.250", "mac_address": mac}
        for mac in (bare["mac_address"], guarded.a1["mac_address"], later_mac)])
    b0 = guarded.vm(guarded.net, "n0")
    later = guarded.vm(guarded.net, "n1", mac_address=later_mac)   # n0 has nothing new
    for source, target in ((b0, bare), (guarded.a1, bare), (b0, guarded.a1), (b0, later)):
        delivered = send(guarded, source, target).delivered_to()
        assert delivered == [(target["chassis"], target["device"])]
        assert ("n0", thief["device"]) not in delivered


def test_a_mac_two_ports_pairs_name_reaches_each_of_them_through_its_own_filter(guarded):
    """A VRRP virtual MAC in the pairs of two ports on n0, one in the default group, one
    in "open" (every IPv4 packet in): a0 (a member of the default group) reaches both,
    w (no member) only the open one; neither port's flows clash."""
    vmac = "00:00:5e:00:01:07"
    opened = guarded.create("security_group", name="open")
    rule(guarded, opened, protocol="icmp")
    member, open_one = paired(guarded, "n0", vmac), guarded.vm(
        guarded.net, "n0", security_groups=[opened["id"]],
        allowed_address_pairs=[{"ip_address": "10.0.0.250", "mac_address": vmac}])

    def reached(source: dict) -> set[str]:
        packet = ipv4(source["mac_address"], vmac, ip(source), "10.0.0.250",
                      ct_state_after=NEW)
        return {name for chassis, name in guarded.send(source, packet).delivered_to()
                if chassis == "n0"}

    assert reached(guarded.a0) == {member["device"], open_one["device"]}
    assert reached(guarded.w) == {open_one["device"]}   # from n2, over the tunnel
    assert reaches(send(guarded, member, guarded.a1), guarded.a1)   # not shut
    assert T.DEAD_VLAN not in guarded.engine.tags(
        "n0", [member["device"], open_one["device"]]).values()
    guarded.update("port", open_one["id"], allowed_address_pairs=[])
    assert reached(guarded.a0) == {member["device"]}


def test_a_device_whose_flows_clash_is_shut_until_the_clash_is_gone(guarded):
    """A group that holds one of a device's flows (no configuration is known to make one
    now: planted here) shuts the device when its flows are computed again: it sends
    nothing, nothing reaches it, its tag is the dead VLAN, and so it stays while the
    clash does, however often the bridge's flows change; once the other group lets the
    flow go, the device opens."""
    vm = guarded.vm(guarded.net, "n0")
    bridge = guarded.topology.bridge("n0", "int")
    ofport = guarded.planner.device_of(bridge, vm).ofport
    # the anti-spoofing flow an address pair 10.0.0.77 will give the port, held first
    wanted = Flow(T.INT_BASE_EGRESS, 65, match(eth_type=0x0800, eth_src=vm["mac_address"],
                                               ipv4_src="10.0.0.77", reg5=ofport))
    guarded.engine.apply(bridge, ("planted",), [wanted], None)
    guarded.flush()
    guarded.update("port", vm["id"], allowed_address_pairs=[{"ip_address": "10.0.0.77"}])

    def shut() -> bool:
        [drop] = send(guarded, vm, guarded.a1).of_kind("dropped")
        return (drop.table == T.INT_LOCAL_SWITCHING and not reaches(
            send(guarded, guarded.a0, vm), vm) and guarded.engine.tags(
            "n0", [vm["device"]]) == {vm["device"]: T.DEAD_VLAN})

    assert shut()
    guarded.vm(guarded.net, "n0")   # the bridge's flows change: tried again, still shut
    assert shut()
    guarded.engine.apply(bridge, ("planted",), [], None)
    guarded.flush()
    assert reaches(send(guarded, vm, guarded.a1), guarded.a1)
    assert reaches(send(guarded, guarded.a0, vm), vm)
    assert guarded.engine.tags("n0", [vm["device"]])[vm["device"]] != T.DEAD_VLAN


def test_an_address_that_left_while_its_br_int_was_away_is_flushed_when_it_is_back(guarded):
    """Conntrack outlives the OpenFlow session: the flush waits for the bridge, and goes
    before the flows that may give the address to another port."""
    a0, _neighbour = guarded.a0, guarded.vm(guarded.net, "n0")   # the zone stays on n0
    zone, n0 = guarded.local_vlans.get("n0", guarded.net["id"]), dpid("n0", "int")
    guarded.core.datapath_down(n0)
    guarded.model.delete_port(a0["id"])
    meanwhile = guarded.written()
    assert not any(isinstance(m, CtFlushAddress) for messages in (
        *meanwhile.messages.values(), *meanwhile.after_flows.values()) for m in messages)
    back = guarded.take(guarded.core.datapath_up(n0))
    assert CtFlushAddress(zone, ip(a0)) in back.messages[n0]


def test_a_filtered_ports_connections_go_with_its_address_from_its_hypervisor(guarded):
    """Conntrack keeps a zone's entries after a port's flows are gone: the address's are
    flushed, after the flows, on the hypervisor it left, and only its, so that a port
    given the address there later gets no replies they would let in."""
    net_id = guarded.net["id"]
    a0, neighbour = guarded.a0, guarded.vm(guarded.net, "n0")   # the zone stays on n0
    zone, n0 = guarded.local_vlans.get("n0", net_id), dpid("n0", "int")
    old_ip = ip(a0)

    def flushes(outputs) -> dict[int, list]:
        return {bridge: [m for m in messages if isinstance(m, CtFlushAddress)]
                for bridge, messages in outputs.after_flows.items()
                if any(isinstance(m, CtFlushAddress) for m in messages)}

    guarded.model.update_port(a0["id"], {"fixed_ips": [{"ip_address": "10.0.0.200"}]})
    assert flushes(guarded.written()) == {n0: [CtFlushAddress(zone, old_ip)]}
    assert flushes(guarded.unplug("n0", a0["device"])) == {
        n0: [CtFlushAddress(zone, "10.0.0.200")]}
    bare = guarded.vm(guarded.net, "n0", port_security_enabled=False)
    guarded.model.delete_port(bare["id"])
    assert flushes(guarded.written()) == {}               # it had no connections tracked
    n1_zone = guarded.local_vlans.get("n1", net_id)
    guarded.model.delete_port(guarded.a1["id"])   # n1's last port of the network
    sent = guarded.written()
    assert flushes(sent) == {} and CtFlushZone(n1_zone) in sent.after_flows[dpid("n1", "int")]
    assert guarded.local_vlans.get("n0", net_id) == zone and neighbour["device"]
