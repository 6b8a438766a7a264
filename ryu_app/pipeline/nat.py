"""br-int north-south: centralized SNAT on a router's SNAT hypervisor and floating IPs on
their VM's hypervisor, with conntrack (pure).

The path is seed 004's (../shared/seeds/004_*.txt): a VM's packet to the outside is routed
on its own hypervisor (table 60, TTL - 1) to the router's sg- port, which lives on the
SNAT hypervisor; there table 79 commits it to the router's conntrack zone with the
router's gateway address as source (``--random-fully`` in Neutron's iptables: random
source ports) and sends it out through br-ex to the upstream gateway.  Replies come in
on br-ex, are un-SNATed in the same zone and routed back (table 80).  A VM with a
floating IP skips all that: its own hypervisor SNATs and DNATs it in the floating IP's
zone, and answers ARP for the floating IP with its fg- port's MAC.

``External`` says how one hypervisor reaches one external network: the patch port to
its br-ex, the VLAN the network has on the wire there (None: flat) and the actions that
put a frame on it.
"""
from __future__ import annotations

from dataclasses import dataclass

from ryu_app.pipeline import tables as T
from ryu_app.pipeline.br_int import (ETH_TYPE_IP, NO_PORT, RoutedEntry, echo_reply,
                                      echo_request, local_arp_answer)
from ryu_app.pipeline.flow import (ETH_TYPE_8021Q, ETH_TYPE_ARP, OFPVID_NONE, Flow, arp_reply,
                                    builder, match, vlan)

ARP_REQUEST, ARP_REPLY = 1, 2


@dataclass(frozen=True)
class External:
    """An external network as one hypervisor's br-int reaches it."""

    int_ex: int                # br-int's patch port to the network's br-ex
    segmentation_id: int | None  # the VLAN on the wire; None for a flat network
    lvid: int                  # the network's local VLAN here (br-ex takes frames in it)
    delivery: tuple            # actions that send a frame out onto the network

    def leaving_for(self, ip: str) -> tuple:
        """A match in the next-hop table (85) on NATed frames for ``ip`` on the network."""
        return match(eth_type=ETH_TYPE_IP, ipv4_dst=ip, **{T.LOCAL_VLAN_REG: self.lvid})

    def arriving(self, **fields) -> tuple:
        """A match on frames entering br-int from the network (untranslated)."""
        wire = OFPVID_NONE if self.segmentation_id is None else vlan(self.segmentation_id)
        return match(in_port=self.int_ex, vlan_vid=wire, **fields)

    @property
    def untag(self) -> tuple:
        return () if self.segmentation_id is None else (("pop_vlan",),)

    @property
    def out(self) -> tuple:
        """What ends a NATed frame's egress flow: on to the next-hop table, in the
        network's local VLAN (``external_out_flow`` then sends it out, or an on-link
        flow to a neighbour first)."""
        return (("set_field", T.LOCAL_VLAN_REG, self.lvid), ("goto", T.INT_EXTERNAL_OUT))

    @property
    def back_to_local_vlan(self) -> tuple:
        """A frame that came in from the network, as br-ex takes it back from br-int:
        in the network's local VLAN (br-ex puts the wire's VLAN back)."""
        push = (("push_vlan", ETH_TYPE_8021Q),) if self.segmentation_id is None else ()
        return (*push, ("set_field", "vlan_vid", vlan(self.lvid)))


def _ct(zone: int, nat: tuple, commit: bool = True, table: int | None = None) -> tuple:
    return ("ct", commit, zone, table, nat)


def _routed(gateway_mac: str, destination_mac: str) -> tuple:
    return (("dec_ttl",), ("set_field", "eth_src", gateway_mac),
            ("set_field", "eth_dst", destination_mac))


# ----------------------------------------------------- on the VM's hypervisor

