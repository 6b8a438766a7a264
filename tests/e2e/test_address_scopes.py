"""Address scopes end to end: one distributed router joins two networks of a scope and
one outside it, and routes only within the scope, as Neutron's routers keep scopes apart;
taking the pool out of the scope makes the router route between all three."""
from tests.e2e.dataplane import Tenant, pings, silent


def interface(api, router: dict, subnet: dict) -> None:
    status, body = api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                           {"subnet_id": subnet["id"]})
    assert status == 200, body


def test_a_router_routes_within_an_address_scope_only(cloud):
    api = cloud.controller.api
    tenant = Tenant(api, cloud, "scoped")
    try:
        pool = tenant.scoped_pool("10.72.0.0/16")
        router = api.create("router", name="scoped", project_id="scoped")
        vms = {}
        for name, chassis in (("a", 0), ("b", 1)):
            network = api.create("network", name=f"scoped-{name}", project_id="scoped")
            subnet = api.create("subnet", network_id=network["id"], ip_version=4,
                                subnetpool_id=pool["id"], project_id="scoped")
            interface(api, router, subnet)
            vms[name] = tenant.vm(network, chassis, gateway=subnet["gateway_ip"])
        outside, outside_subnet = tenant.network("10.73.0.0/24")
        interface(api, router, outside_subnet)
        vms["c"] = tenant.vm(outside, 2, gateway="10.73.0.1")
        a, b, c = vms["a"], vms["b"], vms["c"]
        assert a.ip.startswith("10.72.") and b.ip.startswith("10.72.")

        assert pings(a, b.ip) and pings(b, a.ip), "within the scope"
        assert pings(c, "10.73.0.1"), "the router still serves the unscoped network"
        assert silent(a, c.ip) and silent(c, b.ip), "routed across address scopes"

        status, _ = api.put(f"/v2.0/subnetpools/{pool['id']}",
                            {"subnetpool": {"address_scope_id": None}})
        assert status == 200
        assert pings(a, c.ip) and pings(c, b.ip), "no scopes left: all routed"
    finally:
        tenant.cleanup()
