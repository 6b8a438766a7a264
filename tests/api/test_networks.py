"""Networks over HTTP against the real controller: segments, validation, listing, delete."""
import pytest


def test_version_document_and_resource_list(api):
    status, body = api.get("/")
    assert status == 200
    assert body["versions"][0]["id"] == "v2.0"
    assert body["versions"][0]["links"][0]["href"].endswith("/v2.0/")
    status, body = api.get("/v2.0/")
    assert status == 200
    assert {"networks", "subnets", "ports", "routers", "agents"} <= {
        r["collection"] for r in body["resources"]}


def test_tenant_networks_get_distinct_vnis_from_the_configured_range(api):
    first = api.create("network", name="t1")
    second = api.create("network", name="t2")
    for network in (first, second):
        assert network["provider:network_type"] == "vxlan"
        assert 1001 <= network["provider:segmentation_id"] <= 2000
        assert network["mtu"] == 1450
        assert network["status"] == "ACTIVE"
        assert network["subnets"] == []
    assert first["provider:segmentation_id"] != second["provider:segmentation_id"]


def test_vlan_provider_network_and_its_conflicts(api):
    net = api.create("network", **{"provider:network_type": "vlan",
                                   "provider:physical_network": "physnet1",
                                   "provider:segmentation_id": "100"})  # CLI sends a string
    assert net["provider:segmentation_id"] == 100 and net["mtu"] == 1500
    status, body = api.post("/v2.0/networks", {"network": {
        "provider:network_type": "vlan", "provider:physical_network": "physnet1",
        "provider:segmentation_id": 100}})
    assert status == 409 and body["NeutronError"]["type"] == "VlanIdInUse"
    # Deleting frees the VLAN for reuse.
    assert api.delete(f"/v2.0/networks/{net['id']}")[0] == 204
    again = api.create("network", **{"provider:network_type": "vlan",
                                     "provider:physical_network": "physnet1",
                                     "provider:segmentation_id": 100})
    assert again["provider:segmentation_id"] == 100


def test_vlan_tenant_allocation_comes_from_the_physnet_range(api):
    net = api.create("network", **{"provider:network_type": "vlan",
                                   "provider:physical_network": "physnet1"})
    assert 3001 <= net["provider:segmentation_id"] <= 4000


@pytest.mark.parametrize("provider, error_type", [
    ({"provider:network_type": "vlan", "provider:physical_network": "nowhere",
      "provider:segmentation_id": 10}, "InvalidInput"),
    ({"provider:network_type": "vlan", "provider:physical_network": "physnet1",
      "provider:segmentation_id": 4095}, "InvalidInput"),
    ({"provider:network_type": "vxlan", "provider:segmentation_id": 2 ** 24}, "InvalidInput"),
    ({"provider:network_type": "vxlan", "provider:physical_network": "physnet1"},
     "InvalidInput"),
    ({"provider:network_type": "flat", "provider:segmentation_id": 5}, "InvalidInput"),
    ({"provider:network_type": "geneve"}, "InvalidInput"),
    ({"provider:network_type": "local", "provider:segmentation_id": 5}, "InvalidInput"),
])
def test_invalid_provider_values_are_400(api, provider, error_type):
    status, body = api.post("/v2.0/networks", {"network": provider})
    assert status == 400, body
    assert body["NeutronError"]["type"] == error_type


def test_flat_gre_and_local_networks(api):
    flat = api.create("network", **{"provider:network_type": "flat",
                                    "provider:physical_network": "physnet1"})
    assert flat["provider:segmentation_id"] is None
    status, body = api.post("/v2.0/networks", {"network": {
        "provider:network_type": "flat", "provider:physical_network": "physnet1"}})
    assert status == 409 and body["NeutronError"]["type"] == "FlatNetworkInUse"
    gre = api.create("network", **{"provider:network_type": "gre"})
    assert 1 <= gre["provider:segmentation_id"] <= 1000 and gre["mtu"] == 1458
    explicit = api.create("network", **{"provider:network_type": "gre",
                                        "provider:segmentation_id": 5000})
    assert explicit["provider:segmentation_id"] == 5000
    status, body = api.post("/v2.0/networks", {"network": {
        "provider:network_type": "gre", "provider:segmentation_id": 5000}})
    assert status == 409 and body["NeutronError"]["type"] == "TunnelIdInUse"
    local = api.create("network", **{"provider:network_type": "local"})
    assert local["provider:segmentation_id"] is None