@builder
def snat_redirect_flow(lvid: int, gateway_mac: str, snat_mac: str, delivery: tuple) -> Flow:
    """Table 60: to the outside from a VM without a floating IP: TTL - 1, from the
    gateway to the router's sg- port (``delivery``: towards its hypervisor, or into
    table 79 here)."""
    return Flow(T.INT_TRANSIENT, 22,
                match(eth_type=ETH_TYPE_IP, eth_dst=gateway_mac, **{T.LOCAL_VLAN_REG: lvid}),
                (*_routed(gateway_mac, snat_mac), *delivery))


@builder
def connected_drop_flow(lvid: int, gateway_mac: str, cidr: tuple[str, str]) -> Flow:
    """Table 60: an unknown address of one of the router's own subnets is no outside."""
    return Flow(T.INT_TRANSIENT, 24,
                match(eth_type=ETH_TYPE_IP, eth_dst=gateway_mac, ipv4_dst=cidr,
                      **{T.LOCAL_VLAN_REG: lvid}))


@builder
def floating_out_flow(lvid: int, gateway_mac: str, fixed_ip: str, floating_ip: str, zone: int,
                      fg_mac: str, upstream_mac: str, external: External) -> Flow:
    """Table 60: from a VM with a floating IP to the outside: TTL - 1, the floating IP as
    source (conntrack in its zone), on to the next hop (85) from its fg- MAC."""
    return Flow(T.INT_TRANSIENT, 23,
                match(eth_type=ETH_TYPE_IP, eth_dst=gateway_mac, ipv4_src=fixed_ip,
                      **{T.LOCAL_VLAN_REG: lvid}),
                (*_floating_snat(floating_ip, zone, fg_mac, upstream_mac), *external.out))


@builder
def floating_self_flow(lvid: int, gateway_mac: str, fixed_ip: str, floating_ip: str,
                       zone: int, fg_mac: str, upstream_mac: str, external: External) -> Flow:
    """Table 60: from a VM to its own floating IP: straight out to the upstream gateway,
    which sends it back by the wire, where a new pass DNATs it.  On-link, in one pass,
    its zone would SNAT and DNAT one connection, which conntrack does not do."""
    return Flow(T.INT_TRANSIENT, 24,
                match(eth_type=ETH_TYPE_IP, eth_dst=gateway_mac, ipv4_src=fixed_ip,
                      ipv4_dst=floating_ip, **{T.LOCAL_VLAN_REG: lvid}),
                (*_floating_snat(floating_ip, zone, fg_mac, upstream_mac),
                 *external.delivery))


def _floating_snat(floating_ip: str, zone: int, fg_mac: str, upstream_mac: str) -> tuple:
    return (*_routed(fg_mac, upstream_mac), _ct(zone, ("src", floating_ip, False)))


@builder
def floating_in_flow(external: External, floating_ip: str, fg_mac: str, zone: int,
                     fixed_ip: str, gateway_mac: str, vm_mac: str, delivery: tuple) -> Flow:
    """Table 0: to a floating IP from outside: TTL - 1, DNAT to the VM's fixed IP
    (conntrack in the floating IP's zone), to the VM (``delivery``: its port, or its
    ingress filter)."""
    return Flow(T.INT_LOCAL_SWITCHING, 5,
                external.arriving(eth_type=ETH_TYPE_IP, eth_dst=fg_mac, ipv4_dst=floating_ip),
                (*external.untag, *_dnat_to_vm(zone, fixed_ip, gateway_mac, vm_mac, delivery)))


def _dnat_to_vm(zone: int, fixed_ip: str, gateway_mac: str, vm_mac: str,
                delivery: tuple) -> tuple:
    """A frame for a floating IP, routed to its VM: TTL - 1, DNAT to the fixed IP in the
    floating IP's zone, then ``delivery``."""
    return (*_routed(gateway_mac, vm_mac), _ct(zone, ("dst", fixed_ip, False)), *delivery)


