"""The standard `openstack` client, in no-auth mode, drives the controller."""
import ipaddress

import pytest

from tests.harness import UNKNOWN_ID


@pytest.fixture
def cli(controller):
    return controller.openstack


# The quota commands look the project up in Keystone first; in no-auth mode the client
# asks the controller's endpoint, which needs identity API version 3 to be named.
IDENTITY_V3 = ("--os-identity-api-version", "3")


def test_network_subnet_port_router_lifecycle(cli, api):
    net = cli("network", "create", "cli-net", "--provider-network-type", "vlan",
              "--provider-physical-network", "physnet1", "--provider-segment", "123")
    assert net["provider:segmentation_id"] == 123 and net["name"] == "cli-net"
    subnet = cli("subnet", "create", "cli-sub", "--network", "cli-net",
                 "--subnet-range", "10.80.0.0/24")
    assert subnet["gateway_ip"] == "10.80.0.1"
    port = cli("port", "create", "cli-port", "--network", "cli-net",
               "--fixed-ip", "subnet=cli-sub,ip-address=10.80.0.42")
    assert port["fixed_ips"][0]["ip_address"] == "10.80.0.42"
    router = cli("router", "create", "cli-router")
    cli("router", "add", "subnet", "cli-router", "cli-sub", parse=False)
    interfaces = api.get(f"/v2.0/ports?device_id={router['id']}")[1]["ports"]
    assert [p["fixed_ips"][0]["ip_address"] for p in interfaces] == ["10.80.0.1"]

    assert {n["Name"] for n in cli("network", "list")} >= {"cli-net"}
    assert cli("port", "show", "cli-port")["mac_address"] == port["mac_address"]
    listed = cli("port", "list", "--network", "cli-net")
    dhcp = cli("port", "list", "--network", "cli-net", "--device-owner", "network:dhcp")
    assert len(dhcp) == 1 and dhcp[0]["Fixed IP Addresses"]   # the subnet's DHCP server
    assert {p["ID"] for p in listed} == {port["id"], interfaces[0]["id"], dhcp[0]["ID"]}
    cli("port", "set", "--extra-dhcp-option", "name=tftp-server,value=10.80.0.9",
        "cli-port", parse=False)
    assert api.get(f"/v2.0/ports/{port['id']}")[1]["port"]["extra_dhcp_opts"] == [
        {"opt_name": "tftp-server", "opt_value": "10.80.0.9", "ip_version": 4}]

    cli("network", "set", "--name", "cli-net-2", "cli-net", parse=False)
    cli("port", "set", "--name", "cli-port-2", "cli-port", parse=False)
    cli("subnet", "set", "--dns-nameserver", "10.80.0.53", "cli-sub", parse=False)
    cli("router", "set", "--name", "cli-router-2", "cli-router", parse=False)
    assert api.get(f"/v2.0/networks/{net['id']}")[1]["network"]["name"] == "cli-net-2"
    assert api.get(f"/v2.0/subnets/{subnet['id']}")[1]["subnet"]["dns_nameservers"] == [
        "10.80.0.53"]

    cli("router", "remove", "subnet", "cli-router-2", "cli-sub", parse=False)
    cli("router", "delete", "cli-router-2", parse=False)
    cli("port", "delete", "cli-port-2", parse=False)
    cli("subnet", "delete", "cli-sub", parse=False)
    cli("network", "delete", "cli-net-2", parse=False)
    for kind, resource in (("networks", net), ("subnets", subnet), ("ports", port),
                           ("routers", router)):
        assert api.get(f"/v2.0/{kind}/{resource['id']}")[0] == 404



