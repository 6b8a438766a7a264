"""The simulator's share of a stateful firewall: conjunctive matches as Open vSwitch does
them, reg5/ct_mark/conj_id fields, and ct(commit) with a mark.  Where a case says "as OVS
3.1", ofproto/trace on a userspace bridge gave that answer for the same flows."""
import random

import pytest

from ryu_app.pipeline.flow import Flow, match
from ryu_app.pipeline.simulator import Fabric, SimBridge, ipv4, simulate
from topology.naming import PortInfo

MAC1, MAC2 = "fa:16:3e:00:00:01", "fa:16:3e:00:00:02"
IP = 0x0800
TRK, EST = 0x20, 0x02
MEMBER, OTHER, PORT_IP = "10.0.0.5", "10.0.0.6", "10.0.0.9"


def one_bridge(flows) -> Fabric:
    ports = [PortInfo(f"tap{n}", n, "vm") for n in (1, 2, 3, 4)]
    return Fabric([SimBridge(1, "hv1", "br0", "int", flows, ports)])


def ping(src=MEMBER, dst=PORT_IP, proto="icmp", **fields):
    return ipv4(MAC1, MAC2, src, dst, proto, **fields)


def delivered(flows, packet) -> list[str]:
    return [port for _, port in simulate(one_bridge(flows), "hv1", "br0", 1,
                                         packet).delivered_to()]


# A remote group rule: from a member address (clause 1) to TCP on the port (clause 2).
REMOTE_GROUP = [
    Flow(0, 70, match(eth_type=IP, ipv4_src=MEMBER), (("conjunction", 7, 1, 2),)),
    Flow(0, 70, match(eth_type=IP, ipv4_src="10.0.0.7"), (("conjunction", 7, 1, 2),)),
    Flow(0, 70, match(eth_type=IP, ipv4_dst=PORT_IP, ip_proto=6), (("conjunction", 7, 2, 2),)),
    Flow(0, 70, match(eth_type=IP, conj_id=7), (("output", 2),)),
]


def test_a_conjunction_accepts_only_when_every_dimension_matches():
    assert delivered(REMOTE_GROUP, ping(proto="tcp")) == ["tap2"]
    assert delivered(REMOTE_GROUP, ping(src="10.0.0.7", proto="tcp")) == ["tap2"]
    for one_dimension in (ping(src=OTHER, proto="tcp"), ping(proto="udp")):
        result = simulate(one_bridge(REMOTE_GROUP), "hv1", "br0", 1, one_dimension)
        # the clause flows never match by themselves: nothing else matches, a miss
        assert [(o.kind, o.reason) for o in result.outcomes] == [("dropped", "table miss")]
        assert result.steps[0].flow is None


def test_the_step_names_the_conjunction_and_conj_id_is_gone_after_it():
    flows = [*REMOTE_GROUP[:3], Flow(0, 70, match(eth_type=IP, conj_id=7), (("goto", 10),)),
             Flow(10, 20, match(conj_id=7), (("output", 3),)),   # conj_id is 0 again here
             Flow(10, 10, (), (("output", 2),))]
    result = simulate(one_bridge(flows), "hv1", "br0", 1, ping(proto="tcp"))
    assert result.steps[0].flow is flows[3]
    assert result.steps[0].notes == ["conjunction 7: conj_id=7"]
    assert "conj_id" not in result.steps[1].packet and result.steps[1].notes == []
    assert result.delivered_to() == [("hv1", "tap2")]


def test_conj_id_matches_only_in_the_lookup_a_conjunction_repeats():
    accept_only = [REMOTE_GROUP[3], Flow(0, 1, (), (("output", 3),))]
    assert delivered(accept_only, ping(proto="tcp")) == ["tap3"]
    # a packet cannot bring its own conj_id: the first lookup always has 0
    assert delivered(accept_only, ping(proto="tcp", conj_id=7)) == ["tap3"]
    assert delivered(REMOTE_GROUP + [Flow(0, 1, (), (("output", 3),))],
                     ping(proto="tcp")) == ["tap2"]
    # outside a conjunction's lookup conj_id is 0, not missing (as OVS 3.1)
    assert delivered([Flow(0, 1, match(conj_id=0), (("output", 3),))], ping()) == ["tap3"]


