"""The pipeline, declared: for each bridge role, each table's number (Neutron's, from
neutron-lib's ovs_constants), name, purpose, the tables it may go to and its named
priority bands with the builders that may fill them.

This is the one place that answers "which flows does table 21 get, and why": a band
names its priorities, what its flows are for and which builder functions make them
(``violations`` checks a flow against it; the unit tests check every flow the planner
builds).  The purposes are the seeds' (../shared/seeds/001_*.txt dissects br-tun table
by table; 000_*.txt and 002_*.txt show br-int and the VLAN bridges).
"""
from __future__ import annotations

from dataclasses import dataclass

from ryu_app.pipeline.flow import Flow

# every bridge: one drop flow that is never matched; when it is gone, the bridge lost our
# flows (Open vSwitch restarted, ovs-ofctl del-flows) and is programmed afresh
CANARY = 23

# br-int
INT_LOCAL_SWITCHING = 0
INT_DVR_TO_SRC_MAC = 1
INT_DVR_TO_SRC_MAC_PHYSICAL = 2
INT_ARP_SPOOF = 24
INT_MAC_SPOOF = 25
INT_TRANSIENT = 60
# Security groups, Neutron's native firewall (neutron-lib ovs_constants)
INT_BASE_EGRESS = 71
INT_RULES_EGRESS = 72
INT_ACCEPT_OR_INGRESS = 73
INT_BASE_INGRESS = 81
INT_RULES_INGRESS = 82
INT_DHCP = 77             # Neutron's OVS agent DHCP extension uses 77 for IPv4 too
# North-south: Neutron does this in namespaces, with no table of its own; 79 and 80 are
# free, and below the ingress firewall (81) that SNAT replies go through.
INT_SNAT = 79
INT_SNAT_RETURN = 80
INT_EXTERNAL_OUT = 85     # free too: where a frame leaving for an external network goes

LOCAL_VLAN_REG = "reg6"   # a VM's frames carry its local VLAN here (access ports are untagged)
FILTERED_PORT_REG = "reg5"   # the ofport of the port a frame is filtered for
SETTABLE_IN_PORT = "in_port_nxm"   # in_port as a set_field writes it (Nicira's 16 bits)

# br-tun
TUN_LOCAL_SWITCHING = 0
TUN_DVR_PROCESS = 1
TUN_PATCH_LV_TO_TUN = 2
TUN_GRE_TO_LV = 3
TUN_VXLAN_TO_LV = 4
TUN_DVR_NOT_LEARN = 9
TUN_LEARN_FROM_TUN = 10
TUN_UCAST_TO_TUN = 20
TUN_ARP_RESPONDER = 21
TUN_FLOOD_TO_TUN = 22

TUN_TO_LV = {"gre": TUN_GRE_TO_LV, "vxlan": TUN_VXLAN_TO_LV}

# br-ethX (physical network bridges)
PHYS_LOCAL_SWITCHING = 0

DEAD_VLAN = 4095          # the tag of a port that must pass no traffic

# Meters on br-int (the pipeline's only ones): DHCP requests are capped per VM port and
# per bridge on the switch, before they reach the controller.
DHCP_BRIDGE_METER = 1
DHCP_PORT_METER_BASE = 0x10000    # + the port's ofport (OVS: up to 0xfeff; 262144 meters)


def dhcp_port_meter(ofport: int) -> int:
    return DHCP_PORT_METER_BASE + ofport


# Conntrack state bits (NXM_NX_CT_STATE): a match is (value, mask).
CT_NEW, CT_EST, CT_REL, CT_RPL, CT_INV, CT_TRK = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
CT_REPLY_OR_RELATED = (CT_TRK, CT_TRK | CT_NEW | CT_INV)   # tracked, not new, not invalid

ROLES = ("int", "tun", "phys")


@dataclass(frozen=True)
class Band:
    """Priorities of one table that serve one purpose, and the builders that fill them."""

    name: str
    priorities: tuple[int, ...]
    builders: tuple[str, ...]
    purpose: str


