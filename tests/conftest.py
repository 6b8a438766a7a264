import shutil
import subprocess

import pytest

from tests.harness import Controller


def pytest_configure(config):
    config.addinivalue_line("markers", "ovs: needs a running Open vSwitch (make ovs)")


@pytest.fixture(scope="module")
def controller():
    """A real ryu-manager process for a test module, with an empty database."""
    ctl = Controller().start()
    yield ctl
    ctl.kill()
    shutil.rmtree(ctl.workdir, ignore_errors=True)


@pytest.fixture
def api(controller):
    return controller.api


@pytest.fixture(scope="session")
def ovs():
    """Open vSwitch must run; the Makefile's `ovs` target starts it."""
    subprocess.run(["ovs-vsctl", "--timeout=5", "show"], check=True, capture_output=True)
