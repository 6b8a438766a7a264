"""Given a model and a topology, each bridge gets exactly these flows (pure, no switch)."""
import pytest

from rest.attributes import RESOURCES, parse_body
from ryu_app.binding import port_of_device
from ryu_app.engine import Engine, Outputs
from ryu_app.model.dvr_macs import DvrMacs
from ryu_app.model.hypervisors import Hypervisors
from ryu_app.model.local_vlans import LocalVlans
from ryu_app.model.segments import SegmentPools
from ryu_app.model.store import Store
from ryu_app.model.tenant import NetworkModel
from ryu_app.pipeline import br_int, br_phys, br_tun
from ryu_app.pipeline import tables as T
from ryu_app.pipeline.planner import (BASE, Planner, device_group, network_group,
                                      remote_port_group)
from ryu_app.reconciler import BridgeFlows
from topology.chassis import ChassisSpec
from topology.graph import BridgeView, Topology
from topology.naming import classify

CHASSIS = ("n0", "n1", "n2")
IPS = {"n0": "172.31.0.10", "n1": "172.31.0.11", "n2": "172.31.0.12"}
PATCH, INT_PHY, TUNNEL_BASE = 1, 2, 10   # ofports; tunnels: 10 + index of the remote


def dpid(chassis: str, role: str) -> int:
    return (CHASSIS.index(chassis) + 1) * 16 + ("int", "tun", "phys").index(role)


def tunnel_ofport(remote: str, kind: str = "vxlan") -> int:
    return TUNNEL_BASE + CHASSIS.index(remote) + (20 if kind == "gre" else 0)


class Cloud:
    """Three chassis as the engine sees them, driven by plain events as the app drives it;
    what the engine asks to send is recorded."""

    def __init__(self, tmp_path):
        self.specs = {c: ChassisSpec(c, IPS[c], {"physnet1": "br-eth1"}) for c in CHASSIS}
        self.topology = Topology(self.specs.values())
        self.store = store = Store(str(tmp_path / "db.sqlite"))
        segments = SegmentPools(tunnel_ranges={"vxlan": [(1001, 2000)], "gre": [(1, 100)]},
                                vlan_ranges={"physnet1": [(100, 199)]}, flat_networks=("*",))
        self.model = NetworkModel(store, segments, enabled_network_types=(
            "local", "flat", "vlan", "vxlan", "gre"))
        self.local_vlans = LocalVlans(store)
        self.dvr_macs = DvrMacs(store, "fa:16:3f:00:00:00")
        self.planner = Planner(self.model, self.topology, self.local_vlans, self.dvr_macs)
        self.engine = Engine(self.model, self.planner, Hypervisors(store), self.dvr_macs)
        self.sent: list[tuple[int, int]] = []   # (dpid, flow-mods)
        self.tags: dict[str, int] = {}
        self.last = Outputs()
        self.devices: dict[str, list] = {c: [] for c in CHASSIS}
        for chassis in CHASSIS:
            self.sync(chassis)
        for chassis in CHASSIS:
            for role in ("int", "tun", "phys"):
                self.take(self.engine.bridge_connected(dpid(chassis, role)))

    def take(self, outputs: Outputs) -> Outputs:
        self.sent += [(d, len(mods)) for d, mods in outputs.flow_mods.items()]
        for tags in outputs.tags.values():
            self.tags.update(tags)
        self.last = outputs
        return outputs

    def sync(self, c: str) -> Outputs:
        """What the chassis' OVSDB shows: Neutron's bridges, patches and a tunnel mesh,
        and the VM devices plugged so far."""
        tunnels = [classify(f"{kind}-{r}", tunnel_ofport(r, kind), kind, {"remote_ip": IPS[r]})
                   for r in CHASSIS if r != c for kind in ("vxlan", "gre")]
        self.changes = self.engine.database_seen(self.specs[c], [
            BridgeView("br-int", dpid(c, "int"), (
                classify("patch-tun", PATCH, "patch", {"peer": "patch-int"}),
                classify("int-br-eth1", INT_PHY, "patch", {"peer": "phy-br-eth1"}),
                *self.devices[c])),
            BridgeView("br-tun", dpid(c, "tun"), (
                classify("patch-int", PATCH, "patch", {"peer": "patch-tun"}), *tunnels)),
            BridgeView("br-eth1", dpid(c, "phys"), (
                classify("phy-br-eth1", PATCH, "patch", {"peer": "int-br-eth1"}),)),
        ], full=False)
        return self.written()

    def plug(self, chassis: str, device) -> Outputs:
        self.devices[chassis].append(device)
        return self.sync(chassis)

    def written(self) -> Outputs:
        """The model took writes (or a database was seen): what the engine sends."""
        return self.take(self.engine.flush())

    def create(self, kind: str, **values) -> dict:
        """A resource as the API would create it, defaults included."""
        parsed = parse_body(kind, RESOURCES[kind], {kind: values}, True)
        created = getattr(self.model, f"create_{kind}")(parsed)
        self.written()
        return created

    def network(self, **provider) -> tuple[dict, dict]:
        network = self.create("network", **{f"provider:{k}": v for k, v in provider.items()})
        subnet = self.create("subnet", network_id=network["id"], ip_version=4,
                             cidr="10.0.0.0/24")
        return network, subnet

    def vm(self, network: dict, chassis: str, ofport: int, **fields) -> dict:
        """A port, and its device plugged (tap rule) on the chassis, which binds it."""
        port = self.create("port", network_id=network["id"], **fields)
        self.plug(chassis, classify("tap" + port["id"][:11], ofport))
        return self.model.records["port"][port["id"]]

    def flows(self, chassis: str, role: str, group) -> set:
        state: BridgeFlows = self.engine.bridges[dpid(chassis, role)]
        return {(f.table, f.priority, f.match, f.actions) for f in
                state.groups.get(group, {}).values()}


