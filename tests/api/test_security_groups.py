"""Security groups and their rules through the API, as Neutron has them: the default group
each project gets, the rules every group starts with, how a rule is checked and
normalised, what a port's security_groups may hold, and what survives a restart.

Each test works in projects of its own (X-Project-Id), so that the default groups it sees
are the ones it made."""
import shutil
import uuid

import pytest

from rest.attributes import RESOURCES, parse_body
from ryu_app.model.segments import SegmentPools
from ryu_app.model.store import Store
from ryu_app.model.tenant import NetworkModel
from tests.harness import UNKNOWN_ID, Controller

GROUP_FIELDS = {"id", "name", "description", "stateful", "project_id", "tenant_id",
                "security_group_rules", "tags", "created_at", "updated_at", "revision_number"}
RULE_FIELDS = {"id", "security_group_id", "direction", "ethertype", "protocol",
               "port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id",
               "remote_address_group_id", "normalized_cidr", "belongs_to_default_sg",
               "description", "project_id", "tenant_id", "created_at", "updated_at",
               "revision_number"}
ANY = {"protocol": None, "port_range_min": None, "port_range_max": None,
       "remote_ip_prefix": None, "remote_address_group_id": None, "normalized_cidr": None}


def _project() -> str:
    return "p-" + uuid.uuid4().hex[:8]


def call(api, method, path, body=None, project=None):
    return api.request(method, path, body, headers={"X-Project-Id": project} if project
                       else None)


def make(api, collection, kind, project=None, **fields):
    status, body = call(api, "POST", f"/v2.0/{collection}", {kind: fields}, project)
    assert status == 201, (status, body)
    return body[kind]


def group(api, project, **fields):
    return make(api, "security-groups", "security_group", project, **fields)


def rule(api, group_id, project=None, **fields):
    fields.setdefault("direction", "ingress")
    return make(api, "security-group-rules", "security_group_rule", project,
                security_group_id=group_id, **fields)


def groups(api, project, query=""):
    """The project's groups (listings are not scoped to the caller: there is no
    authentication), as the project lists them."""
    scope = f"project_id={project}&" if project else ""
    status, body = call(api, "GET", f"/v2.0/security-groups?{scope}{query}", project=project)
    assert status == 200, body
    return body["security_groups"]


def error(response):
    status, body = response
    return status, body["NeutronError"]["type"], body["NeutronError"]["message"]


def shape(rules):
    """Rules as (direction, ethertype, remote group, the rest that matters)."""
    return [(r["direction"], r["ethertype"], r["remote_group_id"], r["protocol"],
             r["port_range_min"], r["port_range_max"], r["remote_ip_prefix"])
            for r in rules]


@pytest.fixture
def network(api):
    network = api.create("network")
    api.create("subnet", network_id=network["id"], cidr="10.60.0.0/24", ip_version=4,
               enable_dhcp=False)
    yield network
    for port in api.get(f"/v2.0/ports?network_id={network['id']}")[1]["ports"]:
        api.delete(f"/v2.0/ports/{port['id']}")
    api.delete(f"/v2.0/networks/{network['id']}")


def port(api, network, project=None, **fields):
    return make(api, "ports", "port", project, network_id=network["id"], **fields)


# ------------------------------------------------------------ default groups


def test_a_project_gets_its_default_group_on_its_first_listing_with_four_rules(api):
    project = _project()
    [default] = groups(api, project)
    assert set(default) == GROUP_FIELDS
    assert {key: default[key] for key in GROUP_FIELDS - {"id", "security_group_rules",
                                                         "created_at", "updated_at"}} == {
        "name": "default", "description": "Default security group", "stateful": True,
        "project_id": project, "tenant_id": project, "tags": [],
        "revision_number": 1}
    rules = default["security_group_rules"]
    assert shape(rules) == [("egress", "IPv4", None, None, None, None, None),
                            ("egress", "IPv6", None, None, None, None, None),
                            ("ingress", "IPv4", default["id"], None, None, None, None),
                            ("ingress", "IPv6", default["id"], None, None, None, None)]
    for item in rules:
        assert set(item) == RULE_FIELDS
        assert item["security_group_id"] == default["id"]
        assert item["belongs_to_default_sg"] is True and item["description"] is None
        assert (item["project_id"], item["tenant_id"]) == (project, project)
    # listed again: the same group, none added
    assert groups(api, project) == [default]
    status, shown = call(api, "GET", f"/v2.0/security-groups/{default['id']}")
    assert (status, shown) == (200, {"security_group": default})


def test_the_rules_listing_and_a_project_filter_make_it_too(api):
    project, other = _project(), _project()
    status, body = call(api, "GET", "/v2.0/security-group-rules", project=project)
    assert status == 200
    mine = [r for r in body["security_group_rules"] if r["project_id"] == project]
    assert len(mine) == 4 and all(r["belongs_to_default_sg"] for r in mine)
    # an (admin's) listing filtered on another project makes that project's default
    [made] = groups(api, None, f"project_id={other}")
    assert (made["name"], made["project_id"]) == ("default", other)
    assert groups(api, None, f"tenant_id={other}") == [made]


