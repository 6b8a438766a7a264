"""What a port is offered, from the tenant model (pure).

A port is served when one of its IPv4 addresses is in a subnet with ``enable_dhcp``
and the network's ``network:dhcp`` port holds an address there: that port's address
and MAC are the server's identity (option 54 and the replies' source), as the
dnsmasq of Neutron's ``qdhcp`` namespace would be (../shared/seeds/000_*.txt,
003_*.txt).  The options follow Neutron's dnsmasq: netmask, broadcast, router (the
gateway, else a 0.0.0.0/0 host route's next hop; none without either), the subnet's DNS
servers, hostname ``host-A-B-C-D``, the domain if
configured, the network's MTU, classless routes when the subnet has host routes or its
network other subnets (then with the default route, which RFC 3442 clients would
otherwise lose), and the port's ``extra_dhcp_opts`` over them.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ryu_app.dhcp import options as opt
from ryu_app.dhcp.server import Lease
from ryu_app.model.tenant import NetworkModel

DEFAULT_ROUTE = "0.0.0.0/0"

INFINITE = 0xFFFFFFFF
NO_DNS = "0.0.0.0"        # Neutron: a subnet whose only DNS server is this gets none


@dataclass(frozen=True)
class DhcpConfig:
    """From the settings (ryu_app/settings.py has the defaults)."""

    lease_duration: int           # seconds, Neutron's dhcp_lease_duration; -1: infinite
    dns_domain: str               # option 15 when set (Neutron's default openstacklocal
                                  # is not sent, as OVN does not)


def served_address(model: NetworkModel, port: dict) -> tuple[dict, str, dict] | None:
    """(subnet, the port's address there, the network:dhcp port) for the first of the
    port's IPv4 addresses that DHCP serves, or None."""
    server = model.dhcp_port_of(port["network_id"])
    if server is None:
        return None
    served = {ip["subnet_id"] for ip in server["fixed_ips"]}
    for fixed in port["fixed_ips"]:
        subnet = model.records["subnet"].get(fixed["subnet_id"])
        if subnet is not None and subnet["enable_dhcp"] and subnet["id"] in served:
            return subnet, fixed["ip_address"], server
    return None


def server_address(server: dict, subnet_id: str) -> str:
    return next(ip["ip_address"] for ip in server["fixed_ips"] if ip["subnet_id"] == subnet_id)


def lease_for(model: NetworkModel, port: dict, config: DhcpConfig) -> Lease | None:
    found = served_address(model, port)
    if found is None:
        return None
    subnet, address, server = found
    network = model.records["network"][port["network_id"]]
    options = dict(_subnet_options(model, subnet, address, network["mtu"], config))
    lease_time = INFINITE if config.lease_duration < 0 else config.lease_duration
    siaddr = "0.0.0.0"
    tagged = []
    for extra in port.get("extra_dhcp_opts", []):
        if extra.get("ip_version", 4) != 4:
            continue
        tag, name = opt.split_tag(extra["opt_name"])
        value = extra["opt_value"] or ""
        if name == opt.SERVER_IP_ADDRESS:
            siaddr = opt.address(value)
            continue
        code = opt.code_of(name)
        if tag is not None:
            tagged.append((*tag, code, opt.encode(name, value)[1]))
        elif not value:
            options.pop(code, None)   # only router and classless routes may be blank
        elif code == opt.LEASE_TIME:
            lease_time = int(value)
        else:
            options[code] = opt.encode(name, value)[1]
    return Lease(address=address, server_ip=server_address(server, subnet["id"]),
                 server_mac=server["mac_address"], lease_time=lease_time,
                 options=tuple(options.items()), siaddr=siaddr, tagged=tuple(tagged))


def _subnet_options(model: NetworkModel, subnet: dict, address: str, mtu: int,
                    config: DhcpConfig) -> list[tuple[int, bytes]]:
    cidr = ipaddress.IPv4Network(subnet["cidr"])
    options = [(opt.NETMASK, cidr.netmask.packed), (opt.BROADCAST, cidr.broadcast_address.packed)]
    gateway = _default_gateway(subnet)
    if gateway:
        options.append((opt.ROUTER, opt.ip(gateway)))
    dns = [server for server in subnet["dns_nameservers"] if server != NO_DNS]
    if dns:
        options.append((opt.DNS_SERVERS, opt.ips(dns)))
    options.append((opt.HOSTNAME, f"host-{address.replace('.', '-')}".encode()))
    if config.dns_domain:
        options.append((opt.DOMAIN_NAME, config.dns_domain.encode()))
    options.append((opt.MTU, opt.u16(mtu)))
    routes = _classless_routes(model, subnet, gateway)
    if routes:   # and Microsoft's 249 for older Windows clients, as Neutron's dnsmasq
        encoded = opt.classless_routes(routes)
        options += [(opt.CLASSLESS_ROUTES, encoded), (opt.MS_CLASSLESS_ROUTES, encoded)]
    return options


def _default_gateway(subnet: dict) -> str | None:
    """The router option: the subnet's gateway, else the next hop of a host route to
    0.0.0.0/0 (as Neutron's dnsmasq driver chooses it)."""
    return subnet["gateway_ip"] or next(
        (route["nexthop"] for route in subnet["host_routes"]
         if route["destination"] == DEFAULT_ROUTE), None)


def _classless_routes(model: NetworkModel, subnet: dict,
                      gateway: str | None) -> list[tuple[str, str]]:
    """The subnet's host routes but the default one, its network's other IPv4 subnets (on
    link), then the default route via ``gateway``, so that it agrees with the router
    option (RFC 3442 clients ignore option 3); none when there is nothing but the default
    route."""
    routes = [(route["destination"], route["nexthop"]) for route in subnet["host_routes"]
              if route["destination"] != DEFAULT_ROUTE]
    for other_id in model.subnets_of.get(subnet["network_id"], ()):
        other = model.records["subnet"][other_id]
        if other_id != subnet["id"] and other["ip_version"] == 4:
            routes.append((other["cidr"], "0.0.0.0"))
    if routes and gateway:
        routes.append((DEFAULT_ROUTE, gateway))
    return routes
