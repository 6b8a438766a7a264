"""A network node that dies is retired with ``DELETE /v2.0/agents/{id}`` (``openstack
network agent delete``), end to end: while it is merely down its routers' VMs reach
nothing outside (their SNAT ran there); once it is retired, SNAT moves to the other
network node and the VMs reach the internet through it, and the other hypervisors drop
their tunnels to it."""
import pytest

from tests.e2e.dataplane import Tenant, pings, silent, tunnel_ports, wait_until
from tests.emulation import (agents, emulation, leaving_through, onboarded_cloud,
                             public_network, serving)
from topology.naming import tunnel_port_name

INTERNET = emulation.INTERNET_HOST
GATEWAYS = (1, 2)


@pytest.fixture(scope="module")
def fabric():
    """Three hypervisors r0-r2 with an external network; r1 and r2 may host SNAT."""
    yield from serving(onboarded_cloud(3, "r", 51, external=True, gateways=GATEWAYS))


def test_retiring_a_dead_snat_host_moves_snat_and_the_others_forget_it(fabric):
    api = fabric.controller.api
    public, _ = public_network(api)
    tenant = Tenant(api, fabric, "retiring")
    try:
        network, _ = tenant.routed_out("10.51.0.0/24", public)
        vm = tenant.vm(network, 0)   # r0 reaches its SNAT host over a tunnel
        assert pings(vm, INTERNET, attempts=10)
        [snat_host] = leaving_through(fabric, vm)
        dead = next(hv for hv in fabric.hypervisors if hv.name == snat_host)
        survivor = next(hv for hv in fabric.hypervisors
                        if hv.name != snat_host and hv is not fabric.hypervisors[0])

        ctl = fabric.controller
        path = f"/v2.0/agents/{agents(ctl)[snat_host]['id']}"
        dead.stop_daemon("ovsdb-server")   # its switch goes on with the flows it has
        wait_until(lambda: not agents(ctl)[snat_host]["configurations"]["ovsdb_connected"],
                   timeout=20, what=f"{snat_host}'s OVSDB session closed")
        status, body = api.delete(path)
        assert status == 409 and body["NeutronError"]["type"] == "AgentInUse", body
        dead.stop_daemon("ovs-vswitchd")   # switched off for good
        wait_until(lambda: not agents(ctl)[snat_host]["configurations"]["openflow_connected"],
                   timeout=20, what=f"{snat_host}'s bridges disconnected")
        assert silent(vm, INTERNET), "SNAT answered from a hypervisor that is off"

        assert api.delete(path)[0] == 204
        assert snat_host not in agents(ctl)
        wait_until(lambda: pings(vm, INTERNET, attempts=1), timeout=20,
                   what=f"the internet through {survivor.name}")
        assert leaving_through(fabric, vm) == [survivor.name]
        compute = fabric.hypervisors[0]
        wait_until(lambda: tunnel_port_name("vxlan", dead.tunnel_ip) not in tunnel_ports(
            compute), what=f"{compute.name}'s tunnel to {snat_host} gone")
        assert tunnel_port_name("vxlan", survivor.tunnel_ip) in tunnel_ports(compute)
    finally:
        tenant.cleanup()
