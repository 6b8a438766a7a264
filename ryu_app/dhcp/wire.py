"""DHCPv4 on the wire: a client's frame read, the server's frame packed (RFC 2131, 951).

A request is read from the frame a VM sent (Ethernet, IPv4, UDP 68 -> 67, BOOTP with the
magic cookie); anything else reads as None.  A reply is one Ethernet frame, with the IPv4
and UDP checksums computed (some clients drop a reply whose UDP checksum is zero).
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from ryu_app.dhcp import options as opt

ETH_TYPE_IP, ETH_TYPE_VLAN = 0x0800, 0x8100
IPPROTO_UDP = 17
CLIENT_PORT, SERVER_PORT = 68, 67
BOOTREQUEST, BOOTREPLY = 1, 2
MAGIC_COOKIE = b"\x63\x82\x53\x63"
BOOTP = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")   # the 236 fixed bytes
BROADCAST_FLAG = 0x8000
MIN_BOOTP = 300          # BOOTP's minimum message, which some clients still expect
BROADCAST_MAC, BROADCAST_IP = "ff:ff:ff:ff:ff:ff", "255.255.255.255"
REPLY_TTL = 64


@dataclass(frozen=True)
class Request:
    """What a client's DHCP message says that the server needs."""

    eth_src: str
    ip_src: str
    ip_dst: str
    xid: int
    flags: int
    ciaddr: str
    giaddr: str
    chaddr: str                       # the client's MAC (hlen 6)
    raw_chaddr: bytes                 # all 16 bytes, copied into the reply
    options: dict[int, bytes]

    @property
    def message_type(self) -> int | None:
        value = self.options.get(opt.MESSAGE_TYPE)
        return value[0] if value else None

    @property
    def requested_address(self) -> str | None:
        value = self.options.get(opt.REQUESTED_ADDRESS)
        return _ip(value) if value and len(value) == 4 else None

    @property
    def server_id(self) -> str | None:
        value = self.options.get(opt.SERVER_ID)
        return _ip(value) if value and len(value) == 4 else None


def _mac(data: bytes) -> str:
    return ":".join(f"{byte:02x}" for byte in data)


def _ip(data: bytes) -> str:
    return str(ipaddress.IPv4Address(data))


def parse(frame: bytes) -> Request | None:
    """The DHCP request in a frame, or None if it is not one (or is malformed)."""
    try:
        return _parse(frame)
    except (struct.error, IndexError, ValueError):
        return None


def _parse(frame: bytes) -> Request | None:
    eth_src = _mac(frame[6:12])
    offset, ethertype = 12, struct.unpack_from("!H", frame, 12)[0]
    while ethertype == ETH_TYPE_VLAN:
        offset += 4
        ethertype = struct.unpack_from("!H", frame, offset)[0]
    ip_start = offset + 2
    if ethertype != ETH_TYPE_IP or frame[ip_start] >> 4 != 4:
        return None
    header_length = (frame[ip_start] & 0x0F) * 4
    if frame[ip_start + 9] != IPPROTO_UDP or struct.unpack_from(
            "!H", frame, ip_start + 6)[0] & 0x3FFF:   # a fragment
        return None
    ip_src = _ip(frame[ip_start + 12:ip_start + 16])
    ip_dst = _ip(frame[ip_start + 16:ip_start + 20])
    udp = ip_start + header_length
    source_port, destination_port, udp_length = struct.unpack_from("!HHH", frame, udp)
    if (source_port, destination_port) != (CLIENT_PORT, SERVER_PORT):
        return None
    bootp = frame[udp + 8:udp + udp_length]
    if len(bootp) < BOOTP.size + 4 or bootp[BOOTP.size:BOOTP.size + 4] != MAGIC_COOKIE:
        return None
    op, htype, hlen, _, xid, _, flags, ciaddr, _, _, giaddr, chaddr, _, _ = BOOTP.unpack_from(
        bootp)
    if op != BOOTREQUEST or htype != 1 or hlen != 6:
        return None
    return Request(eth_src, ip_src, ip_dst, xid, flags, _ip(ciaddr), _ip(giaddr),
                   _mac(chaddr[:6]), chaddr, _options(bootp[BOOTP.size + 4:]))


def _options(data: bytes) -> dict[int, bytes]:
    """Options by code; an option given twice is concatenated (RFC 3396)."""
    found: dict[int, bytes] = {}
    index = 0
    while index < len(data):
        code = data[index]
        if code == opt.END:
            break
        if code == opt.PAD:
            index += 1
            continue
        length = data[index + 1]
        value = data[index + 2:index + 2 + length]
        if len(value) != length:
            raise ValueError("truncated option")
        found[code] = found.get(code, b"") + value
        index += 2 + length
    return found


@dataclass(frozen=True)
class Reply:
    """A server message, before packing: who it goes to and what it says."""

    message_type: int
    xid: int
    flags: int
    ciaddr: str
    yiaddr: str
    siaddr: str
    giaddr: str
    raw_chaddr: bytes
    options: tuple[tuple[int, bytes], ...]   # after 53, in order
    eth_src: str
    eth_dst: str
    ip_src: str
    ip_dst: str


def pack(reply: Reply) -> bytes:
    """The reply as one Ethernet frame."""
    bootp = BOOTP.pack(BOOTREPLY, 1, 6, 0, reply.xid, 0, reply.flags,
                       _packed_ip(reply.ciaddr), _packed_ip(reply.yiaddr),
                       _packed_ip(reply.siaddr), _packed_ip(reply.giaddr),
                       reply.raw_chaddr.ljust(16, b"\0"), b"", b"")
    body = MAGIC_COOKIE + bytes([opt.MESSAGE_TYPE, 1, reply.message_type])
    for code, value in reply.options:
        for start in range(0, max(len(value), 1), 255):   # RFC 3396: long values split
            chunk = value[start:start + 255]
            body += bytes([code, len(chunk)]) + chunk
    bootp += (body + bytes([opt.END])).ljust(MIN_BOOTP - BOOTP.size, b"\0")
    source, destination = _packed_ip(reply.ip_src), _packed_ip(reply.ip_dst)
    udp_length = 8 + len(bootp)
    pseudo = source + destination + struct.pack("!BBH", 0, IPPROTO_UDP, udp_length)
    udp = struct.pack("!HHHH", SERVER_PORT, CLIENT_PORT, udp_length, 0) + bootp
    udp_checksum = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", udp_checksum) + udp[8:]
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_length, 0, 0, REPLY_TTL,
                         IPPROTO_UDP, 0, source, destination)
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    ethernet = (bytes.fromhex(reply.eth_dst.replace(":", ""))
                + bytes.fromhex(reply.eth_src.replace(":", "")) + struct.pack("!H", ETH_TYPE_IP))
    return ethernet + header + udp


def _packed_ip(address: str) -> bytes:
    return ipaddress.IPv4Address(address).packed


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
