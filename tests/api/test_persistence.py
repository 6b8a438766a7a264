"""Acknowledged writes survive kill -9: same ids, MACs, addresses, segments and security
groups after restart."""
import shutil

from tests.harness import Controller

KINDS = ("networks", "subnets", "ports", "routers", "security-groups", "security-group-rules")


def test_state_survives_kill_9_and_allocations_continue():
    ctl = Controller().start()
    try:
        api = ctl.api
        vxlan = api.create("network", name="durable")
        vlan = api.create("network", **{"provider:network_type": "vlan",
                                        "provider:physical_network": "physnet1"})
        subnet = api.create("subnet", network_id=vxlan["id"], cidr="10.70.0.0/24",
                            ip_version=4)
        ports = [api.create("port", network_id=vxlan["id"]) for _ in range(3)]
        router = api.create("router")
        api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                {"subnet_id": subnet["id"]})
        renamed = api.put(f"/v2.0/ports/{ports[0]['id']}", {"port": {"name": "last-write"}})
        assert renamed[0] == 200
        deleted = ports.pop()
        assert api.delete(f"/v2.0/ports/{deleted['id']}")[0] == 204
        status, body = api.post("/v2.0/security-groups", {"security_group": {"name": "web"}})
        assert status == 201
        status, _ = api.post("/v2.0/security-group-rules", {"security_group_rule": {
            "security_group_id": body["security_group"]["id"], "direction": "ingress",
            "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}})
        assert status == 201
        before = {kind: api.get(f"/v2.0/{kind}")[1][kind.replace("-", "_")] for kind in KINDS}

        ctl.kill()  # SIGKILL: no chance to flush anything
        ctl.start()

        after = {kind: api.get(f"/v2.0/{kind}")[1][kind.replace("-", "_")] for kind in KINDS}
        assert after == before
        assert api.get(f"/v2.0/ports/{ports[0]['id']}")[1]["port"]["name"] == "last-write"
        assert api.get(f"/v2.0/ports/{deleted['id']}")[0] == 404
        # Allocators resume from the stored state: no address, MAC or VNI is reused.
        new_port = api.create("port", network_id=vxlan["id"])
        held = {p["fixed_ips"][0]["ip_address"] for p in after["ports"]}
        assert new_port["fixed_ips"][0]["ip_address"] not in held
        assert new_port["mac_address"] not in {p["mac_address"] for p in after["ports"]}
        new_net = api.create("network")
        assert new_net["provider:segmentation_id"] != vxlan["provider:segmentation_id"]
        status, body = api.post("/v2.0/networks", {"network": {
            "provider:network_type": "vlan", "provider:physical_network": "physnet1",
            "provider:segmentation_id": vlan["provider:segmentation_id"]}})
        assert status == 409
    finally:
        ctl.kill()
        shutil.rmtree(ctl.workdir, ignore_errors=True)
