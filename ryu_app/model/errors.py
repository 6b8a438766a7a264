"""Neutron's error vocabulary: every client mistake becomes a NeutronError body."""
from __future__ import annotations

import json


class NeutronError(Exception):
    """An API error carrying the HTTP status and Neutron's exception type name."""

    status = 500
    type_name = "NeutronError"

    def __init__(self, message: str, type_name: str | None = None):
        super().__init__(message)
        self.message = message
        if type_name:
            self.type_name = type_name

    def body(self) -> bytes:
        return json.dumps({"NeutronError": {
            "type": self.type_name, "message": self.message, "detail": ""}}).encode()


class BadRequest(NeutronError):
    status = 400
    type_name = "HTTPBadRequest"


class InvalidInput(BadRequest):
    type_name = "InvalidInput"


class NotFound(NeutronError):
    status = 404
    type_name = "HTTPNotFound"


class MethodNotAllowed(NeutronError):
    status = 405
    type_name = "HTTPMethodNotAllowed"


class RequestEntityTooLarge(NeutronError):
    status = 413
    type_name = "HTTPRequestEntityTooLarge"


class Conflict(NeutronError):
    status = 409
    type_name = "Conflict"


class ServiceUnavailable(NeutronError):
    """A pool (segments, addresses) is exhausted: not the client's fault, retry later."""

    status = 503
    type_name = "ServiceUnavailable"


class _Named:
    """A Neutron exception of its own: its type is the class name and its message Neutron's
    template, filled with the same fields Neutron fills it with."""

    template = ""

    def __init__(self, **fields):
        super().__init__(self.template % fields, type(self).__name__)


# ------------------------------------------------ security groups (neutron/extensions/
# securitygroup.py, neutron_lib/exceptions/port_security.py and address_group.py)

class SecurityGroupNotFound(_Named, NotFound):
    template = "Security group %(id)s does not exist"


class SecurityGroupRuleNotFound(_Named, NotFound):
    template = "Security group rule %(id)s does not exist"


class AddressGroupNotFound(_Named, NotFound):
    template = "Address group %(address_group_id)s could not be found."


class SecurityGroupInUse(_Named, Conflict):
    template = "Security Group %(id)s in use."


class SecurityGroupCannotUpdateDefault(_Named, Conflict):
    template = "Updating default security group not allowed."


class SecurityGroupDefaultAlreadyExists(_Named, Conflict):
    template = "Default security group already exists."


class SecurityGroupRuleExists(_Named, Conflict):
    template = "Security group rule already exists. Rule id is %(rule_id)s."


class SecurityGroupConflict(_Named, Conflict):
    template = "Error %(reason)s while attempting the operation."


class PortSecurityPortHasSecurityGroup(_Named, Conflict):
    template = ("Port has security group associated. Cannot disable port security or IP "
                "address until security group is removed.")


class PortSecurityAndIPRequiredForSecurityGroups(_Named, InvalidInput):
    template = ("Port security must be enabled and port must have an IP address in order "
                "to use security groups.")


class SecurityGroupInvalidPortRange(_Named, InvalidInput):
    template = "For TCP/UDP protocols, port_range_min must be <= port_range_max"


class SecurityGroupInvalidProtocolForPort(_Named, InvalidInput):
    template = ("Ports cannot be specified for protocol %(protocol)s. Ports are only "
                "supported for %(valid_port_protocols)s.")


class SecurityGroupInvalidPortValue(_Named, InvalidInput):
    template = "Invalid value for port %(port)s"


class SecurityGroupInvalidIcmpValue(_Named, InvalidInput):
    template = "Invalid value for ICMP %(field)s (%(attr)s) %(value)s. It must be 0 to 255."


class SecurityGroupEthertypeConflictWithProtocol(_Named, InvalidInput):
    template = "Invalid ethertype %(ethertype)s for protocol %(protocol)s."


class SecurityGroupMissingIcmpType(_Named, InvalidInput):
    template = ("ICMP code (port-range-max) %(value)s is provided but ICMP type "
                "(port-range-min) is missing.")


class SecurityGroupRuleInvalidProtocol(_Named, InvalidInput):
    template = ("Security group rule protocol %(protocol)s not supported. Only protocol "
                "values %(values)s and integer representations [0 to 255] are supported.")


class SecurityGroupMultipleRemoteEntites(_Named, InvalidInput):   # Neutron's spelling
    template = ("Only one of remote_ip_prefix or remote_group_id or remote_address_group_id "
                "may be provided.")


class SecurityGroupProtocolRequiredWithPorts(_Named, InvalidInput):
    template = "Must also specify protocol if port range is given."


class SecurityGroupRuleParameterConflict(_Named, InvalidInput):
    template = "Conflicting value ethertype %(ethertype)s for CIDR %(cidr)s"


