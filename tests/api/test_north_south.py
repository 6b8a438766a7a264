"""Router gateways and floating IPs through the API, as Neutron has them: the ports they
make, the fields they show and the errors they give."""
import pytest

from tests.harness import UNKNOWN_ID


@pytest.fixture
def public(api):
    network = api.create("network", name="public", **{
        "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "public"})
    subnet = api.create("subnet", network_id=network["id"], cidr="203.0.113.0/24",
                        ip_version=4, enable_dhcp=False,
                        allocation_pools=[{"start": "203.0.113.10", "end": "203.0.113.99"}])
    yield network, subnet
    _delete_everything(api)


def _delete_everything(api) -> None:
    for fip in api.get("/v2.0/floatingips")[1]["floatingips"]:
        api.delete(f"/v2.0/floatingips/{fip['id']}")
    for router in api.get("/v2.0/routers")[1]["routers"]:
        for port in api.get(f"/v2.0/ports?device_id={router['id']}")[1]["ports"]:
            if port["device_owner"].startswith("network:router_interface"):
                api.put(f"/v2.0/routers/{router['id']}/remove_router_interface",
                        {"port_id": port["id"]})
        api.delete(f"/v2.0/routers/{router['id']}")
    for kind in ("port", "network"):
        for item in api.get(f"/v2.0/{kind}s")[1][f"{kind}s"]:
            api.delete(f"/v2.0/{kind}s/{item['id']}")


def test_an_external_network_must_be_on_a_physical_network(api):
    """A VXLAN network may be router:external, but no hypervisor could take its traffic
    out: a gateway or floating IP on it is a 400, not a router that silently never SNATs."""
    tunnel = api.create("network", **{"router:external": True})
    api.create("subnet", network_id=tunnel["id"], cidr="198.18.0.0/24", ip_version=4)
    router = api.create("router")
    status, body = api.put(f"/v2.0/routers/{router['id']}",
                           {"router": {"external_gateway_info": {"network_id": tunnel["id"]}}})
    assert status == 400 and "must be flat or VLAN" in body["NeutronError"]["message"]
    status, body = api.post("/v2.0/floatingips",
                            {"floatingip": {"floating_network_id": tunnel["id"]}})
    assert status == 400 and "must be flat or VLAN" in body["NeutronError"]["message"]
    assert api.get(f"/v2.0/routers/{router['id']}")[1]["router"][
        "external_gateway_info"] is None
    assert api.delete(f"/v2.0/routers/{router['id']}")[0] == 204
    assert api.delete(f"/v2.0/networks/{tunnel['id']}")[0] == 204


def test_one_write_never_gives_the_last_address_to_two_ports(api):
    """Deleting a floating IP frees the pool's last address while two hypervisors wait for
    their floating IP gateway (fg-) port: one write makes both, and only one may get it."""
    ext = api.create("network", **{"router:external": True, "provider:network_type": "flat",
                                   "provider:physical_network": "public"})
    small = api.create("subnet", network_id=ext["id"], cidr="203.0.113.0/29", ip_version=4,
                       enable_dhcp=False)                     # .2-.6
    network, _, router = _tenant(api, "10.52.0.0/24")
    api.put(f"/v2.0/routers/{router['id']}",
            {"router": {"external_gateway_info": {"network_id": ext["id"]}}})   # qg- .2
    ports = [api.create("port", network_id=network["id"], **{"binding:host_id": host})
             for host in ("h1", "h2")]
    fips = [api.create("floatingip", floating_network_id=ext["id"]) for _ in range(4)]
    try:
        for fip, port in zip(fips[:2], ports, strict=True):
            api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": port["id"]}})
        assert api.delete(f"/v2.0/floatingips/{fips[3]['id']}")[0] == 204
        held = [ip["ip_address"] for port in api.get(f"/v2.0/ports?network_id={ext['id']}")[
            1]["ports"] for ip in port["fixed_ips"] if ip["subnet_id"] == small["id"]]
        assert len(held) == len(set(held)), held
    finally:
        _delete_everything(api)


def _tenant(api, cidr="10.50.0.0/24"):
    network = api.create("network")
    subnet = api.create("subnet", network_id=network["id"], cidr=cidr, ip_version=4)
    router = api.create("router")
    api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]})
    return network, subnet, router