def test_router_gateway_and_floating_ip_commands(cli, api):
    cli("network", "create", "cli-public", "--external", "--provider-network-type", "flat",
        "--provider-physical-network", "public")
    cli("subnet", "create", "cli-public-sub", "--network", "cli-public", "--no-dhcp",
        "--subnet-range", "203.0.113.0/24")
    cli("network", "create", "cli-inner")
    cli("subnet", "create", "cli-inner-sub", "--network", "cli-inner",
        "--subnet-range", "10.81.0.0/24")
    cli("router", "create", "cli-edge")
    cli("router", "add", "subnet", "cli-edge", "cli-inner-sub", parse=False)
    cli("router", "set", "cli-edge", "--external-gateway", "cli-public", parse=False)
    router = cli("router", "show", "cli-edge")
    gateway = router["external_gateway_info"]
    assert gateway["enable_snat"] is True
    assert gateway["external_fixed_ips"][0]["ip_address"].startswith("203.0.113.")
    port = cli("port", "create", "cli-vm", "--network", "cli-inner")
    fip = cli("floating", "ip", "create", "cli-public")
    assert fip["status"] == "DOWN" and fip["port_id"] is None
    cli("floating", "ip", "set", "--port", "cli-vm", fip["id"], parse=False)
    shown = cli("floating", "ip", "show", fip["id"])
    assert shown["port_id"] == port["id"] and shown["router_id"] == router["id"]
    assert shown["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    listed = cli("floating", "ip", "list")
    assert [item["Floating IP Address"] for item in listed] == [fip["floating_ip_address"]]
    cli("floating", "ip", "unset", "--port", fip["id"], parse=False)
    assert cli("floating", "ip", "show", fip["id"])["port_id"] is None
    cli("floating", "ip", "delete", fip["id"], parse=False)
    assert api.get(f"/v2.0/floatingips/{fip['id']}")[0] == 404
    cli("router", "unset", "--external-gateway", "cli-edge", parse=False)
    assert cli("router", "show", "cli-edge")["external_gateway_info"] in (None, {})


def test_security_group_commands(cli, api):
    group = cli("security", "group", "create", "cli-web")
    assert group["name"] == "cli-web" and group["stateful"] is True
    assert [(r["direction"], r["ethertype"]) for r in group["rules"]] == [
        ("egress", "IPv4"), ("egress", "IPv6")]
    ssh = cli("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
              "--remote-ip", "0.0.0.0/0", "cli-web")
    assert (ssh["protocol"], ssh["port_range_min"], ssh["port_range_max"],
            ssh["remote_ip_prefix"], ssh["direction"], ssh["security_group_id"]) == (
        "tcp", 22, 22, "0.0.0.0/0", "ingress", group["id"])
    ping = cli("security", "group", "rule", "create", "--protocol", "icmp", "cli-web")
    assert (ping["protocol"], ping["port_range_min"], ping["normalized_cidr"]) == (
        "icmp", None, "0.0.0.0/0")
    rules = cli("security", "group", "rule", "list", "cli-web")
    assert [(r["IP Protocol"], r["Port Range"], r["Direction"]) for r in rules] == [
        (None, "", "egress"), (None, "", "egress"), ("tcp", "22:22", "ingress"),
        ("icmp", "", "ingress")]
    everything = cli("security", "group", "rule", "list")
    assert {r["ID"] for r in rules} <= {r["ID"] for r in everything}
    cli("security", "group", "rule", "delete", ping["id"], parse=False)
    assert api.get(f"/v2.0/security-group-rules/{ping['id']}")[0] == 404
    assert [r["ID"] for r in cli("security", "group", "rule", "list", "cli-web")] == [
        r["ID"] for r in rules[:3]]
    listed = {g["Name"]: g for g in cli("security", "group", "list")}
    assert {"default", "cli-web"} <= set(listed)
    default_id = listed["default"]["ID"]

    cli("network", "create", "cli-sg-net")
    cli("subnet", "create", "cli-sg-sub", "--network", "cli-sg-net",
        "--subnet-range", "10.82.0.0/24")
    bare = cli("port", "create", "--network", "cli-sg-net", "--no-security-group", "cli-bare")
    assert bare["security_group_ids"] == []
    usual = cli("port", "create", "--network", "cli-sg-net", "cli-usual")
    assert usual["security_group_ids"] == [default_id]
    cli("port", "set", "--security-group", "cli-web", "cli-bare", parse=False)
    assert cli("port", "show", "cli-bare")["security_group_ids"] == [group["id"]]
    cli("port", "set", "--security-group", "default", "cli-bare", parse=False)
    assert cli("port", "show", "cli-bare")["security_group_ids"] == [group["id"], default_id]
    members = cli("port", "list", "--security-group", group["id"])
    assert [p["ID"] for p in members] == [bare["id"]]
    cli("port", "set", "--no-security-group", "cli-bare", parse=False)
    assert cli("port", "show", "cli-bare")["security_group_ids"] == []

    cli("security", "group", "set", "--name", "cli-www", "--description", "front", "cli-web",
        parse=False)
    shown = cli("security", "group", "show", "cli-www")
    assert (shown["id"], shown["description"]) == (group["id"], "front")
    cli("security", "group", "delete", "cli-www", parse=False)
    assert api.get(f"/v2.0/security-groups/{group['id']}")[0] == 404
    assert api.get(f"/v2.0/security-group-rules/{ssh['id']}")[0] == 404
    for name in ("cli-bare", "cli-usual"):
        cli("port", "delete", name, parse=False)
    cli("network", "delete", "cli-sg-net", parse=False)


def test_tags_through_the_client(cli, api):
    net = cli("network", "create", "cli-tagged", "--tag", "blue")
    other = cli("network", "create", "cli-untagged")
    assert net["tags"] == ["blue"]
    cli("network", "set", "--tag", "red", "--tag", "green", "cli-tagged", parse=False)
    assert sorted(cli("network", "show", "cli-tagged")["tags"]) == ["blue", "green", "red"]
    assert api.get(f"/v2.0/networks/{net['id']}/tags")[1] == {"tags": ["blue", "green", "red"]}

    def names(*args: str) -> set[str]:
        return {n["Name"] for n in cli("network", "list", *args)} & {"cli-tagged",
                                                                       "cli-untagged"}
    assert names("--tags", "red,blue") == {"cli-tagged"}
    assert names("--tags", "red,nothing") == set()
    assert names("--any-tags", "nothing,red") == {"cli-tagged"}
    assert names("--not-tags", "red,blue") == {"cli-untagged"}
    assert names("--not-any-tags", "nothing,green") == {"cli-untagged"}

    cli("network", "unset", "--tag", "red", "cli-tagged", parse=False)
    assert sorted(cli("network", "show", "cli-tagged")["tags"]) == ["blue", "green"]
    cli("network", "unset", "--all-tag", "cli-tagged", parse=False)
    assert cli("network", "show", "cli-tagged")["tags"] == []

    port = cli("port", "create", "cli-tag-port", "--network", "cli-untagged")
    cli("port", "set", "--tag", "vm", "cli-tag-port", parse=False)
    assert cli("port", "show", "cli-tag-port")["tags"] == ["vm"]
    assert [p["ID"] for p in cli("port", "list", "--tags", "vm")] == [port["id"]]
    cli("port", "delete", "cli-tag-port", parse=False)
    for name in ("cli-tagged", "cli-untagged"):
        cli("network", "delete", name, parse=False)
    assert api.get(f"/v2.0/networks/{other['id']}")[0] == 404


def test_subnet_pools_and_address_scopes_through_the_client(cli, api):
    scope = cli("address", "scope", "create", "cli-scope")
    assert (scope["name"], scope["ip_version"]) == ("cli-scope", 4)
    space = cli("subnet", "pool", "create", "cli-pool", "--pool-prefix", "10.81.0.0/16",
                "--default-prefix-length", "26", "--address-scope", "cli-scope")
    assert space["address_scope_id"] == scope["id"]
    assert space["prefixes"] == ["10.81.0.0/16"]
    cli("network", "create", "cli-pooled")
    made = [cli("subnet", "create", f"cli-pooled-{n}", "--network", "cli-pooled",
                "--subnet-pool", "cli-pool", "--prefix-length", "26") for n in range(2)]
    blocks = [ipaddress.ip_network(subnet["cidr"]) for subnet in made]
    assert [block.prefixlen for block in blocks] == [26, 26]
    assert not blocks[0].overlaps(blocks[1])
    assert all(block.subnet_of(ipaddress.ip_network("10.81.0.0/16")) for block in blocks)
    assert {subnet["subnetpool_id"] for subnet in made} == {space["id"]}
    assert [p["Name"] for p in cli("subnet", "pool", "list")] == ["cli-pool"]
    cli("subnet", "pool", "set", "--pool-prefix", "10.82.0.0/16", "cli-pool", parse=False)
    assert sorted(cli("subnet", "pool", "show", "cli-pool")["prefixes"]) == [
        "10.81.0.0/16", "10.82.0.0/16"]
    refused = cli("subnet", "pool", "delete", "cli-pool", fail=True)
    assert "Subnet pool has existing allocations" in refused, refused
    for subnet in made:
        cli("subnet", "delete", subnet["id"], parse=False)
    cli("subnet", "pool", "delete", "cli-pool", parse=False)
    cli("address", "scope", "delete", "cli-scope", parse=False)
    cli("network", "delete", "cli-pooled", parse=False)
    assert api.get(f"/v2.0/subnetpools/{space['id']}")[0] == 404


def test_quota_commands_through_the_client(cli, api):
    cli(*IDENTITY_V3, "quota", "set", "--networks", "2", "cli-quota", parse=False)
    shown = cli(*IDENTITY_V3, "quota", "show", "--network", "cli-quota")
    assert {"Resource": "networks", "Limit": 2} in shown
    assert api.get("/v2.0/quotas/cli-quota")[1]["quota"]["network"] == 2
    for n in range(2):
        cli(*IDENTITY_V3, "network", "create", f"cli-quota-{n}", "--project", "cli-quota")
    refused = cli(*IDENTITY_V3, "network", "create", "cli-quota-2", "--project", "cli-quota",
                  fail=True)
    assert "Quota exceeded for resources: ['network']" in refused, refused
    owned = api.get("/v2.0/networks?project_id=cli-quota")[1]["networks"]
    assert sorted(n["name"] for n in owned) == ["cli-quota-0", "cli-quota-1"]
    # the client asks check_limit unless --force: no limit under what the project uses
    refused = cli(*IDENTITY_V3, "quota", "set", "--networks", "1", "cli-quota", fail=True)
    assert "usage less than 0 for the following resources: ['network']" in refused, refused
    assert api.get("/v2.0/quotas/cli-quota")[1]["quota"]["network"] == 2
    cli(*IDENTITY_V3, "quota", "set", "--force", "--networks", "1", "cli-quota", parse=False)
    assert api.get("/v2.0/quotas/cli-quota")[1]["quota"]["network"] == 1


def test_ip_availability_counts_each_subnets_pools_and_allocations(cli, api):
    """`openstack ip availability list/show` (Neutron's network-ip-availability): a
    subnet's total is its pools' size, its used addresses every allocation (the DHCP
    port's too); a network without subnets has zeros, and none of IPv4 for --ip-version
    4 is left out."""
    network = api.create("network", name="avail-net")
    subnet = api.create("subnet", network_id=network["id"], cidr="10.81.0.0/24",
                        ip_version=4, name="avail-sub", allocation_pools=[
                            {"start": "10.81.0.10", "end": "10.81.0.19"},
                            {"start": "10.81.0.30", "end": "10.81.0.34"}])
    for _ in range(3):
        api.create("port", network_id=network["id"])
    bare = api.create("network", name="avail-bare")
    listed = {row["Network Name"]: row for row in cli("ip", "availability", "list")}
    assert (listed["avail-net"]["Total IPs"], listed["avail-net"]["Used IPs"]) == (15, 4)
    assert "avail-bare" not in listed                    # the client asks for IPv4
    shown = cli("ip", "availability", "show", "avail-net")
    assert shown["subnet_ip_availability"] == [{
        "subnet_id": subnet["id"], "subnet_name": "avail-sub", "cidr": "10.81.0.0/24",
        "ip_version": 4, "total_ips": 15, "used_ips": 4}]
    status, body = api.get(f"/v2.0/network-ip-availabilities/{bare['id']}")
    assert (status, body["network_ip_availability"]["total_ips"]) == (200, 0)
    status, body = api.get(f"/v2.0/network-ip-availabilities/{UNKNOWN_ID}")
    assert (status, body["NeutronError"]["type"]) == (404, "NetworkNotFound")
    for port in api.get(f"/v2.0/ports?network_id={network['id']}")[1]["ports"]:
        if port["device_owner"] != "network:dhcp":
            assert api.delete(f"/v2.0/ports/{port['id']}")[0] == 204
    for path in (f"/v2.0/networks/{network['id']}", f"/v2.0/networks/{bare['id']}"):
        assert api.delete(path)[0] == 204
