"""The ICMP errors a distributed router owes its VMs, built by the controller.

DVR routes on the source chassis in flows (br-int table 60, ``dec_ttl``).  A frame
whose TTL runs out there comes to the controller (packet-in, reason invalid TTL),
and the router answers as a router namespace would: ICMP time exceeded from the
gateway of the sender's subnet.  That reply is what makes ``traceroute`` show the
gateway as its first hop.
"""
from __future__ import annotations

from typing import Callable

from ryu.lib.packet import ethernet, icmp, ipv4, packet, vlan
from ryu.lib.packet import ether_types, in_proto

# RFC 1812 4.3.2.3: quote as much of the original datagram as fits in 576 bytes.
MAX_ERROR_DATAGRAM = 576
QUOTE_LIMIT = MAX_ERROR_DATAGRAM - 20 - 8
ICMP_ERRORS = {icmp.ICMP_DEST_UNREACH, icmp.ICMP_SRC_QUENCH, icmp.ICMP_REDIRECT,
               icmp.ICMP_TIME_EXCEEDED, 12}  # 12: parameter problem
REPLY_TTL = 64
ETH_HEADER, VLAN_HEADER = 14, 4


GatewayIp = Callable[[str], "str | None"]  # router interface MAC -> its IP


def time_exceeded_reply(frame: bytes, gateway_ip: GatewayIp) -> bytes | None:
    """The reply to a routed frame whose TTL ran out, if it deserves one and was sent to a
    router interface ``gateway_ip`` knows."""
    expired = _expired_datagram(frame)
    if expired is None:
        return None
    eth, header, datagram = expired
    source = gateway_ip(eth.dst)
    return None if source is None else _time_exceeded(eth, header, datagram, source)


def _expired_datagram(frame: bytes) -> tuple[ethernet.ethernet, ipv4.ipv4, bytes] | None:
    """(Ethernet header, IPv4 header, the datagram's bytes) of a frame whose TTL ran out,
    if it deserves a time exceeded: not a fragment past the first, not an ICMP error."""
    parsed = packet.Packet(frame)
    eth = parsed.get_protocol(ethernet.ethernet)
    header = parsed.get_protocol(ipv4.ipv4)
    if eth is None or header is None or header.offset:
        return None
    if header.proto == in_proto.IPPROTO_ICMP:
        message = parsed.get_protocol(icmp.icmp)
        if message is None or message.type in ICMP_ERRORS:
            return None
    ip_offset = ETH_HEADER + VLAN_HEADER * sum(isinstance(p, vlan.vlan) for p in parsed.protocols)
    return eth, header, frame[ip_offset:ip_offset + header.total_length]


def _time_exceeded(eth: ethernet.ethernet, header: ipv4.ipv4, datagram: bytes,
                   gateway_ip: str) -> bytes:
    """ICMP time exceeded (in transit) from the gateway (its IP; its MAC is the frame's
    destination) back to the sender."""
    reply = packet.Packet()
    reply.add_protocol(ethernet.ethernet(dst=eth.src, src=eth.dst,
                                         ethertype=ether_types.ETH_TYPE_IP))
    reply.add_protocol(ipv4.ipv4(src=gateway_ip, dst=header.src, ttl=REPLY_TTL,
                                 proto=in_proto.IPPROTO_ICMP))
    reply.add_protocol(icmp.icmp(type_=icmp.ICMP_TIME_EXCEEDED, code=0,
                                 data=icmp.TimeExceeded(data=datagram[:QUOTE_LIMIT])))
    reply.serialize()
    return bytes(reply.data)
