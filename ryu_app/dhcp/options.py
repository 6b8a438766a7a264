"""DHCPv4 option codes and the encoding of their values (RFC 2132, RFC 3442).

Neutron's ``extra_dhcp_opts`` name options as dnsmasq does (``tftp-server``,
``bootfile-name``) or by number; ``encode`` turns such a name and its text value into
(code, bytes), and raises ValueError, with a message for the API user, for what it
cannot send.
"""
from __future__ import annotations

import ipaddress
import re
import struct

NETMASK, ROUTER, DNS_SERVERS, HOSTNAME, DOMAIN_NAME = 1, 3, 6, 12, 15
MTU, BROADCAST, REQUESTED_ADDRESS, LEASE_TIME, MESSAGE_TYPE = 26, 28, 50, 51, 53
SERVER_ID, PARAMETER_LIST, RENEWAL_TIME, REBINDING_TIME = 54, 55, 58, 59
DOMAIN_SEARCH, CLASSLESS_ROUTES, PAD, END = 119, 121, 0, 255
MS_CLASSLESS_ROUTES = 249   # Microsoft's 121, which older Windows clients read
USER_CLASS, IPXE_ENCAPSULATED = 77, 175
# The one tag Neutron's dnsmasq sets for IPv4 (--dhcp-match=set:ipxe,175: the client
# sends iPXE's option 175).  An option named "tag:ipxe,67" is sent only to such a
# client, "tag:!ipxe,67" only to any other (Ironic chain-loads iPXE with that pair).
IPXE = "ipxe"
# The server's own siaddr field (the PXE "next server"), set by name like an option.
SERVER_IP_ADDRESS = "server-ip-address"
# Options the protocol itself owns: a port may not set them.
RESERVED = frozenset({PAD, REQUESTED_ADDRESS, 52, MESSAGE_TYPE, SERVER_ID, PARAMETER_LIST,
                      57, 61, END})
# Options a blank value suppresses (Neutron: "router" and "classless-static-route").
SUPPRESSIBLE = frozenset({ROUTER, CLASSLESS_ROUTES})

# dnsmasq's names for the options users set most, and how their values are written.
NAMES: dict[str, tuple[int, str]] = {
    "netmask": (1, "ip"), "router": (3, "ips"), "dns-server": (6, "ips"),
    "log-server": (7, "ips"), "hostname": (12, "text"), "domain-name": (15, "text"),
    "root-path": (17, "text"), "mtu": (26, "u16"), "broadcast": (28, "ip"),
    "ntp-server": (42, "ips"), "netbios-ns": (44, "ips"), "lease-time": (51, "u32"),
    "T1": (58, "u32"), "T2": (59, "u32"), "tftp-server": (66, "text"),
    "bootfile-name": (67, "text"), "domain-search": (119, "domains"),
    "classless-static-route": (121, "routes"), "tftp-server-address": (150, "ips"),
}
KIND_OF_CODE = {code: kind for code, kind in NAMES.values()}


def split_tag(name: str) -> tuple[tuple[str, bool] | None, str]:
    """((tag, wanted set), option name) of a name with a dnsmasq tag ("tag:!ipxe,67"),
    (None, name) of one without; ValueError for a tag nothing here sets."""
    if not name.startswith("tag:"):
        return None, name
    tag, _, option = name[len("tag:"):].partition(",")
    wanted = not tag.startswith("!")
    if tag not in (IPXE, f"!{IPXE}") or not option:
        raise ValueError(f"DHCP option {name!r}: the only tag set here is '{IPXE}' (the "
                         f"client is iPXE), written tag:{IPXE},OPTION or tag:!{IPXE},OPTION")
    return (IPXE, wanted), option


def client_tags(options: dict[int, bytes]) -> set[str]:
    """The tags a client's request sets: ``ipxe`` when it sends iPXE's option 175, as
    Neutron's dnsmasq matches it, or its user class (77) says iPXE, which iPXE sends
    too (and which Neutron matches for DHCPv6)."""
    return {IPXE} if b"iPXE" in options.get(USER_CLASS, b"") or (
        IPXE_ENCAPSULATED in options) else set()


def code_of(name: str) -> int:
    """The option code a name or number stands for (ValueError if neither)."""
    name = name.strip()
    if name.isdigit():
        code = int(name)
    elif name in NAMES:
        code = NAMES[name][0]
    else:
        raise ValueError(f"unknown DHCP option name {name!r}: use a dnsmasq name such as "
                         f"{', '.join(sorted(NAMES)[:4])}... or an option number")
    if not 1 <= code <= 254 or code in RESERVED:
        raise ValueError(f"DHCP option {code} cannot be set on a port")
    return code