@dataclass(frozen=True)
class Table:
    number: int
    name: str
    purpose: str
    next_tables: tuple[int, ...]
    bands: tuple[Band, ...]
    learns_into: tuple[int, ...] = ()

    def band(self, priority: int, builder: str | None = None) -> Band | None:
        """The band of a priority (the builder's, where two bands share it)."""
        found = [band for band in self.bands if priority in band.priorities]
        for band in found:
            if builder is None or builder in band.builders:
                return band
        return found[0] if found else None


INT_DEFAULTS, TUN_DEFAULTS = "br_int.default_flows", "br_tun.default_flows"
PHYS_DEFAULTS = "br_phys.default_flows"


def _canary(builder: str) -> Table:
    return Table(CANARY, "canary",
                 "one drop flow: when it is gone, Open vSwitch restarted or lost its flows",
                 (), (Band("canary", (0,), (builder,), "never matched on purpose"),))
DVR_DEFAULTS = "br_int.dvr_default_flows"
NAT = "nat."   # the builders of ryu_app/pipeline/nat.py
SG = "security."   # the builders of ryu_app/pipeline/security.py
SG_DEFAULTS = SG + "default_flows"

def _verdicts(conntrack_builders: tuple[str, ...], accepted: str) -> tuple[Band, ...]:
    """The bands tables 72 and 82 share: what conntrack decides around the rules."""
    return (
        Band("killed", (51,), (SG_DEFAULTS,),
             "a connection marked when its rule went (ct_mark 1): dropped"),
        Band("conntrack", (50,), conntrack_builders,
             f"invalid: dropped; replies and related: {accepted}"),
        Band("kill", (41,), (SG + "zone_flows",),
             "established, no rule accepts it any more: marked (ct_mark 1), dropped"),
        Band("no rule", (40,), (SG_DEFAULTS,), "a new connection no rule accepts: dropped"),
        Band("default", (0,), (SG_DEFAULTS,), "untracked: dropped"),
    )