def test_a_port_create_makes_its_projects_default_group_and_joins_it(api, network):
    project = _project()
    created = port(api, network, project)
    [default] = groups(api, project)
    assert created["security_groups"] == [default["id"]]
    assert port(api, network, project)["security_groups"] == [default["id"]]
    assert len(groups(api, project)) == 1


def test_the_default_group_is_not_renamed_nor_a_second_one_made(api):
    project = _project()
    [default] = groups(api, project)
    for name in ("default", "DEFAULT", "Default"):
        assert error(call(api, "POST", "/v2.0/security-groups", {"security_group": {
            "name": name}}, project)) == (
            409, "SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
    path = f"/v2.0/security-groups/{default['id']}"
    assert error(call(api, "PUT", path, {"security_group": {"name": "renamed"}})) == (
        409, "SecurityGroupCannotUpdateDefault",
        "Updating default security group not allowed.")
    assert error(call(api, "PUT", path, {"security_group": {"name": "default"}}))[1] == \
        "SecurityGroupDefaultAlreadyExists"
    status, body = call(api, "PUT", path, {"security_group": {"description": "ours"}})
    assert status == 200 and body["security_group"]["description"] == "ours"
    assert body["security_group"]["revision_number"] == 2
    # nor may another group take the name
    web = group(api, project, name="web")
    assert error(call(api, "PUT", f"/v2.0/security-groups/{web['id']}", {
        "security_group": {"name": "default"}}))[:2] == (
        409, "SecurityGroupDefaultAlreadyExists")
    assert [g["name"] for g in groups(api, project)] == ["default", "web"]


def test_an_unused_default_group_may_go_and_comes_back_on_the_next_listing(api, network):
    project = _project()
    [default] = groups(api, project)
    used = port(api, network, project)
    assert error(call(api, "DELETE", f"/v2.0/security-groups/{default['id']}")) == (
        409, "SecurityGroupInUse", f"Security Group {default['id']} in use.")
    assert call(api, "DELETE", f"/v2.0/ports/{used['id']}")[0] == 204
    assert call(api, "DELETE", f"/v2.0/security-groups/{default['id']}")[0] == 204
    [again] = groups(api, project)
    assert again["name"] == "default" and again["id"] != default["id"]
    assert [r["remote_group_id"] for r in again["security_group_rules"]] == [
        None, None, again["id"], again["id"]]


# --------------------------------------------------------------------- groups


def test_a_new_group_has_neutrons_fields_and_the_two_egress_rules(api):
    project = _project()
    created = group(api, project, name="web")
    assert set(created) == GROUP_FIELDS
    assert (created["name"], created["description"], created["stateful"],
            created["tags"], created["revision_number"], created["project_id"]) == (
        "web", "", True, [], 1, project)
    assert shape(created["security_group_rules"]) == [
        ("egress", "IPv4", None, None, None, None, None),
        ("egress", "IPv6", None, None, None, None, None)]
    assert not any(r["belongs_to_default_sg"] for r in created["security_group_rules"])
    # creating it made the project's default group first
    assert [g["name"] for g in groups(api, project)] == ["default", "web"]
    unnamed = group(api, project, stateful=False, description="no conntrack")
    assert (unnamed["name"], unnamed["stateful"], unnamed["description"]) == (
        "", False, "no conntrack")
    status, shown = call(api, "GET", f"/v2.0/security-groups/{created['id']}")
    assert (status, shown) == (200, {"security_group": created})


def test_groups_list_with_filters_fields_sorting_and_pages(api):
    project = _project()
    made = [group(api, project, name=f"g{i}", stateful=i != 1) for i in range(3)]
    query = f"project_id={project}"
    assert [g["name"] for g in groups(api, None, query)] == ["default", "g0", "g1", "g2"]
    assert [g["id"] for g in groups(api, None, f"{query}&name=g1&name=g2")] == [
        made[1]["id"], made[2]["id"]]
    assert [g["name"] for g in groups(api, None, f"{query}&stateful=false")] == ["g1"]
    # RBAC-shared groups (security-groups-shared-filtering) are not served
    assert error(call(api, "GET", f"/v2.0/security-groups?{query}&shared=false"))[0] == 400
    assert groups(api, None, f"{query}&name=g0&fields=id&fields=name") == [
        {"id": made[0]["id"], "name": "g0"}]
    assert [g["name"] for g in groups(api, None, f"{query}&sort_key=name&sort_dir=desc")] == [
        "g2", "g1", "g0", "default"]
    status, body = call(api, "GET", f"/v2.0/security-groups?{query}&limit=2")
    assert status == 200 and len(body["security_groups"]) == 2
    assert body["security_groups_links"][0]["rel"] == "next"
    assert error(call(api, "GET", "/v2.0/security-groups?security_group_rules=x"))[0] == 400
    assert error(call(api, "GET", "/v2.0/security-groups?colour=red"))[0] == 400


def test_group_updates_and_their_errors(api, network):
    project = _project()
    web = group(api, project, name="web")
    path = f"/v2.0/security-groups/{web['id']}"
    status, body = call(api, "PUT", path, {"security_group": {
        "name": "www", "description": "front", "stateful": False}})
    assert status == 200
    updated = body["security_group"]
    assert (updated["name"], updated["description"], updated["stateful"],
            updated["revision_number"]) == ("www", "front", False, 2)
    assert updated["security_group_rules"] == web["security_group_rules"]
    for field, value in (("shared", True), ("security_group_rules", []), ("id", "x"),
                         ("project_id", "other")):
        assert error(call(api, "PUT", path, {"security_group": {field: value}}))[:2] == (
            400, "HTTPBadRequest"), field
    assert error(call(api, "PUT", path, {"security_group": {"stateful": "maybe"}}))[:2] == (
        400, "InvalidInput")
    assert error(call(api, "PUT", path, {"security_group": {"name": "x" * 256}}))[0] == 400
    assert error(call(api, "PUT", "/v2.0/security-groups/nope", {"security_group": {
        "name": "x"}})) == (404, "SecurityGroupNotFound", "Security group nope does not exist")
    # statefulness cannot change under a port that uses the group
    port(api, network, project, security_groups=[web["id"]])
    assert error(call(api, "PUT", path, {"security_group": {"stateful": True}})) == (
        409, "SecurityGroupInUse", f"Security Group {web['id']} in use.")
    status, body = call(api, "PUT", path, {"security_group": {"stateful": False}})
    assert status == 200 and body["security_group"]["revision_number"] == 2   # as it was


def test_unknown_groups_and_rules_are_neutrons_404s(api):
    for path, kind, label in (("security-groups", "SecurityGroupNotFound", "Security group"),
                              ("security-group-rules", "SecurityGroupRuleNotFound",
                               "Security group rule")):
        for method in ("GET", "DELETE"):
            assert error(call(api, method, f"/v2.0/{path}/nope")) == (
                404, kind, f"{label} nope does not exist")


def test_deleting_a_group_takes_its_rules_and_the_rules_that_name_it(api, network):
    project = _project()
    web, db = group(api, project, name="web"), group(api, project, name="db")
    from_web = rule(api, db["id"], protocol="tcp", port_range_min=5432, port_range_max=5432,
                    remote_group_id=web["id"])
    own = rule(api, web["id"], remote_group_id=web["id"])
    user = port(api, network, project, security_groups=[web["id"]])
    assert error(call(api, "DELETE", f"/v2.0/security-groups/{web['id']}"))[:2] == (
        409, "SecurityGroupInUse")
    call(api, "PUT", f"/v2.0/ports/{user['id']}", {"port": {"security_groups": []}})
    revision = call(api, "GET", f"/v2.0/security-groups/{db['id']}")[1]["security_group"][
        "revision_number"]
    assert call(api, "DELETE", f"/v2.0/security-groups/{web['id']}")[0] == 204
    assert call(api, "GET", f"/v2.0/security-groups/{web['id']}")[0] == 404
    for gone in [own, from_web, *web["security_group_rules"]]:
        assert call(api, "GET", f"/v2.0/security-group-rules/{gone['id']}")[0] == 404
    left = call(api, "GET", f"/v2.0/security-groups/{db['id']}")[1]["security_group"]
    assert left["security_group_rules"] == db["security_group_rules"]
    assert left["revision_number"] == revision + 1   # losing a rule revises the group
    status, body = call(api, "GET", f"/v2.0/security-group-rules?security_group_id={web['id']}")
    assert (status, body) == (200, {"security_group_rules": []})


# ---------------------------------------------------------------------- rules


def test_a_rule_has_neutrons_fields_and_revises_its_group(api):
    project = _project()
    web = group(api, project, name="web")
    ssh = rule(api, web["id"], project, protocol="tcp", port_range_min=22, port_range_max=22,
               remote_ip_prefix="0.0.0.0/0", description="ssh")
    assert set(ssh) == RULE_FIELDS
    assert {key: ssh[key] for key in RULE_FIELDS - {"id", "created_at", "updated_at"}} == {
        "security_group_id": web["id"], "direction": "ingress", "ethertype": "IPv4",
        "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
        "remote_ip_prefix": "0.0.0.0/0", "normalized_cidr": "0.0.0.0/0",
        "remote_group_id": None, "remote_address_group_id": None,
        "belongs_to_default_sg": False, "description": "ssh", "project_id": project,
        "tenant_id": project, "revision_number": 1}
    assert call(api, "GET", f"/v2.0/security-group-rules/{ssh['id']}") == (
        200, {"security_group_rule": ssh})
    shown = call(api, "GET", f"/v2.0/security-groups/{web['id']}")[1]["security_group"]
    assert shown["security_group_rules"] == web["security_group_rules"] + [ssh]
    assert shown["revision_number"] == 2
    assert call(api, "DELETE", f"/v2.0/security-group-rules/{ssh['id']}")[0] == 204
    shown = call(api, "GET", f"/v2.0/security-groups/{web['id']}")[1]["security_group"]
    assert shown["security_group_rules"] == web["security_group_rules"]
    assert shown["revision_number"] == 3
    assert call(api, "GET", f"/v2.0/security-group-rules/{ssh['id']}")[0] == 404


@pytest.mark.parametrize("given, stored", [
    ({"protocol": "TCP"}, {"protocol": "tcp"}),
    ({"protocol": 6}, {"protocol": "6"}),
    ({"protocol": "17"}, {"protocol": "17"}),
    ({"protocol": 0}, {"protocol": "0"}),
    ({"protocol": "any"}, {"protocol": None}),
    ({"protocol": None}, {"protocol": None}),
    ({"protocol": "udp", "port_range_min": 1, "port_range_max": 65535},
     {"protocol": "udp", "port_range_min": None, "port_range_max": None}),
    ({"port_range_min": 1, "port_range_max": 65535},
     {"protocol": None, "port_range_min": None, "port_range_max": None}),
    ({"protocol": "tcp", "port_range_min": "80", "port_range_max": "90"},
     {"port_range_min": 80, "port_range_max": 90}),
    ({"protocol": "icmp", "port_range_min": 8, "port_range_max": 0},
     {"protocol": "icmp", "port_range_min": 8, "port_range_max": 0}),
    ({"protocol": "icmp", "port_range_min": 3}, {"port_range_min": 3, "port_range_max": None}),
    ({"ethertype": "ipv6", "protocol": "icmp"}, {"ethertype": "IPv6", "protocol": "ipv6-icmp"}),
    ({"ethertype": "IPv6", "protocol": "icmpv6"}, {"protocol": "ipv6-icmp"}),
    ({"ethertype": "IPv6", "protocol": "1"}, {"protocol": "58"}),
    ({"protocol": "sctp", "port_range_min": 9, "port_range_max": 9}, {"protocol": "sctp"}),
    ({"remote_ip_prefix": "10.1.2.3"},
     {"remote_ip_prefix": "10.1.2.3/32", "normalized_cidr": "10.1.2.3/32"}),
    ({"remote_ip_prefix": "10.1.2.3/16"},
     {"remote_ip_prefix": "10.1.2.3/16", "normalized_cidr": "10.1.0.0/16"}),
    ({"remote_ip_prefix": "10.1.0.0/255.255.0.0"},
     {"remote_ip_prefix": "10.1.0.0/16", "normalized_cidr": "10.1.0.0/16"}),
    ({"ethertype": "IPv6", "remote_ip_prefix": "2001:DB8:0::1/64"},
     {"remote_ip_prefix": "2001:db8::1/64", "normalized_cidr": "2001:db8::/64"}),
    ({"remote_ip_prefix": ""}, {"remote_ip_prefix": None, "normalized_cidr": None}),
    ({"direction": "egress", "protocol": "udp", "description": "out"},
     {"direction": "egress", "description": "out"}),
])
def test_rules_are_stored_as_neutron_returns_them(api, given, stored):
    web = group(api, _project(), name="web")
    created = rule(api, web["id"], **given)
    assert {key: created[key] for key in stored} == stored


@pytest.mark.parametrize("given, status, kind, message", [
    ({"port_range_min": 22, "port_range_max": 22}, 400,
     "SecurityGroupProtocolRequiredWithPorts",
     "Must also specify protocol if port range is given."),
    ({"protocol": "tcp", "port_range_min": 0, "port_range_max": 10}, 400,
     "SecurityGroupInvalidPortValue", "Invalid value for port 0"),
    ({"protocol": "udp", "port_range_min": 90, "port_range_max": 80}, 400,
     "SecurityGroupInvalidPortRange",
     "For TCP/UDP protocols, port_range_min must be <= port_range_max"),
    ({"protocol": "tcp", "port_range_min": 80}, 400, "SecurityGroupInvalidPortRange",
     "For TCP/UDP protocols, port_range_min must be <= port_range_max"),
    ({"protocol": "tcp", "port_range_min": 70000, "port_range_max": 70000}, 400,
     "SecurityGroupInvalidPortValue", "Invalid value for port 70000"),
    ({"protocol": "tcp", "port_range_min": 2.5, "port_range_max": 3}, 400,
     "SecurityGroupInvalidPortValue", "Invalid value for port 2.5"),
    ({"protocol": "icmp", "port_range_min": 256}, 400, "SecurityGroupInvalidIcmpValue",
     "Invalid value for ICMP type (port_range_min) 256. It must be 0 to 255."),
    ({"protocol": "icmp", "port_range_min": 8, "port_range_max": 300}, 400,
     "SecurityGroupInvalidIcmpValue",
     "Invalid value for ICMP code (port_range_max) 300. It must be 0 to 255."),
    ({"protocol": "icmp", "port_range_max": 0}, 400, "SecurityGroupMissingIcmpType",
     "ICMP code (port-range-max) 0 is provided but ICMP type (port-range-min) is missing."),
    ({"protocol": "gre", "port_range_min": 1, "port_range_max": 2}, 400,
     "SecurityGroupInvalidProtocolForPort",
     "Ports cannot be specified for protocol 47. Ports are only supported for DCCP, SCTP, "
     "TCP, UDP, UDPLITE."),
    ({"remote_ip_prefix": "::/0"}, 400, "SecurityGroupRuleParameterConflict",
     "Conflicting value ethertype IPv4 for CIDR ::/0"),
    ({"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}, 400,
     "SecurityGroupRuleParameterConflict", "Conflicting value ethertype IPv6 for CIDR 10.0.0.0/8"),
    ({"protocol": "ipv6-icmp"}, 400, "SecurityGroupEthertypeConflictWithProtocol",
     "Invalid ethertype IPv4 for protocol ipv6-icmp."),
    ({"protocol": "58"}, 400, "SecurityGroupEthertypeConflictWithProtocol",
     "Invalid ethertype IPv4 for protocol 58."),
    ({"protocol": "bogus"}, 400, "SecurityGroupRuleInvalidProtocol", None),
    ({"protocol": 256}, 400, "SecurityGroupRuleInvalidProtocol", None),
    ({"protocol": True}, 400, "SecurityGroupRuleInvalidProtocol", None),
    ({"ethertype": "IPv5"}, 400, "SecurityGroupRuleInvalidEtherType",
     "Security group rule for ethertype 'IPv5' not supported. Allowed values are ['IPv4', "
     "'IPv6']."),
    ({"direction": "sideways"}, 400, "InvalidInput",
     "Invalid input for direction. Reason: 'sideways' is not in ['ingress', 'egress']."),
    ({"remote_ip_prefix": "10.0.0.300/8"}, 400, "InvalidCIDR",
     "Invalid CIDR 10.0.0.300/8 given as IP prefix."),
    ({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "SELF"}, 400,
     "SecurityGroupMultipleRemoteEntites",
     "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be "
     "provided."),
    ({"remote_group_id": UNKNOWN_ID}, 404, "SecurityGroupNotFound",
     f"Security group {UNKNOWN_ID} does not exist"),
    ({"remote_address_group_id": UNKNOWN_ID}, 404, "AddressGroupNotFound",
     f"Address group {UNKNOWN_ID} could not be found."),
    ({"security_group_id": UNKNOWN_ID}, 404, "SecurityGroupNotFound",
     f"Security group {UNKNOWN_ID} does not exist"),
    # a rule's references are strings to Neutron, not UUIDs: a name is not found either
    ({"security_group_id": "default"}, 404, "SecurityGroupNotFound",
     "Security group default does not exist"),
    ({"remote_group_id": "default"}, 404, "SecurityGroupNotFound",
     "Security group default does not exist"),
    ({"normalized_cidr": "10.0.0.0/8"}, 400, "HTTPBadRequest",
     "Attribute 'normalized_cidr' not allowed in POST"),
    ({"belongs_to_default_sg": True}, 400, "HTTPBadRequest",
     "Attribute 'belongs_to_default_sg' not allowed in POST"),
    ({"name": "x"}, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'name'"),
])
def test_rules_neutron_refuses(api, given, status, kind, message):
    web = group(api, _project(), name="web")
    body = {"security_group_id": web["id"], "direction": "ingress", **given}
    if body.get("remote_group_id") == "SELF":
        body["remote_group_id"] = web["id"]
    got = error(call(api, "POST", "/v2.0/security-group-rules", {"security_group_rule": body}))
    assert got[:2] == (status, kind)
    if message is not None:
        assert got[2] == message
    else:
        assert got[2].startswith(f"Security group rule protocol {given['protocol']} not "
                                 "supported. Only protocol values (None, 'any', 'ah',")
        assert got[2].endswith("'vrrp') and integer representations [0 to 255] are supported.")
    assert len(call(api, "GET", f"/v2.0/security-groups/{web['id']}")[1][
        "security_group"]["security_group_rules"]) == 2   # nothing was written


def test_required_rule_fields(api):
    web = group(api, _project(), name="web")
    for missing in ("security_group_id", "direction"):
        body = {"security_group_id": web["id"], "direction": "ingress"}
        del body[missing]
        assert error(call(api, "POST", "/v2.0/security-group-rules", {
            "security_group_rule": body})) == (
            400, "HTTPBadRequest",
            f"Failed to parse request. Required attribute '{missing}' not specified")


def test_a_duplicate_rule_is_a_409_naming_the_rule_it_repeats(api):
    project = _project()
    web = group(api, project, name="web")
    ssh = rule(api, web["id"], protocol="tcp", port_range_min=22, port_range_max=22,
               remote_ip_prefix="10.0.0.0/8")
    message = f"Security group rule already exists. Rule id is {ssh['id']}."
    for same in ({"protocol": "tcp"}, {"protocol": "6"}, {"protocol": "TCP", "description": "x"}):
        assert error(call(api, "POST", "/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": web["id"], "direction": "ingress", "port_range_min": 22,
            "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/8", **same}})) == (
            409, "SecurityGroupRuleExists", message)
    # any address is no address: the openstack client's 0.0.0.0/0 repeats a template rule
    egress_v4 = web["security_group_rules"][0]
    assert error(call(api, "POST", "/v2.0/security-group-rules", {"security_group_rule": {
        "security_group_id": web["id"], "direction": "egress",
        "remote_ip_prefix": "0.0.0.0/0"}})) == (
        409, "SecurityGroupRuleExists",
        f"Security group rule already exists. Rule id is {egress_v4['id']}.")
    # another port, prefix or group is another rule
    rule(api, web["id"], protocol="tcp", port_range_min=23, port_range_max=23,
         remote_ip_prefix="10.0.0.0/8")
    rule(api, web["id"], protocol="tcp", port_range_min=22, port_range_max=22,
         remote_ip_prefix="10.0.0.1/8")
    other = group(api, project, name="other")
    rule(api, other["id"], protocol="tcp", port_range_min=22, port_range_max=22,
         remote_ip_prefix="10.0.0.0/8")


def test_rules_are_created_and_deleted_never_updated(api):
    web = group(api, _project(), name="web")
    created = rule(api, web["id"], protocol="icmp")
    for body in ({"security_group_rule": {"description": "x"}},
                 {"security_group_rule": {"direction": "egress"}}):
        assert error(call(api, "PUT", f"/v2.0/security-group-rules/{created['id']}", body)) == (
            405, "HTTPMethodNotAllowed", "The method PUT is not allowed for this resource.")
    assert call(api, "GET", f"/v2.0/security-group-rules/{created['id']}")[1][
        "security_group_rule"] == created


def test_rules_list_with_filters_and_fields(api):
    project = _project()
    web = group(api, project, name="web")
    tcp = rule(api, web["id"], protocol="tcp", port_range_min=80, port_range_max=80)
    icmp = rule(api, web["id"], protocol="icmp", remote_ip_prefix="192.0.2.0/24")
    base = f"/v2.0/security-group-rules?security_group_id={web['id']}"

    def listed(query):
        status, body = call(api, "GET", f"{base}&{query}")
        assert status == 200, body
        return [item["id"] for item in body["security_group_rules"]]
    template = [r["id"] for r in web["security_group_rules"]]
    assert listed("direction=ingress") == [tcp["id"], icmp["id"]]
    assert listed("direction=egress") == template
    assert listed("protocol=tcp") == [tcp["id"]]
    assert listed("port_range_min=80") == [tcp["id"]]
    assert listed("ethertype=IPv6") == [template[1]]
    assert listed("remote_ip_prefix=192.0.2.0/24") == [icmp["id"]]
    assert listed("normalized_cidr=192.0.2.0/24") == [icmp["id"]]
    assert listed("belongs_to_default_sg=false") == template + [tcp["id"], icmp["id"]]
    assert listed("sort_key=protocol&sort_dir=asc&direction=ingress") == [icmp["id"], tcp["id"]]
    status, body = call(api, "GET", f"{base}&protocol=tcp&fields=id&fields=port_range_max")
    assert body == {"security_group_rules": [{"id": tcp["id"], "port_range_max": 80}]}
    assert error(call(api, "GET", f"{base}&port_range_min=eighty"))[0] == 400


# ---------------------------------------------------------------------- ports


def test_ports_neutron_makes_and_unsecured_ports_get_no_group(api, network):
    project = _project()
    assert port(api, network, project, device_owner="network:distributed")[
        "security_groups"] == []
    assert port(api, network, project, port_security_enabled=False)["security_groups"] == []
    assert port(api, network, project, security_groups=[])["security_groups"] == []
    assert port(api, network, project, security_groups=None)["security_groups"] == []
    # a trusted port keeps none even when it names some, as Neutron ignores them
    [default] = groups(api, project)
    assert port(api, network, project, device_owner="network:foo",
                security_groups=[default["id"]])["security_groups"] == []
    # the ports the controller makes: DHCP, router interfaces
    dhcp_net = api.create("network")
    subnet = api.create("subnet", network_id=dhcp_net["id"], cidr="10.61.0.0/24",
                        ip_version=4)
    router = api.create("router")
    api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]})
    made = api.get(f"/v2.0/ports?network_id={dhcp_net['id']}")[1]["ports"]
    assert {p["device_owner"] for p in made} == {"network:dhcp",
                                                "network:router_interface_distributed"}
    assert all(p["security_groups"] == [] for p in made)
    api.put(f"/v2.0/routers/{router['id']}/remove_router_interface",
            {"subnet_id": subnet["id"]})
    api.delete(f"/v2.0/routers/{router['id']}")
    api.delete(f"/v2.0/networks/{dhcp_net['id']}")


