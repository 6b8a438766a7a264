"""Resource attribute maps, in the manner of neutron-lib's RESOURCE_ATTRIBUTE_MAP.

Each attribute says whether a client may set it on create (POST) or update (PUT),
its default, and how a JSON value is checked and normalised.  The model layer
only ever sees bodies that passed through :func:`parse_body`, so it can trust
types and spend its checks on semantics (ranges, references, conflicts).
"""
from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import netaddr

from ryu_app.model import security_groups
from ryu_app.model.errors import (BadRequest, InvalidCIDR, InvalidInput,
                                  SecurityGroupInvalidPortValue,
                                  SecurityGroupRuleInvalidEtherType,
                                  SecurityGroupRuleInvalidProtocol)
from ryu_app.model.quotas import DEFAULT_LIMITS
from ryu_app.model.segments import NETWORK_TYPES

REQUIRED = object()
AUTO = object()  # the model computes the value (e.g. a subnet's default gateway)
Converter = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Attr:
    convert: Converter
    default: Any = None
    allow_post: bool = True
    allow_put: bool = True
    scalar: bool = True  # usable as a list filter
    filter_convert: Converter | None = None   # for list filters, if not ``convert``
    visible: bool = True  # False: a request's word, never stored or shown
    shown_as: Callable[[Any], Any] | None = None   # how the API shows a stored value

    def default_value(self) -> Any:
        # Mutable defaults are copied so that two resources never share a list.
        return self.default() if callable(self.default) else self.default


def _fail(name: str, value: Any, why: str) -> InvalidInput:
    shown = str(value)
    shown = shown if len(shown) <= 100 else shown[:100] + "..."
    return InvalidInput(f"Invalid input for {name}. Reason: '{shown}' {why}.")


