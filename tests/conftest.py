import shutil

import pytest

from tests.harness import Controller


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

