"""Routers in the model: interfaces by subnet or port, one router per subnet, in-use rules."""
import pytest

from tests.harness import UNKNOWN_ID


@pytest.fixture
def subnet(api):
    network = api.create("network")
    return api.create("subnet", network_id=network["id"], cidr="10.40.0.0/24", ip_version=4)


def test_distributed_by_default_and_interface_by_subnet(api, subnet):
    router = api.create("router", name="r1")
    assert router["distributed"] is True and router["status"] == "ACTIVE"
    status, body = api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                           {"subnet_id": subnet["id"]})
    assert status == 200
    assert body["subnet_id"] == subnet["id"] and body["id"] == router["id"]
    status, port = api.get(f"/v2.0/ports/{body['port_id']}")
    port = port["port"]
    assert port["device_owner"] == "network:router_interface_distributed"
    assert port["device_id"] == router["id"]
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.40.0.1"}]


def test_a_subnet_belongs_to_one_router(api, subnet):
    first = api.create("router")
    second = api.create("router")
    api.put(f"/v2.0/routers/{first['id']}/add_router_interface", {"subnet_id": subnet["id"]})
    status, body = api.put(f"/v2.0/routers/{second['id']}/add_router_interface",
                           {"subnet_id": subnet["id"]})
    assert (status, body["NeutronError"]["type"]) == (409, "IpAddressAlreadyAllocated"), body
    assert subnet["gateway_ip"] in body["NeutronError"]["message"]   # as Neutron's IPAM says
    # by a port of another address on it: Neutron would take it, here a subnet has one
    # router (DVR's routes and ARP answers for the subnet are that router's)
    port = api.create("port", network_id=subnet["network_id"])
    status, body = api.put(f"/v2.0/routers/{second['id']}/add_router_interface",
                           {"port_id": port["id"]})
    assert (status, body["NeutronError"]["type"]) == (409, "SubnetInUseByRouter"), body
    assert api.get(f"/v2.0/ports?device_id={second['id']}")[1]["ports"] == []


def test_router_with_interfaces_cannot_be_deleted_nor_its_port(api, subnet):
    router = api.create("router")
    _, body = api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                      {"subnet_id": subnet["id"]})
    status, err = api.delete(f"/v2.0/routers/{router['id']}")
    assert status == 409 and err["NeutronError"]["type"] == "RouterInUse"
    status, err = api.delete(f"/v2.0/ports/{body['port_id']}")
    assert status == 409 and err["NeutronError"]["type"] == "L3PortInUse"
    status, err = api.delete(f"/v2.0/networks/{subnet['network_id']}")
    assert status == 409 and err["NeutronError"]["type"] == "NetworkInUse"
    status, _ = api.put(f"/v2.0/routers/{router['id']}/remove_router_interface",
                        {"subnet_id": subnet["id"]})
    assert status == 200
    assert api.get(f"/v2.0/ports/{body['port_id']}")[0] == 404
    status, err = api.put(f"/v2.0/routers/{router['id']}/remove_router_interface",
                          {"subnet_id": subnet["id"]})
    assert status == 404 and err["NeutronError"]["type"] == "RouterInterfaceNotFoundForSubnet"
    assert api.delete(f"/v2.0/routers/{router['id']}")[0] == 204


def test_a_centralized_router_is_refused_for_nothing_would_route_it(api):
    before = api.get("/v2.0/routers")[1]["routers"]
    status, body = api.post("/v2.0/routers", {"router": {"distributed": False}})
    assert status == 400 and body["NeutronError"]["type"] == "InvalidInput"
    assert "no centralized routers" in body["NeutronError"]["message"]
    assert api.get("/v2.0/routers")[1]["routers"] == before


def test_interface_by_port_and_bad_requests(api, subnet):
    router = api.create("router")
    port = api.create("port", network_id=subnet["network_id"])
    status, body = api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                           {"port_id": port["id"]})
    assert status == 200 and body["port_id"] == port["id"]
    owner = api.get(f"/v2.0/ports/{port['id']}")[1]["port"]["device_owner"]
    assert owner == "network:router_interface_distributed"
    for payload, status_expected in [({}, 400), ({"subnet_id": subnet["id"],
                                                  "port_id": port["id"]}, 400),
                                     ({"subnet_id": UNKNOWN_ID}, 404),
                                     ({"subnet_id": "private-subnet"}, 400)]:
        status, body = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", payload)
        assert status == status_expected, (payload, body)
    status, _ = api.put("/v2.0/routers/missing/add_router_interface",
                        {"subnet_id": UNKNOWN_ID})
    assert status == 404
    # the same subnet again, on the same router: Neutron's "already has a port" 400
    status, body = api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                           {"subnet_id": subnet["id"]})
    assert status == 400 and "already has a port on subnet" in body["NeutronError"]["message"]
    # removal may name both, if the port is on the subnet
    other = api.create("subnet", network_id=api.create("network")["id"], cidr="10.41.0.0/24",
                       ip_version=4)
    path = f"/v2.0/routers/{router['id']}/remove_router_interface"
    status, body = api.put(path, {"subnet_id": other["id"], "port_id": port["id"]})
    assert (status, body["NeutronError"]["type"]) == (400, "SubnetMismatchForPort")
    status, body = api.put(path, {"subnet_id": subnet["id"], "port_id": port["id"]})
    assert status == 200 and body["port_id"] == port["id"]
    assert api.get(f"/v2.0/ports?device_id={router['id']}")[1]["ports"] == []


def test_a_router_port_holds_one_ipv4_subnet(api, subnet):
    other = api.create("subnet", network_id=subnet["network_id"], cidr="10.9.0.0/24",
                       ip_version=4)
    port = api.create("port", network_id=subnet["network_id"], fixed_ips=[
        {"subnet_id": subnet["id"]}, {"subnet_id": other["id"]}])
    router = api.create("router")
    status, body = api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                           {"port_id": port["id"]})
    assert status == 400 and "multiple IPv4 subnets" in body["NeutronError"]["message"]
    assert api.get(f"/v2.0/ports/{port['id']}")[1]["port"]["device_owner"] == ""


def test_attributes_of_extensions_not_served_are_refused_clearly(api):
    """Neither extraroute nor l3-ha is advertised, so their attributes are unknown, as
    they are to a Neutron without those extensions; nothing is created."""
    before = len(api.get("/v2.0/routers")[1]["routers"])
    for extra in ({"routes": [{"destination": "10.0.0.0/8", "nexthop": "10.40.0.9"}]},
                  {"ha": True}):
        status, body = api.post("/v2.0/routers", {"router": extra})
        assert status == 400, body
        assert body["NeutronError"]["message"] == f"Unrecognized attribute(s) '{[*extra][0]}'"
    assert len(api.get("/v2.0/routers")[1]["routers"]) == before


def test_the_agents_of_a_router_and_the_routers_of_an_agent(api, subnet):
    """No hypervisor is registered here: a router has no SNAT host, an agent is unknown."""
    router = api.create("router")
    assert api.get(f"/v2.0/routers/{router['id']}/l3-agents") == (200, {"agents": []})
    status, body = api.get("/v2.0/routers/no-such-router/l3-agents")
    assert status == 404 and body["NeutronError"]["type"] == "RouterNotFound", body
    assert api.post(f"/v2.0/routers/{router['id']}/l3-agents", {})[0] == 405
    status, body = api.get("/v2.0/agents/no-such-agent/l3-routers")
    assert status == 404 and body["NeutronError"]["type"] == "AgentNotFound", body