@pytest.fixture
def cloud(tmp_path):
    return Cloud(tmp_path)


def as_set(flows) -> set:
    return {(f.table, f.priority, f.match, f.actions) for f in flows}


def test_start_up_tables_of_each_role(cloud):
    remote_dvr_macs = ("fa:16:3f:00:00:02", "fa:16:3f:00:00:03")  # n1's, n2's
    assert cloud.flows("n0", "int", BASE) == as_set(
        br_int.default_flows([INT_PHY]) + br_int.dvr_default_flows(PATCH, [INT_PHY],
                                                                    remote_dvr_macs))
    tunnels = [br_tun.tunnel_port_flow(tunnel_ofport(r, kind), kind)
               for r in ("n1", "n2") for kind in ("vxlan", "gre")]
    assert cloud.flows("n0", "tun", BASE) == as_set(
        br_tun.default_flows(PATCH, remote_dvr_macs) + tunnels)
    assert cloud.flows("n0", "phys", BASE) == as_set(br_phys.default_flows(PATCH))


def test_a_vxlan_network_on_two_of_three_chassis(cloud):
    network, _ = cloud.network()
    a = cloud.vm(network, "n0", 5)
    b = cloud.vm(network, "n1", 5)
    group, vni = network_group(network["id"]), network["provider:segmentation_id"]
    lvid = cloud.local_vlans.get("n0", network["id"])
    segment = br_tun.TunnelSegment(lvid=lvid, segmentation_id=vni, tunnel_type="vxlan",
                                   flood_ports=(tunnel_ofport("n1"),))
    assert cloud.flows("n0", "tun", group) == as_set(br_tun.segment_flows(segment))
    # b's own l2pop entries: its MAC to n1's tunnel, its address answered on n0
    assert cloud.flows("n0", "tun", remote_port_group(network["id"], b["id"])) == as_set(
        br_tun.remote_port_flows(segment, b["mac_address"], tunnel_ofport("n1"),
                                 [b["fixed_ips"][0]["ip_address"]]))
    assert cloud.flows("n1", "tun", remote_port_group(network["id"], b["id"])) == set()
    assert cloud.flows("n2", "tun", group) == set()       # l2pop: n2 has no port there
    assert cloud.local_vlans.get("n2", network["id"]) is None
    assert cloud.flows("n0", "int", group) == set()       # tunnels need nothing on br-int
    assert cloud.tags["tap" + a["id"][:11]] == lvid


