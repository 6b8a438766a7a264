"""ICMP time exceeded, as the distributed router answers a frame whose TTL ran out."""
from ryu.lib.packet import arp, ethernet, icmp, in_proto, ipv4, packet, udp

from ryu_app.router_packets import QUOTE_LIMIT, gratuitous_arp, time_exceeded_reply

VM_MAC, GATEWAY_MAC = "fa:16:3e:00:00:05", "fa:16:3e:00:0a:01"
GATEWAYS = {GATEWAY_MAC: "10.20.0.1"}
lookup = GATEWAYS.get


def frame(payload=None, ttl: int = 1, offset: int = 0, dst_mac: str = GATEWAY_MAC,
          payload_bytes: bytes = b"probe" * 10) -> bytes:
    """A VM's frame to its gateway, UDP to 10.21.0.3 unless ``payload`` is given."""
    built = packet.Packet()
    built.add_protocol(ethernet.ethernet(dst=dst_mac, src=VM_MAC))
    proto = in_proto.IPPROTO_ICMP if isinstance(payload, icmp.icmp) else in_proto.IPPROTO_UDP
    built.add_protocol(ipv4.ipv4(src="10.20.0.5", dst="10.21.0.3", ttl=ttl, proto=proto,
                                 offset=offset))
    built.add_protocol(payload or udp.udp(src_port=40000, dst_port=33434))
    built.add_protocol(payload_bytes)
    built.serialize()
    return bytes(built.data)


def test_the_reply_comes_from_the_gateway_and_quotes_the_datagram():
    original = frame()
    reply = packet.Packet(time_exceeded_reply(original, lookup))
    eth, ip, message = (reply.get_protocol(k) for k in (ethernet.ethernet, ipv4.ipv4, icmp.icmp))
    assert (eth.src, eth.dst) == (GATEWAY_MAC, VM_MAC)
    assert (ip.src, ip.dst, ip.proto) == ("10.20.0.1", "10.20.0.5", in_proto.IPPROTO_ICMP)
    assert (message.type, message.code) == (icmp.ICMP_TIME_EXCEEDED, 0)
    assert message.data.data == original[14:]
    reply_bytes = time_exceeded_reply(original, lookup)
    assert checksum_holds(reply_bytes[14:34]) and checksum_holds(reply_bytes[34:])


def checksum_holds(data: bytes) -> bool:
    """The Internet checksum as a receiver checks it: the one's complement sum is all ones."""
    total = sum(int.from_bytes(data[i:i + 2].ljust(2, b"\0"), "big")
                for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def test_a_long_datagram_is_quoted_up_to_576_bytes_in_all():
    original = frame(udp.udp(src_port=40000, dst_port=33434), payload_bytes=b"y" * 1400)
    reply = time_exceeded_reply(original, lookup)
    assert len(reply) == 14 + 576  # Ethernet, then the 576-byte datagram
    assert packet.Packet(reply).get_protocol(icmp.icmp).data.data == \
        original[14:14 + QUOTE_LIMIT]


def test_no_reply_to_icmp_errors_later_fragments_or_unknown_gateways():
    unreachable = icmp.icmp(type_=icmp.ICMP_DEST_UNREACH, code=3,
                            data=icmp.dest_unreach(data=b"\x45" + b"\x00" * 27))
    assert time_exceeded_reply(frame(unreachable), lookup) is None
    assert time_exceeded_reply(frame(offset=100), lookup) is None
    assert time_exceeded_reply(frame(dst_mac="fa:16:3e:99:99:99"), lookup) is None


def test_an_echo_request_gets_a_reply():
    echo = icmp.icmp(type_=icmp.ICMP_ECHO_REQUEST, data=icmp.echo(id_=7, seq=1, data=b"ping"))
    assert time_exceeded_reply(frame(echo), lookup) is not None


def test_a_gratuitous_arp_asks_for_its_own_address():
    announcement = packet.Packet(gratuitous_arp("10.20.0.1", GATEWAY_MAC))
    eth, request = announcement.get_protocol(ethernet.ethernet), announcement.get_protocol(arp.arp)
    assert (eth.dst, eth.src) == ("ff:ff:ff:ff:ff:ff", GATEWAY_MAC)
    assert (request.opcode, request.src_mac, request.src_ip, request.dst_ip) == \
        (arp.ARP_REQUEST, GATEWAY_MAC, "10.20.0.1", "10.20.0.1")