def test_update_and_show(api):
    net = api.create("network", name="before")
    status, body = api.put(f"/v2.0/networks/{net['id']}",
                           {"network": {"name": "after", "admin_state_up": False}})
    assert status == 200
    assert body["network"]["name"] == "after" and body["network"]["revision_number"] == 2
    status, body = api.get(f"/v2.0/networks/{net['id']}")
    assert body["network"]["name"] == "after" and body["network"]["admin_state_up"] is False
    # a PUT that changes nothing revises nothing, as Neutron bumps only what it modified
    before = api.get(f"/v2.0/networks/{net['id']}")[1]["network"]
    for unchanged in ({}, {"name": "after"}):
        status, body = api.put(f"/v2.0/networks/{net['id']}", {"network": unchanged})
        assert (status, body["network"]) == (200, before), unchanged
    status, body = api.put(f"/v2.0/networks/{net['id']}", {"network": {"status": "DOWN"}})
    assert status == 400 and body["NeutronError"]["message"] == (
        "Cannot update read-only attribute status")
    # provider attributes as they are (a client re-sending the whole network) pass; new
    # values cannot be applied here
    provider = {key: net[key] for key in ("provider:network_type",
                                          "provider:physical_network",
                                          "provider:segmentation_id")}
    status, body = api.put(f"/v2.0/networks/{net['id']}", {"network": {**provider,
                                                                       "name": "again"}})
    assert status == 200 and body["network"]["name"] == "again", body
    status, body = api.put(f"/v2.0/networks/{net['id']}",   # null: unset, as ML2 reads it
                           {"network": {"provider:segmentation_id": None}})
    assert status == 200 and body["network"]["provider:segmentation_id"] == \
        net["provider:segmentation_id"], body
    status, body = api.put(f"/v2.0/networks/{net['id']}",
                           {"network": {"provider:segmentation_id": 7}})
    assert status == 400 and body["NeutronError"] == {
        "type": "InvalidInput", "detail": "", "message": "Invalid input for operation: "
        "Plugin does not support updating provider attributes."}
    assert api.get(f"/v2.0/networks/{net['id']}")[1]["network"]["provider:segmentation_id"] \
        == net["provider:segmentation_id"]
    router = api.create("router")
    assert api.put(f"/v2.0/routers/{router['id']}", {"router": {"distributed": True}})[0] == 200
    status, body = api.put(f"/v2.0/routers/{router['id']}", {"router": {"distributed": False}})
    assert status == 400 and body["NeutronError"]["type"] == "InvalidInput"
    status, body = api.put(f"/v2.0/networks/{net['id']}", {"network": {"mtu": 9000}})
    assert status == 400
    assert api.put(f"/v2.0/networks/{net['id']}", {"network": {"mtu": 1400}})[1][
        "network"]["mtu"] == 1400
    status, body = api.put(f"/v2.0/networks/{net['id']}", {"network": {"mtu": None}})
    assert (status, body["network"]["mtu"]) == (200, 1450)   # the largest VXLAN allows


def test_list_filters_fields_and_pagination(api):
    created = [api.create("network", name="page", project_id="pager") for _ in range(5)]
    status, body = api.get("/v2.0/networks?name=page&fields=id&fields=name")
    assert status == 200
    assert [n["id"] for n in body["networks"]] == [n["id"] for n in created]
    assert all(set(n) == {"id", "name"} for n in body["networks"])
    status, body = api.get("/v2.0/networks?project_id=pager&limit=2")
    assert [n["id"] for n in body["networks"]] == [n["id"] for n in created[:2]]
    next_href = body["networks_links"][0]["href"]
    status, body = api.get(next_href[next_href.index("/v2.0"):])
    assert [n["id"] for n in body["networks"]] == [n["id"] for n in created[2:4]]
    status, body = api.get("/v2.0/networks?provider:network_type=vlan&name=page")
    assert body["networks"] == []
    status, body = api.get("/v2.0/networks?admin_state_up=true&name=page")
    assert len(body["networks"]) == 5
    status, body = api.get("/v2.0/networks?no_such_field=1")
    assert status == 400 and body["NeutronError"]["type"] == "HTTPBadRequest"


def test_network_in_use_cannot_be_deleted_but_service_ports_go_with_it(api):
    net = api.create("network")
    sub = api.create("subnet", network_id=net["id"], cidr="10.9.0.0/24", ip_version=4)
    port = api.create("port", network_id=net["id"], device_owner="compute:nova")
    status, body = api.delete(f"/v2.0/networks/{net['id']}")
    assert status == 409 and body["NeutronError"]["type"] == "NetworkInUse"
    assert api.get(f"/v2.0/networks/{net['id']}")[0] == 200
    assert api.delete(f"/v2.0/ports/{port['id']}")[0] == 204
    dhcp = dhcp_port(api, net["id"])   # the subnet made it
    assert api.delete(f"/v2.0/networks/{net['id']}")[0] == 204
    for path in (f"/v2.0/networks/{net['id']}", f"/v2.0/subnets/{sub['id']}",
                 f"/v2.0/ports/{dhcp['id']}"):
        status, body = api.get(path)
        assert status == 404
    assert body["NeutronError"]["type"] == "PortNotFound"