INTEGRATION = tuple(sorted((   # declared by topic, listed by number
    Table(INT_LOCAL_SWITCHING, "local switching",
          "classification of every frame entering br-int: dead ports and the dead VLAN, "
          "provider VLAN to local VLAN, frames another hypervisor routed, VM ports to "
          "anti-spoofing, the rest to normal switching", (
              INT_LOCAL_SWITCHING,   # a priority-tagged frame, untagged, again
              INT_DVR_TO_SRC_MAC, INT_DVR_TO_SRC_MAC_PHYSICAL, INT_ARP_SPOOF, INT_MAC_SPOOF,
              INT_TRANSIENT, INT_DHCP, INT_SNAT_RETURN, INT_BASE_INGRESS), (
              Band("dead VLAN", (65535,), (INT_DEFAULTS,),
                   "frames still in VLAN 4095 go nowhere"),
              Band("external ARP", (6,), (NAT + "external_arp_flow",),
                   "ARP from the external network for a router's gateway address (on its "
                   "SNAT hypervisor) or a floating IP (on its VM's hypervisor): answered "
                   "here, and nowhere else"),
              Band("external echo", (6,), (NAT + "external_echo_flow",),
                   "a ping from the external network to a router's gateway address (on its "
                   "SNAT hypervisor): answered here"),
              Band("external in", (5,), (NAT + "snat_return_flow", NAT + "floating_in_flow",
                                         NAT + "neighbour_flows", NAT + "routed_in_flow"),
                   "from the external network: replies to a router's gateway address into "
                   "conntrack (un-SNAT, then 80); traffic to a floating IP DNATed to its "
                   "VM; ARP answers and gratuitous ARPs of the external gateway to the "
                   "controller (the gratuitous ones also switched on); for a router "
                   "without SNAT, traffic to its VMs' addresses routed to them"),
              Band("routed by another hypervisor", (4,), (DVR_DEFAULTS,),
                   "a remote DVR MAC as source: to the DVR delivery tables"),
              Band("priority-tagged from a VM", (13,), ("br_int.tagged_from_vm_flows",),
                   "a frame a VM port sends with VLAN id 0: untagged and classified again, "
                   "as NORMAL takes it on an access port"),
              Band("tagged from a VM", (12,), ("br_int.tagged_from_vm_flows",),
                   "any other 802.1Q tag a VM port sends: dropped (access ports; the tag "
                   "would otherwise pass for another network's local VLAN)"),
              Band("DHCP", (11,), ("br_int.dhcp_request_flow", "br_int.dhcp_client_flows",
                                   "br_int.dhcp_server_drop_flow"),
                   "a VM's DHCP requests (UDP 68 to 67): to table 77 through its port's "
                   "meter; when no subnet of its has DHCP here, from its own addresses or "
                   "0.0.0.0 switched on its network (60) for a DHCP server of the tenant's; "
                   "DHCP server replies (67 to 68) a VM with port security sends: dropped "
                   "(no rogue DHCP)"),
              Band("provider in", (3,), ("br_int.provider_in_flow",),
                   "a provider network's frames from br-ethX: physical to local VLAN"),
              Band("VM ports", (9, 10), ("br_int.port_security_flows",
                                        "br_int.open_port_flow"),
                   "a bound VM port's frames: ARP to 24, the rest to 25 (or straight to 60 "
                   "without port security); its local VLAN noted in reg6"),
              Band("blocked ports", (2,), (INT_DEFAULTS, "br_int.dead_port_flow"),
                   "a device that is no bound port, and unknown VLANs from br-ethX: dropped"),
              Band("default", (0,), (INT_DEFAULTS,), "everything else: on to table 60"),
          )),
    Table(INT_DVR_TO_SRC_MAC, "DVR to source MAC",
          "frames another hypervisor routed here over a tunnel get their gateway's MAC back "
          "and go to the VM's ingress filter (or straight to it), or to SNAT when sent to a "
          "router's SNAT port", (INT_SNAT, INT_BASE_INGRESS), (
              Band("delivery", (20,), ("br_int.dvr_delivery_flow", NAT + "snat_entry_flow"),
                   "the local VM's MAC: gateway MAC as source, out of its port; a router's "
                   "sg- MAC (this is its SNAT hypervisor): to SNAT"),
              Band("default", (1,), (DVR_DEFAULTS,), "unknown destinations: dropped"),
          )),
    Table(INT_DVR_TO_SRC_MAC_PHYSICAL, "DVR to source MAC (physical)",
          "the same for VLAN and flat networks, from br-ethX", (INT_SNAT, INT_BASE_INGRESS), (
              Band("delivery", (20,), ("br_int.dvr_delivery_flow", NAT + "snat_entry_flow"),
                   "the local VM's MAC: gateway MAC as source, untagged, out of its port; "
                   "a router's sg- MAC: to SNAT"),
              Band("default", (1,), (DVR_DEFAULTS,), "unknown destinations: dropped"),
          )),
    _canary(INT_DEFAULTS),
    Table(INT_ARP_SPOOF, "ARP spoofing",
          "a VM may send ARP only as its own MAC and addresses (fixed IPs, allowed "
          "address pairs)",
          (INT_MAC_SPOOF,), (
              Band("allowed sender", (2,), ("br_int.port_security_flows",),
                   "one of the port's own (MAC, IP) pairs as ARP sender: on to the MAC "
                   "check"),
              Band("default", (0,), (INT_DEFAULTS,), "any other sender: dropped"),
          )),
    Table(INT_MAC_SPOOF, "MAC spoofing",
          "a VM may send only from its own MAC addresses", (INT_BASE_EGRESS,), (
              Band("allowed source", (2,), ("br_int.port_security_flows",),
                   "the port's own source MAC: on to its security groups (71)"),
              Band("default", (0,), (INT_DEFAULTS,), "any other source MAC: dropped"),
          )),
    Table(INT_TRANSIENT, "transient",
          "the final decision: the distributed router on the source hypervisor (its ARP, "
          "pings to it, routes), frames for a filtered port to its ingress, else normal L2 "
          "switching in the local VLAN", (INT_SNAT, INT_BASE_INGRESS, INT_EXTERNAL_OUT), (
              Band("to a filtered port", (90,), (SG + "handover_flows",),
                   "unicast to a port with security groups (its own MAC, in its network, "
                   "tagged from br-tun/br-ethX or untagged from a port here): to 81"),
              Band("router echo, unfiltered", (32,), ("br_int.gateway_echo_flows",),
                   "ping to an address of the VM's router from a port without filtering "
                   "(reg5 0): answered here, back out of the port"),
              Band("router echo", (31,), ("br_int.gateway_echo_flows",),
                   "ping to an address of the VM's router from a filtered port: answered "
                   "here, the reply to the port's ingress filter (81)"),
              Band("gateway ARP", (30,), ("br_int.gateway_arp_flow",),
                   "ARP for the VM's gateway: answered here"),
              Band("DHCP server ARP", (30,), ("br_int.dhcp_server_arp_flow",),
                   "ARP for the network's DHCP server (a renewal is unicast to it): "
                   "answered here"),
              Band("floating IP ARP, here", (30,), (NAT + "floating_local_flows",),
                   "ARP from a VM of the external network for a floating IP of this "
                   "hypervisor: answered with its fg- MAC"),
              Band("floating IP in, here", (26,), (NAT + "floating_local_flows",),
                   "from a VM of the external network to a floating IP of this hypervisor: "
                   "DNAT to its VM (through its ingress filter, when it has one)"),
              Band("routes", (25,), ("br_int.route_flow",),
                   "to the gateway for a VM of another subnet of the router: TTL - 1, MACs "
                   "rewritten, to the VM's port or towards its hypervisor"),
              Band("connected", (24,), (NAT + "connected_drop_flow",),
                   "to the gateway for an unknown address of the router's own subnets: "
                   "dropped, never sent outside"),
              Band("own floating IP", (24,), (NAT + "floating_self_flow",),
                   "from a VM to its own floating IP: SNAT, then out to the upstream "
                   "gateway, which sends it back to be DNATed in a new pass"),
              Band("floating IP out", (23,), (NAT + "floating_out_flow",),
                   "from a VM with a floating IP, to the outside: TTL - 1, SNAT to the "
                   "floating IP in its zone, on to its next hop (85)"),
              Band("to SNAT", (22,), (NAT + "snat_redirect_flow",),
                   "from a VM without one, to the outside: TTL - 1, to the router's sg- "
                   "port on its SNAT hypervisor (seed 004's redirect), over the tenant "
                   "network or straight to SNAT when that is here"),
              Band("unrouted", (21,), ("br_int.unrouted_drop_flow",),
                   "to the gateway for an address the router does not know: dropped"),
              Band("to an address pair's MAC", (20,), (SG + "pair_handover_flows",),
                   "unicast to the MAC of filtered ports' address pairs: to 81 of each "
                   "port here whose pairs name it, in turn, below the router's bands and "
                   "the filtered ports' own MACs, so that a pair takes nothing sent to "
                   "its gateway or to a filtered port here"),
              Band("normal", (1,), (INT_DEFAULTS,), "ordinary L2 switching (NORMAL)"),
          )),
    Table(INT_SNAT, "SNAT",
          "on a router's SNAT hypervisor: what its VMs send outside gets the router's "
          "gateway address (conntrack commit in the router's zone, random source ports) "
          "and leaves through the external bridge to the upstream gateway",
          (INT_EXTERNAL_OUT,), (
              Band("routers", (10,), (NAT + "snat_flow", NAT + "routed_out_flow"),
                   "one per sg- port of a router (without SNAT: routed out unchanged)"),
              Band("default", (0,), (INT_DEFAULTS,), "no router's: dropped"),
          )),
    Table(INT_EXTERNAL_OUT, "external next hop",
          "a frame NATed for an external network (a floating IP's, a router's SNAT): to "
          "the neighbour on that network that holds its destination, as Neutron's fip- "
          "namespace finds it on-link, else to the upstream gateway",
          (INT_TRANSIENT, INT_SNAT_RETURN), (
              Band("on-link", (10,), (NAT + "on_link_flow", NAT + "on_link_here_flow",
                                      NAT + "on_link_gateway_here_flow"),
                   "a floating IP (at the fg- MAC of its VM's hypervisor; one of this "
                   "hypervisor's back into 60, its DNAT there) or a router's gateway "
                   "address (at its qg- MAC on its SNAT hypervisor; there, un-SNAT and "
                   "on to 80)"),
              Band("upstream", (1,), (NAT + "external_out_flow",),
                   "anything else: out to the upstream gateway, as its egress flow set"),
          )),
    Table(INT_SNAT_RETURN, "SNAT return",
          "after un-SNAT: replies (and related ICMP errors) go to the VM they belong to, "
          "routed (TTL - 1, MACs) like east-west traffic", (INT_BASE_INGRESS,), (
              Band("VMs", (10,), (NAT + "snat_return_route_flow",),
                   "per router zone and VM address: to the VM's port or its hypervisor"),
              Band("default", (0,), (INT_DEFAULTS,),
                   "new connections from outside, invalid, unknown: dropped"),
          )),
    Table(INT_BASE_EGRESS, "base egress",
          "security groups (../shared/seeds/002_*.txt's qbr iptables, in OpenFlow): what a "
          "filtered port sends, from its own (MAC, IP) pairs only, into its network's "
          "conntrack zone", (INT_TRANSIENT, INT_RULES_EGRESS), (
              Band("ARP", (95,), (SG + "port_flows",), "checked by 24 already: on to 60"),
              Band("own sources", (65,), (SG + "port_flows",),
                   "IPv4 from a (MAC, address) pair of the port: ct(table=72) in its zone "
                   "(a stateless port's straight to 72)"),
              Band("default", (0,), (SG_DEFAULTS,), "spoofed sources, non-IP: dropped"),
          )),
    Table(INT_RULES_EGRESS, "rules egress",
          "the port's egress rules decide new connections and established ones; replies "
          "and related ICMP pass", (INT_TRANSIENT, INT_ACCEPT_OR_INGRESS), (
              Band("rules", (74,), (SG + "rule_flows",),
                   "a rule without a remote group: new or established (any packet for a "
                   "stateless port), to 73"),
              Band("remote groups", (70,), (SG + "member_flow", SG + "port_clause_flow",
                                            SG + "conjunction_accept_flow"),
                   "a rule with a remote group: conjunction of a member's address (1/2) "
                   "and the port's protocol (2/2), accepted to 73"),
              *_verdicts((SG_DEFAULTS,), "on to 60"),
          )),
    Table(INT_ACCEPT_OR_INGRESS, "accept or ingress",
          "an accepted egress frame for a stateful filtered port's own MAC on this "
          "hypervisor and network goes to its ingress uncommitted; any other new "
          "connection is committed in the zone",
          (INT_TRANSIENT, INT_BASE_INGRESS), (
              Band("local filtered port", (100,), (SG + "handover_flows",),
                   "to a stateful filtered port's own MAC in the same network: its reg5, to "
                   "81 (a stateless one's, and an address pair's MAC, go through the commit "
                   "and 60)"),
              Band("commit", (90,), (SG + "zone_flows",),
                   "a new connection: ct(commit) in the zone, on to 60"),
              Band("default", (0,), (SG_DEFAULTS,), "established: on to 60"),
          )),
    Table(INT_BASE_INGRESS, "base ingress",
          "frames for a filtered port: ARP and DHCP replies delivered, IPv4 into the "
          "port's conntrack zone "
          "(after clearing what a NAT zone left)", (INT_RULES_INGRESS,), (
              Band("ARP", (100,), (SG + "port_flows",), "delivered"),
              Band("DHCP routed", (96,), (SG + "port_flows",),
                   "a DHCP reply a router sent (its interface MAC as source): to the rules "
                   "as any IPv4"),
              Band("DHCP", (95,), (SG + "port_flows",),
                   "a DHCP server's reply (UDP 67 to 68) from the port's own subnets: "
                   "delivered, as Neutron's firewall does (only a port without port "
                   "security can send one)"),
              Band("IPv4", (90,), (SG + "port_flows",),
                   "ct_clear, ct(table=82) in its zone (a stateless port's straight to 82)"),
              Band("default", (0,), (SG_DEFAULTS,), "anything else: dropped"),
          )),
    Table(INT_RULES_INGRESS, "rules ingress",
          "the port's ingress rules: a new connection one accepts is committed and "
          "delivered, replies and related ICMP are delivered, the rest dropped", (), (
              Band("rules", (74,), (SG + "rule_flows",),
                   "a rule without a remote group: new (commit) or established, or any "
                   "packet for a stateless port, delivered"),
              Band("remote groups", (70,), (SG + "member_flow", SG + "port_clause_flow",
                                            SG + "conjunction_accept_flow"),
                   "a rule with a remote group: from a member's address (1/2) and the "
                   "port's protocol (2/2), delivered"),
              *_verdicts((SG_DEFAULTS, SG + "port_flows"), "delivered to the port"),
          )),
    Table(INT_DHCP, "DHCP",
          "a VM's DHCP request goes to the controller, which answers it on this hypervisor "
          "with a packet-out on the VM's port: no DHCP frame leaves the hypervisor", (), (
              Band("to the controller", (1,), (INT_DEFAULTS,),
                   "through the bridge's DHCP meter"),
          )),
), key=lambda table: table.number))

