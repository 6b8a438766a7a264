"""Automatic SNAT failover (Neutron's ``allow_automatic_l3agent_failover``), offline
through the core on three hypervisors of tests/unit/fake_cloud.py with n0 and n2 as
gateway nodes: a router whose SNAT host is down for ``agent_down_time`` leaves through
the other gateway node, and through its own again once that has been alive as long; a
node that flaps keeps nothing, a restart keeps the failover, a router whose every
candidate is down stays on the last; with the option off (Neutron's default) a router
stays where it was."""
import pytest

from ryu_app.gateway_failover import GatewayFailover
from ryu_app.outputs import Outputs
from ryu_app.pipeline.simulator import ipv4
from tests.unit import fake_cloud
from tests.unit.fake_cloud import FakeCloud, dpid, north_south
from topology.graph import agent_id

DOWN_TIME = 75
INTERNET = "198.51.100.10"
FAILOVER = {"allow_automatic_l3agent_failover": True, "agent_down_time": DOWN_TIME}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Routed:
    """The cloud with a VM on n1 behind a router with a gateway, and the engine's clock."""

    def __init__(self, tmp_path, monkeypatch, **settings):
        monkeypatch.setitem(fake_cloud.SNAT_MODES, "n0", "dvr_snat")   # two gateway nodes
        self.cloud = cloud = FakeCloud(tmp_path, **settings)
        self.clock = cloud.engine.north_south.clock = Clock()
        network, subnet = cloud.network()
        self.router = cloud.router(subnet)
        vm = cloud.vm(network, "n1")
        north_south(cloud, self.router, network)
        gateway = cloud.planner.dvr_interfaces(self.router["id"])[0]
        self.sent = (vm, ipv4(vm["mac_address"], gateway["mac_address"],
                              vm["fixed_ips"][0]["ip_address"], INTERNET))
        self.first = self.snat_host()
        self.second = ({"n0", "n2"} - {self.first}).pop()

    def snat_host(self) -> str | None:
        return self.cloud.planner.nat.snat_chassis(self.router["id"])

    def leaving_through(self) -> list[str]:
        """The hypervisors whose uplink the VM's packet to the internet leaves by."""
        return [out.chassis for out in self.cloud.send(*self.sent).of_kind("physical")]

    def ticks(self, seconds: float) -> Outputs:
        self.clock.now += seconds
        return self.cloud.tick()

    def down_for(self, chassis: str, seconds: float) -> Outputs:
        self.cloud.switch_off(chassis)
        self.ticks(0)            # down from now on
        return self.ticks(seconds)


@pytest.fixture
def routed(tmp_path, monkeypatch) -> Routed:
    return Routed(tmp_path, monkeypatch, **FAILOVER)


def test_snat_leaves_a_gateway_node_down_too_long_and_comes_back_after_as_long(routed):
    assert routed.leaving_through() == [routed.first]
    routed.down_for(routed.first, DOWN_TIME - 1)
    assert routed.leaving_through() == [], "SNAT moved before agent_down_time"
    moved = routed.ticks(1)
    [out] = routed.cloud.send(*routed.sent).of_kind("physical")
    qg = routed.cloud.model.gateway_port_of(routed.router["id"])
    assert (out.chassis, out.packet["ipv4_src"]) == (routed.second,
                                                     qg["fixed_ips"][0]["ip_address"])
    # the new host announces the gateway address to the external network
    assert list(moved.announcements) == [dpid(routed.second, "int")]

    routed.cloud.reconnect(routed.first)
    routed.ticks(0)              # alive from now on
    routed.ticks(DOWN_TIME - 1)
    assert routed.snat_host() == routed.second, "back before it was alive long enough"
    routed.ticks(1)
    assert routed.leaving_through() == [routed.first]
    # the other node answers no more for the router's gateway address, nor SNATs (its
    # own VMs' pings to that address it still answers, and it sends what leaves for that
    # address to its qg- MAC on the first, as every hypervisor does)
    held = routed.cloud.held(routed.second, "int").get(("router", routed.router["id"]), {})
    assert {flow.builder for flow in held.values()} <= {"br_int.gateway_echo_flows",
                                                        "nat.on_link_flow"}