def test_port_security_and_groups_go_together(api, network):
    project = _project()
    web = group(api, project, name="web")
    assert error(call(api, "POST", "/v2.0/ports", {"port": {
        "network_id": network["id"], "port_security_enabled": False,
        "security_groups": [web["id"]]}}, project)) == (
        400, "PortSecurityAndIPRequiredForSecurityGroups",
        "Port security must be enabled and port must have an IP address in order to use "
        "security groups.")
    secured = port(api, network, project, security_groups=[web["id"]])
    path = f"/v2.0/ports/{secured['id']}"
    assert error(call(api, "PUT", path, {"port": {"port_security_enabled": False}})) == (
        409, "PortSecurityPortHasSecurityGroup",
        "Port has security group associated. Cannot disable port security or IP address "
        "until security group is removed.")
    assert error(call(api, "PUT", path, {"port": {
        "port_security_enabled": False, "security_groups": [web["id"]]}}))[:2] == (
        400, "PortSecurityAndIPRequiredForSecurityGroups")
    status, body = call(api, "PUT", path, {"port": {"port_security_enabled": False,
                                                   "security_groups": []}})
    assert status == 200
    assert (body["port"]["port_security_enabled"], body["port"]["security_groups"]) == (
        False, [])
    # without port security, groups cannot come back on their own
    assert error(call(api, "PUT", path, {"port": {"security_groups": [web["id"]]}}))[:2] == (
        400, "PortSecurityAndIPRequiredForSecurityGroups")
    status, body = call(api, "PUT", path, {"port": {"port_security_enabled": True,
                                                   "security_groups": [web["id"]]}})
    assert status == 200 and body["port"]["security_groups"] == [web["id"]]


