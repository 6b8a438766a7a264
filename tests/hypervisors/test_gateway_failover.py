"""Automatic SNAT failover (``allow_automatic_l3agent_failover``), end to end on real Open
vSwitch: a network node switched off for ``agent_down_time`` seconds passes its router's
SNAT to the other network node, with no operator's call, and the VM reaches the internet
through it; once the node has been back for as long, SNAT returns to it, and leaves
by one node only.  ``GET /routers/{id}/l3-agents`` and ``/agents/{id}/l3-routers`` (the
client's ``network agent list --router`` and ``router list --agent``) follow the move."""
import pytest

from tests.e2e.dataplane import Tenant, pings, wait_until
from tests.emulation import (agents, emulation, leaving_through, onboarded_cloud,
                             public_network, serving)
from tests.harness import Controller

DOWN_TIME = 3   # seconds


def snat_agents(ctl: Controller, router: dict) -> list[str]:
    """The hosts of the agents the API says run the router's SNAT."""
    status, body = ctl.api.get(f"/v2.0/routers/{router['id']}/l3-agents")
    assert status == 200, body
    return [agent["host"] for agent in body["agents"]]


def hosted_routers(ctl: Controller, host: str) -> list[str]:
    status, body = ctl.api.get(f"/v2.0/agents/{agents(ctl)[host]['id']}/l3-routers")
    assert status == 200, body
    return [router["id"] for router in body["routers"]]


@pytest.fixture(scope="module")
def fabric():
    """Three hypervisors h0-h2 with an external network; h1 and h2 may host SNAT."""
    yield from serving(onboarded_cloud(
        3, "h", 53, external=True, gateways=(1, 2),
        extra={"neutron": {"allow_automatic_l3agent_failover": "true",
                           "agent_down_time": DOWN_TIME}}))


def test_snat_leaves_a_switched_off_network_node_and_comes_back_with_it(fabric):
    api, ctl = fabric.controller.api, fabric.controller
    public, _ = public_network(api)
    tenant = Tenant(api, fabric, "failover")
    try:
        network, router = tenant.routed_out("10.53.0.0/24", public)
        vm = tenant.vm(network, 0)   # h0 reaches its SNAT host over a tunnel
        assert pings(vm, emulation.INTERNET_HOST, attempts=10)
        [snat_host] = leaving_through(fabric, vm)
        node = next(hv for hv in fabric.hypervisors if hv.name == snat_host)
        survivor = ({"h1", "h2"} - {snat_host}).pop()
        assert snat_agents(ctl, router) == [snat_host]
        listed = ctl.openstack("network", "agent", "list", "--router", router["id"])
        assert [agent["Host"] for agent in listed] == [snat_host]
        assert hosted_routers(ctl, snat_host) == [router["id"]]
        assert hosted_routers(ctl, survivor) == []

        for daemon in ("ovs-vswitchd", "ovsdb-server"):   # switched off
            node.stop_daemon(daemon)
        wait_until(lambda: not agents(ctl)[snat_host]["alive"], timeout=20,
                   what=f"{snat_host} not alive")
        wait_until(lambda: pings(vm, emulation.INTERNET_HOST, attempts=1),
                   timeout=DOWN_TIME + 20, what=f"the internet through {survivor}")
        assert leaving_through(fabric, vm) == [survivor]
        assert snat_agents(ctl, router) == [survivor]
        assert hosted_routers(ctl, survivor) == [router["id"]]
        assert snat_host in agents(ctl), "failover is no retirement"

        node.start_ovsdb()
        node.start_vswitchd()
        wait_until(lambda: agents(ctl)[snat_host]["alive"], timeout=30,
                   what=f"{snat_host} alive again")
        wait_until(lambda: leaving_through(fabric, vm) == [snat_host], timeout=20,
                   what=f"SNAT back on {snat_host}, and on it alone")
        assert pings(vm, emulation.INTERNET_HOST, attempts=3)
        assert snat_agents(ctl, router) == [snat_host]
        hosting = ctl.openstack("router", "list", "--agent", agents(ctl)[snat_host]["id"])
        assert [entry["ID"] for entry in hosting] == [router["id"]]
    finally:
        tenant.cleanup()
