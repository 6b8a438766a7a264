"""Every flow the controller builds is one the pipeline declaration allows, and says
which builder made it."""
from ryu_app.pipeline import br_int, tables
from ryu_app.pipeline.flow import Flow, match
from tests.unit.fake_cloud import CHASSIS, FakeCloud, dpid, every_kind_of_network


def test_every_flow_built_is_declared_and_has_a_builder(tmp_path):
    cloud = FakeCloud(tmp_path)
    every_kind_of_network(cloud)
    checked = set()
    for chassis in CHASSIS:
        for role in tables.ROLES:
            state = cloud.engine.bridges[dpid(chassis, role)]
            for group, flows in state.groups.items():
                for flow in flows.values():
                    assert tables.violations(role, flow) == [], (group, flow)
                    checked.add((role, flow.table, tables.PIPELINE[role][flow.table].band(
                        flow.priority, flow.builder).name))
    declared = {(role, table.number, band.name) for role, numbered in tables.PIPELINE.items()
                for table in numbered.values() for band in table.bands if band.builders}
    assert declared - checked == set()   # the scenario reaches every band a builder fills


def test_a_flow_outside_the_declaration_is_named():
    stray = Flow(tables.INT_ARP_SPOOF, 2, match(in_port=5), (("goto", tables.INT_TRANSIENT),),
                 builder="br_int.port_security_flows")
    assert tables.violations("int", stray) == ["int table 24 may not go to table 60"]
    unnamed = Flow(tables.INT_TRANSIENT, 7)
    assert tables.violations("int", unnamed) == ["int table 60 has no band for priority 7"]
    wrong = Flow(tables.CANARY, 0, builder="br_int.route_flow")
    assert tables.violations("int", wrong) == [
        "int table 23 band 'canary' is not built by br_int.route_flow"]
    assert tables.violations("tun", Flow(30, 0)) == ["tun table 30 is not declared"]


def test_builders_name_their_flows():
    assert br_int.dead_port_flow(3).builder == "br_int.dead_port_flow"
    mac = "fa:16:3e:00:00:01"
    assert {flow.builder for flow in br_int.port_security_flows(3, 1, [(mac, "10.0.0.3")],
                                                                [mac])} == {
        "br_int.port_security_flows"}


def test_no_builder_gives_one_switch_flow_two_meanings(tmp_path):
    """Within one group, two flows of one key (table, priority, match) would leave the
    switch holding whichever came last: a network whose two subnets are on two routers
    gave each VM's routed-frame delivery both gateways' MACs so."""
    cloud = FakeCloud(tmp_path)
    every_kind_of_network(cloud)
    vxlan = cloud.model.records["network"][next(iter(cloud.model.records["network"]))]
    second = cloud.create("subnet", network_id=vxlan["id"], cidr="10.0.9.0/24", ip_version=4)
    other, other_subnet = cloud.network("10.7.0.0/24")
    cloud.router(second, other_subnet)
    for chassis in CHASSIS:
        cloud.vm(vxlan, chassis, fixed_ips=[{"subnet_id": second["id"]}])
        cloud.vm(other, chassis)
    for bridge in cloud.topology.bridges.values():
        for group, flows in cloud.planner.bridge_groups(bridge).items():
            by_key: dict[tuple, Flow] = {}
            for flow in flows:
                assert by_key.setdefault(flow.key, flow) == flow, (bridge.name, group, flow)
