import pytest

from tests.e2e.dataplane import Tenant


@pytest.fixture
def tenant(fabric):
    """One project's networks and VMs on the module's ``fabric``; VMs destroyed after."""
    made = Tenant(fabric.controller.api, fabric, "hypervisors")
    yield made
    made.cleanup()
