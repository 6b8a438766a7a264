"""A lone ovsdb-server for tests: a hypervisor's database without its switch."""
import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

from ryu_app.ovsdb import provisioning
from ryu_app.ovsdb.protocol import (MessageStream, Replica, decode, monitor_request,
                                    transact_request, transaction_error)

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


class Database:
    """An ovsdb-server of its own, reached over its unix socket."""

    def __init__(self, directory: Path):
        self.socket = directory / "db.sock"
        subprocess.run(["ovsdb-tool", "create", str(directory / "conf.db"), SCHEMA], check=True)
        subprocess.run(["ovsdb-server", str(directory / "conf.db"),
                        f"--remote=punix:{self.socket}",
                        "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
                        f"--pidfile={directory}/db.pid",
                        f"--unixctl={directory}/db.ctl", "--detach", "--no-chdir"], check=True)
        self.pidfile = directory / "db.pid"
        self.vsctl("init")

    def vsctl(self, *args: str) -> str:
        return subprocess.run(["ovs-vsctl", "--no-wait", f"--db=unix:{self.socket}", *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    def options(self, interface: str) -> dict:
        listing = json.loads(self.vsctl("--format=json", "--columns=options", "list",
                                        "interface", interface))
        return decode(listing["data"][0][0])

    def call(self, request: dict) -> dict:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket))
            sock.sendall(json.dumps(request).encode())
            stream = MessageStream()
            while True:
                for message in stream.feed(sock.recv(65536)):
                    if message.get("id") == request["id"]:
                        return message

    def replica(self) -> Replica:
        replica = Replica()
        replica.apply(self.call(monitor_request(1))["result"])
        return replica

    def apply(self, target: provisioning.Target) -> list:
        """Plan from a fresh replica and commit each transaction; the keys planned."""
        transactions = provisioning.plan(self.replica(), target)
        for _, operations in transactions:
            assert transaction_error(self.call(transact_request(2, operations))["result"]) \
                is None, operations
        return [key for key, _ in transactions]

    def stop(self) -> None:
        subprocess.run(["kill", self.pidfile.read_text().strip()], check=False)


@contextlib.contextmanager
def registered(ovsdb_port: int, hosts: dict[str, list[str]]) -> Iterator[dict[str, Database]]:
    """One lone database per host, registered with the controller listening for OVSDB on
    ``ovsdb_port`` (its system-id, a tunnel IP, and the host's extra ``external_ids``
    settings); stopped and removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="neutron-ryu-hosts-"))
    databases = {}
    try:
        for number, (host, settings) in enumerate(hosts.items()):
            (directory / host).mkdir()
            database = databases[host] = Database(directory / host)
            database.vsctl("set", "open", ".", f"external_ids:system-id={host}",
                           f"external_ids:neutron-tunnel-ip=10.9.8.{number + 1}",
                           *(f"external_ids:{setting}" for setting in settings))
            database.vsctl("set-manager", f"tcp:127.0.0.1:{ovsdb_port}")
        yield databases
    finally:
        for database in databases.values():
            database.stop()
        shutil.rmtree(directory, ignore_errors=True)
