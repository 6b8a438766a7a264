"""Subnets: default gateway and pools, pool checks, overlap, IPv6 refusal, in-use delete."""
import pytest

from tests.harness import UNKNOWN_ID


@pytest.fixture
def network(api):
    return api.create("network")


def test_defaults_first_host_gateway_and_the_rest_as_pool(api, network):
    sub = api.create("subnet", network_id=network["id"], cidr="10.0.0.0/24", ip_version=4)
    assert sub["gateway_ip"] == "10.0.0.1"
    assert sub["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert sub["enable_dhcp"] is True and sub["dns_nameservers"] == []
    status, body = api.get(f"/v2.0/networks/{network['id']}")
    assert body["network"]["subnets"] == [sub["id"]]


def test_a_cidr_with_host_bits_names_its_network(api, network):
    """As `openstack subnet create --subnet-range 10.4.0.9/24`: Neutron stores 10.4.0.0/24."""
    sub = api.create("subnet", network_id=network["id"], cidr="10.4.0.9/24", ip_version=4,
                     host_routes=[{"destination": "10.60.1.1/16", "nexthop": "10.4.0.7"}])
    assert (sub["cidr"], sub["gateway_ip"], sub["host_routes"][0]["destination"]) == (
        "10.4.0.0/24", "10.4.0.1", "10.60.0.0/16")


def test_gateway_inside_pool_range_splits_it(api, network):
    sub = api.create("subnet", network_id=network["id"], cidr="10.1.0.0/28", ip_version=4,
                     gateway_ip="10.1.0.5")
    assert sub["allocation_pools"] == [{"start": "10.1.0.1", "end": "10.1.0.4"},
                                       {"start": "10.1.0.6", "end": "10.1.0.14"}]


def test_no_gateway(api, network):
    sub = api.create("subnet", network_id=network["id"], cidr="10.2.0.0/29", ip_version=4,
                     gateway_ip=None, dns_nameservers=["8.8.8.8"],
                     host_routes=[{"destination": "10.50.0.0/16", "nexthop": "10.2.0.6"}])
    assert sub["gateway_ip"] is None
    assert sub["allocation_pools"] == [{"start": "10.2.0.1", "end": "10.2.0.6"}]
    assert sub["host_routes"][0]["nexthop"] == "10.2.0.6"


@pytest.mark.parametrize("fields, status, error_type", [
    ({"cidr": "10.3.0.0/24", "allocation_pools": [{"start": "10.3.0.1", "end": "10.3.0.9"}]},
     409, "GatewayConflictWithAllocationPools"),
    ({"cidr": "10.3.0.0/24", "allocation_pools": [{"start": "10.3.0.9", "end": "10.3.1.9"}]},
     400, "OutOfBoundsAllocationPool"),
    ({"cidr": "10.3.0.0/24", "allocation_pools": [{"start": "10.3.0.9", "end": "10.3.0.20"},
                                                  {"start": "10.3.0.15", "end": "10.3.0.30"}]},
     409, "OverlappingAllocationPools"),
    ({"cidr": "10.3.0.0/24", "allocation_pools": [{"start": "10.3.0.50", "end": "10.3.0.40"}]},
     400, "InvalidAllocationPool"),
    ({"cidr": "10.3.0/24"}, 400, "InvalidInput"),
    ({"cidr": "10.3.0.0/24", "gateway_ip": "10.4.0.1"}, 400, "InvalidInput"),
    ({"cidr": "10.3.0.0/24", "gateway_ip": "10.3.0.255"}, 400, "InvalidInput"),
    ({"cidr": "not-a-cidr"}, 400, "InvalidInput"),
    ({"cidr": "10.3.0.0/31"}, 400, "InvalidInput"),
    ({"cidr": "2001:db8::/64", "ip_version": 6}, 400, "InvalidInput"),
    ({"cidr": "10.3.0.0/24", "dns_nameservers": ["1.1.1.1", "1.1.1.1"]}, 400, "InvalidInput"),
    ({"cidr": "10.3.0.0/24", "network_id": UNKNOWN_ID}, 404, "NetworkNotFound"),
    ({"cidr": "10.3.0.0/24", "network_id": "private"}, 400, "InvalidInput"),
])
def test_bad_subnets_are_refused_and_nothing_is_created(api, network, fields, status,
                                                        error_type):
    body = {"network_id": network["id"], "ip_version": 4, **fields}
    got, reply = api.post("/v2.0/subnets", {"subnet": body})
    assert got == status, reply
    assert reply["NeutronError"]["type"] == error_type
    assert api.get(f"/v2.0/subnets?network_id={network['id']}")[1]["subnets"] == []


def test_ipv6_refusal_says_why(api, network):
    status, body = api.post("/v2.0/subnets", {"subnet": {
        "network_id": network["id"], "ip_version": 6, "cidr": "2001:db8::/64"}})
    assert status == 400 and "IPv6" in body["NeutronError"]["message"]


def test_overlap_within_a_network_is_refused_but_not_across_networks(api, network):
    api.create("subnet", network_id=network["id"], cidr="10.5.0.0/16", ip_version=4)
    status, body = api.post("/v2.0/subnets", {"subnet": {
        "network_id": network["id"], "cidr": "10.5.7.0/24", "ip_version": 4}})
    assert status == 400 and "overlaps" in body["NeutronError"]["message"]
    other = api.create("network")
    api.create("subnet", network_id=other["id"], cidr="10.5.7.0/24", ip_version=4)


def test_subnet_with_ports_cannot_be_deleted(api, network):
    sub = api.create("subnet", network_id=network["id"], cidr="10.6.0.0/24", ip_version=4)
    port = api.create("port", network_id=network["id"])
    status, body = api.delete(f"/v2.0/subnets/{sub['id']}")
    assert status == 409 and body["NeutronError"]["type"] == "SubnetInUse"
    api.delete(f"/v2.0/ports/{port['id']}")
    assert api.delete(f"/v2.0/subnets/{sub['id']}")[0] == 204
    assert api.get(f"/v2.0/networks/{network['id']}")[1]["network"]["subnets"] == []


def test_update_allows_name_and_dns_but_not_cidr(api, network):
    sub = api.create("subnet", network_id=network["id"], cidr="10.7.0.0/24", ip_version=4)
    status, body = api.put(f"/v2.0/subnets/{sub['id']}",
                           {"subnet": {"name": "s", "dns_nameservers": ["9.9.9.9"]}})
    assert status == 200 and body["subnet"]["dns_nameservers"] == ["9.9.9.9"]
    status, body = api.put(f"/v2.0/subnets/{sub['id']}", {"subnet": {"cidr": "10.8.0.0/24"}})
    assert status == 400


def test_null_lists_are_empty_and_dhcp_limits_follow_enable_dhcp(api, network):
    """Neutron reads null DNS servers and host routes as none; a multicast range may be a
    subnet only without DHCP, and turning DHCP on there is refused."""
    multicast = api.create("subnet", network_id=network["id"], cidr="224.0.1.0/24",
                           ip_version=4, enable_dhcp=False, dns_nameservers=None,
                           host_routes=None)
    assert (multicast["dns_nameservers"], multicast["host_routes"]) == ([], [])
    status, body = api.put(f"/v2.0/subnets/{multicast['id']}", {"subnet": {"enable_dhcp": True}})
    assert (status, body["NeutronError"]["type"]) == (400, "InvalidInput")
    assert api.get(f"/v2.0/subnets/{multicast['id']}")[1]["subnet"]["enable_dhcp"] is False
    status, body = api.put(f"/v2.0/subnets/{multicast['id']}", {"subnet": {
        "dns_nameservers": [f"192.0.2.{n}" for n in range(1, 7)]}})
    assert (status, body["NeutronError"]["type"]) == (400, "DNSNameServersExhausted")
    assert multicast["id"] in body["NeutronError"]["message"]


def test_gateway_and_pools_can_be_changed_as_in_neutron(api, network):
    """openstack subnet set --gateway / --allocation-pool: the pools stay inside the CIDR
    and apart from the gateway, ports keep their addresses, new ones come from the new
    pools, and a gateway a router interface holds stays."""
    sub = api.create("subnet", network_id=network["id"], cidr="10.12.0.0/24", ip_version=4)
    first = api.create("port", network_id=network["id"])        # the DHCP port has .2
    assert first["fixed_ips"][0]["ip_address"] == "10.12.0.3"
    url = f"/v2.0/subnets/{sub['id']}"
    status, body = api.put(url, {"subnet": {"gateway_ip": "10.12.0.254"}})
    assert (status, body["NeutronError"]["type"]) == (409, "GatewayConflictWithAllocationPools")
    pools = [{"start": "10.12.0.100", "end": "10.12.0.120"}]
    status, body = api.put(url, {"subnet": {"gateway_ip": "10.12.0.254",
                                            "allocation_pools": pools}})
    assert status == 200, body
    assert (body["subnet"]["gateway_ip"], body["subnet"]["allocation_pools"]) == (
        "10.12.0.254", pools)
    assert api.get(f"/v2.0/ports/{first['id']}")[1]["port"]["fixed_ips"] == first["fixed_ips"]
    assert api.create("port", network_id=network["id"])["fixed_ips"][0]["ip_address"] == \
        "10.12.0.100"
    for bad, kind in (({"allocation_pools": [{"start": "10.12.0.250", "end": "10.13.0.1"}]},
                       "OutOfBoundsAllocationPool"),
                      ({"gateway_ip": first["fixed_ips"][0]["ip_address"]}, "GatewayIpInUse")):
        status, body = api.put(url, {"subnet": bad})
        assert (status, body["NeutronError"]["type"]) == (400 if "Pool" in kind else 409, kind)
    router = api.create("router")
    status, _ = api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                        {"subnet_id": sub["id"]})
    assert status == 200
    status, body = api.put(url, {"subnet": {"gateway_ip": None}})
    assert (status, body["NeutronError"]["type"]) == (409, "GatewayIpInUse")
    assert body["NeutronError"]["message"].startswith(
        "Current gateway ip 10.12.0.254 already in use by port ")
    assert api.get(url)[1]["subnet"]["gateway_ip"] == "10.12.0.254"