def _ports(api, **query):
    text = "&".join(f"{key}={value}" for key, value in query.items())
    return api.get(f"/v2.0/ports?{text}")[1]["ports"]


def test_gateway_makes_qg_and_sg_ports(api, public):
    network, subnet, router = _tenant(api)
    status, body = api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": public[0]["id"], "external_fixed_ips": [
            {"ip_address": "203.0.113.20"}]}}})
    assert status == 200, body
    info = body["router"]["external_gateway_info"]
    assert info == {"network_id": public[0]["id"], "enable_snat": True, "external_fixed_ips": [
        {"subnet_id": public[1]["id"], "ip_address": "203.0.113.20"}]}
    [qg] = _ports(api, device_owner="network:router_gateway")
    assert qg["device_id"] == router["id"] and qg["network_id"] == public[0]["id"]
    [sg] = _ports(api, device_owner="network:router_centralized_snat")
    assert sg["network_id"] == network["id"] and sg["device_id"] == router["id"]
    assert sg["fixed_ips"][0]["subnet_id"] == subnet["id"]
    assert sg["fixed_ips"][0]["ip_address"] != subnet["gateway_ip"]
    # a second routed subnet gets its own sg- port; removing it takes it away
    other_net = api.create("network")
    other = api.create("subnet", network_id=other_net["id"], cidr="10.51.0.0/24", ip_version=4)
    api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": other["id"]})
    assert len(_ports(api, device_owner="network:router_centralized_snat")) == 2
    api.put(f"/v2.0/routers/{router['id']}/remove_router_interface", {"subnet_id": other["id"]})
    assert len(_ports(api, device_owner="network:router_centralized_snat")) == 1
    # the gateway's ports cannot be deleted by hand; clearing the gateway removes them
    status, err = api.delete(f"/v2.0/ports/{qg['id']}")
    assert status == 409 and err["NeutronError"]["type"] == "L3PortInUse"
    status, body = api.put(f"/v2.0/routers/{router['id']}",
                           {"router": {"external_gateway_info": {}}})
    assert status == 200 and body["router"]["external_gateway_info"] is None
    assert _ports(api, device_owner="network:router_gateway") == []
    assert _ports(api, device_owner="network:router_centralized_snat") == []


def test_an_sg_port_keeps_its_addresses_when_its_networks_subnets_on_the_router_change(
        api, public):
    """Its first subnet full, a second subnet of the network still joins the router and
    leaves it again: the sg- port stays itself and only gains or drops that address."""
    network, full, router = _tenant(api, cidr="10.52.0.0/29")   # .1 gateway, .2 DHCP
    path = f"/v2.0/routers/{router['id']}"
    assert api.put(path, {"router": {"external_gateway_info": {
        "network_id": public[0]["id"]}}})[0] == 200
    [sg] = _ports(api, device_owner="network:router_centralized_snat")
    while api.post("/v2.0/ports", {"port": {"network_id": network["id"],
                                            "fixed_ips": [{"subnet_id": full["id"]}]}})[0] == 201:
        pass
    second = api.create("subnet", network_id=network["id"], cidr="10.52.1.0/24",
                        ip_version=4)
    for action in ("add", "remove"):
        status, body = api.put(f"{path}/{action}_router_interface", {"subnet_id": second["id"]})
        assert status == 200, body
        [now] = _ports(api, device_owner="network:router_centralized_snat")
        assert (now["id"], now["mac_address"], now["fixed_ips"][0]) == (
            sg["id"], sg["mac_address"], sg["fixed_ips"][0])
        assert [ip["subnet_id"] for ip in now["fixed_ips"]] == [full["id"]] + (
            [second["id"]] if action == "add" else [])


