import shutil
import sys

import pytest

from tests.harness import ROOT, Controller
from tests.e2e.dataplane import Tenant

sys.path.insert(0, str(ROOT / "mininet"))
import cloud as emulation  # noqa: E402  (mininet/ is a directory of modules, not a package)


@pytest.fixture(scope="module")
def cloud(ovs):
    """Three emulated chassis (int, tun, physnet1 bridges, VXLAN and GRE mesh) and a
    controller that knows them."""
    fabric = emulation.Cloud(3, of_port=0, prefix="e", net="172.29")
    ctl = Controller(chassis=fabric.config_lines())
    fabric.of_port = ctl.of_port
    ctl.start()
    fabric.build()
    fabric.controller = ctl
    ctl.wait_for(lambda: all(agent["alive"] for agent in ctl.api.get("/v2.0/agents")[1]
                             ["agents"]), timeout=20)
    yield fabric
    fabric.teardown()
    ctl.kill()
    shutil.rmtree(ctl.workdir, ignore_errors=True)


@pytest.fixture
def tenants(cloud):
    """Make Tenant(project) objects; their VMs are destroyed after the test."""
    made = []

    def make(project: str) -> Tenant:
        made.append(Tenant(cloud.controller.api, cloud, project))
        return made[-1]
    yield make
    for tenant in made:
        tenant.cleanup()