def to_string(max_len: int = 255) -> Converter:
    def convert(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise _fail(name, value, "is not a valid string")
        if len(value) > max_len:
            raise _fail(name, value, f"exceeds maximum length of {max_len}")
        return value
    return convert


def to_prefixlen(name: str, value: Any) -> int:
    """A prefix length: an integer 0 or more (the openstack client sends "26")."""
    length = to_int_or_none(name, value)
    if length is None or length < 0:
        raise _fail(name, value, "is not a non-negative integer")
    return length


def to_nullable_prefixlen(name: str, value: Any) -> int | None:
    return None if value is None else to_prefixlen(name, value)


def to_nullable_string(name: str, value: Any) -> str | None:
    return None if value is None else to_string()(name, value)


def to_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _fail(name, value, "cannot be converted to boolean")


def _whole_number(value: Any) -> int | None:
    """Neutron's convert_to_int without its silent truncation: an int, an integer string
    or a whole float as an int; None for anything else, booleans and fractions too (1.5
    would quietly become 1)."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def to_int_or_none(name: str, value: Any) -> int | None:
    # The openstack CLI sends provider:segmentation_id as a string ("100").
    if value is None:
        return None
    number = _whole_number(value)
    if number is None:
        raise _fail(name, value, "is not an integer")
    return number


def to_ipv4_address(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(name, value, "is not a valid IP address")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise _fail(name, value, "is not a valid IP address") from None
    if address.version != 4:
        raise _fail(name, value, "is an IPv6 address; only IPv4 is supported")
    return str(address)


def to_nullable_ipv4_address(name: str, value: Any) -> str | None:
    return None if value is None else to_ipv4_address(name, value)


def to_ipv4_cidr(name: str, value: Any) -> str:
    """An IPv4 CIDR written in full (neutron-lib's check), as the network it names: host
    bits are dropped, as Neutron turns a subnet's CIDR into a proper subnet."""
    if not isinstance(value, str) or "/" not in value:
        raise _fail(name, value, "is not a valid IP subnet")
    try:
        written = ipaddress.ip_interface(value)
    except ValueError:
        raise _fail(name, value, "is not a valid IP subnet") from None
    if written.version != 4:
        raise _fail(name, value, "is an IPv6 subnet; only IPv4 is supported")
    if str(written) != value:
        raise _fail(name, value,
                    f"isn't a recognized IP subnet cidr, '{written.network}' is recommended")
    return str(written.network)


def to_pair_address(name: str, value: Any) -> str:
    """An allowed-address-pair address as neutron-lib takes it: a host IP, or a CIDR
    (host bits allowed, kept as written), not multicast."""
    if isinstance(value, str) and "/" in value:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise _fail(name, value, "is not a valid IP address or CIDR") from None
        if network.version == 4:
            if network.is_multicast:
                raise _fail(name, value, "is a multicast subnet")
            return value
    address = to_ipv4_address(name, value)
    if ipaddress.IPv4Address(address).is_multicast:
        raise _fail(name, value, "is a multicast IP address")
    return address


def to_mac(name: str, value: Any) -> str:
    """A unicast MAC as Neutron's validate_mac_address takes it (no whitespace, any form
    netaddr reads: fa163e000002, fa16.3e00.0002, FA-16-3E-00-00-02), stored as Neutron
    stores it: fa:16:3e:00:00:02."""
    if not isinstance(value, str) or any(c.isspace() for c in value) or \
            not netaddr.valid_mac(value):
        raise _fail(name, value, "is not a valid MAC address")
    mac = str(netaddr.EUI(value, dialect=netaddr.mac_unix_expanded))
    if int(mac[:2], 16) & 1:
        raise _fail(name, value, "is not a valid unicast MAC address")
    if mac == "00:00:00:00:00:00":
        raise _fail(name, value, "is not a valid MAC address")
    return mac


def to_non_empty_string(name: str, value: Any) -> str:
    text = to_string()(name, value)
    if not text.strip():
        raise _fail(name, value, "Blank strings are not permitted")
    return text


def to_list_of(item: Converter) -> Converter:
    def convert(name: str, value: Any) -> list:
        if not isinstance(value, list):
            raise _fail(name, value, "is not a list")
        return [item(name, element) for element in value]
    return convert


def none_as_empty(convert: Converter, empty: Callable[[], Any] = list) -> Converter:
    """Null read as the empty value: a list (Neutron's convert_none_to_empty_list), or
    what ML2 reads a null ``binding:host_id`` (``""``, unbound: Nova's unbind sends it)
    or ``binding:profile`` (``{}``) as."""
    return lambda name, value: empty() if value is None else convert(name, value)


def to_unique_list_of(item: Converter) -> Converter:
    listed = to_list_of(item)

    def convert(name: str, value: Any) -> list:
        items = listed(name, value)
        if len(set(map(str, items))) != len(items):
            raise _fail(name, value, "contains duplicate items")
        return items
    return convert


def to_dict_of(fields: dict[str, tuple[Converter, bool]]) -> Converter:
    """A dict with known keys; each key maps to (converter, required)."""
    def convert(name: str, value: Any) -> dict:
        if not isinstance(value, dict):
            raise _fail(name, value, "is not a dictionary")
        unknown = set(value) - set(fields)
        if unknown:
            raise _fail(name, value, f"has unexpected keys {sorted(unknown)}")
        result = {}
        for key, (field_convert, required) in fields.items():
            if key in value:
                result[key] = field_convert(f"{name}.{key}", value[key])
            elif required:
                raise _fail(name, value, f"is missing the key '{key}'")
        return result
    return convert


MAX_ADDRESS_PAIRS = 10   # Neutron's max_allowed_address_pair, at its default
# neutron-lib's VNIC types: all are taken, and only a normal one binds here
VNIC_TYPES = ("normal", "direct", "macvtap", "baremetal", "direct-physical",
              "virtio-forwarder", "smart-nic", "vdpa", "remote-managed",
              "accelerator-direct", "accelerator-direct-physical")
_pair = to_dict_of({"ip_address": (to_pair_address, True), "mac_address": (to_mac, False)})


def to_address_pairs(name: str, value: Any) -> list[dict]:
    """allowed_address_pairs as neutron-lib validates them: null or a list of at most 10,
    each with an address, none twice as written (a pair without a MAC differs from one
    naming the port's, 10.0.0.5 from 10.0.0.5/32)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(name, value, "is not a list")
    if len(value) > MAX_ADDRESS_PAIRS:
        raise BadRequest(f"The number of allowed address pair exceeds the maximum "
                         f"{MAX_ADDRESS_PAIRS}.", "AllowedAddressPairExhausted")
    pairs, seen = [], set()
    for element in value:
        if isinstance(element, dict) and "ip_address" not in element:
            raise BadRequest("AllowedAddressPair must contain ip_address",
                             "AllowedAddressPairsMissingIP")
        pair = _pair(name, element)
        key = (element.get("mac_address"), element["ip_address"])
        if key in seen:
            raise BadRequest(f"Request contains duplicate address pair: mac_address {key[0]} "
                             f"ip_address {key[1]}.", "DuplicateAddressPairInRequest")
        seen.add(key)
        pairs.append(pair)
    return pairs


def to_one_of(*choices: str) -> Converter:
    def convert(name: str, value: Any) -> str:
        if value not in choices:
            raise _fail(name, value, f"is not in {list(choices)}")
        return value
    return convert


def to_nullable_one_of(*choices: str) -> Converter:
    one_of = to_one_of(*choices)
    return lambda name, value: None if value is None else one_of(name, value)


def unsupported(feature: str, *choices: str) -> Converter:
    """A Neutron attribute this controller does not implement: null is stored; one of
    Neutron's ``choices`` is refused as unsupported, anything else as invalid."""
    def convert(name: str, value: Any) -> None:
        if value is None:
            return None
        if value in choices:
            raise BadRequest(f"{feature} ({name}) is not supported by this controller.")
        raise _fail(name, value, f"is not in {list(choices)}")
    return convert


def to_dict(name: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise _fail(name, value, "is not a dictionary")
    return value


def to_uuid(name: str, value: Any) -> str:
    """A reference to a resource: a UUID as neutron-lib's validate_uuid takes one, kept as
    written.  A name where the id goes ('private') is a 400 before any lookup, so that
    the client is told it sent no id rather than that no such resource exists."""
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        raise _fail(name, value, "is not a valid UUID") from None
    return value


def to_nullable_uuid(name: str, value: Any) -> str | None:
    return None if value is None else to_uuid(name, value)


def to_id_string(name: str, value: Any) -> str:
    """An id Neutron takes as any string of up to 36 characters (a security group rule's
    references), looked up as written."""
    return to_string(36)(name, value)


def to_nullable_id_string(name: str, value: Any) -> str | None:
    return None if value is None else to_id_string(name, value)


def as_written(name: str, value: Any) -> Any:
    return value


def reference(default: Any = None, nullable: bool = False, **settings) -> Attr:
    """An attribute naming another resource by id.  As a list filter it matches the text
    as written: Neutron converts filter values but does not validate them, so
    ``network_id=private`` lists nothing rather than failing."""
    return Attr(to_nullable_uuid if nullable else to_uuid, default, filter_convert=as_written,
                **settings)


def to_gateway_info(name: str, value: Any) -> dict | None:
    """A router's external_gateway_info: None or {} clear it."""
    if value is None or value == {}:
        return None
    return to_dict_of({
        "network_id": (to_uuid, True), "enable_snat": (to_bool, False),
        "external_fixed_ips": (to_fixed_ips, False),
    })(name, value)


def to_ip_version(name: str, value: Any) -> int:
    version = to_int_or_none(name, value)
    if version == 6:
        raise InvalidInput("IPv6 is not supported by this controller; use ip_version 4.")
    if version != 4:
        raise _fail(name, value, "is not a valid IP version (4)")
    return version


def to_dhcp_ip_version(name: str, value: Any) -> int:
    """An extra DHCP option's IP version: 4, or 6 (kept, not served: no DHCPv6 here)."""
    version = to_int_or_none(name, value)
    if version not in (4, 6):
        raise _fail(name, value, "is not a valid IP version (4 or 6)")
    return version


def to_ipv4_subnet_id_pair(name: str, value: Any) -> dict:
    return to_dict_of({"subnet_id": (to_uuid, False),
                       "ip_address": (to_ipv4_address, False)})(name, value)


def to_fixed_ips(name: str, value: Any) -> list[dict]:
    """fixed_ips (or a gateway's external_fixed_ips) as neutron-lib validates them: a
    list of subnet ids and addresses, no address twice."""
    entries = to_list_of(to_ipv4_subnet_id_pair)(name, value)
    seen: set[str] = set()
    for address in (entry["ip_address"] for entry in entries if "ip_address" in entry):
        if address in seen:
            raise InvalidInput(f"Invalid input for {name}. Reason: Duplicate IP address "
                               f"'{address}'.")
        seen.add(address)
    return entries


def to_group_ids(name: str, value: Any) -> list:
    """A port's security_groups: null is none (Neutron's convert_none_to_empty_list)."""
    return [] if value is None else to_unique_list_of(to_uuid)(name, value)


# The protocols a rule may name, in the order Neutron's message lists them.
SG_PROTOCOLS = (None, "any", *security_groups.PROTOCOL_NUMBERS)
ETHERTYPES = ["IPv4", "IPv6"]
IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")


def to_sg_protocol(name: str, value: Any) -> str | None:
    """A rule's protocol as Neutron stores it: null or 'any' for any, a known name in
    lower case, or a number 0-255 kept as the string it was given as."""
    if value is None or (isinstance(value, str) and value.lower() == "any"):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255:
        return str(value)
    if isinstance(value, str):
        if value.isascii() and value.isdigit() and len(value) <= 3 and int(value) <= 255:
            return value
        if value.lower() in security_groups.PROTOCOL_NUMBERS:
            return value.lower()
    raise SecurityGroupRuleInvalidProtocol(protocol=value, values=SG_PROTOCOLS)


def to_ethertype(name: str, value: Any) -> str:
    """IPv4 or IPv6, in any case."""
    if isinstance(value, str):
        for ethertype in ETHERTYPES:
            if ethertype.lower() == value.lower():
                return ethertype
    raise SecurityGroupRuleInvalidEtherType(ethertype=value, values=ETHERTYPES)


def to_sg_port(name: str, value: Any) -> int | None:
    """A rule's port_range_min or _max: an integer 0-65535 (or a string of one)."""
    if value is None:
        return None
    try:
        port = to_int_or_none(name, value)
    except InvalidInput:
        raise SecurityGroupInvalidPortValue(port=value) from None
    if not 0 <= port <= 65535:
        raise SecurityGroupInvalidPortValue(port=value)
    return port


def to_ip_prefix(name: str, value: Any) -> str | None:
    """A rule's remote_ip_prefix as Neutron keeps it: the address as given with its prefix
    length made explicit (10.0.0.5 is 10.0.0.5/32), IPv6 compressed; empty is none."""
    if not value:
        return None
    if not isinstance(value, str):
        raise InvalidCIDR(input=value)
    try:
        return str(ipaddress.ip_interface(value))
    except (TypeError, ValueError):
        raise InvalidCIDR(input=value) from None


def read_only(default: Any = None, scalar: bool = True,
              convert: Converter | None = None) -> Attr:
    return Attr(convert=convert or to_string(), default=default, allow_post=False,
                allow_put=False, scalar=scalar)


def _common() -> dict[str, Attr]:
    return {
        "id": read_only(),
        "name": Attr(to_string(), ""),
        "description": Attr(to_string(), ""),
        "tenant_id": Attr(to_string(), None, allow_put=False),
        "project_id": Attr(to_string(), None, allow_put=False),
        "tags": read_only(list, scalar=False),
        "created_at": read_only(),
        "updated_at": read_only(),
        "revision_number": read_only(convert=to_int_or_none),
    }


NETWORK = {
    **_common(),
    "admin_state_up": Attr(to_bool, True),
    "shared": Attr(to_bool, False),
    "router:external": Attr(to_bool, False),
    "port_security_enabled": Attr(to_bool, True),
    "mtu": Attr(to_int_or_none, None),
    # in a PUT only as they are (the model refuses another value)
    "provider:network_type": Attr(to_nullable_one_of(*NETWORK_TYPES), None),
    "provider:physical_network": Attr(to_nullable_string, None),
    "provider:segmentation_id": Attr(to_int_or_none, None),
    "status": read_only(),
    "subnets": read_only(list, scalar=False),
    "availability_zone_hints": Attr(to_list_of(to_string()), list, allow_put=False,
                                    scalar=False),
    "availability_zones": read_only(list, scalar=False),
    "ipv4_address_scope": read_only(),
    "ipv6_address_scope": read_only(),
}

SUBNET = {
    **_common(),
    "network_id": reference(REQUIRED, allow_put=False),
    # IPv6 subnets cannot be created, but filtering on them finds none (as in Neutron).
    "ip_version": Attr(to_ip_version, REQUIRED, allow_put=False,
                       filter_convert=to_int_or_none),
    # None: allocated from the subnet pool (the model says so when there is none)
    "cidr": Attr(to_ipv4_cidr, None, allow_put=False),
    "prefixlen": Attr(to_nullable_prefixlen, None, allow_put=False, visible=False),
    "use_default_subnetpool": Attr(to_bool, False, allow_put=False, visible=False),
    "gateway_ip": Attr(to_nullable_ipv4_address, AUTO),
    "allocation_pools": Attr(
        to_list_of(to_dict_of({"start": (to_ipv4_address, True),
                               "end": (to_ipv4_address, True)})),
        None, scalar=False),
    "enable_dhcp": Attr(to_bool, True),
    "dns_nameservers": Attr(none_as_empty(to_unique_list_of(to_ipv4_address)), list,
                            scalar=False),
    "host_routes": Attr(
        none_as_empty(to_unique_list_of(to_dict_of({"destination": (to_ipv4_cidr, True),
                                                    "nexthop": (to_ipv4_address, True)}))),
        list, scalar=False),
    "ipv6_ra_mode": Attr(unsupported("IPv6", *IPV6_MODES), None, allow_put=False),
    "ipv6_address_mode": Attr(unsupported("IPv6", *IPV6_MODES), None, allow_put=False),
    "subnetpool_id": reference(nullable=True, allow_put=False),
}

PORT = {
    **_common(),
    "network_id": reference(REQUIRED, allow_put=False),
    "admin_state_up": Attr(to_bool, True),
    "mac_address": Attr(to_mac, None),
    "fixed_ips": Attr(to_fixed_ips, None, scalar=False),
    "device_id": Attr(to_string(), ""),
    "device_owner": Attr(to_string(), ""),
    "status": read_only(),
    "port_security_enabled": Attr(to_bool, None),
    "allowed_address_pairs": Attr(to_address_pairs, list, scalar=False),
    # None: not given, which on create means the project's default group
    "security_groups": Attr(to_group_ids, None, scalar=False),
    "binding:host_id": Attr(none_as_empty(to_string(), str), ""),
    "binding:vnic_type": Attr(to_one_of(*VNIC_TYPES), "normal"),
    "binding:profile": Attr(none_as_empty(to_dict, dict), dict, scalar=False),
    "binding:vif_type": read_only(),
    "binding:vif_details": read_only(dict, scalar=False),
    "extra_dhcp_opts": Attr(to_list_of(to_dict_of({
        "opt_name": (to_string(64), True), "opt_value": (to_nullable_string, True),
        "ip_version": (to_dhcp_ip_version, False)})), list, scalar=False),
}

ROUTER = {
    **_common(),
    "admin_state_up": Attr(to_bool, True),
    "distributed": Attr(to_bool, None),   # true only (there are no centralized routers)
    "external_gateway_info": Attr(to_gateway_info, None, scalar=False),
    "status": read_only(),
    "availability_zone_hints": Attr(to_list_of(to_string()), list, allow_put=False,
                                    scalar=False),
    "availability_zones": read_only(list, scalar=False),
}

FLOATINGIP = {
    **{key: attr for key, attr in _common().items() if key != "name"},   # none in Neutron
    "floating_network_id": reference(REQUIRED, allow_put=False),
    "floating_ip_address": Attr(to_nullable_ipv4_address, None, allow_put=False),
    "subnet_id": reference(nullable=True, allow_put=False),
    "port_id": reference(nullable=True),
    "fixed_ip_address": Attr(to_nullable_ipv4_address, None),
    "router_id": read_only(),
    "status": read_only(),
}

SECURITY_GROUP = {
    **_common(),
    "stateful": Attr(to_bool, True),
    "security_group_rules": read_only(list, scalar=False),
}

SECURITY_GROUP_RULE = {
    **{key: attr for key, attr in _common().items() if key not in ("name", "tags")},
    "description": Attr(to_string(), "", allow_put=False),
    # Neutron takes these as strings (not UUIDs): an unknown one is a 404
    "security_group_id": Attr(to_id_string, REQUIRED, allow_put=False),
    "direction": Attr(to_one_of("ingress", "egress"), REQUIRED, allow_put=False),
    "ethertype": Attr(to_ethertype, "IPv4", allow_put=False),
    "protocol": Attr(to_sg_protocol, None, allow_put=False),
    "port_range_min": Attr(to_sg_port, None, allow_put=False),
    "port_range_max": Attr(to_sg_port, None, allow_put=False),
    "remote_ip_prefix": Attr(to_ip_prefix, None, allow_put=False),
    "remote_group_id": Attr(to_nullable_id_string, None, allow_put=False),
    "remote_address_group_id": Attr(to_nullable_id_string, None, allow_put=False),
    "normalized_cidr": read_only(),
    "belongs_to_default_sg": read_only(convert=to_bool),
}

# An agent describes its hypervisor; only the operator's two fields may be updated.
AGENT = {
    **{key: read_only() for key in ("id", "agent_type", "binary", "host", "topic",
                                    "alive", "availability_zone")},
    "configurations": read_only(dict, scalar=False),
    "admin_state_up": Attr(to_bool, True, allow_post=False),
    "description": Attr(to_nullable_string, None, allow_post=False),
}

SUBNETPOOL = {
    **_common(),
    "name": Attr(to_non_empty_string, REQUIRED),
    "prefixes": Attr(to_list_of(to_ipv4_cidr), REQUIRED, scalar=False),
    "default_quota": Attr(to_nullable_prefixlen, None),
    "ip_version": read_only(convert=to_int_or_none),
    # stored as numbers (so they filter and sort as numbers), shown as Neutron shows them
    "min_prefixlen": Attr(to_prefixlen, None, shown_as=str),
    "default_prefixlen": Attr(to_prefixlen, None, shown_as=str),
    "max_prefixlen": Attr(to_prefixlen, None, shown_as=str),
    "is_default": Attr(to_bool, False),
    "shared": Attr(to_bool, False, allow_put=False),
    "address_scope_id": reference(nullable=True),
}

# Address scopes have no standard attributes in Neutron: no description, tags or times.
ADDRESS_SCOPE = {
    "id": read_only(),
    "name": Attr(to_string(), ""),
    "tenant_id": Attr(to_string(), None, allow_put=False),
    "project_id": Attr(to_string(), None, allow_put=False),
    "shared": Attr(to_bool, False),
    "ip_version": Attr(to_ip_version, REQUIRED, allow_put=False,
                       filter_convert=to_int_or_none),
}

ROUTER_INTERFACE = {
    "subnet_id": Attr(to_uuid, None),
    "port_id": Attr(to_uuid, None),
}

RESOURCES = {"network": NETWORK, "subnet": SUBNET, "port": PORT, "router": ROUTER,
             "floatingip": FLOATINGIP, "security_group": SECURITY_GROUP,
             "security_group_rule": SECURITY_GROUP_RULE, "subnetpool": SUBNETPOOL,
             "address_scope": ADDRESS_SCOPE}


def parse_body(kind: str, attributes: dict[str, Attr], body: Any, creating: bool) -> dict:
    """Check a request body against an attribute map; return the converted values.

    On create, absent attributes take their defaults; on update only the given
    ones are returned.
    """
    if not isinstance(body, dict) or not isinstance(body.get(kind), dict):
        raise BadRequest(f"Resource body required: expected an object under '{kind}'.")
    values = body[kind]
    unknown = sorted(set(values) - set(attributes))
    if unknown:
        raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    parsed = {}
    for name, attr in attributes.items():
        allowed = attr.allow_post if creating else attr.allow_put
        if name in values:
            if not allowed:   # Neutron's words for each
                raise BadRequest(f"Attribute '{name}' not allowed in POST" if creating
                                 else f"Cannot update read-only attribute {name}")
            parsed[name] = attr.convert(name, values[name])
        elif creating and attr.allow_post:
            if attr.default is REQUIRED:
                raise BadRequest(f"Failed to parse request. Required attribute '{name}' "
                                 "not specified")
            parsed[name] = attr.default_value()
    return parsed


# ------------------------------------------------------------------- quotas
# Validation and messages follow neutron/extensions/quotasv2.py.
QUOTA_MAX = 2 ** 31 - 1        # Neutron's DB_INTEGER_MAX_VALUE
# Flags of a quota update, not limits themselves: the openstack client's ``quota set``
# sends check_limit, or force with ``--force``.
QUOTA_FLAGS = ("check_limit", "force")


def _quota_limit(resource: str, value: Any) -> int:
    limit = _whole_number(value)
    if limit is None:
        raise InvalidInput(f"Invalid input for operation: '{value}' is not an integer.")
    if limit < -1:
        raise BadRequest(f"Invalid input for {resource}. Reason: '{limit}' is too small - "
                         "must be at least '-1'.")
    if limit > QUOTA_MAX:
        raise BadRequest(f"Invalid input for {resource}. Reason: '{limit}' is too large - "
                         f"must be no larger than '{QUOTA_MAX}'.")
    return limit


def parse_quota_body(body: Any) -> tuple[dict[str, int], bool]:
    """The limits of a ``{"quota": {...}}`` body, and whether ``check_limit`` asks that
    none be set below the current usage (``force`` overrides it).  Both flags are
    booleans (``true``/``false``, ``1``/``0``; ``null`` or absent: no); anything else is
    a 400 rather than Neutron's any-truthy-value, so ``"false"`` is no check."""
    if not isinstance(body, dict) or not isinstance(body.get("quota"), dict):
        raise BadRequest("Resource body required")
    values = body["quota"]
    unknown = sorted(set(values) - set(DEFAULT_LIMITS) - set(QUOTA_FLAGS))
    if unknown:
        raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    limits = {name: _quota_limit(name, value) for name, value in values.items()
              if name in DEFAULT_LIMITS}
    check, force = (values.get(flag) is not None and to_bool(flag, values[flag])
                    for flag in QUOTA_FLAGS)
    return limits, check and not force