def test_a_ports_groups_are_checked_and_updated(api, network):
    project, other_project = _project(), _project()
    web, db = group(api, project, name="web"), group(api, project, name="db")
    stateless = group(api, project, name="raw", stateful=False)
    foreign = group(api, other_project, name="theirs")
    assert error(call(api, "POST", "/v2.0/ports", {"port": {
        "network_id": network["id"], "security_groups": [web["id"], UNKNOWN_ID]}}, project)) == (
        404, "SecurityGroupNotFound", f"Security group {UNKNOWN_ID} does not exist")
    assert error(call(api, "POST", "/v2.0/ports", {"port": {
        "network_id": network["id"], "security_groups": [web["id"], web["id"]]}}, project)
    )[:2] == (400, "InvalidInput")
    assert error(call(api, "POST", "/v2.0/ports", {"port": {
        "network_id": network["id"], "security_groups": [web["id"], stateless["id"]]}},
        project)) == (
        409, "SecurityGroupConflict", "Error Cannot apply both stateful and stateless security "
        "groups on the same port at the same time while attempting the operation.")
    # another project's group is accepted: there is no authentication to refuse it by
    created = port(api, network, project, security_groups=[web["id"], foreign["id"]])
    assert created["security_groups"] == [web["id"], foreign["id"]]
    path = f"/v2.0/ports/{created['id']}"
    for groups_now in ([db["id"]], [db["id"], web["id"]], []):
        status, body = call(api, "PUT", path, {"port": {"security_groups": groups_now}})
        assert (status, body["port"]["security_groups"]) == (200, groups_now)
    assert error(call(api, "PUT", path, {"port": {"security_groups": [UNKNOWN_ID]}}))[:2] == (
        404, "SecurityGroupNotFound")
    assert error(call(api, "PUT", path, {"port": {"security_groups": ["default"]}}))[:2] == (
        400, "InvalidInput")
    status, body = call(api, "PUT", path, {"port": {"security_groups": [web["id"]]}})
    status, body = call(api, "PUT", path, {"port": {"name": "renamed"}})
    assert body["port"]["security_groups"] == [web["id"]]   # kept when not given
    status, body = call(api, "PUT", path, {"port": {"security_groups": None}})
    assert (status, body["port"]["security_groups"]) == (200, [])


