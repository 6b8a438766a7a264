"""Options of the ``[neutron]`` section of Ryu's ``--config-file``, and safe listen defaults."""
from __future__ import annotations

from oslo_config import cfg
from ryu import cfg as ryu_cfg  # Ryu keeps its own ConfigOpts, not oslo's global one

from ryu_app.settings import Settings

CONF = ryu_cfg.CONF

DEFAULTS = Settings.__dataclass_fields__

OPTS = [
    cfg.StrOpt("db_path", default=DEFAULTS["db_path"].default,
               help="SQLite database file holding networks, subnets, ports and routers."),
    cfg.StrOpt("db_synchronous", default="NORMAL", choices=["NORMAL", "FULL"],
               help="NORMAL: writes survive a controller crash; FULL: also a power loss "
                    "(one fsync per write)."),
    cfg.ListOpt("type_drivers", default=["local", "flat", "vlan", "vxlan", "gre"],
                help="Network types users may create."),
    cfg.ListOpt("tenant_network_types", default=["vxlan"],
                help="Types given, in order of preference, to networks created without "
                     "provider attributes."),
    cfg.ListOpt("vni_ranges", default=["1001:2000"], help="VXLAN VNIs for tenant networks."),
    cfg.ListOpt("tunnel_id_ranges", default=["1:1000"], help="GRE keys for tenant networks."),
    cfg.ListOpt("network_vlan_ranges", default=["physnet1:3001:4000"],
                help="PHYSNET[:FIRST:LAST] entries: physical networks and their tenant VLANs."),
    cfg.ListOpt("flat_networks", default=["*"], help="Physical networks allowing flat networks."),
    cfg.StrOpt("default_project_id", default="admin",
               help="Project owning resources created without a project (no-auth mode)."),
    cfg.BoolOpt("router_distributed", default=True, help="New routers are distributed (DVR)."),
    cfg.IntOpt("global_physnet_mtu", default=1500, min=68, help="MTU of the underlay."),
    cfg.StrOpt("dvr_base_mac", default=DEFAULTS["dvr_base_mac"].default,
               help="Each chassis' DVR MAC is taken from here upwards (and kept)."),
    cfg.IntOpt("packet_in_rate_limit", default=DEFAULTS["packet_in_rate_limit"].default, min=1,
               help="Packets per second each integration bridge may send to the controller "
                    "(routed frames whose TTL ran out); beyond it the switch drops them."),
    cfg.StrOpt("ovsdb_connection", default=DEFAULTS["ovsdb_connection"].default,
               help="OVSDB server of the hypervisors (unix:PATH or tcp:IP:PORT)."),
    cfg.MultiStrOpt("chassis", default=[],
                    help="One per hypervisor: 'NAME tunnel_ip=IP [int_bridge=BR] "
                         "[tun_bridge=BR] [bridge_mappings=PHYSNET:BR,...] "
                         "[tunnel_aliases=IP,...]'. Default: this host, with br-int, "
                         "br-tun and physnet1:br-eth1."),
]

CONF.register_opts(OPTS, group="neutron")
# Ryu listens on every interface by default; this controller listens on loopback
# unless the configuration says otherwise.
for name, value in (("wsapi_host", "127.0.0.1"), ("wsapi_port", 9696),
                    ("ofp_listen_host", "127.0.0.1")):
    try:
        CONF.set_default(name, value)
    except cfg.NoSuchOptError:
        pass  # registered by Ryu only when its wsgi/controller modules are imported


def load(conf: cfg.ConfigOpts = CONF) -> Settings:
    group = conf.neutron
    return Settings.parse(
        vni_ranges=group.vni_ranges, tunnel_id_ranges=group.tunnel_id_ranges,
        network_vlan_ranges=group.network_vlan_ranges, chassis=group.chassis,
        db_path=group.db_path, db_synchronous=group.db_synchronous,
        type_drivers=group.type_drivers, tenant_network_types=group.tenant_network_types,
        flat_networks=group.flat_networks, default_project_id=group.default_project_id,
        router_distributed=group.router_distributed,
        global_physnet_mtu=group.global_physnet_mtu, ovsdb_connection=group.ovsdb_connection,
        dvr_base_mac=group.dvr_base_mac, packet_in_rate_limit=group.packet_in_rate_limit)
