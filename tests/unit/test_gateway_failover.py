"""Automatic SNAT failover (Neutron's ``allow_automatic_l3agent_failover``), offline
through the core on three hypervisors of tests/unit/fake_cloud.py with n0 and n2 as
gateway nodes: a router whose SNAT host is down for ``agent_down_time`` leaves through
the other gateway node, and through its own again once it is back; with the option off
(Neutron's default) it stays where it was."""
import pytest

from ryu_app.gateway_failover import GatewayFailover
from ryu_app.pipeline.simulator import ipv4
from tests.unit import fake_cloud
from tests.unit.fake_cloud import FakeCloud, north_south

DOWN_TIME = 75
INTERNET = "198.51.100.10"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def routed_cloud(tmp_path, monkeypatch, **settings) -> tuple[FakeCloud, dict, dict, Clock]:
    """The cloud, a VM on n1 behind a router with a gateway, the VM's packet to the
    internet, and the engine's clock."""
    monkeypatch.setitem(fake_cloud.SNAT_MODES, "n0", "dvr_snat")   # two gateway nodes
    cloud = FakeCloud(tmp_path, **settings)
    clock = cloud.engine.north_south.clock = Clock()
    network, subnet = cloud.network()
    router = cloud.router(subnet)
    vm = cloud.vm(network, "n1")
    north_south(cloud, router, network)
    gateway = cloud.planner.dvr_interfaces(router["id"])[0]
    outward = ipv4(vm["mac_address"], gateway["mac_address"],
                   vm["fixed_ips"][0]["ip_address"], INTERNET)
    return cloud, router, (vm, outward), clock


def leaving_through(cloud: FakeCloud, sent: tuple[dict, dict]) -> list[str]:
    """The hypervisors whose uplink the VM's packet to the internet leaves by."""
    return [out.chassis for out in cloud.send(*sent).of_kind("physical")]


def ticks(cloud: FakeCloud, clock: Clock, seconds: float) -> None:
    clock.now += seconds
    cloud.take(cloud.core.tick())


def test_snat_leaves_a_gateway_node_down_too_long_and_comes_back_with_it(
        tmp_path, monkeypatch):
    cloud, router, sent, clock = routed_cloud(
        tmp_path, monkeypatch, allow_automatic_l3agent_failover=True,
        agent_down_time=DOWN_TIME)
    snat_host = cloud.planner.nat.snat_chassis(router["id"])
    other = ({"n0", "n2"} - {snat_host}).pop()
    assert leaving_through(cloud, sent) == [snat_host]
    cloud.switch_off(snat_host)
    ticks(cloud, clock, 0)            # down from now on
    ticks(cloud, clock, DOWN_TIME - 1)
    assert leaving_through(cloud, sent) == [], "SNAT moved before agent_down_time"
    ticks(cloud, clock, 1)
    cloud.upstream_answers(other)     # the new SNAT host asked for the upstream gateway
    [out] = cloud.send(*sent).of_kind("physical")
    qg = cloud.model.gateway_port_of(router["id"])
    assert (out.chassis, out.packet["ipv4_src"]) == (other, qg["fixed_ips"][0]["ip_address"])

    cloud.reconnect(snat_host)
    ticks(cloud, clock, 2)
    assert cloud.planner.nat.snat_chassis(router["id"]) == snat_host
    assert leaving_through(cloud, sent) == [snat_host]
    # the other node answers no more for the router's gateway address, nor SNATs
    assert not cloud.held(other, "int").get(("router", router["id"]))

def test_without_failover_a_down_gateway_node_keeps_its_routers(tmp_path, monkeypatch):
    cloud, router, sent, clock = routed_cloud(tmp_path, monkeypatch)
    snat_host = cloud.planner.nat.snat_chassis(router["id"])
    cloud.switch_off(snat_host)
    ticks(cloud, clock, 0)
    ticks(cloud, clock, 10 * DOWN_TIME)
    assert cloud.planner.nat.snat_chassis(router["id"]) == snat_host
    assert leaving_through(cloud, sent) == []


def test_with_every_gateway_node_down_a_router_stays_where_it_is(tmp_path, monkeypatch):
    cloud, router, sent, clock = routed_cloud(
        tmp_path, monkeypatch, allow_automatic_l3agent_failover=True,
        agent_down_time=DOWN_TIME)
    snat_host = cloud.planner.nat.snat_chassis(router["id"])
    for chassis in ("n0", "n2"):
        cloud.switch_off(chassis)
    ticks(cloud, clock, 0)
    ticks(cloud, clock, DOWN_TIME)
    assert cloud.planner.nat.failover.passed_over == {"n0", "n2"}
    assert cloud.planner.nat.snat_chassis(router["id"]) == snat_host


@pytest.mark.parametrize("seen, passed_over", [
    ([(0, False), (74, False)], set()),
    ([(0, False), (75, False)], {"g"}),
    ([(0, False), (50, True), (100, False), (174, False)], set()),   # up in between
    ([(0, False), (75, False), (76, True)], set()),
])
def test_a_gateway_is_passed_over_after_down_time_seconds_down_in_a_row(seen, passed_over):
    failover = GatewayFailover(75)
    for now, alive in seen:
        failover.observe(now, {"g": alive})
    assert failover.passed_over == passed_over


def test_a_gateway_no_longer_named_is_forgotten_and_none_is_passed_over_when_off():
    failover = GatewayFailover(75)
    failover.observe(0, {"g": False})
    assert failover.observe(75, {"g": False}) is True
    assert failover.observe(80, {}) is True and failover.passed_over == set()
    off = GatewayFailover(None)
    assert off.observe(0, {"g": False}) is False and off.observe(1e6, {"g": False}) is False
    assert off.passed_over == set()