def test_a_vm_port_is_held_to_its_addresses(cloud):
    network, _ = cloud.network()
    port = cloud.vm(network, "n0", 5, allowed_address_pairs=[
        {"ip_address": "10.0.0.128/25", "mac_address": "fa:16:3e:00:00:99"}])
    got = cloud.flows("n0", "int", device_group("tap" + port["id"][:11]))
    lvid = cloud.local_vlans.get("n0", network["id"])
    assert got == as_set(br_int.port_security_flows(
        5, lvid, [port["fixed_ips"][0]["ip_address"], ("10.0.0.128", "255.255.255.128")],
        [port["mac_address"], "fa:16:3e:00:00:99"]))
    spa = {dict(m)["arp_spa"] for table, _, m, _ in got if table == T.INT_ARP_SPOOF}
    assert spa == {port["fixed_ips"][0]["ip_address"], ("10.0.0.128", "255.255.255.128")}


def test_port_security_off_means_no_anti_spoofing(cloud):
    network, _ = cloud.network()
    port = cloud.vm(network, "n0", 5, port_security_enabled=False)
    lvid = cloud.local_vlans.get("n0", network["id"])
    assert cloud.flows("n0", "int", device_group("tap" + port["id"][:11])) == as_set(
        [br_int.open_port_flow(5, lvid)])


def test_a_device_naming_no_bound_port_is_dead(cloud):
    device = classify("tap0123456789a", 9)
    cloud.plug("n1", device)
    assert cloud.flows("n1", "int", device_group(device.name)) == {
        (T.INT_LOCAL_SWITCHING, 2, (("in_port", 9),), ())}
    assert cloud.tags[device.name] == T.DEAD_VLAN


@pytest.mark.parametrize("segmentation_id", [100, None])
def test_a_provider_network_is_translated_between_local_and_physical_vlan(
        cloud, segmentation_id):
    provider = {"network_type": "vlan" if segmentation_id else "flat",
                "physical_network": "physnet1"}
    if segmentation_id:
        provider["segmentation_id"] = segmentation_id
    network, _ = cloud.network(**provider)
    cloud.vm(network, "n1", 5)
    lvid, group = cloud.local_vlans.get("n1", network["id"]), network_group(network["id"])
    assert cloud.flows("n1", "int", group) == as_set(
        [br_int.provider_in_flow(INT_PHY, segmentation_id, lvid)])
    assert cloud.flows("n1", "phys", group) == as_set(
        [br_phys.provider_out_flow(PATCH, lvid, segmentation_id)])
    assert cloud.flows("n1", "tun", group) == set()
    assert cloud.flows("n0", "phys", group) == set()


def test_a_local_network_stays_on_its_chassis(cloud):
    network, _ = cloud.network(network_type="local")
    cloud.vm(network, "n0", 5)
    cloud.vm(network, "n1", 5)
    group = network_group(network["id"])
    for chassis in ("n0", "n1"):
        for role in ("int", "tun", "phys"):
            assert cloud.flows(chassis, role, group) == set()


def test_the_last_port_frees_the_local_vlan_and_the_flows(cloud):
    network, _ = cloud.network()
    a = cloud.vm(network, "n0", 5)
    cloud.vm(network, "n1", 5)
    cloud.model.unbind_port(a["id"])
    cloud.written()
    assert cloud.local_vlans.get("n0", network["id"]) is None
    group = network_group(network["id"])
    assert cloud.flows("n0", "tun", group) == set()
    assert not any(t == T.TUN_FLOOD_TO_TUN for t, *_ in cloud.flows("n1", "tun", group))


