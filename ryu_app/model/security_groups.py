"""Security groups in the tenant model: Neutron's ``security-groups`` and
``security-group-rules`` and the ``security_groups`` of ports (the API and the model only:
the data plane reads :meth:`SecurityGroups.rules_of` and :meth:`SecurityGroups.members_of`).

As Neutron has them (neutron/db/securitygroups_db.py, neutron/extensions/securitygroup.py,
neutron/plugins/ml2/plugin.py for port security):

* every project has one group named ``default``, made the first time the project lists
  groups or rules, creates a group or creates a port, with the four rules of Neutron's
  default template: any egress over IPv4 and IPv6, ingress from the group's own members;
* every other new group gets the template's two egress rules;
* a port created without ``security_groups`` gets its project's default group, unless its
  port security is off or its ``device_owner`` is ``network:*`` (ports Neutron trusts);
* a rule is checked and normalised as Neutron does it, and written with its group, whose
  ``revision_number`` it bumps (Neutron's rules revise their group);
* deleting a group takes its rules and the rules of other groups that name it as their
  remote group (the database cascade Neutron relies on).

Records are the API documents, except that a group's ``security_group_rules`` is derived
from its rules at render time.  A mixin of ``NetworkModel`` (ryu_app/model/tenant.py),
whose batches, journal and store it shares.
"""
from __future__ import annotations

import ipaddress

from ryu_app.model.errors import (
    AddressGroupNotFound, PortSecurityAndIPRequiredForSecurityGroups,
    PortSecurityPortHasSecurityGroup, SecurityGroupCannotUpdateDefault, SecurityGroupConflict,
    SecurityGroupDefaultAlreadyExists, SecurityGroupEthertypeConflictWithProtocol,
    SecurityGroupInUse, SecurityGroupInvalidIcmpValue, SecurityGroupInvalidPortRange,
    SecurityGroupInvalidPortValue, SecurityGroupInvalidProtocolForPort,
    SecurityGroupMissingIcmpType, SecurityGroupMultipleRemoteEntites, SecurityGroupNotFound,
    SecurityGroupProtocolRequiredWithPorts, SecurityGroupRuleExists,
    SecurityGroupRuleParameterConflict)

GROUP, RULE = "security_group", "security_group_rule"
KINDS = (GROUP, RULE)
DEFAULT_NAME = "default"
DEFAULT_DESCRIPTION = "Default security group"
TRUSTED_PREFIX = "network:"     # neutron_lib.utils.net.is_port_trusted