def encode(name: str, value: str) -> tuple[int, bytes]:
    """(code, encoded value) of an ``extra_dhcp_opts`` entry; ValueError if unusable."""
    code = code_of(name)
    kind = KIND_OF_CODE.get(code) or _untyped_kind(value)
    try:
        data = _ENCODERS[kind](value)
    except (ValueError, struct.error) as error:
        raise ValueError(f"DHCP option {name}: {value!r} is not a valid value ({error})") from None
    if not 0 < len(data) <= 255:
        raise ValueError(f"DHCP option {name}: the value must encode to 1-255 bytes")
    return code, data


def address(value: str) -> str:
    """An IPv4 address as a user may write it (blanks around it, as dnsmasq takes it),
    in its canonical form; ValueError if it is none."""
    return str(ipaddress.IPv4Address(value.strip()))


def ip(value: str) -> bytes:
    return ipaddress.IPv4Address(address(value)).packed


def ips(addresses: str | list[str]) -> bytes:
    items = addresses.split(",") if isinstance(addresses, str) else addresses
    return b"".join(ip(item) for item in items if item.strip())


def u16(value: int | str) -> bytes:
    return struct.pack("!H", int(value))


def u32(value: int | str) -> bytes:
    return struct.pack("!I", int(value))


def classless_routes(routes: list[tuple[str, str]]) -> bytes:
    """RFC 3442: for each (destination CIDR, next hop), the prefix length, the
    significant octets of the destination, the next hop."""
    encoded = b""
    for destination, nexthop in routes:
        network = ipaddress.IPv4Network(destination, strict=False)
        octets = (network.prefixlen + 7) // 8
        encoded += bytes([network.prefixlen]) + network.network_address.packed[:octets]
        encoded += ip(nexthop)
    return encoded


def _routes_text(value: str) -> bytes:
    """dnsmasq's form: 'DEST/LEN,NEXTHOP[,DEST/LEN,NEXTHOP...]'."""
    items = [item.strip() for item in value.split(",")]
    if len(items) % 2:
        raise ValueError("expected destination,nexthop pairs")
    return classless_routes(list(zip(items[::2], items[1::2], strict=True)))


def domains(value: str) -> bytes:
    """RFC 1035 names, uncompressed, as option 119 carries them."""
    encoded = b""
    for name in (item.strip().strip(".") for item in value.split(",")):
        labels = name.split(".")
        if not name or any(not 0 < len(label) < 64 for label in labels):
            raise ValueError(f"bad domain {name!r}")
        encoded += b"".join(bytes([len(label)]) + label.encode("ascii") for label in labels)
        encoded += b"\0"
    return encoded


def _all_ips(value: str) -> bool:
    try:
        return bool(ips(value))
    except ValueError:
        return False


def _untyped_kind(value: str) -> str:
    """How dnsmasq writes an option it has no type for: colon-separated hex octets as
    those bytes, a decimal number as an integer of 1, 2 or 4 bytes, addresses as
    addresses, anything else as text."""
    if HEX_OCTETS.fullmatch(value.strip()):
        return "hex"
    if value.strip().isdigit():
        return "number"
    return "ips" if _all_ips(value) else "text"


def _number(value: str) -> bytes:
    number = int(value)
    if number >= 1 << 32:
        raise ValueError("a number must fit in 4 bytes")
    size = 1 if number < 1 << 8 else 2 if number < 1 << 16 else 4
    return number.to_bytes(size, "big")


def _hex(value: str) -> bytes:
    return bytes(int(octet, 16) for octet in value.strip().split(":"))


HEX_OCTETS = re.compile(r"[0-9A-Fa-f]{1,2}(:[0-9A-Fa-f]{1,2})+")
_ENCODERS = {"ip": ip, "ips": ips, "text": lambda value: value.encode("utf-8"),
             "u16": u16, "u32": u32, "routes": _routes_text, "domains": domains,
             "number": _number, "hex": _hex}


def check(name: str, value: str) -> None:
    """Raise ValueError, with a message for the API user, if a port's extra DHCP option
    cannot be served: an unknown name or tag, an option the protocol owns, a value that
    does not encode, or a blank value where blank means nothing (only the router and the
    classless routes may be blanked, to send none, and not for a tag)."""
    if name == SERVER_IP_ADDRESS:
        ip(value)
        return
    tag, name = split_tag(name)
    if tag and name == SERVER_IP_ADDRESS:
        raise ValueError(f"DHCP option {SERVER_IP_ADDRESS} cannot be tagged")
    code = code_of(name)
    if tag and (value == "" or code == LEASE_TIME):
        raise ValueError(f"DHCP option {name}: a tagged option needs a value, and the lease "
                         "time cannot be tagged")
    if value == "":
        if code not in SUPPRESSIBLE:
            raise ValueError(f"DHCP option {name} needs a value (only router and "
                             "classless-static-route may be blank, to send none)")
        return
    encode(name, value)