def dhcp_port(api, network_id: str) -> dict:
    ports = api.get(f"/v2.0/ports?network_id={network_id}&device_owner=network:dhcp")[1]
    assert len(ports["ports"]) == 1, ports
    return ports["ports"][0]


def test_dhcp_port_comes_with_dhcp_and_goes_with_it(api):
    net = api.create("network")
    sub = api.create("subnet", network_id=net["id"], cidr="10.8.0.0/24", ip_version=4)
    dhcp = dhcp_port(api, net["id"])
    assert dhcp["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.8.0.2"}]
    assert dhcp["device_id"].startswith("dhcp") and dhcp["device_id"].endswith(net["id"])
    assert (dhcp["status"], dhcp["port_security_enabled"]) == ("ACTIVE", False)
    vm = api.create("port", network_id=net["id"])
    assert vm["fixed_ips"][0]["ip_address"] == "10.8.0.3"   # after the DHCP port's
    status, _ = api.put(f"/v2.0/subnets/{sub['id']}", {"subnet": {"enable_dhcp": False}})
    assert status == 200
    ports = api.get(f"/v2.0/ports?network_id={net['id']}&device_owner=network:dhcp")[1]
    assert ports["ports"] == []
    assert api.put(f"/v2.0/subnets/{sub['id']}", {"subnet": {"enable_dhcp": True}})[0] == 200
    assert dhcp_port(api, net["id"])["fixed_ips"][0]["subnet_id"] == sub["id"]


def test_dhcp_ports_are_the_controllers_to_make(api):
    net = api.create("network")
    status, body = api.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                                     "device_owner": "network:dhcp"}})
    assert status == 400 and "DHCP port" in body["NeutronError"]["message"]


@pytest.mark.parametrize("change", [{"device_owner": "compute:nova"}, {"fixed_ips": []},
                                    {"device_id": "mine"}])
def test_a_dhcp_port_cannot_be_taken_or_readdressed_by_a_port_write(api, change):
    """Made a VM's port, the network had no DHCP port until a restart made a second one;
    without addresses, it served nothing."""
    net = api.create("network")
    api.create("subnet", network_id=net["id"], cidr="10.9.0.0/24", ip_version=4)
    dhcp = dhcp_port(api, net["id"])
    status, body = api.put(f"/v2.0/ports/{dhcp['id']}", {"port": change})
    assert (status, body["NeutronError"]["type"]) == (409, "DhcpPortInUse")
    assert dhcp_port(api, net["id"]) == dhcp
    assert api.put(f"/v2.0/ports/{dhcp['id']}", {"port": {"name": "ok"}})[0] == 200
    same = [{"ip_address": ip["ip_address"]} for ip in dhcp["fixed_ips"]]   # another shape
    assert api.put(f"/v2.0/ports/{dhcp['id']}", {"port": {"fixed_ips": same}})[0] == 200


def test_a_deleted_dhcp_port_comes_back_on_its_addresses(api):
    net = api.create("network")
    api.create("subnet", network_id=net["id"], cidr="10.7.0.0/24", ip_version=4)
    first = dhcp_port(api, net["id"])
    assert api.delete(f"/v2.0/ports/{first['id']}")[0] == 204
    again = dhcp_port(api, net["id"])
    assert again["id"] != first["id"] and again["fixed_ips"] == first["fixed_ips"]


def test_a_shared_network_another_project_uses_stays_shared(api):
    """As Neutron: unsharing is a 409 InvalidSharedSetting while another project has a
    port on it (the network's own DHCP port does not count), and succeeds once it has
    none; before, it was unshared under the other project's VM."""
    network = api.create("network", shared=True, project_id="owner")
    api.create("subnet", network_id=network["id"], cidr="10.82.0.0/24", ip_version=4,
               project_id="owner")
    guest = api.create("port", network_id=network["id"], project_id="guest")
    path = f"/v2.0/networks/{network['id']}"
    status, body = api.put(path, {"network": {"shared": False}})
    assert (status, body["NeutronError"]["type"]) == (409, "InvalidSharedSetting")
    assert body["NeutronError"]["message"] == (
        f"Unable to reconfigure sharing settings for network {network['id']}. Multiple "
        "tenants are using it.")
    assert api.get(path)[1]["network"]["shared"] is True
    assert api.delete(f"/v2.0/ports/{guest['id']}")[0] == 204
    status, body = api.put(path, {"network": {"shared": False}})
    assert (status, body["network"]["shared"]) == (200, False)
    assert api.delete(path)[0] == 204