def test_local_vlans_survive_a_restart_and_are_per_chassis(cloud, tmp_path):
    first, _ = cloud.network()
    second, _ = cloud.network(network_type="gre")
    cloud.vm(first, "n0", 5)
    cloud.vm(second, "n0", 6)
    cloud.vm(second, "n1", 5)
    ids = {(c, n["id"]): cloud.local_vlans.get(c, n["id"]) for c in ("n0", "n1")
           for n in (first, second)}
    assert ids[("n0", first["id"])] != ids[("n0", second["id"])]
    assert ids[("n1", second["id"])] == 1                  # n1's own numbering
    cloud.store.close()
    reopened = LocalVlans(Store(str(tmp_path / "db.sqlite")))
    assert {key: reopened.get(*key) for key in ids} == ids


def test_a_port_event_touches_only_the_chassis_sharing_its_network(cloud):
    shared, _ = cloud.network()
    other, _ = cloud.network()
    cloud.vm(other, "n2", 7)         # n2 serves another network only
    cloud.vm(shared, "n0", 5)
    cloud.sent.clear()
    cloud.vm(shared, "n1", 5)
    touched = {d for d, count in cloud.sent if count}
    assert touched == {dpid("n0", "tun"), dpid("n1", "tun"), dpid("n1", "int")}
    # n0 learns n1's port (unicast, ARP) and floods to it; n1 gets the whole network
    per_bridge = {d: count for d, count in cloud.sent if count}
    assert per_bridge[dpid("n0", "tun")] == 3


def test_a_port_no_flow_names_recomputes_nothing(cloud):
    network, _ = cloud.network()
    bound = cloud.vm(network, "n0", 5)
    unbound = cloud.create("port", network_id=network["id"])
    assert cloud.planner.affected_networks(unbound) == set()
    assert cloud.planner.affected_networks(bound) == {network["id"]}


def test_dvr_routes_on_the_source_chassis_and_rewrites_to_its_dvr_mac(cloud):
    blue, blue_subnet = cloud.network()
    green, _ = cloud.network(network_type="vlan", physical_network="physnet1",
                             segmentation_id=150)
    green_subnet = cloud.create("subnet", network_id=green["id"], ip_version=4,
                                cidr="10.1.0.0/24")
    router = cloud.create("router", name="r")
    for subnet in (blue_subnet, green_subnet):
        cloud.model.add_router_interface(router["id"], {"subnet_id": subnet["id"]})
        cloud.written()
    gateway = {p["network_id"]: p for p in cloud.planner.dvr_interfaces(router["id"])}
    cloud.vm(blue, "n0", 5)
    target = cloud.vm(green, "n1", 5)
    blue_vlan = cloud.local_vlans.get("n0", blue["id"])
    green_vlan = cloud.local_vlans.get("n0", green["id"])  # n0 serves green: it routes there
    assert green_vlan is not None
    g_blue, g_green = gateway[blue["id"]]["mac_address"], gateway[green["id"]]["mac_address"]
    route = br_int.route_flow(
        blue_vlan, g_blue, target["fixed_ips"][0]["ip_address"], g_green,
        target["mac_address"], (("push_vlan", 0x8100), ("set_field", "vlan_vid",
                                                         green_vlan | 0x1000),
                                ("output", INT_PHY)))
    int_flows = cloud.flows("n0", "int", network_group(blue["id"]))
    assert as_set([route, br_int.gateway_arp_flow(blue_vlan, "10.0.0.1", g_blue),
                   br_int.unrouted_drop_flow(blue_vlan, g_blue),
                   br_int.gateway_echo_flow(blue_vlan, g_blue, "10.0.0.1"),
                   br_int.gateway_echo_flow(blue_vlan, g_blue, "10.1.0.1")]) <= int_flows
    dvr_n0 = cloud.dvr_macs.get("n0")
    assert as_set(br_phys.dvr_interface_flows(PATCH, green_vlan, 150, g_green, dvr_n0)) <= \
        cloud.flows("n0", "phys", network_group(green["id"]))
    assert as_set(br_tun.dvr_interface_flows(blue_vlan, g_blue, dvr_n0)) <= \
        cloud.flows("n0", "tun", network_group(blue["id"]))
    # n1 delivers what others routed to its green VM: gateway MAC back, straight to the port
    assert as_set([br_int.dvr_delivery_flow(T.INT_DVR_TO_SRC_MAC_PHYSICAL, 150,
                                            target["mac_address"], g_green, 5)]) <= \
        cloud.flows("n1", "int", network_group(green["id"]))