def test_gateway_errors(api, public):
    _, _, router = _tenant(api)
    internal = api.create("network")
    for info, status_expected, kind in [
            ({"network_id": internal["id"]}, 400, "BadRequest"),
            ({"network_id": UNKNOWN_ID}, 404, "NetworkNotFound"),
            ({"network_id": "public"}, 400, "InvalidInput"),   # a name, not an id
            ({"network_id": public[0]["id"], "external_fixed_ips": [
                {"ip_address": "198.51.100.7"}]}, 400, "InvalidIpForNetwork"),
            ({"network_id": public[0]["id"], "enable_snat": "maybe"}, 400, "InvalidInput"),
            ({"subnet": "x"}, 400, "InvalidInput")]:
        status, body = api.put(f"/v2.0/routers/{router['id']}",
                               {"router": {"external_gateway_info": info}})
        assert (status, body["NeutronError"]["type"]) == (status_expected, kind), info
    assert _ports(api, device_owner="network:router_gateway") == []
    taken = api.create("port", network_id=public[0]["id"],
                       fixed_ips=[{"ip_address": "203.0.113.30"}])
    status, body = api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": public[0]["id"], "external_fixed_ips": [
            {"ip_address": taken["fixed_ips"][0]["ip_address"]}]}}})
    assert status == 409 and body["NeutronError"]["type"] == "IpAddressAlreadyAllocated"


def test_a_gateway_keeps_off_the_upstream_routers_address(api, public):
    """Neither the gateway port nor an interface may take the external subnet's gateway
    IP; an empty external_fixed_ips changes nothing."""
    _, _, router = _tenant(api)
    path = f"/v2.0/routers/{router['id']}"
    upstream = public[1]["gateway_ip"]
    status, body = api.put(path, {"router": {"external_gateway_info": {
        "network_id": public[0]["id"], "external_fixed_ips": [{"ip_address": upstream}]}}})
    assert status == 400 and "same as the gateway IP" in body["NeutronError"]["message"]
    assert _ports(api, device_owner="network:router_gateway") == []
    api.put(path, {"router": {"external_gateway_info": {"network_id": public[0]["id"]}}})
    [qg] = _ports(api, device_owner="network:router_gateway")
    status, body = api.put(path, {"router": {"external_gateway_info": {
        "network_id": public[0]["id"], "external_fixed_ips": []}}})
    assert status == 200
    assert _ports(api, device_owner="network:router_gateway")[0]["fixed_ips"] == qg["fixed_ips"]
    status, body = api.put(f"{path}/add_router_interface", {"subnet_id": public[1]["id"]})
    assert status == 400 and "already has a port" in body["NeutronError"]["message"]


def test_a_gateway_is_refused_on_a_network_the_router_already_has_an_interface_on(
        api, public):
    """The other way round from the test above: an external network with two subnets,
    the second already one of the router's interfaces, takes no gateway of that router
    (Neutron's _check_for_dup_router_subnets looks at every subnet of the network)."""
    second = api.create("subnet", network_id=public[0]["id"], cidr="198.51.100.0/24",
                        ip_version=4, enable_dhcp=False)
    _, _, router = _tenant(api)
    path = f"/v2.0/routers/{router['id']}"
    assert api.put(f"{path}/add_router_interface", {"subnet_id": second["id"]})[0] == 200
    for fixed_ips in ([{"subnet_id": second["id"]}], [{"subnet_id": public[1]["id"]}], None):
        info = {"network_id": public[0]["id"], **(
            {"external_fixed_ips": fixed_ips} if fixed_ips else {})}
        status, body = api.put(path, {"router": {"external_gateway_info": info}})
        assert status == 400, (fixed_ips, body)
        assert f"already has a port on subnet {second['id']}" in body["NeutronError"][
            "message"]
    assert _ports(api, device_owner="network:router_gateway") == []
    assert api.get(path)[1]["router"]["external_gateway_info"] is None


def test_an_interface_overlapping_the_routers_gateway_subnet_is_refused(api, public):
    """As Neutron's _check_for_dup_router_subnets, which counts the gateway port: a
    tenant subnet of the external subnet's CIDR on the router would have given its
    gateway address to two of the router's ports (their flows clashed on every
    hypervisor)."""
    _, _, router = _tenant(api)
    path = f"/v2.0/routers/{router['id']}"
    assert api.put(path, {"router": {"external_gateway_info": {
        "network_id": public[0]["id"]}}})[0] == 200
    network = api.create("network")
    overlapping = api.create("subnet", network_id=network["id"], cidr="203.0.113.0/25",
                             ip_version=4)
    status, body = api.put(f"{path}/add_router_interface", {"subnet_id": overlapping["id"]})
    assert (status, body["NeutronError"]["message"]) == (400, (
        f"Bad router request: Cidr 203.0.113.0/25 of subnet {overlapping['id']} overlaps "
        f"with cidr 203.0.113.0/24 of subnet {public[1]['id']}."))
    assert _ports(api, device_id=router["id"], network_id=network["id"]) == []


