"""TLS on both control channels: a hypervisor with a certificate the cloud's CA signed
joins over ssl: (OVSDB and OpenFlow); one without such a certificate gets nowhere."""
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.e2e.dataplane import pings, wait_until
from tests.emulation import agents, emulation, serving, started_cloud


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def authority(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}-key.pem", directory / f"{name}-cert.pem"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            f"/CN={name}", "-keyout", str(key), "-out", str(cert))
    return key, cert


def signed(directory: Path, name: str, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    key, request, cert = (directory / f"{name}-{kind}.pem" for kind in ("key", "req", "cert"))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", str(key), "-out", str(request))
    openssl("x509", "-req", "-in", str(request), "-CA", str(ca[1]), "-CAkey", str(ca[0]),
            "-CAcreateserial", "-days", "2", "-out", str(cert))
    return key, cert


@pytest.fixture(scope="module")
def pki():
    directory = Path(tempfile.mkdtemp(prefix="neutron-ryu-pki-"))
    ca = authority(directory, "cloud-ca")
    rogue_ca = authority(directory, "rogue-ca")
    return {"dir": directory, "ca": ca[1],
            "controller": signed(directory, "controller", ca),
            "hypervisor": signed(directory, "hv", ca),
            "rogue": signed(directory, "rogue", rogue_ca)}


@pytest.fixture(scope="module")
def fabric(pki):
    key, cert = pki["controller"]
    yield from serving(started_cloud(2, "s", 35, extra={"DEFAULT": {
        "ctl_privkey": key, "ctl_cert": cert, "ca_certs": pki["ca"]}}))


def test_a_hypervisor_with_a_signed_certificate_joins_over_tls(fabric, pki, tenant):
    good = fabric.hypervisors[0]
    key, cert = pki["hypervisor"]
    good.onboard(fabric.controller_ip, fabric.controller.ovsdb_port,
                 emulation.Tls(str(key), str(cert), str(pki["ca"])))
    ctl = fabric.controller
    wait_until(lambda: agents(ctl).get("s0", {}).get("alive"), timeout=30, what="s0 alive")
    target = f"ssl:{fabric.controller_ip}:{ctl.of_port}"
    for bridge in ("br-int", "br-tun", "br-eth1"):
        assert good.vsctl("get-controller", bridge).strip() == target
        wait_until(lambda: good.vsctl("get", "controller", bridge,  # noqa: B023
                                      "is_connected").strip() == "true", what="connected")
    network, _ = tenant.network("10.50.0.0/24")
    a, b = tenant.vm(network, 0), tenant.vm(network, 0)
    assert pings(a, b.ip)


def test_a_hypervisor_without_one_gets_nowhere(fabric, pki):
    rogue = fabric.hypervisors[1]
    key, cert = pki["rogue"]
    ctl = fabric.controller
    rogue.onboard(fabric.controller_ip, ctl.ovsdb_port,
                  emulation.Tls(str(key), str(cert), str(pki["ca"])))
    wait_until(lambda: f"OVSDB connection from {rogue.mgmt_ip} refused" in ctl.log(),
               timeout=20, what="the rogue's OVSDB session refused")
    # its bridges, pointed at the controller by hand, are refused too
    rogue.vsctl("add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev",
                "--", "set-controller", "br-int", f"ssl:{fabric.controller_ip}:{ctl.of_port}")
    wait_until(lambda: f"OpenFlow connection from {rogue.mgmt_ip} refused" in ctl.log(),
               timeout=20, what="the rogue's OpenFlow connection refused")
    # and so is a plain TCP session on the TLS port
    rogue.vsctl("set-manager", f"tcp:{fabric.controller_ip}:{ctl.ovsdb_port}")
    wait_until(lambda: ctl.log().count(f"OVSDB connection from {rogue.mgmt_ip} refused") > 1,
               timeout=20, what="the plain session refused")
    assert "s1" not in agents(ctl)
    assert rogue.vsctl("get", "controller", "br-int", "is_connected").strip() == "false"
