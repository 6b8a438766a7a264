"""Extensions as Neutron describes them: each advertised alias answers on its own, and a
resource shows no attribute whose extension is not advertised."""
import re
from pathlib import Path
# Neutron's attributes beyond each resource's core ones, and the extension that adds
# them (neutron-lib's api/definitions), written out here rather than read from our code.
EXTENSION_OF = {
    "tags": "standard-attr-tag", "created_at": "standard-attr-timestamp",
    "updated_at": "standard-attr-timestamp", "revision_number": "standard-attr-revisions",
    "description": "standard-attr-description", "project_id": "project-id",
    "router:external": "external-net", "mtu": "net-mtu",
    "port_security_enabled": "port-security", "provider:network_type": "provider",
    "provider:physical_network": "provider", "provider:segmentation_id": "provider",
    "availability_zone_hints": ("network_availability_zone", "router_availability_zone"),
    "availability_zones": ("network_availability_zone", "router_availability_zone"),
    "ipv4_address_scope": "address-scope", "ipv6_address_scope": "address-scope",
    "allowed_address_pairs": "allowed-address-pairs", "security_groups": "security-group",
    "binding:host_id": "binding", "binding:vnic_type": "binding",
    "binding:profile": "binding", "binding:vif_type": "binding",
    "binding:vif_details": "binding", "extra_dhcp_opts": "extra_dhcp_opt",
    "distributed": "dvr", "external_gateway_info": "router",
    "stateful": "stateful-security-group", "normalized_cidr": "security-groups-normalized-cidr",
    "remote_address_group_id": "security-groups-remote-address-group",
    "belongs_to_default_sg": "security-groups-rules-belongs-to-default-sg",
    "address_scope_id": "address-scope", "ha": "l3-ha", "routes": "extraroute",
    "service_types": "subnet-service-types",
    "shared@security_group": "security-groups-shared-filtering",
    "dns_domain": "dns-integration", "qos_policy_id": "qos", "segment_id": "segment",
    "port_forwardings": "floating-ip-port-forwarding",
}
# Every resource's core attributes (neutron-lib's network, subnet, port, l3, securitygroup,
# subnetpool and address_scope definitions), needing no extension beyond their own.
CORE = {
    "network": {"id", "name", "tenant_id", "admin_state_up", "status", "subnets", "shared"},
    "subnet": {"id", "name", "tenant_id", "network_id", "ip_version", "cidr", "gateway_ip",
               "allocation_pools", "enable_dhcp", "dns_nameservers", "host_routes",
               "ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id"},
    "port": {"id", "name", "tenant_id", "network_id", "admin_state_up", "mac_address",
             "fixed_ips", "device_id", "device_owner", "status"},
    "router": {"id", "name", "tenant_id", "admin_state_up", "status"},
    "floatingip": {"id", "tenant_id", "floating_ip_address", "floating_network_id",
                   "router_id", "port_id", "fixed_ip_address", "status", "subnet_id"},
    "security_group": {"id", "name", "tenant_id", "security_group_rules"},
    "security_group_rule": {"id", "tenant_id", "security_group_id", "direction",
                            "ethertype", "protocol", "port_range_min", "port_range_max",
                            "remote_ip_prefix", "remote_group_id"},
    "subnetpool": {"id", "name", "tenant_id", "prefixes", "default_quota", "ip_version",
                   "default_prefixlen", "min_prefixlen", "max_prefixlen", "is_default",
                   "shared"},
    "address_scope": {"id", "name", "tenant_id", "shared", "ip_version"},
}


def advertised(api) -> set[str]:
    return {extension["alias"] for extension in api.get("/v2.0/extensions")[1]["extensions"]}


def test_every_advertised_alias_answers_on_its_own(api):
    listed = api.get("/v2.0/extensions")[1]["extensions"]
    assert len(listed) >= 30
    for extension in listed:
        status, body = api.get(f"/v2.0/extensions/{extension['alias']}")
        assert (status, body) == (200, {"extension": extension})
        assert set(extension) == {"alias", "name", "description", "links", "updated"}
    status, body = api.get("/v2.0/extensions/l3-ha")
    assert status == 404 and body["NeutronError"]["message"] == (
        "Extension with alias l3-ha does not exist")
    assert api.delete("/v2.0/extensions/router")[0] == 405