def test_deleting_an_external_network_takes_its_unassociated_floating_ips(api, public):
    """As Neutron's delete_disassociated_floatingips; an associated one keeps it in use."""
    network, _, router = _tenant(api)
    api.put(f"/v2.0/routers/{router['id']}",
            {"router": {"external_gateway_info": {"network_id": public[0]["id"]}}})
    vm = api.create("port", network_id=network["id"])
    spare = api.create("floatingip", floating_network_id=public[0]["id"])
    used = api.create("floatingip", floating_network_id=public[0]["id"], port_id=vm["id"])
    path = f"/v2.0/networks/{public[0]['id']}"
    assert api.delete(path)[1]["NeutronError"]["type"] == "NetworkInUse"
    assert api.get(f"/v2.0/floatingips/{spare['id']}")[0] == 200   # nothing went
    api.delete(f"/v2.0/floatingips/{used['id']}")
    api.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": None}})
    assert api.delete(path)[0] == 204
    assert api.get(f"/v2.0/floatingips/{spare['id']}")[0] == 404
    assert _ports(api, device_owner="network:floatingip") == []


def test_an_external_network_in_use_stays_external(api, public):
    _, _, router = _tenant(api)
    path = f"/v2.0/networks/{public[0]['id']}"
    api.put(f"/v2.0/routers/{router['id']}",
            {"router": {"external_gateway_info": {"network_id": public[0]["id"]}}})
    status, body = api.put(path, {"network": {"router:external": False}})
    assert (status, body["NeutronError"]["type"]) == (409, "ExternalNetworkInUse")
    api.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": None}})
    fip = api.create("floatingip", floating_network_id=public[0]["id"])
    assert api.put(path, {"network": {"router:external": False}})[0] == 409
    api.delete(f"/v2.0/floatingips/{fip['id']}")
    assert api.get(path)[1]["network"]["router:external"] is True
    assert api.put(path, {"network": {"router:external": False}})[0] == 200   # unused now


