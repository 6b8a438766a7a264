"""The emulated external network on its own, without a controller: hypervisor br-ex
(standalone, NORMAL) -> external switch -> upstream router -> internet host."""
import pytest

from tests.e2e.dataplane import fetches, pings
from tests.emulation import emulation

TEST_ADDRESS = "203.0.113.50"


@pytest.fixture(scope="module")
def cloud():
    fabric = emulation.Cloud(2, prefix="w", subnet=41, external=True).build()
    try:
        yield fabric
    finally:
        fabric.teardown()


@pytest.fixture
def on_br_ex(cloud):
    """hv w1's br-ex internal port holding a test address, with a route to the internet."""
    hypervisor = cloud.hypervisors[1]
    prefix_len = cloud.external_cidr.split("/")[1]
    hypervisor.run("ip", "link", "set", "br-ex", "up")
    hypervisor.run("ip", "addr", "add", f"{TEST_ADDRESS}/{prefix_len}", "dev", "br-ex")
    hypervisor.run("ip", "route", "add", emulation.INTERNET_CIDR, "via", cloud.external_gateway)
    try:
        yield hypervisor
    finally:
        hypervisor.run("ip", "addr", "flush", "dev", "br-ex", check=False)
        hypervisor.run("ip", "link", "set", "br-ex", "down", check=False)


def test_the_internet_host_reaches_the_upstream_router(cloud):
    upstream = cloud.upstream
    assert upstream.router.ip == cloud.external_gateway == "203.0.113.1"
    assert upstream.internet.ip == "198.51.100.10"
    assert pings(upstream.internet, cloud.external_gateway)
    assert fetches(upstream.router, upstream.internet), "TCP router <- internet host"


def test_a_hypervisor_br_ex_reaches_the_internet_host_through_the_router(cloud, on_br_ex):
    hypervisor = on_br_ex
    # No controller: a standalone bridge (default fail_mode) switching with NORMAL.
    assert hypervisor.vsctl("get-fail-mode", "br-ex").strip() == ""
    assert hypervisor.vsctl("get-controller", "br-ex").strip() == ""
    assert "actions=NORMAL" in hypervisor.ofctl("dump-flows", "br-ex")
    assert "eth3" in hypervisor.vsctl("list-ports", "br-ex").split()
    out = hypervisor.run("ping", "-c2", "-i0.2", "-W1", emulation.INTERNET_HOST, check=False)
    assert " 0% packet loss" in out, out
    # the router saw the hypervisor on its external side (not some other path)
    assert TEST_ADDRESS in cloud.upstream.router.host.cmd("ip neigh show dev eth0")