TUNNEL = (
    Table(TUN_LOCAL_SWITCHING, "local switching",
          "sorts frames by where they came from: br-int to DVR egress, each tunnel port to "
          "its type's tunnel-id table", (TUN_DVR_PROCESS, TUN_GRE_TO_LV, TUN_VXLAN_TO_LV), (
              Band("in ports", (1,), (TUN_DEFAULTS, "br_tun.tunnel_port_flow"),
                   "patch-int to table 1; a VXLAN port to 4, a GRE port to 3"),
              Band("default", (0,), (TUN_DEFAULTS,), "any other port: dropped"),
          )),
    Table(TUN_DVR_PROCESS, "DVR process",
          "routed frames leave with the hypervisor's DVR MAC as source; frames to a gateway "
          "MAC never leave the hypervisor", (TUN_PATCH_LV_TO_TUN,), (
              Band("to the gateway", (2,), ("br_tun.dvr_interface_flows",),
                   "destination is a router interface MAC: dropped (the router is local)"),
              Band("from the gateway", (1,), ("br_tun.dvr_interface_flows",),
                   "source is a router interface MAC: rewritten to the DVR MAC"),
              Band("default", (0,), (TUN_DEFAULTS,), "the rest: on to table 2"),
          )),
    Table(TUN_PATCH_LV_TO_TUN, "patch local VLAN to tunnel",
          "frames from br-int: unicast to 20, broadcast ARP to the ARP responder 21, "
          "multicast and broadcast to 22", (TUN_UCAST_TO_TUN, TUN_ARP_RESPONDER,
                                             TUN_FLOOD_TO_TUN), (
              Band("broadcast ARP", (1,), (TUN_DEFAULTS,), "to the ARP responder"),
              Band("by destination", (0,), (TUN_DEFAULTS,),
                   "unicast to 20, multicast/broadcast to 22"),
          )),
    *(Table(number, f"{kind.upper()} tunnel to local VLAN",
            f"a {kind.upper()} frame's tunnel id (the network's segment) becomes this "
            "hypervisor's local VLAN, then learning (via DVR's table 9)",
            (TUN_DVR_NOT_LEARN,), (
                Band("segments", (1,), ("br_tun.tunnel_to_local_vlan_flow",),
                     "one per network this hypervisor serves"),
                Band("default", (0,), (TUN_DEFAULTS,), "unknown tunnel ids: dropped"),
            )) for kind, number in sorted(TUN_TO_LV.items(), key=lambda item: item[1])),
    Table(TUN_DVR_NOT_LEARN, "DVR not learn",
          "frames another hypervisor routed (its DVR MAC as source) are not learned",
          (TUN_LEARN_FROM_TUN,), (
              Band("remote DVR MACs", (1,), (TUN_DEFAULTS,), "straight to br-int"),
              Band("default", (0,), (TUN_DEFAULTS,), "the rest: to learning"),
          )),
    Table(TUN_LEARN_FROM_TUN, "learn from tunnel",
          "learn which tunnel a remote MAC came from (into table 20), then to br-int", (), (
              Band("learn", (1,), (TUN_DEFAULTS,), "learn(), output to patch-int"),
          ), learns_into=(TUN_UCAST_TO_TUN,)),
    Table(TUN_UCAST_TO_TUN, "unicast to tunnel",
          "known unicast goes straight to the tunnel of the destination's hypervisor",
          (TUN_FLOOD_TO_TUN,), (
              Band("l2population", (2,), ("br_tun.l2pop_unicast_flow",),
                   "a remote port's MAC, from the controller"),
              Band("learned", (1,), (), "learned by table 10 (hard timeout 300 s)"),
              Band("default", (0,), (TUN_DEFAULTS,), "unknown unicast: flooded (22)"),
          )),
    Table(TUN_ARP_RESPONDER, "ARP responder",
          "ARP for a remote port or a gateway is answered here, from the controller's "
          "knowledge, instead of being broadcast over the tunnels", (TUN_FLOOD_TO_TUN,), (
              Band("answers", (1,), ("br_tun.arp_responder_flow",),
                   "'IP is at MAC', turned around in place and sent back to br-int"),
              Band("default", (0,), (TUN_DEFAULTS,), "an address nobody answers: flooded"),
          )),
    Table(TUN_FLOOD_TO_TUN, "flood to tunnels",
          "broadcast, unknown unicast and multicast copied to the tunnel of each hypervisor "
          "with a port on the network (l2population's flood list)", (), (
              Band("flood lists", (1,), ("br_tun.flood_flow",),
                   "strip the local VLAN, set the tunnel id, one output per hypervisor"),
              Band("default", (0,), (TUN_DEFAULTS,), "no other hypervisor: dropped"),
          )),
    _canary(TUN_DEFAULTS),
)