def test_a_router_interface_is_found_by_its_mac(cloud):
    _, subnet = cloud.network()
    router = cloud.create("router", name="r")
    cloud.model.add_router_interface(router["id"], {"subnet_id": subnet["id"]})
    cloud.written()
    interface = cloud.planner.dvr_interfaces(router["id"])[0]
    assert cloud.planner.gateway_ip(interface["mac_address"]) == "10.0.0.1"
    assert cloud.planner.gateway_ip("fa:16:3e:99:99:99") is None


def test_a_new_gateway_mac_is_announced_to_the_vms_of_its_network_only(cloud):
    network, subnet = cloud.network()
    other, _ = cloud.network()
    cloud.vm(network, "n0", 5)
    cloud.vm(network, "n1", 6)
    cloud.vm(other, "n2", 7)
    router = cloud.create("router", name="r")
    cloud.model.add_router_interface(router["id"], {"subnet_id": subnet["id"]})
    cloud.written()
    interface = cloud.planner.dvr_interfaces(router["id"])[0]
    mac = interface["mac_address"]
    assert sorted(cloud.planner.gateway_announcements(None, interface)) == [
        (dpid("n0", "int"), 5, "10.0.0.1", mac), (dpid("n1", "int"), 6, "10.0.0.1", mac)]
    renamed = dict(interface, name="renamed")
    assert cloud.planner.gateway_announcements(interface, renamed) == []
    assert cloud.planner.gateway_announcements(interface, None) == []


def test_tunnels_follow_the_networks_two_chassis_share(cloud):
    vxlan, _ = cloud.network()
    gre, _ = cloud.network(network_type="gre")
    alone = cloud.vm(vxlan, "n0", 5)
    assert cloud.planner.tunnels_wanted("n0") == set()          # nobody to talk to
    cloud.vm(vxlan, "n1", 5)
    assert cloud.last.provision == {"n0", "n1"}                  # both may need a tunnel
    assert cloud.planner.tunnels_wanted("n0") == {("vxlan", "n1")}
    assert cloud.planner.tunnels_wanted("n1") == {("vxlan", "n0")}
    cloud.vm(gre, "n1", 6)
    cloud.vm(gre, "n2", 5)
    assert cloud.planner.tunnels_wanted("n1") == {("vxlan", "n0"), ("gre", "n2")}
    assert cloud.planner.tunnels_wanted("n2") == {("gre", "n1")}
    cloud.model.unbind_port(alone["id"])
    cloud.written()
    assert cloud.planner.tunnels_wanted("n0") == set()
    assert cloud.planner.tunnels_wanted("n1") == {("gre", "n2")}


def test_a_device_plugged_with_iface_id_binds_whatever_its_name(cloud):
    network, _ = cloud.network()
    port = cloud.create("port", network_id=network["id"])
    device = classify("vnet7", 8, "", {}, {"iface-id": port["id"]})
    cloud.plug("n2", device)
    bound = cloud.model.records["port"][port["id"]]
    assert (bound["status"], bound["binding:host_id"]) == ("ACTIVE", "n2")
    lvid = cloud.local_vlans.get("n2", network["id"])
    assert lvid is not None and cloud.tags["vnet7"] == lvid
    assert cloud.flows("n2", "int", device_group("vnet7")) == as_set(br_int.port_security_flows(
        8, lvid, [bound["fixed_ips"][0]["ip_address"]], [bound["mac_address"]]))
    # the name rule does not claim a device that says otherwise
    other = classify("tap" + port["id"][:11], 9, "", {}, {"iface-id": "not-a-port"})
    assert port_of_device(cloud.model, other) is None