def test_resources_show_only_attributes_of_advertised_extensions(api):
    served = advertised(api)
    network = api.create("network", name="ext-net")
    subnet = api.create("subnet", network_id=network["id"], cidr="10.85.0.0/24", ip_version=4)
    port = api.create("port", network_id=network["id"])
    router = api.create("router", name="ext-router")
    group = api.create("security_group", name="ext-group")
    rule = group["security_group_rules"][0]
    pool = api.create("subnetpool", name="ext-pool", prefixes=["10.86.0.0/16"])
    scope = api.create("address_scope", name="ext-scope", ip_version=4)
    external = api.create("network", name="ext-public", **{
        "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "public"})
    api.create("subnet", network_id=external["id"], cidr="10.87.0.0/24", ip_version=4)
    floating = api.create("floatingip", floating_network_id=external["id"])
    shown = {"network": network, "subnet": subnet, "port": port, "router": router,
             "security_group": group, "security_group_rule": rule, "subnetpool": pool,
             "address_scope": scope, "floatingip": floating}
    for kind, body in shown.items():
        for attribute in set(body) - CORE[kind]:
            needs = EXTENSION_OF.get(f"{attribute}@{kind}", EXTENSION_OF.get(attribute))
            assert needs is not None, f"{kind}.{attribute}: no extension known for it"
            needs = {needs} if isinstance(needs, str) else set(needs)
            assert needs & served, f"{kind}.{attribute} shown without {needs}"
    # what needed an extension not served is gone, and refused in a request
    assert "ha" not in router and "routes" not in router and "shared" not in group
    assert "service_types" not in subnet
    assert api.post("/v2.0/routers", {"router": {"ha": False}})[0] == 400


def test_service_providers_name_the_distributed_router(api):
    assert "service-type" in advertised(api)
    assert api.get("/v2.0/service-providers") == (200, {"service_providers": [
        {"service_type": "L3_ROUTER_NAT", "name": "dvr", "default": True}]})
    assert api.get("/v2.0/service-providers?name=ha") == (200, {"service_providers": []})
    assert api.get("/v2.0/service-providers?colour=red")[0] == 400
    assert api.post("/v2.0/service-providers", {})[0] == 405


def test_zone_hints_name_zones_a_hypervisor_is_in(api):
    """No hypervisor has registered with this controller, so there is no zone yet."""
    assert api.get("/v2.0/availability_zones") == (200, {"availability_zones": []})
    for kind in ("network", "router"):
        before = len(api.get(f"/v2.0/{kind}s")[1][f"{kind}s"])
        status, body = api.post(f"/v2.0/{kind}s", {kind: {"availability_zone_hints": ["nova"]}})
        assert status == 404 and body["NeutronError"] == {
            "type": "AvailabilityZoneNotFound", "detail": "",
            "message": "AvailabilityZone nova could not be found."}
        assert len(api.get(f"/v2.0/{kind}s")[1][f"{kind}s"]) == before


def readme_list(heading: str) -> set[str]:
    """The backquoted names of the README's "Using the API" bullet that begins so."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("## Using the API", 1)[1].split("\n## ", 1)[0]
    bullet = section.split(f"- {heading}", 1)[1].split("\n- ", 1)[0]
    listing = bullet.split("A resource", 1)[0].split("):", 1)[-1]
    return set(re.findall(r"`([^`]+)`", listing))


def test_the_readme_lists_every_extension_and_collection_served_and_no_other(api):
    assert readme_list("Extensions served") == advertised(api)
    served = {entry["collection"] for entry in api.get("/v2.0/")[1]["resources"]}
    assert readme_list("Collections served") == served
    for collection in served - {"trace", "flows"}:   # those two need a port or a host
        assert api.get(f"/v2.0/{collection}")[0] == 200, collection
    for needs_a_target in ("trace", "flows"):
        status, body = api.get(f"/v2.0/{needs_a_target}")
        assert status == 400 and "NeutronError" in body, needs_a_target