@builder
def floating_local_flows(external: External, floating_ip: str, fg_mac: str, zone: int,
                         fixed_ip: str, gateway_mac: str, vm_mac: str,
                         delivery: tuple) -> list[Flow]:
    """Table 60: what ``external_arp_flow`` and ``floating_in_flow`` do for the wire, for
    a VM of the external network on this hypervisor: its ARP for the floating IP is
    answered with the fg- MAC, and what it sends there is DNATed to the VM.  Its frames
    never come in by the patch to br-ex, where those flows wait, and NORMAL would send
    them out onto the wire, from where nothing brings them back."""
    here = {T.LOCAL_VLAN_REG: external.lvid}
    return [local_arp_answer(external.lvid, floating_ip, fg_mac),
            Flow(T.INT_TRANSIENT, 26,
                 match(eth_type=ETH_TYPE_IP, eth_dst=fg_mac, ipv4_dst=floating_ip, **here),
                 _dnat_to_vm(zone, fixed_ip, gateway_mac, vm_mac, delivery))]


@builder
def external_arp_flow(external: External, ip: str, mac: str) -> Flow:
    """Table 0: ARP from the external network for ``ip`` answered 'at ``mac``' here."""
    reply = arp_reply(ip, mac)    # ends in output:in_port
    return Flow(T.INT_LOCAL_SWITCHING, 6,
                external.arriving(eth_type=ETH_TYPE_ARP, arp_op=ARP_REQUEST, arp_tpa=ip),
                (*reply[:-1], *external.back_to_local_vlan, reply[-1]))


@builder
def external_echo_flow(external: External, ip: str, mac: str) -> Flow:
    """Table 0: a ping from the external network to ``ip`` (a router's gateway address,
    on its SNAT hypervisor) answered here, as Neutron's snat namespace answers it."""
    return Flow(T.INT_LOCAL_SWITCHING, 6, external.arriving(**echo_request(ip, mac)),
                (*echo_reply(ip, mac), *external.back_to_local_vlan, ("output", "in_port")))


@builder
def neighbour_flows(external: External, gateway_ip: str) -> list[Flow]:
    """Table 0: the upstream gateway's ARP answers go to the controller, which routes
    the outside to the MAC they give, and its gratuitous ARP requests too (a failover to
    another MAC, announced); both also go on onto the network as any frame of it: a VM
    on the external network asked for the gateway too, or hears the announcement."""
    switched_on = (("output", "controller"), *external.back_to_local_vlan,
                   ("goto", T.INT_TRANSIENT))
    return [Flow(T.INT_LOCAL_SWITCHING, 5,
                 external.arriving(eth_type=ETH_TYPE_ARP, arp_op=ARP_REPLY, arp_spa=gateway_ip),
                 switched_on),
            Flow(T.INT_LOCAL_SWITCHING, 5,
                 external.arriving(eth_type=ETH_TYPE_ARP, arp_op=ARP_REQUEST,
                                   arp_spa=gateway_ip, arp_tpa=gateway_ip),
                 switched_on)]


# ------------------------------------------- leaving for an external network

@builder
def external_out_flow(external: External) -> Flow:
    """Table 85: a NATed frame for no known neighbour goes out to the upstream gateway
    (its egress flow set that MAC)."""
    return Flow(T.INT_EXTERNAL_OUT, 1, match(**{T.LOCAL_VLAN_REG: external.lvid}),
                external.delivery)


@builder
def on_link_flow(external: External, ip: str, mac: str) -> Flow:
    """Table 85: a NATed frame for an address another hypervisor holds on the external
    network (a floating IP, a router's gateway address) goes straight to its MAC there,
    not by the upstream gateway, which may not send it back where it came from."""
    return Flow(T.INT_EXTERNAL_OUT, 10, external.leaving_for(ip),
                (("set_field", "eth_dst", mac), *external.delivery))


@builder
def on_link_here_flow(external: External, ip: str, fg_mac: str) -> Flow:
    """Table 85: for a floating IP of this hypervisor: to its fg- MAC and back into 60 in
    the external network's local VLAN, where ``floating_local_flows`` DNAT it to its VM
    (out on the wire it would not come back)."""
    return Flow(T.INT_EXTERNAL_OUT, 10, external.leaving_for(ip),
                (("set_field", "eth_dst", fg_mac), ("set_field", T.SETTABLE_IN_PORT, NO_PORT),
                 ("resubmit", T.INT_TRANSIENT)))