def test_floating_ip_lifecycle(api, public):
    network, subnet, router = _tenant(api)
    vm = api.create("port", network_id=network["id"])
    status, body = api.post("/v2.0/floatingips", {"floatingip": {
        "floating_network_id": public[0]["id"], "port_id": vm["id"]}})
    assert status == 404 and body["NeutronError"]["type"] == \
        "ExternalGatewayForFloatingIPNotFound"
    api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": public[0]["id"]}}})
    status, body = api.post("/v2.0/floatingips", {"floatingip": {
        "floating_network_id": public[0]["id"], "port_id": vm["id"],
        "floating_ip_address": "203.0.113.50"}})
    assert status == 201, body
    fip = body["floatingip"]
    assert fip["floating_ip_address"] == "203.0.113.50" and fip["status"] == "DOWN"
    assert fip["router_id"] == router["id"]
    assert fip["fixed_ip_address"] == vm["fixed_ips"][0]["ip_address"]
    [held] = _ports(api, device_owner="network:floatingip")
    assert held["device_id"] == fip["id"]
    assert held["fixed_ips"][0]["ip_address"] == "203.0.113.50"
    # the same fixed IP cannot take a second floating IP; the address cannot be reused
    status, body = api.post("/v2.0/floatingips", {"floatingip": {
        "floating_network_id": public[0]["id"], "port_id": vm["id"]}})
    assert status == 409 and body["NeutronError"]["type"] == "FloatingIPPortAlreadyAssociated"
    assert body["NeutronError"]["message"].startswith("Cannot associate floating IP 203.0.113.")
    status, body = api.post("/v2.0/floatingips", {"floatingip": {
        "floating_network_id": public[0]["id"], "floating_ip_address": "203.0.113.50"}})
    assert status == 409 and body["NeutronError"]["type"] == "IpAddressAlreadyAllocated"
    # a router keeps its gateway and interface while a floating IP needs them
    status, body = api.put(f"/v2.0/routers/{router['id']}",
                           {"router": {"external_gateway_info": {}}})
    assert status == 409 and body["NeutronError"]["type"] == \
        "RouterExternalGatewayInUseByFloatingIp"
    status, body = api.put(f"/v2.0/routers/{router['id']}/remove_router_interface",
                           {"subnet_id": subnet["id"]})
    assert status == 409 and body["NeutronError"]["type"] == "RouterInterfaceInUseByFloatingIP"
    # disassociate, reassociate by fixed IP, then delete the VM port: disassociated
    status, body = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
    assert status == 200 and body["floatingip"]["port_id"] is None
    assert body["floatingip"]["router_id"] is None and body["floatingip"]["status"] == "DOWN"
    status, body = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {
        "port_id": vm["id"], "fixed_ip_address": "10.50.0.250"}})
    assert status == 400 and "does not have fixed ip" in body["NeutronError"]["message"]
    status, body = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {
        "port_id": vm["id"], "fixed_ip_address": vm["fixed_ips"][0]["ip_address"]}})
    assert status == 200 and body["floatingip"]["port_id"] == vm["id"]
    # the VM's port keeps the address the floating IP DNATs to
    status, body = api.put(f"/v2.0/ports/{vm['id']}", {"port": {"fixed_ips": [
        {"subnet_id": subnet["id"], "ip_address": "10.50.0.77"}]}})
    assert status == 400 and "associated to a floating ip" in body["NeutronError"]["message"]
    assert api.get(f"/v2.0/floatingips/{fip['id']}")[1]["floatingip"]["port_id"] == vm["id"]
    assert api.delete(f"/v2.0/ports/{vm['id']}")[0] == 204
    assert api.get(f"/v2.0/floatingips/{fip['id']}")[1]["floatingip"]["port_id"] is None
    assert api.delete(f"/v2.0/floatingips/{fip['id']}")[0] == 204
    assert _ports(api, device_owner="network:floatingip") == []
    status, body = api.get(f"/v2.0/floatingips/{fip['id']}")
    assert status == 404 and body["NeutronError"]["type"] == "FloatingIPNotFound"


def test_floating_ip_errors(api, public):
    network, _, router = _tenant(api)
    for body, status_expected, kind in [
            ({}, 400, "HTTPBadRequest"),
            ({"floating_network_id": network["id"]}, 400, "BadRequest"),
            ({"floating_network_id": UNKNOWN_ID}, 404, "NetworkNotFound"),
            ({"floating_network_id": "public"}, 400, "InvalidInput"),
            ({"floating_network_id": public[0]["id"], "port_id": UNKNOWN_ID}, 404,
             "PortNotFound"),
            ({"floating_network_id": public[0]["id"], "floating_ip_address": "10.0.0.300"},
             400, "InvalidInput"),
            ({"floating_network_id": public[0]["id"], "router_id": router["id"]}, 400,
             "HTTPBadRequest")]:
        status, answer = api.post("/v2.0/floatingips", {"floatingip": body})
        assert (status, answer["NeutronError"]["type"]) == (status_expected, kind), body
    assert api.get("/v2.0/floatingips")[1]["floatingips"] == []
    assert _ports(api, device_owner="network:floatingip") == []


def test_a_port_whose_binding_failed_gets_no_fg_port_for_its_floating_ip(api, public):
    """A host no hypervisor is (no agent here) fails the binding: before, each floating
    IP of such a port made an fg- port for it, an external address taken for nothing, so
    that any project could drain the external subnet.  (An fg- port follows its port's
    hypervisor in tests/unit/test_north_south_behaviour.py.)"""
    network, _, router = _tenant(api)
    api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": public[0]["id"]}}})
    vm = api.create("port", network_id=network["id"], **{"binding:host_id": "compute7"})
    assert vm["binding:vif_type"] == "binding_failed"
    api.create("floatingip", floating_network_id=public[0]["id"], port_id=vm["id"])
    assert _ports(api, device_owner="network:floatingip_agent_gateway") == []