class SecurityGroupRuleInvalidEtherType(_Named, InvalidInput):
    template = ("Security group rule for ethertype '%(ethertype)s' not supported. Allowed "
                "values are %(values)s.")


class InvalidCIDR(_Named, BadRequest):
    template = "Invalid CIDR %(input)s given as IP prefix."


# ------------------------------------------------------ tags (neutron/extensions/tagging.py)

class TagNotFound(_Named, NotFound):
    template = "Tag %(tag)s could not be found."


def not_found(kind: str, resource_id: str) -> NotFound:
    """The 404 Neutron gives for an unknown id, e.g. NetworkNotFound."""
    if kind == "security_group":
        return SecurityGroupNotFound(id=resource_id)
    if kind == "security_group_rule":
        return SecurityGroupRuleNotFound(id=resource_id)
    if kind == "subnetpool":
        return SubnetPoolNotFound(subnetpool_id=resource_id)
    if kind == "address_scope":
        return AddressScopeNotFound(address_scope_id=resource_id)
    label = {"network": "Network", "subnet": "Subnet", "port": "Port",
             "router": "Router", "agent": "Agent", "floatingip": "Floating IP"}[kind]
    return NotFound(f"{label} {resource_id} could not be found.",
                    label.replace(" ", "") + "NotFound")


# ------------------------------------------------------- quotas (neutron_lib/exceptions)

class OverQuota(_Named, Conflict):
    template = "Quota exceeded for resources: %(overs)s."


class InvalidQuotaValue(_Named, Conflict):
    template = ("Change would make usage less than 0 for the following resources: "
                "%(unders)s.")


# ------------------------------------ availability zones (neutron_lib/exceptions/
# availability_zone.py)

class AvailabilityZoneNotFound(_Named, NotFound):
    template = "AvailabilityZone %(availability_zone)s could not be found."


# --------------------------------------- subnet pools and address scopes (neutron_lib/
# exceptions/__init__.py and address_scope.py; neutron/ipam/exceptions.py)

class SubnetPoolNotFound(_Named, NotFound):
    template = "Subnet pool %(subnetpool_id)s could not be found."


class AddressScopeNotFound(_Named, NotFound):
    template = "Address scope %(address_scope_id)s could not be found."


class AddressScopeInUse(_Named, Conflict):
    template = ("Unable to complete operation on address scope %(address_scope_id)s. There "
                "are one or more subnet pools in use on the address scope.")


class AddressScopeUpdateError(_Named, BadRequest):
    template = "Unable to update address scope %(address_scope_id)s : %(reason)s."


class AddressScopePrefixConflict(_Named, Conflict):
    template = ("Failed to associate address scope: subnetpools within an address scope "
                "must have unique prefixes.")


class IllegalSubnetPoolAssociationToAddressScope(_Named, BadRequest):
    template = ("Illegal subnetpool association: subnetpool %(subnetpool_id)s cannot be "
                "associated with address scope %(address_scope_id)s.")


class EmptySubnetPoolPrefixList(_Named, BadRequest):
    template = "Empty subnet pool prefix list."


class IllegalSubnetPoolPrefixBounds(_Named, BadRequest):
    template = ("Illegal prefix bounds: %(prefix_type)s=%(prefixlen)s, "
                "%(base_prefix_type)s=%(base_prefixlen)s.")


class IllegalSubnetPoolPrefixUpdate(_Named, BadRequest):
    template = "Illegal update to prefixes: %(msg)s."


class SubnetPoolDeleteError(_Named, BadRequest):
    template = "Unable to delete subnet pool: %(reason)s."


class MaxPrefixSubnetAllocationError(_Named, BadRequest):
    template = ("Unable to allocate subnet with prefix length %(prefixlen)s, maximum "
                "allowed prefix is %(max_prefixlen)s.")


class MinPrefixSubnetAllocationError(_Named, BadRequest):
    template = ("Unable to allocate subnet with prefix length %(prefixlen)s, minimum "
                "allowed prefix is %(min_prefixlen)s.")


class SubnetAllocationError(_Named, Conflict):
    """Neutron answers 500 for a full pool or a taken CIDR; neither is a server fault,
    so this is a 409 with Neutron's type and message."""

    template = "Failed to allocate subnet: %(reason)s."


class SubnetPoolQuotaExceeded(_Named, Conflict):
    template = "Per-project subnet pool prefix quota exceeded."


class NetworkSubnetPoolAffinityError(_Named, BadRequest):
    template = "Subnets hosted on the same network must be allocated from the same subnet pool."


class NetworkAddressScopeAffinityError(_Named, BadRequest):
    template = ("Subnets of the same address family hosted on the same network must all "
                "participate in the same address scope.")
