"""A port's addresses as flows match them (pure): the planners share these."""
from __future__ import annotations

import ipaddress


def ipv4s(port: dict) -> list[str]:
    """The port's fixed IPv4 addresses (IPv6 ones are not served)."""
    return [ip["ip_address"] for ip in port["fixed_ips"] if ":" not in ip["ip_address"]]


def address_match(cidr: str) -> str | tuple[str, str]:
    """An address or prefix as a match value: an IP for a host, else (network, netmask)."""
    network = ipaddress.ip_network(cidr, strict=False)
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network.network_address), str(network.netmask)
