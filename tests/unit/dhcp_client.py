"""A DHCP client's frames and a reader of the server's, built with Ryu's packet library:
an implementation independent of ryu_app/dhcp, so the tests check our bytes against it."""
from __future__ import annotations

from ryu.lib.packet import dhcp, ethernet, ipv4, packet, udp

BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"


def request_frame(mac: str, message_type: int, xid: int = 0x1234, ciaddr: str = "0.0.0.0",
                  src_ip: str = "0.0.0.0", dst_ip: str = "255.255.255.255",
                  dst_mac: str = BROADCAST_MAC, flags: int = 0, **options: bytes) -> bytes:
    """A client message; ``options`` as opt_<code>=bytes (e.g. opt_50 for option 50)."""
    items = [dhcp.option(tag=dhcp.DHCP_MESSAGE_TYPE_OPT, value=bytes([message_type]))]
    items += [dhcp.option(tag=int(name[4:]), value=value) for name, value in options.items()]
    frame = packet.Packet()
    frame.add_protocol(ethernet.ethernet(dst=dst_mac, src=mac, ethertype=0x0800))
    frame.add_protocol(ipv4.ipv4(src=src_ip, dst=dst_ip, proto=17))
    frame.add_protocol(udp.udp(src_port=68, dst_port=67))
    frame.add_protocol(dhcp.dhcp(op=dhcp.DHCP_BOOT_REQUEST, chaddr=mac, xid=xid, flags=flags,
                                 ciaddr=ciaddr, options=dhcp.options(option_list=items)))
    frame.serialize()
    return bytes(frame.data)


def read_reply(frame: bytes) -> dict:
    """The fields of a server's reply, and its options by code."""
    parsed = packet.Packet(frame)
    eth, ip, datagram = (parsed.get_protocol(kind) for kind in (ethernet.ethernet, ipv4.ipv4,
                                                                udp.udp))
    message = parsed.get_protocol(dhcp.dhcp)
    options = {}
    for option in message.options.option_list:
        options[option.tag] = options.get(option.tag, b"") + option.value
    return {"eth_src": eth.src, "eth_dst": eth.dst, "ip_src": ip.src, "ip_dst": ip.dst,
            "sport": datagram.src_port, "dport": datagram.dst_port, "op": message.op,
            "xid": message.xid, "yiaddr": message.yiaddr, "ciaddr": message.ciaddr,
            "siaddr": message.siaddr, "chaddr": message.chaddr, "options": options,
            "type": options[dhcp.DHCP_MESSAGE_TYPE_OPT][0], "ip_checksum_ok": _ip_ok(frame),
            "udp_checksum_ok": _udp_ok(frame)}


def _sum(data: bytes) -> int:
    data += b"\0" * (len(data) % 2)
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _ip_ok(frame: bytes) -> bool:
    return _sum(frame[14:34]) == 0xFFFF


def _udp_ok(frame: bytes) -> bool:
    segment = frame[34:]
    pseudo = frame[26:34] + bytes([0, 17]) + len(segment).to_bytes(2, "big")
    return _sum(pseudo + segment) == 0xFFFF