PHYSICAL = (
    Table(PHYS_LOCAL_SWITCHING, "local switching",
          "a physical network bridge: local VLAN to the network's VLAN (or untagged for "
          "flat) on the way out; the physical side is switched normally", (), (
              Band("DVR", (5,), ("br_phys.dvr_interface_flows",),
                   "routed frames leave with the DVR MAC; frames to a gateway stay"),
              Band("provider out", (4,), ("br_phys.provider_out_flow",),
                   "local VLAN to the physical VLAN, or untagged"),
              Band("from br-int", (2,), (PHYS_DEFAULTS,),
                   "any other VLAN from br-int: dropped"),
              Band("normal", (0,), (PHYS_DEFAULTS,),
                   "from the physical network: normal switching"),
          )),
    _canary(PHYS_DEFAULTS),
)

PIPELINE: dict[str, dict[int, Table]] = {
    role: {table.number: table for table in tables}
    for role, tables in (("int", INTEGRATION), ("tun", TUNNEL), ("phys", PHYSICAL))}


def table_name(role: str, number: int) -> str:
    table = PIPELINE.get(role, {}).get(number)
    return table.name if table else f"table {number}"


def violations(role: str, flow: Flow) -> list[str]:
    """What is wrong with a flow on a bridge of this role, by the declaration: an
    undeclared table, a priority outside its bands, a builder the band does not name,
    a goto, resubmit or learn() into a table that is not declared next."""
    table = PIPELINE[role].get(flow.table)
    if table is None:
        return [f"{role} table {flow.table} is not declared"]
    problems = []
    band = table.band(flow.priority, flow.builder)
    if band is None:
        problems.append(f"{role} table {flow.table} has no band for priority {flow.priority}")
    elif flow.builder not in band.builders:
        problems.append(f"{role} table {flow.table} band {band.name!r} is not "
                        f"built by {flow.builder or 'an unnamed builder'}")
    for action in flow.actions:
        if action[0] in ("goto", "resubmit") and action[1] not in table.next_tables:
            problems.append(f"{role} table {flow.table} may not go to table {action[1]}")
        if action[0] == "ct" and action[3] is not None and action[3] not in table.next_tables:
            problems.append(f"{role} table {flow.table} may not recirculate to table "
                            f"{action[3]}")
        if action[0] == "learn" and action[1] not in table.learns_into:
            problems.append(f"{role} table {flow.table} may not learn into table {action[1]}")
    return problems