@pytest.mark.parametrize("priority, winner", [(71, "tap3"), (70, "tap3"), (69, "tap2")])
def test_an_ordinary_flow_above_or_level_with_a_conjunction_wins(priority, winner):
    """Higher: it wins; level: it wins too (OVS takes a soft match only above the best
    ordinary one; as OVS 3.1); lower: the conjunction wins."""
    flows = REMOTE_GROUP + [Flow(0, priority, match(eth_type=IP, ip_proto=6),
                                 (("output", 3),))]
    assert delivered(flows, ping(proto="tcp")) == [winner]
    assert delivered(flows, ping(src=OTHER, proto="tcp")) == ["tap3"]   # no conjunction


def test_one_flow_in_two_conjunctions():
    flows = [Flow(0, 70, match(eth_type=IP, ipv4_src=MEMBER),
                  (("conjunction", 1, 1, 2), ("conjunction", 2, 1, 2))),
             Flow(0, 70, match(eth_type=IP, ipv4_dst=PORT_IP), (("conjunction", 1, 2, 2),)),
             Flow(0, 70, match(eth_type=IP, ipv4_dst="10.0.0.8"), (("conjunction", 2, 2, 2),)),
             Flow(0, 70, match(conj_id=1), (("output", 2),)),
             Flow(0, 70, match(conj_id=2), (("output", 3),))]
    assert delivered(flows, ping(dst=PORT_IP)) == ["tap2"]
    assert delivered(flows, ping(dst="10.0.0.8")) == ["tap3"]
    assert delivered(flows, ping(src=OTHER, dst="10.0.0.8")) == []


def test_three_clauses_need_all_three():
    flows = [Flow(0, 50, match(eth_type=IP, ipv4_src=MEMBER), (("conjunction", 4, 1, 3),)),
             Flow(0, 50, match(eth_type=IP, ipv4_dst=PORT_IP), (("conjunction", 4, 2, 3),)),
             Flow(0, 50, match(eth_type=IP, ip_proto=6), (("conjunction", 4, 3, 3),)),
             Flow(0, 50, match(conj_id=4), (("output", 2),))]
    assert delivered(flows, ping(proto="tcp")) == ["tap2"]
    assert delivered(flows, ping(proto="udp")) == []


def test_clauses_of_another_priority_do_not_complete_a_conjunction():
    flows = [REMOTE_GROUP[0], Flow(0, 60, match(eth_type=IP, ipv4_dst=PORT_IP),
                                   (("conjunction", 7, 2, 2),)), REMOTE_GROUP[3]]
    assert delivered(flows, ping(proto="tcp")) == []


def test_the_repeated_lookup_is_a_whole_lookup_and_may_fall_through():
    """As OVS 3.1: with conj_id set the best ordinary flow wins, here one above the conj_id
    flow; if that lookup finds nothing, the next satisfied conjunction is tried."""
    between = REMOTE_GROUP[:3] + [Flow(0, 20, match(conj_id=7), (("output", 2),)),
                                  Flow(0, 30, match(eth_type=IP), (("output", 3),))]
    assert delivered(between, ping(proto="tcp")) == ["tap3"]
    fall_through = REMOTE_GROUP[:3] + [   # no conj_id=7 flow at all
        Flow(0, 45, match(eth_type=IP, ipv4_src=("10.0.0.0", "255.255.255.0")),
             (("conjunction", 12, 1, 2),)),
        Flow(0, 45, match(ip_proto=6), (("conjunction", 12, 2, 2),)),
        Flow(0, 45, match(conj_id=12), (("output", 4),))]
    result = simulate(one_bridge(fall_through), "hv1", "br0", 1, ping(proto="tcp"))
    assert result.delivered_to() == [("hv1", "tap4")]
    assert result.steps[0].notes == ["conjunction 12: conj_id=12"]


def test_a_flow_mixing_conjunction_with_other_actions_is_refused():
    """OVS refuses it (NXBAC_BAD_CONJUNCTION); so does the simulator, not silently."""
    for actions in ((("conjunction", 7, 1, 2), ("output", 2)), (("conjunction", 7, 3, 2),),
                    (("conjunction", 7, 1, 1),)):
        with pytest.raises(ValueError):
            simulate(one_bridge([Flow(0, 70, match(eth_type=IP), actions)]), "hv1", "br0",
                     1, ping())