# neutron_lib.constants.IP_PROTOCOL_MAP, in its order (error messages list the names so)
PROTOCOL_NUMBERS = {
    "ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1, "igmp": 2,
    "ip": 0, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "icmpv6": 58,
    "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46,
    "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}
# a number's name; the last name of a number wins ('0' is 'ip'), as in neutron_lib
PROTOCOL_NAMES = {str(number): name for name, number in PROTOCOL_NUMBERS.items()
                  if name != "icmpv6"}
PORT_PROTOCOLS = (33, 132, 6, 17, 136)           # dccp sctp tcp udp udplite: ports apply
ICMP_PROTOCOLS = (1, 58)                         # ports are the ICMP type and code
IPV6_ONLY_PROTOCOLS = ("ipv6-encap", "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt",
                       "ipv6-opts", "ipv6-route", "41", "44", "58", "59", "60", "43")
ANY_PREFIXES = (None, "0.0.0.0/0", "::/0")
# neutron's default template (migration c33da356b165): (direction, ethertype, from itself,
# also in every other new group)
DEFAULT_TEMPLATE = (("egress", "IPv4", False, True), ("egress", "IPv6", False, True),
                    ("ingress", "IPv4", True, False), ("ingress", "IPv6", True, False))


def is_trusted(port: dict) -> bool:
    """Ports Neutron itself makes (router, DHCP, floating IP, gateway): never filtered."""
    return port["device_owner"].startswith(TRUSTED_PREFIX)


def protocol_number(protocol: str | None) -> int | None:
    """The IP protocol number of a rule's protocol (a name or a number as a string)."""
    if protocol is None:
        return None
    return int(PROTOCOL_NUMBERS.get(protocol, protocol))


def _protocol_key(protocol: str | None, ethertype: str) -> str:
    """A protocol as duplicate detection compares it: 'tcp' and '6' are one protocol."""
    if protocol is None:
        return "+"
    if ethertype == "IPv6" and protocol in ("icmp", "icmpv6"):
        protocol = "ipv6-icmp"
    elif ethertype == "IPv6" and protocol == "1":
        protocol = "58"
    if protocol in PROTOCOL_NUMBERS:
        return f"{protocol}_{PROTOCOL_NUMBERS[protocol]}"
    return f"{PROTOCOL_NAMES.get(protocol, protocol)}_{protocol}"


def rule_key(rule: dict) -> tuple:
    """What makes two rules the same rule (Neutron's _rule_to_key): everything but the id,
    the description and the owner; any address is no address."""
    prefix = rule["remote_ip_prefix"]
    return (rule["direction"], rule["ethertype"], rule["port_range_max"],
            rule["port_range_min"], _protocol_key(rule["protocol"], rule["ethertype"]),
            rule["remote_group_id"], rule["remote_address_group_id"],
            None if prefix in ANY_PREFIXES else prefix, rule["security_group_id"])


def _canonical(rule: dict) -> None:
    """Neutron's normalisations: legacy ICMP names and number with IPv6 become ipv6-icmp
    and 58, and the whole port range 1-65535 becomes no range."""
    if rule["ethertype"] == "IPv6" and rule["protocol"] in ("icmp", "icmpv6"):
        rule["protocol"] = "ipv6-icmp"
    elif rule["ethertype"] == "IPv6" and rule["protocol"] == "1":
        rule["protocol"] = "58"
    if (rule["port_range_min"], rule["port_range_max"]) == (1, 65535):
        rule["port_range_min"] = rule["port_range_max"] = None


def _check_ports(rule: dict) -> None:
    """Ports only with a protocol that has them; for ICMP they are a type and a code."""
    low, high = rule["port_range_min"], rule["port_range_max"]
    if low is None and high is None:
        return
    if not rule["protocol"]:
        raise SecurityGroupProtocolRequiredWithPorts()
    number = protocol_number(rule["protocol"])
    if number in PORT_PROTOCOLS:
        if low == 0 or high == 0:
            raise SecurityGroupInvalidPortValue(port=0)
        if low is None or high is None or low > high:
            raise SecurityGroupInvalidPortRange()
    elif number in ICMP_PROTOCOLS:
        for attr, name, value in (("port_range_min", "type", low),
                                  ("port_range_max", "code", high)):
            if value is not None and not 0 <= value <= 255:
                raise SecurityGroupInvalidIcmpValue(field=name, attr=attr, value=value)
        if low is None:
            raise SecurityGroupMissingIcmpType(value=high)
    else:
        raise SecurityGroupInvalidProtocolForPort(
            protocol=number, valid_port_protocols="DCCP, SCTP, TCP, UDP, UDPLITE")


def _check_addresses(rule: dict) -> None:
    """The prefix's family is the rule's ethertype; IPv6-only protocols need IPv6; at
    most one kind of remote."""
    prefix = rule["remote_ip_prefix"]
    if prefix and rule["ethertype"] != f"IPv{ipaddress.ip_interface(prefix).version}":
        raise SecurityGroupRuleParameterConflict(ethertype=rule["ethertype"], cidr=prefix)
    if rule["protocol"] in IPV6_ONLY_PROTOCOLS and rule["ethertype"] == "IPv4":
        raise SecurityGroupEthertypeConflictWithProtocol(ethertype=rule["ethertype"],
                                                         protocol=rule["protocol"])
    remotes = [rule[key] for key in ("remote_ip_prefix", "remote_group_id",
                                     "remote_address_group_id") if rule[key]]
    if len(remotes) > 1:
        raise SecurityGroupMultipleRemoteEntites()


def normalized_cidr(prefix: str | None) -> str | None:
    """The network a remote_ip_prefix names (Neutron keeps the prefix as given)."""
    return None if prefix is None else str(ipaddress.ip_interface(prefix).network)


class SecurityGroups:
    """Security groups and their rules (methods of NetworkModel)."""

    def _init_security_groups(self) -> None:
        """The indexes the data plane reads, kept as records come and go."""
        self.group_rules: dict[str, dict[str, None]] = {}     # group -> its rule ids
        self.remote_rules: dict[str, dict[str, None]] = {}    # group -> rules naming it
        self.group_ports: dict[str, dict[str, None]] = {}     # group -> member port ids
        self.default_group: dict[str, str] = {}               # project -> its default

    # --------------------------------------------------------------- reading

    def rules_of(self, group_id: str) -> list[dict]:
        """The group's rules, oldest first (what its members' flows are made of)."""
        rules = self.records[RULE]
        return [rules[rule_id] for rule_id in self.group_rules.get(group_id, ())]

    def stateful(self, port: dict) -> bool:
        """Whether the port's firewall tracks connections: its groups are all stateful or
        all stateless (the API refuses a mix); a port in no group is stateful (it drops
        everything but its own ARP either way)."""
        groups = self.records[GROUP]
        return all(groups[group_id]["stateful"] for group_id in port.get("security_groups", ())
                   if group_id in groups)

    def members_of(self, group_id: str) -> list[str]:
        """Ids of the ports whose security_groups hold the group, in the order they joined
        (the addresses a rule with this remote_group_id admits)."""
        return list(self.group_ports.get(group_id, ()))

    def rules_with_remote(self, group_id: str) -> list[dict]:
        """The rules, of any group, whose remote_group_id is this group: they change when
        its members do."""
        rules = self.records[RULE]
        return [rules[rule_id] for rule_id in self.remote_rules.get(group_id, ())]

    def default_group_of(self, project: str) -> dict | None:
        """The group a project's new ports join when they name none (None: not made yet)."""
        group_id = self.default_group.get(project)
        return self.records[GROUP][group_id] if group_id else None

    def _render_security_group(self, record: dict) -> dict:
        """A group as the API shows it: with its rules' bodies, which are stored apart."""
        return {**record, "security_group_rules": self.rules_of(record["id"])}

    # ---------------------------------------------------------------- groups

    def ensure_default_security_group(self, project: str | None = None) -> str:
        """The project's default group, made (and committed) if it has none yet: what a
        listing does first in Neutron."""
        project = project or self.default_project
        batch = self._new_batch()
        group_id = self._default_group_into(batch, project)
        if batch.puts:
            self._commit(batch)
        return group_id

    def create_security_group(self, values: dict, project: str | None = None) -> dict:
        """A new group with the template's egress rules; its project's default group is
        made first if it has none, as Neutron does."""
        self._refuse_default_name(values["name"])
        record = self._new_record(values, project)
        batch = self._new_batch()
        self._default_group_into(batch, record["project_id"])
        batch.put(GROUP, record)
        self._template_rules_into(batch, record, default=False)
        self._commit(batch)
        return self.render(GROUP, record)

    def update_security_group(self, group_id: str, values: dict) -> dict:
        """name, description, stateful; the default group keeps its name, and a group
        keeps its statefulness while ports use it."""
        record = self.get(GROUP, group_id)
        if "name" in values:
            self._refuse_default_name(values["name"])
            if record["name"] == DEFAULT_NAME:
                raise SecurityGroupCannotUpdateDefault()
        if values.get("stateful", record["stateful"]) != record["stateful"] and \
                self.group_ports.get(group_id):
            raise SecurityGroupInUse(id=group_id)   # its ports' flows depend on it
        return self._commit_one(GROUP, self._updated(record, values))

    def delete_security_group(self, group_id: str) -> None:
        """The group, its rules and other groups' rules from it (their groups revised)."""
        self.get(GROUP, group_id)
        if self.group_ports.get(group_id):
            raise SecurityGroupInUse(id=group_id)
        batch = self._new_batch()
        doomed = {**self.group_rules.get(group_id, {}), **self.remote_rules.get(group_id, {})}
        revised = {}
        for rule_id in doomed:
            batch.delete(RULE, rule_id)
            owner = self.records[RULE][rule_id]["security_group_id"]
            if owner != group_id:
                revised[owner] = None
        for owner in revised:
            batch.revise(GROUP, self._updated(self.records[GROUP][owner], {}))
        batch.delete(GROUP, group_id)
        self._commit(batch)

    @staticmethod
    def _refuse_default_name(name: str) -> None:
        """Only the controller names a group 'default' (Neutron's name_not_default)."""
        if name.lower() == DEFAULT_NAME:
            raise SecurityGroupDefaultAlreadyExists()

    def _default_group_into(self, batch, project: str) -> str:
        """The project's default group id; a new one, with its four rules, put in the
        batch if the project has none (nor one in this batch already)."""
        existing = self.default_group.get(project)
        if existing is not None:
            return existing
        for kind, record in batch.puts:
            if kind == GROUP and record["name"] == DEFAULT_NAME and \
                    record["project_id"] == project:
                return record["id"]
        values = {"name": DEFAULT_NAME, "description": DEFAULT_DESCRIPTION, "stateful": True}
        record = self._new_record(values, project)
        batch.put(GROUP, record)
        self._template_rules_into(batch, record, default=True)
        return record["id"]

    def _template_rules_into(self, batch, group: dict, default: bool) -> None:
        """Neutron's default template for a new group: all four rules for a default group,
        the two egress ones for any other; they have no description."""
        for direction, ethertype, from_itself, everywhere in DEFAULT_TEMPLATE:
            if not (default or everywhere):
                continue
            values = {"security_group_id": group["id"], "direction": direction,
                      "ethertype": ethertype, "protocol": None, "port_range_min": None,
                      "port_range_max": None, "remote_ip_prefix": None,
                      "remote_group_id": group["id"] if from_itself else None,
                      "remote_address_group_id": None, "description": None}
            batch.put(RULE, self._rule_record(values, group, group["project_id"]))

    # ----------------------------------------------------------------- rules

    def create_security_group_rule(self, values: dict, project: str | None = None) -> dict:
        """A rule, normalised and checked as Neutron does, written with its group's new
        revision."""
        rule = self._checked_rule(values)
        group = self.records[GROUP][rule["security_group_id"]]
        record = self._rule_record(rule, group, project)
        batch = self._new_batch()
        batch.put(RULE, record)
        batch.revise(GROUP, self._updated(group, {}))   # a rule revises its group
        self._commit(batch)
        return record

    def _checked_rule(self, values: dict) -> dict:
        """The rule's fields after Neutron's normalisations and checks, in Neutron's order:
        the fields themselves, then what they name, then duplicates."""
        rule = dict(values)
        _canonical(rule)
        _check_ports(rule)
        _check_addresses(rule)
        remote = rule["remote_group_id"]
        if remote is not None and remote not in self.records[GROUP]:
            raise SecurityGroupNotFound(id=remote)
        if rule["remote_address_group_id"] is not None:   # there are no address groups
            raise AddressGroupNotFound(address_group_id=rule["remote_address_group_id"])
        if rule["security_group_id"] not in self.records[GROUP]:
            raise SecurityGroupNotFound(id=rule["security_group_id"])
        key = rule_key(rule)
        for existing in self.rules_of(rule["security_group_id"]):
            if rule_key(existing) == key:
                raise SecurityGroupRuleExists(rule_id=existing["id"])
        return rule

    def delete_security_group_rule(self, rule_id: str) -> None:
        """The rule goes; its group is revised (its members' flows change)."""
        rule = self.get(RULE, rule_id)
        batch = self._new_batch()
        batch.delete(RULE, rule_id)
        batch.revise(GROUP, self._updated(self.records[GROUP][rule["security_group_id"]], {}))
        self._commit(batch)

    def _rule_record(self, values: dict, group: dict, project: str | None) -> dict:
        """A rule as the API shows it: the request's fields, Neutron's read-only ones, no
        tags (rules have none)."""
        record = {**self._new_record(values, project),
                  "normalized_cidr": normalized_cidr(values["remote_ip_prefix"]),
                  "belongs_to_default_sg": group["name"] == DEFAULT_NAME}
        del record["tags"]
        return record

    # ----------------------------------------------------------------- ports

    def _port_groups_created(self, batch, values: dict, port: dict, security: bool) -> list:
        """A new port's groups: the project's default when none are given, none for a
        port without port security (400 if it asks for some) or a trusted one."""
        requested = values.get("security_groups")
        if not security:
            if requested:
                raise PortSecurityAndIPRequiredForSecurityGroups()
            return []
        if is_trusted(port):
            return []
        if requested is None:
            return [self._default_group_into(batch, port["project_id"])]
        self._check_port_groups(requested)
        return requested

    def _port_groups_updated(self, port: dict, values: dict) -> list:
        """A port's groups after an update, as ML2 checks it: groups need port security,
        and port security cannot go while the port keeps groups."""
        security = values.get("port_security_enabled", port["port_security_enabled"])
        given = "security_groups" in values
        requested = values.get("security_groups") or []
        if not security:
            if requested:
                raise PortSecurityAndIPRequiredForSecurityGroups()
            if not given and port["security_groups"]:
                raise PortSecurityPortHasSecurityGroup()
            return []
        if not given:
            return port["security_groups"]
        if values.get("device_owner", port["device_owner"]).startswith(TRUSTED_PREFIX):
            return []
        self._check_port_groups(requested)
        return requested

    def _check_port_groups(self, group_ids: list[str]) -> None:
        """Groups exist (any project's: there is no authentication to tell an admin) and
        are all stateful or all stateless."""
        missing = [group_id for group_id in group_ids if group_id not in self.records[GROUP]]
        if missing:
            raise SecurityGroupNotFound(id=", ".join(missing))
        if len({self.records[GROUP][group_id]["stateful"] for group_id in group_ids}) > 1:
            raise SecurityGroupConflict(reason="Cannot apply both stateful and stateless "
                                        "security groups on the same port at the same time")

    # --------------------------------------------------------------- indexes

    def _index_security_group(self, kind: str, record: dict) -> None:
        if kind == GROUP and record["name"] == DEFAULT_NAME:
            self.default_group.setdefault(record["project_id"], record["id"])
        elif kind == RULE:
            self.group_rules.setdefault(record["security_group_id"], {})[record["id"]] = None
            if record["remote_group_id"]:
                self.remote_rules.setdefault(record["remote_group_id"], {})[
                    record["id"]] = None

    def _unindex_security_group(self, kind: str, record: dict, replaced: bool) -> None:
        if kind == GROUP and not replaced and \
                self.default_group.get(record["project_id"]) == record["id"]:
            del self.default_group[record["project_id"]]
        elif kind == RULE:   # rules are never replaced: they cannot be updated
            _drop(self.group_rules, record["security_group_id"], record["id"])
            if record["remote_group_id"]:
                _drop(self.remote_rules, record["remote_group_id"], record["id"])

    def _index_port_groups(self, port: dict) -> None:
        for group_id in port.get("security_groups") or ():
            self.group_ports.setdefault(group_id, {})[port["id"]] = None

    def _unindex_port_groups(self, port: dict) -> None:
        for group_id in port.get("security_groups") or ():
            _drop(self.group_ports, group_id, port["id"])


def _drop(index: dict[str, dict[str, None]], key: str, member: str) -> None:
    """Forget a member, and the key once it has none (indexes do not grow with deletes)."""
    members = index.get(key)
    if members is not None:
        members.pop(member, None)
        if not members:
            del index[key]
