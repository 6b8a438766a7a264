"""With no listen settings, the controller serves on loopback only: the REST API on
127.0.0.1:9696, OpenFlow on :6653, OVSDB on :6640."""
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.harness import ROOT, RYU_MANAGER, Api


def _listening(port: int) -> list[str]:
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                         text=True).stdout
    return [line.split()[3] for line in out.splitlines()]


def test_embedded_defaults_listen_on_loopback_only():
    workdir = Path(tempfile.mkdtemp(prefix="neutron-ryu-defaults-"))
    config = workdir / "only-db.conf"
    config.write_text(f"[neutron]\ndb_path = {workdir / 'neutron.sqlite'}\n")
    process = subprocess.Popen([RYU_MANAGER, "--config-file", str(config), "ryu_app.app"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 20
        while time.time() < deadline and not all(map(_listening, (9696, 6653, 6640))):
            time.sleep(0.1)
        assert _listening(9696) == ["127.0.0.1:9696"]
        assert _listening(6653) == ["127.0.0.1:6653"]
        assert _listening(6640) == ["127.0.0.1:6640"]
        assert _listening(6633) == []   # Ryu's old OpenFlow port stays closed
        status, body = Api(9696).get("/v2.0/networks")
        assert (status, body) == (200, {"networks": []})
        with socket.socket() as probe:  # not reachable on any other local address
            probe.settimeout(1)
            other = socket.gethostbyname(socket.gethostname())
            if not other.startswith("127."):
                assert probe.connect_ex((other, 9696)) != 0
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