def test_ports_filter_on_their_groups(api, network):
    project = _project()
    web, db = group(api, project, name="web"), group(api, project, name="db")
    a = port(api, network, project, security_groups=[web["id"]])
    b = port(api, network, project, security_groups=[web["id"], db["id"]])
    port(api, network, project, security_groups=[])

    def listed(query):
        status, body = call(api, "GET", f"/v2.0/ports?network_id={network['id']}&{query}")
        assert status == 200, body
        return [p["id"] for p in body["ports"]]
    assert listed(f"security_groups={web['id']}") == [a["id"], b["id"]]
    assert listed(f"security_groups={db['id']}") == [b["id"]]
    assert listed(f"security_groups={db['id']}&security_groups=nope") == [b["id"]]
    assert listed("security_groups=nope") == []


def test_the_extensions_are_advertised(api):
    aliases = {item["alias"] for item in api.get("/v2.0/extensions")[1]["extensions"]}
    assert {"security-group", "port-security", "stateful-security-group",
            "security-groups-normalized-cidr", "security-groups-rules-belongs-to-default-sg",
            "security-groups-remote-address-group",
            "port-security-groups-filtering"} <= aliases
    collections = {item["collection"]: item["name"]
                   for item in api.get("/v2.0/")[1]["resources"]}
    assert collections["security-groups"] == "security_group"
    assert collections["security-group-rules"] == "security_group_rule"


