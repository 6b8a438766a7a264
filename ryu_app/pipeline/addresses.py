"""A port's addresses as flows match them (pure): the planners share these."""
from __future__ import annotations

import ipaddress


def ipv4_fixed_ips(port: dict) -> list[dict]:
    """The port's fixed IPv4 entries, subnet and address (IPv6 ones are not served)."""
    return [ip for ip in port["fixed_ips"] if ":" not in ip["ip_address"]]


def ipv4s(port: dict) -> list[str]:
    """The port's fixed IPv4 addresses."""
    return [ip["ip_address"] for ip in ipv4_fixed_ips(port)]


def address_match(cidr: str) -> str | tuple[str, str]:
    """An address or prefix as a match value: an IP for a host, else (network, netmask)."""
    network = ipaddress.ip_network(cidr, strict=False)
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network.network_address), str(network.netmask)


def allowed_macs(port: dict) -> tuple[str, ...]:
    """The MACs a port may send from: its own and its address pairs' (a pair without a
    MAC uses the port's)."""
    mac = port["mac_address"]
    return (mac,) + tuple(pair.get("mac_address") or mac
                          for pair in port.get("allowed_address_pairs", ()))


def allowed_sources(port: dict) -> tuple[tuple[str, str | tuple[str, str] | None], ...]:
    """The (MAC, IPv4 address) pairs a port may send from, the address as a match value:
    its MAC with each fixed IP, each IPv4 address pair's MAC with its prefix.  A pair of
    prefix length 0 allows every address: its address is None."""
    mac = port["mac_address"]
    return tuple((mac, ip) for ip in ipv4s(port)) + tuple(
        (pair.get("mac_address") or mac, prefix_match(pair["ip_address"]))
        for pair in port.get("allowed_address_pairs", ()) if ":" not in pair["ip_address"])


def prefix_match(cidr: str | None) -> str | tuple[str, str] | None:
    """A prefix as a match value, None when it allows any address (none given, or of
    length 0): the flow then leaves the field unmatched."""
    if not cidr or ipaddress.ip_network(cidr, strict=False).prefixlen == 0:
        return None
    return address_match(cidr)
