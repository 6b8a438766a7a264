import pytest

from tests.e2e.dataplane import Tenant
from tests.emulation import onboarded_cloud, serving


@pytest.fixture(scope="module")
def cloud():
    """Three hypervisors e0, e1, e2 with a physical network (physnet1) between them."""
    yield from serving(onboarded_cloud(3, "e", 29))


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