def test_bulk_creation_is_refused_as_for_other_collections(api):
    assert error(call(api, "POST", "/v2.0/security-groups", {
        "security_groups": [{"name": "a"}]}))[:2] == (400, "HTTPBadRequest")
    assert error(call(api, "POST", "/v2.0/security-group-rules", {
        "security_group_rules": [{"direction": "ingress"}]}))[:2] == (400, "HTTPBadRequest")


# ---------------------------------------------------------------- persistence


def test_groups_rules_and_memberships_survive_kill_9():
    ctl = Controller().start()
    try:
        api = ctl.api
        project = _project()
        network = api.create("network")
        api.create("subnet", network_id=network["id"], cidr="10.62.0.0/24", ip_version=4)
        web, db = group(api, project, name="web"), group(api, project, name="db")
        from_web = rule(api, db["id"], protocol="tcp", port_range_min=5432,
                        port_range_max=5432, remote_group_id=web["id"])
        member = port(api, network, project, security_groups=[web["id"]])
        defaulted = port(api, network, project)
        before = {path: call(api, "GET", f"/v2.0/{path}")[1]
                  for path in ("security-groups", "security-group-rules", "ports")}

        ctl.kill()
        ctl.start()

        assert {path: call(api, "GET", f"/v2.0/{path}")[1] for path in before} == before
        # the indexes came back with the records: membership, duplicates, the default group
        assert error(call(api, "DELETE", f"/v2.0/security-groups/{web['id']}"))[:2] == (
            409, "SecurityGroupInUse")
        assert error(call(api, "POST", "/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": db["id"], "direction": "ingress", "protocol": "6",
            "port_range_min": 5432, "port_range_max": 5432,
            "remote_group_id": web["id"]}}))[:2] == (409, "SecurityGroupRuleExists")
        assert port(api, network, project)["security_groups"] == defaulted["security_groups"]
        assert len(groups(api, project)) == 3
        call(api, "PUT", f"/v2.0/ports/{member['id']}", {"port": {"security_groups": []}})
        assert call(api, "DELETE", f"/v2.0/security-groups/{web['id']}")[0] == 204
        assert call(api, "GET", f"/v2.0/security-group-rules/{from_web['id']}")[0] == 404
    finally:
        ctl.kill()
        shutil.rmtree(ctl.workdir, ignore_errors=True)