def test_thousands_of_clause_flows_are_hashed_not_scanned():
    """Members hash on their address; the ports' clauses, without one, on reg5."""
    members = [Flow(82, 71, match(eth_type=IP, reg6=3, ipv4_src=f"10.{n >> 8}.{n & 255}.1"),
                    (("conjunction", 19, 1, 2),)) for n in range(3000)]
    ports = [Flow(82, 71, match(eth_type=IP, reg5=port, ip_proto=proto),
                  (("conjunction", 19, 2, 2),)) for port in range(1, 41) for proto in (1, 6)]
    flows = members + ports + [Flow(82, 71, match(conj_id=19, reg5=2), (("output", 2),)),
                               Flow(82, 0, ())]
    bridge = one_bridge(flows).bridges[0]
    clauses = bridge.tables()[82].clauses
    assert (clauses.key, clauses.deeper.key) == ("ipv4_src", "reg5")
    assert max(len(bucket) for bucket in clauses.deeper.buckets.values()) == 2
    packet = ping(src="10.11.22.1", reg5=2, reg6=3)
    assert bridge.lookup(82, packet, 1) is flows[-2]
    assert bridge.lookup(82, {**packet, "reg5": 50}, 1) is flows[-1]


def reference_lookup(flows, packet):
    """The lookup of the module's docstring, by brute force over every flow."""
    def hits(flow, fields):
        return all((fields.get(name, 0) & mask if isinstance(value, tuple) else
                    fields.get(name, 0)) == (value[0] & mask if isinstance(value, tuple)
                                             else value)
                   for name, value in flow.match
                   for mask in [value[1] if isinstance(value, tuple) else None])

    def best(fields, ordinary_only):
        found = [(-flow.priority, order) for order, flow in enumerate(flows)
                 if hits(flow, fields) and not (ordinary_only and is_clause(flow))]
        return flows[min(found)[1]] if found else None

    def is_clause(flow):
        return any(action[0] == "conjunction" for action in flow.actions)

    hard = best(packet, True)
    floor = hard.priority if hard else -1
    for priority in sorted({f.priority for f in flows if is_clause(f)}, reverse=True):
        if priority <= floor:
            break
        seen: dict = {}
        for flow in flows:
            if flow.priority == priority and is_clause(flow) and hits(flow, packet):
                for _, conj_id, clause, n in flow.actions:
                    seen.setdefault((conj_id, n), set()).add(clause)
        for (conj_id, n), clauses in sorted(seen.items()):
            if len(clauses) == n and (found := best({**packet, "conj_id": conj_id}, True)):
                return found
    return hard


def test_the_indexed_lookup_is_the_brute_force_one():
    """Random tables of ordinary, clause and conj_id flows over a few fields, deep enough
    to nest the index: the lookup finds what a scan of every flow finds."""
    rng = random.Random(7)
    for _ in range(40):
        flows = []
        for _ in range(rng.randrange(20, 120)):
            fields = {name: rng.randrange(4) for name in ("reg5", "reg6", "ip_proto", "ct_mark")
                      if rng.random() < 0.5}
            if rng.random() < 0.2:
                fields["reg6"] = (rng.randrange(4), rng.choice((1, 2, 3)))
            priority = rng.choice((10, 20, 30))
            kind = rng.random()
            if kind < 0.45:
                conj_ids = rng.sample((1, 2, 3), rng.randrange(1, 3))
                actions = tuple(("conjunction", c, rng.randrange(1, 3), 2) for c in conj_ids)
            elif kind < 0.65:
                fields["conj_id"] = rng.choice((1, 2, 3))
                actions = (("output", 2),)
            else:
                actions = (("output", 3),)
            flows.append(Flow(0, priority, match(**fields), actions))
        bridge = one_bridge(flows).bridges[0]
        for _ in range(30):
            packet = {name: rng.randrange(4) for name in ("reg5", "reg6", "ip_proto",
                                                          "ct_mark")}
            assert bridge.lookup(0, packet, 1) is reference_lookup(
                flows, {**packet, "in_port": 1}), (flows, packet)


# ------------------------------------------------------------------- ct_mark and reg5

KILLED = 1


def test_ct_mark_and_reg5_match_as_metadata_absent_reads_zero():
    flows = [Flow(0, 60, match(ct_state=(TRK, TRK), ct_mark=KILLED)),
             Flow(0, 50, match(ct_state=(TRK | EST, TRK | EST), ct_mark=0, reg5=0),
                  (("set_field", "reg5", 2), ("goto", 10))),
             Flow(10, 10, match(reg5=2), (("output", 2),))]
    established = ping(ct_state=TRK | EST, ct_zone=3)
    assert delivered(flows, established) == ["tap2"]
    result = simulate(one_bridge(flows), "hv1", "br0", 1, {**established, "ct_mark": KILLED})
    assert [(o.kind, o.reason) for o in result.outcomes] == [("dropped", "drop flow")]