def test_a_node_that_flaps_gets_its_routers_back_only_once_it_stays(routed):
    routed.down_for(routed.first, DOWN_TIME)
    for _ in range(3):   # back for a tick, then down again
        routed.cloud.reconnect(routed.first)
        routed.ticks(2)
        routed.cloud.switch_off(routed.first)
        routed.ticks(DOWN_TIME)
        assert routed.snat_host() == routed.second
        assert routed.leaving_through() == [routed.second]


def test_a_router_whose_every_gateway_node_is_down_stays_on_the_last(routed):
    routed.down_for(routed.first, DOWN_TIME)
    routed.down_for(routed.second, DOWN_TIME)
    assert routed.cloud.planner.nat.failover.passed_over == {"n0", "n2"}
    assert routed.snat_host() == routed.second


def test_a_node_down_that_ran_no_router_moves_nothing(routed):
    moved = routed.down_for(routed.second, DOWN_TIME)
    assert routed.cloud.planner.nat.failover.passed_over == {routed.second}
    assert not moved.flush_due and not moved.recomputed
    assert routed.snat_host() == routed.first


def test_a_restarted_controller_keeps_the_failover_and_a_retirement_ends_it(routed):
    routed.down_for(routed.first, DOWN_TIME)
    routed.cloud.restart(chassis=tuple(c for c in fake_cloud.CHASSIS if c != routed.first))
    routed.cloud.engine.north_south.clock = routed.clock
    assert routed.snat_host() == routed.second
    assert routed.leaving_through() == [routed.second]
    routed.cloud.model.retire_agent(agent_id(routed.first), routed.first)
    routed.cloud.written()
    routed.ticks(2)
    assert not routed.cloud.model.store.load(["passed_over_gateway"])["passed_over_gateway"]


def test_without_failover_a_down_gateway_node_keeps_its_routers(tmp_path, monkeypatch):
    routed = Routed(tmp_path, monkeypatch)
    routed.down_for(routed.first, 10 * DOWN_TIME)
    assert routed.snat_host() == routed.first
    assert routed.leaving_through() == []


@pytest.mark.parametrize("seen, passed_over", [
    ([(0, False), (74, False)], set()),
    ([(0, False), (75, False)], {"g"}),
    ([(0, False), (50, True), (100, False), (174, False)], set()),   # up in between
    ([(0, False), (75, False), (76, True), (150, True)], {"g"}),     # not up long enough
    ([(0, False), (75, False), (76, True), (151, True)], set()),
    ([(0, False), (75, False), (76, True), (100, False), (300, True)], {"g"}),
])
def test_a_gateway_is_passed_over_after_down_time_down_and_back_after_as_long_up(
        seen, passed_over):
    failover = GatewayFailover(75)
    for now, alive in seen:
        failover.take(failover.observe(now, {"g": alive}))
    assert failover.passed_over == passed_over


def test_a_gateway_no_longer_named_is_forgotten_and_none_is_passed_over_when_off():
    failover = GatewayFailover(75, passed_over=["g"])
    assert failover.passed_over == {"g"}
    assert failover.observe(80, {}) == set()
    off = GatewayFailover(None, passed_over=["g"])
    assert off.passed_over == set() and off.observe(1e6, {"g": False}) == set()


def test_snat_follows_its_placement_when_every_gateway_node_was_down(routed):
    """Both nodes down: SNAT stays on the one down last.  When they come back, placement
    changes (the ranking's first again) while who is passed over does not yet: the
    switches must follow at once, or the node left doing SNAT could die unnoticed."""
    routed.down_for(routed.first, DOWN_TIME + 25)
    routed.down_for(routed.second, DOWN_TIME + 25)
    for chassis in (routed.first, routed.second):
        routed.cloud.reconnect(chassis)
        routed.ticks(0)
    assert routed.leaving_through() == [routed.snat_host()]
    routed.ticks(DOWN_TIME + 25)
    assert routed.leaving_through() == [routed.snat_host()] == [routed.first]
    routed.down_for(routed.second, 2 * DOWN_TIME)   # the other one dies: nothing moves
    assert routed.leaving_through() == [routed.first]


def test_of_two_gateway_nodes_down_the_one_back_keeps_the_snat(routed):
    """Both down, SNAT on the one down last; that one comes back (on probation, still
    passed over): SNAT stays there rather than go to the other, still dead."""
    routed.down_for(routed.second, DOWN_TIME + 25)
    routed.down_for(routed.first, DOWN_TIME + 25)
    routed.cloud.reconnect(routed.first)
    routed.ticks(1)
    assert routed.leaving_through() == [routed.first]
