"""The packets a distributed router sends itself, built by the controller.

DVR routes on the source chassis in flows (br-int table 60, ``dec_ttl``), with no
router namespace to speak for the router, so the controller does what its kernel
would:

* a frame whose TTL runs out comes to the controller (packet-in, reason invalid
  TTL) and gets ICMP time exceeded from the gateway: ``traceroute`` shows the
  gateway as its first hop;
* a new interface announces its MAC with a gratuitous ARP, so that VMs which knew
  the gateway IP by an older MAC switch at once (Neutron's agents send these with
  ``arping -U``).
"""
from __future__ import annotations

from typing import Callable

from ryu.lib.packet import arp, ethernet, icmp, ipv4, packet, vlan
from ryu.lib.packet import ether_types, in_proto

# RFC 1812 4.3.2.3: quote as much of the original datagram as fits in 576 bytes.
MAX_ERROR_DATAGRAM = 576
QUOTE_LIMIT = MAX_ERROR_DATAGRAM - 20 - 8
ICMP_ERRORS = {icmp.ICMP_DEST_UNREACH, icmp.ICMP_SRC_QUENCH, icmp.ICMP_REDIRECT,
               icmp.ICMP_TIME_EXCEEDED, 12}  # 12: parameter problem
REPLY_TTL = 64
ETH_HEADER, VLAN_HEADER = 14, 4
BROADCAST, UNKNOWN_MAC = "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"


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


def _parsed(frame: bytes) -> packet.Packet | None:
    """Ryu's parse of a frame a VM or the wire sent; None for one its parsers refuse (a
    DHCP request with bytes over 0x7f in its overloaded sname, a truncated header: they
    raise anything from UnicodeDecodeError to AssertionError)."""
    try:
        return packet.Packet(frame)
    except Exception:
        return None


def _ethertype(frame: bytes) -> int | None:
    """The frame's ethertype, past one 802.1Q tag."""
    if len(frame) < ETH_HEADER:
        return None
    kind = int.from_bytes(frame[12:14], "big")
    if kind == ether_types.ETH_TYPE_8021Q and len(frame) >= ETH_HEADER + VLAN_HEADER:
        kind = int.from_bytes(frame[16:18], "big")
    return kind


def _expired_datagram(frame: bytes) -> tuple[ethernet.ethernet, ipv4.ipv4, bytes] | None:
    """(Ethernet header, IPv4 header, the datagram's bytes) of a frame whose TTL ran out,
    if it deserves a time exceeded: not a fragment past the first, not an ICMP error."""
    parsed = _parsed(frame)
    if parsed is None:
        return None
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


def gratuitous_arp(ip: str, mac: str, vid: int | None = None) -> bytes:
    """A broadcast ARP request for its own address: who has ``ip``? ``mac`` has (tagged
    with VLAN ``vid`` when given: a frame br-int sends towards a br-ex)."""
    return _arp(mac, ip, ip, vid)


def arp_request(mac: str, ip: str, target: str, vid: int | None = None) -> bytes:
    """A broadcast 'who has ``target``? tell ``ip`` (at ``mac``)'."""
    return _arp(mac, ip, target, vid)


def _arp(mac: str, ip: str, target: str, vid: int | None) -> bytes:
    frame = packet.Packet()
    kind = ether_types.ETH_TYPE_8021Q if vid is not None else ether_types.ETH_TYPE_ARP
    frame.add_protocol(ethernet.ethernet(dst=BROADCAST, src=mac, ethertype=kind))
    if vid is not None:
        frame.add_protocol(vlan.vlan(vid=vid, ethertype=ether_types.ETH_TYPE_ARP))
    frame.add_protocol(arp.arp(opcode=arp.ARP_REQUEST, src_mac=mac, src_ip=ip,
                               dst_mac=UNKNOWN_MAC, dst_ip=target))
    frame.serialize()
    return bytes(frame.data)


def arp_sender(frame: bytes) -> tuple[str, str] | None:
    """(sender IP, sender MAC) of an ARP frame, None for any other frame (a DHCP request
    is not even parsed)."""
    parsed = _parsed(frame) if _ethertype(frame) == ether_types.ETH_TYPE_ARP else None
    message = parsed.get_protocol(arp.arp) if parsed else None
    return None if message is None else (message.src_ip, message.src_mac)


def vlan_of(frame: bytes) -> int | None:
    """The VLAN id of a frame's 802.1Q tag, None when it has none."""
    parsed = _parsed(frame)
    tag = parsed.get_protocol(vlan.vlan) if parsed else None
    return None if tag is None else tag.vid