def test_ct_clear_and_a_patch_crossing_clear_ct_mark():
    cleared = [Flow(0, 10, (), (("ct_clear",), ("goto", 10))),
               Flow(10, 10, match(ct_mark=KILLED), (("output", 3),)),
               Flow(10, 5, match(ct_mark=0, ct_state=0), (("output", 2),))]
    marked = ping(ct_state=TRK | EST, ct_zone=3, ct_mark=KILLED)
    assert delivered(cleared, marked) == ["tap2"]
    assert "ct_mark" not in simulate(one_bridge(cleared), "hv1", "br0", 1,
                                     marked).packet_at("hv1", "tap2")
    fabric = Fabric([
        SimBridge(1, "hv1", "br-a", "int", [Flow(0, 10, (), (("output", 2),))],
                  [PortInfo("tap1", 1, "vm"), PortInfo("patch-a", 2, "patch", peer="patch-b")]),
        SimBridge(2, "hv1", "br-b", "int", [Flow(0, 10, match(ct_mark=0), (("output", 2),))],
                  [PortInfo("patch-b", 1, "patch", peer="patch-a"), PortInfo("tap2", 2, "vm")]),
    ])
    assert simulate(fabric, "hv1", "br-a", "tap1", marked).delivered_to() == [("hv1", "tap2")]


RECIRCULATE = [Flow(0, 10, match(eth_type=IP), (("ct", False, 3, 10, None),)),
               Flow(10, 10, match(ct_zone=3, ct_mark=KILLED), (("output", 3),)),
               Flow(10, 5, match(ct_zone=3, ct_mark=0), (("output", 2),))]


def test_a_recirculated_packet_keeps_its_ct_mark_or_takes_ct_mark_after():
    assert delivered(RECIRCULATE, ping()) == ["tap2"]
    assert delivered(RECIRCULATE, ping(ct_mark=KILLED)) == ["tap3"]
    assert delivered(RECIRCULATE, ping(ct_mark_after=KILLED)) == ["tap3"]
    assert delivered(RECIRCULATE, ping(ct_mark=KILLED, ct_mark_after=0)) == ["tap2"]
    result = simulate(one_bridge(RECIRCULATE), "hv1", "br0", 1, ping(ct_mark_after=KILLED))
    assert result.steps[0].notes == ["ct zone 3: to table 10 with ct_state 0x22 ct_mark 0x1"]


def test_the_ct_mark_action_commits_noted_without_recirculating():
    """ct(commit,zone=3,exec(set_field:0x1->ct_mark)): noted; no copy goes anywhere, and
    the packet goes on as after any ct, its conntrack fields cleared (as OVS 3.1)."""
    kill = [Flow(72, 40, match(eth_type=IP, ct_state=(TRK | EST, TRK | EST)),
                 (("ct_mark", 3, KILLED),))]
    result = simulate(one_bridge([Flow(0, 1, (), (("goto", 72),))] + kill), "hv1", "br0", 1,
                      ping(ct_state=TRK | EST, ct_zone=3))
    assert result.path() == [("hv1", "br0", 0), ("hv1", "br0", 72)]
    assert result.steps[1].notes == ["ct zone 3 commit: ct_mark 0x1"]
    assert [(o.kind, o.reason) for o in result.outcomes] == [("dropped", "no output")]
    onward = [Flow(0, 10, (), (("ct_mark", 3, KILLED), ("goto", 10))),
              Flow(10, 10, match(ct_state=(TRK, TRK)), (("output", 3),)),
              Flow(10, 5, match(ct_mark=0), (("output", 2),))]
    result = simulate(one_bridge(onward), "hv1", "br0", 1,
                      ping(ct_state=TRK | EST, ct_zone=3, ct_mark=KILLED))
    assert result.delivered_to() == [("hv1", "tap2")] and len(result.steps) == 2
    out = result.packet_at("hv1", "tap2")
    assert (out["ipv4_src"], out["ipv4_dst"]) == (MEMBER, PORT_IP)
    assert not {"ct_state", "ct_zone", "ct_mark"} & out.keys()