# ------------------------------------------- the model: journal and indexes


def _model(path) -> NetworkModel:
    segments = SegmentPools(tunnel_ranges={"vxlan": [(1001, 2000)]}, vlan_ranges={},
                            flat_networks=())
    return NetworkModel(Store(str(path)), segments)


def _create(network_model, kind, project=None, **values):
    parsed = parse_body(kind, RESOURCES[kind], {kind: values}, True)
    return getattr(network_model, f"create_{kind}")(parsed, project)


def _journal(network_model):
    return [(kind, (old or new)["id"], old is None, new is None)
            for kind, old, new in network_model.take_changes()]


def test_every_security_group_write_is_journaled_and_indexed(tmp_path):
    model = _model(tmp_path / "db.sqlite")
    network = _create(model, "network")
    _create(model, "subnet", network_id=network["id"], cidr="10.0.0.0/24", ip_version=4,
            enable_dhcp=False)
    model.take_changes()
    web = _create(model, "security_group", "p1", name="web")
    default = model.default_group_of("p1")
    default_rules = [r["id"] for r in model.rules_of(default["id"])]
    web_rules = [r["id"] for r in model.rules_of(web["id"])]
    assert _journal(model) == [
        ("security_group", default["id"], True, False),
        *[("security_group_rule", rule_id, True, False) for rule_id in default_rules],
        ("security_group", web["id"], True, False),
        *[("security_group_rule", rule_id, True, False) for rule_id in web_rules]]
    assert [r["remote_group_id"] for r in model.rules_of(default["id"])] == [
        None, None, default["id"], default["id"]]
    assert model.rules_with_remote(default["id"]) == model.rules_of(default["id"])[2:]
    ssh = _create(model, "security_group_rule", security_group_id=web["id"],
                  direction="ingress", protocol="tcp", port_range_min=22, port_range_max=22,
                  remote_group_id=default["id"])
    assert _journal(model) == [("security_group_rule", ssh["id"], True, False),
                               ("security_group", web["id"], False, False)]
    assert model.rules_of(web["id"])[-1] == ssh
    assert model.rules_with_remote(default["id"])[-1] == ssh
    # ports: members in the order they joined, following updates and deletes
    a = _create(model, "port", "p1", network_id=network["id"])
    b = _create(model, "port", "p1", network_id=network["id"], security_groups=[web["id"]])
    assert model.members_of(default["id"]) == [a["id"]]
    assert model.members_of(web["id"]) == [b["id"]]
    model.update_port(a["id"], {"security_groups": [web["id"]]})
    assert model.members_of(default["id"]) == []
    assert model.members_of(web["id"]) == [b["id"], a["id"]]
    model.delete_port(b["id"])
    assert model.members_of(web["id"]) == [a["id"]]
    model.update_port(a["id"], {"security_groups": []})
    model.take_changes()
    # a group's deletion: its rules, the rules naming it, the groups those revised
    model.delete_security_group(default["id"])
    changes = model.take_changes()
    assert sorted((kind, new is None) for kind, _, new in changes) == sorted(
        [("security_group_rule", True)] * 5 + [("security_group", True),
                                               ("security_group", False)])
    revised = next(new for kind, _, new in changes if kind == "security_group" and new)
    assert (revised["id"], revised["revision_number"]) == (web["id"], 3)
    assert model.rules_of(default["id"]) == [] and model.rules_with_remote(default["id"]) == []
    assert model.default_group_of("p1") is None
    assert [r["id"] for r in model.rules_of(web["id"])] == web_rules
    # the indexes rebuilt from the store are the ones kept incrementally
    kept = (model.group_rules, model.remote_rules, model.group_ports, model.default_group)
    model.store.close()
    reopened = _model(tmp_path / "db.sqlite")
    assert (reopened.group_rules, reopened.remote_rules, reopened.group_ports,
            reopened.default_group) == kept
    reopened.store.close()


def test_a_failed_port_write_makes_no_default_group(tmp_path):
    model = _model(tmp_path / "db.sqlite")
    network = _create(model, "network")
    model.take_changes()
    with pytest.raises(Exception, match="not a valid IP for any of the subnets"):
        _create(model, "port", "p2", network_id=network["id"],
                fixed_ips=[{"ip_address": "10.9.9.9"}])
    assert model.take_changes() == [] and model.default_group_of("p2") is None
    port_made = _create(model, "port", "p2", network_id=network["id"])
    default = model.default_group_of("p2")
    assert port_made["security_groups"] == [default["id"]]
    assert [kind for kind, _, _ in model.take_changes()] == [
        "security_group"] + ["security_group_rule"] * 4 + ["port"]
    model.store.close()