@builder
def on_link_gateway_here_flow(external: External, gateway_ip: str, qg_mac: str,
                              zone: int) -> Flow:
    """Table 85, on a router's SNAT hypervisor: for its gateway address (a floating IP's
    reply to one of its VMs, say): un-SNAT in its zone, then on in table 80, as
    ``snat_return_flow`` takes it from the wire (out there it would not come back)."""
    return Flow(T.INT_EXTERNAL_OUT, 10, external.leaving_for(gateway_ip),
                (("set_field", "eth_dst", qg_mac),
                 _ct(zone, ("", "", False), commit=False, table=T.INT_SNAT_RETURN)))


# --------------------------------------------------- on the SNAT hypervisor

@builder
def snat_entry_flow(entry: RoutedEntry, snat_mac: str) -> Flow:
    """Tables 1/2: a frame another hypervisor routed to a router's sg- port here: into
    SNAT, untagged."""
    return Flow(entry.table, 20, entry.match(snat_mac), (*entry.untag(), ("goto", T.INT_SNAT)))


@builder
def snat_flow(snat_mac: str, zone: int, gateway_ip: str, qg_mac: str, upstream_mac: str,
              external: External) -> Flow:
    """Table 79: SNAT to the router's gateway address, random source ports, in the
    router's zone; out to the upstream gateway from the qg- MAC."""
    return Flow(T.INT_SNAT, 10, match(eth_type=ETH_TYPE_IP, eth_dst=snat_mac),
                (("set_field", "eth_src", qg_mac), ("set_field", "eth_dst", upstream_mac),
                 _ct(zone, ("src", gateway_ip, True)), *external.out))


@builder
def routed_out_flow(snat_mac: str, qg_mac: str, upstream_mac: str, external: External) -> Flow:
    """Table 79, for a router without SNAT (``enable_snat`` false): out to the upstream
    gateway from the qg- MAC, the VM's own address as source, as Neutron's snat
    namespace routes it then (the upstream routes the router's subnets back to it)."""
    return Flow(T.INT_SNAT, 10, match(eth_type=ETH_TYPE_IP, eth_dst=snat_mac),
                (("set_field", "eth_src", qg_mac), ("set_field", "eth_dst", upstream_mac),
                 *external.out))


@builder
def routed_in_flow(external: External, qg_mac: str, vm_ip: str, gateway_mac: str, vm_mac: str,
                   delivery: tuple) -> Flow:
    """Table 0, for a router without SNAT: from outside to one of its VMs' addresses,
    sent to its gateway address's MAC: routed to the VM (its ingress rules judge it)."""
    return Flow(T.INT_LOCAL_SWITCHING, 5,
                external.arriving(eth_type=ETH_TYPE_IP, eth_dst=qg_mac, ipv4_dst=vm_ip),
                (*external.untag, *_routed(gateway_mac, vm_mac), *delivery))


@builder
def snat_return_flow(external: External, gateway_ip: str, qg_mac: str, zone: int) -> Flow:
    """Table 0: to the router's gateway address from outside: un-SNAT in its zone,
    then on in table 80 (replies only)."""
    return Flow(T.INT_LOCAL_SWITCHING, 5,
                external.arriving(eth_type=ETH_TYPE_IP, eth_dst=qg_mac, ipv4_dst=gateway_ip),
                (*external.untag, _ct(zone, ("", "", False), commit=False,
                                      table=T.INT_SNAT_RETURN)))


@builder
def snat_return_route_flow(zone: int, vm_ip: str, gateway_mac: str, vm_mac: str,
                           delivery: tuple) -> Flow:
    """Table 80: a reply (or a related ICMP error) for a VM behind the router: routed to
    it, on this hypervisor or over the tenant network."""
    return Flow(T.INT_SNAT_RETURN, 10,
                match(eth_type=ETH_TYPE_IP, ct_zone=zone, ct_state=T.CT_REPLY_OR_RELATED,
                      ipv4_dst=vm_ip),
                (*_routed(gateway_mac, vm_mac), *delivery))
