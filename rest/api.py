"""Neutron v2.0 REST API as a plain WSGI application.

Paths, envelopes, status codes and the ``NeutronError`` body follow Neutron so
that curl users and the standard ``openstack`` client work unchanged.  The Ryu
shim mounts this app behind Ryu's WSGI server; tests can also call it directly.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Callable
from urllib.parse import urlencode

import webob

from rest import attributes
from ryu_app.model.errors import (BadRequest, Conflict, MethodNotAllowed, NeutronError,
                                  NotFound, RequestEntityTooLarge, not_found)
from ryu_app.model import ip_availability
from ryu_app.model.tags import TAGGABLE
from ryu_app.model.tenant import NetworkModel

LOG = logging.getLogger(__name__)

COLLECTIONS = {"networks": "network", "subnets": "subnet", "ports": "port",
               "routers": "router", "floatingips": "floatingip",
               "security-groups": "security_group", "security-group-rules": "security_group_rule",
               "subnetpools": "subnetpool", "address-scopes": "address_scope"}
# Listing these first makes the project's default security group, as Neutron does.
DEFAULT_GROUP_LISTINGS = ("security_group", "security_group_rule")
# Query parameters that shape a listing rather than filter it.
LISTING_PARAMS = ("fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse")
# Neutron's tag filters: comma-separated tags, a repeated key adding to the set.
TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")
# Read-only listings beside the resources, and the fields they may be filtered on.
LISTED_VIEWS = {"availability_zones": ("name", "resource", "state"),
                "service-providers": ("service_type", "name", "default")}
IP_AVAILABILITIES = "network-ip-availabilities"
IP_AVAILABILITY_FILTERS = ("network_id", "network_name", "project_id", "tenant_id")
MAX_BODY_BYTES = 1 << 20
MAX_JSON_DEPTH = 32        # Neutron's bodies nest four levels; anything deeper is hostile
# The extensions served, as Neutron names them (alias, name, description).
EXTENSIONS = (
    ("address-scope", "Address scope", "Address scopes"),
    ("agent", "agent", "The agent management extension."),
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("availability_zone", "Availability Zone", "The availability zone extension."),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external "
     "application"),
    ("default-subnetpools", "Default Subnetpools", "Provides ability to mark and use a "
     "subnetpool as the default."),
    ("dvr", "Distributed Virtual Router", "Enables configuration of Distributed Virtual "
     "Routers."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode",
     "Extension of the router abstraction for specifying whether SNAT should occur on "
     "the external gateway"),
    ("external-net", "Neutron external network", "Adds external network attribute to "
     "network resource."),
    ("extra_dhcp_opt", "Neutron Extra DHCP options", "Extra options configuration for "
     "DHCP. For example PXE boot options to DHCP clients can be specified (e.g. tftp-"
     "server, server-ip-address, bootfile-name)"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("network-ip-availability", "Network IP Availability", "Provides IP availability data "
     "for each network and subnet."),
    ("network_availability_zone", "Network Availability Zone", "Availability zone "
     "support for network."),
    ("port-security", "Port Security", "Provides port security"),
    ("port-security-groups-filtering", "Port filtering on security groups",
     "Provides security groups filtering when listing ports"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id "
     "field is enabled."),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical "
     "networks"),
    ("quota-check-limit", "Quota engine limit check", "Support for checking the resource "
     "usage before applying a new quota limit"),
    ("quota_details", "Quota details management support", "Expose functions for quotas "
     "usage statistics per project"),
    ("quotas", "Quota management support", "Expose functions for quotas management per "
     "project"),
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between "
     "L2 Neutron networks and access to external networks via a NAT gateway."),
    ("router_availability_zone", "Router Availability Zone", "Availability zone support "
     "for router."),
    ("security-group", "security-group", "The security groups extension."),
    ("security-groups-normalized-cidr", "Normalized CIDR field for security group rules",
     "Add new field with normalized remote_ip_prefix cidr in SG rule"),
    ("security-groups-remote-address-group",
     "Remote address group id field for security group rules",
     "Add new field of remote address group id in SG rules"),
    ("security-groups-rules-belongs-to-default-sg",
     "Security group rule belongs to the project's default security group",
     "Flag to determine if the security group rule belongs to the project's default "
     "security group"),
    ("service-type", "Neutron Service Type Management", "API for retrieving service "
     "providers for Neutron advanced services"),
    ("standard-attr-description", "standard-attr-description", "Extension to add "
     "descriptions to standard attributes"),
    ("standard-attr-revisions", "Resource revision numbers", "This extension will "
     "display the revision number of neutron resources."),
    ("standard-attr-tag", "Tag support for resources with standard attribute: subnet, "
     "trunk, network_segment_range, router, network, policy, subnetpool, port, "
     "security_group, floatingip", "Enables to set tag on resources with standard "
     "attribute."),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at "
     "fields to all Neutron resources that have Neutron standard attributes."),
    ("stateful-security-group", "Stateful security group", "Indicates if the security "
     "group is stateful or not"),
    ("subnet_allocation", "Subnet Allocation", "Enables allocation of subnets from a "
     "subnet pool"),
)
# The L3 service's provider, named as Neutron's L3 flavors name it: routers here are
# distributed, routed on every hypervisor in its data plane.
SERVICE_PROVIDERS = ({"service_type": "L3_ROUTER_NAT", "name": "dvr", "default": True},)

Agents = Callable[[], list[dict]]
# The hypervisor that runs a router's SNAT, if any (the engine's placement).
SnatHost = Callable[[str], str | None]
# A read-only controller view (topology, wiring, flows, trace), given the query parameters;
# it raises a NeutronError for parameters it cannot take.
View = Callable[[dict[str, str]], Any]


def _json(status: int, document: Any) -> webob.Response:
    return webob.Response(status=status, content_type="application/json", charset="utf-8",
                          body=json.dumps(document).encode())


def _error(error: NeutronError) -> webob.Response:
    return webob.Response(status=error.status, content_type="application/json",
                          charset="utf-8", body=error.body())


class NeutronApi:
    def __init__(self, model: NetworkModel, agents: Agents, views: dict[str, View],
                 snat_host: SnatHost):
        self.model = model
        self.agents = agents
        self.views = views
        self.snat_host = snat_host

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        return self.handle(webob.Request(environ))(environ, start_response)

    def handle(self, request: webob.Request) -> webob.Response:
        try:
            return self._dispatch(request)
        except NeutronError as error:
            return _error(error)
        except UnicodeDecodeError:   # a query string the HTTP server let through
            return _error(BadRequest("The request's path or query string is not valid UTF-8."))
        except Exception:  # a bug of ours: log it, never show the client a traceback
            LOG.exception("request %s %s failed", request.method, request.path_qs)
            error = NeutronError("Request Failed: internal server error while processing "
                                 "your request.", "HTTPInternalServerError")
            return _error(error)

    def _dispatch(self, request: webob.Request) -> webob.Response:
        path = request.path_info
        if path.endswith(".json"):
            path = path[:-5]
        parts = [part for part in path.split("/") if part]
        method = request.method
        if not parts:
            self._allow(method, "GET")
            return _json(200, self._versions(request))
        if parts[0] != "v2.0":
            raise NotFound(f"The resource could not be found: {request.path_info}")
        parts = parts[1:]
        if not parts:
            self._allow(method, "GET")
            return _json(200, self._resources(request))
        head, rest = parts[0], parts[1:]
        if head in COLLECTIONS and len(rest) <= 3:
            return self._resource(request, COLLECTIONS[head], head, rest)
        if head == "quotas" and len(rest) <= 2:
            return self._quotas(request, rest)
        if head == "projects" and len(rest) <= 1:
            self._allow(method, "GET")
            return self._projects(request, rest)
        if head == "agents" and len(rest) <= 2:
            return self._agents(request, rest)
        if head == IP_AVAILABILITIES and len(rest) <= 1:
            self._allow(method, "GET")
            return self._ip_availabilities(request, rest)
        if head == "extensions" and len(rest) <= 1:
            self._allow(method, "GET")
            return self._extensions(rest)
        if head in LISTED_VIEWS and not rest:
            self._allow(method, "GET")
            return self._listed_view(request, head)
        if head in self.views and not rest:
            self._allow(method, "GET")
            return _json(200, {head: self.views[head](dict(request.GET.items()))})
        raise NotFound(f"The resource could not be found: {request.path_info}")

    @staticmethod
    def _extensions(rest: list[str]) -> webob.Response:
        """``/extensions`` and ``/extensions/{alias}``, as Neutron describes them."""
        described = {alias: {"alias": alias, "name": name, "description": description,
                             "links": [], "updated": "2026-01-01T00:00:00-00:00"}
                     for alias, name, description in EXTENSIONS}
        if not rest:
            return _json(200, {"extensions": list(described.values())})
        if rest[0] not in described:
            raise NotFound(f"Extension with alias {rest[0]} does not exist")
        return _json(200, {"extension": described[rest[0]]})

    def _listed_view(self, request: webob.Request, head: str) -> webob.Response:
        """A read-only listing (availability zones, service providers), filtered on any
        of its entries' fields as Neutron filters them."""
        entries = (self.model.availability_zones() if head == "availability_zones"
                   else [dict(provider) for provider in SERVICE_PROVIDERS])
        return self._entries(request, head, entries, LISTED_VIEWS[head], unknown=None)

    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise MethodNotAllowed(f"The method {method} is not allowed for this resource.")

    @staticmethod
    def _versions(request: webob.Request) -> dict:
        href = request.host_url + "/v2.0/"
        return {"versions": [{"id": "v2.0", "status": "CURRENT",
                              "links": [{"href": href, "rel": "self"}]}]}

    def _resources(self, request: webob.Request) -> dict:
        names = [*COLLECTIONS, "agents", "extensions", "quotas", "projects",
                 IP_AVAILABILITIES, *LISTED_VIEWS, *self.views]
        return {"resources": [
            {"name": COLLECTIONS.get(name, name.rstrip("s")), "collection": name,
             "links": [{"href": f"{request.host_url}/v2.0/{name}", "rel": "self"}]}
            for name in names]}

    # --------------------------------------------------------------- resources

    def _resource(self, request: webob.Request, kind: str, collection: str,
                  rest: list[str]) -> webob.Response:
        method = request.method
        if not rest:
            self._allow(method, "GET", "POST")
            if method == "GET":
                return self._list(request, kind, collection)
            values = attributes.parse_body(kind, attributes.RESOURCES[kind],
                                           self._body(request, kind, collection), True)
            created = self.model.create(kind, values, self._project(request))
            return _json(201, {kind: self._shown(kind, created)})
        resource_id = rest[0]
        if len(rest) >= 2 and rest[1] == "tags" and kind in TAGGABLE:
            return self._tags(request, kind, resource_id, rest[2:])
        if len(rest) == 3:
            raise NotFound(f"The resource could not be found: {request.path_info}")
        if len(rest) == 2:
            return self._router_action(request, kind, resource_id, rest[1])
        if kind == "security_group_rule":   # rules are created and deleted, never updated
            self._allow(method, "GET", "DELETE")
        self._allow(method, "GET", "PUT", "DELETE")
        if method == "GET":
            return _json(200, {kind: self._shown(kind, self.model.show(kind, resource_id),
                                                 request.GET.getall("fields"))})
        if method == "PUT":
            self.model.get(kind, resource_id)
            values = attributes.parse_body(kind, attributes.RESOURCES[kind],
                                           self._body(request, kind, collection), False)
            updated = getattr(self.model, f"update_{kind}")(resource_id, values)
            return _json(200, {kind: self._shown(kind, updated)})
        getattr(self.model, f"delete_{kind}")(resource_id)
        return webob.Response(status=204)

    def _tags(self, request: webob.Request, kind: str, resource_id: str,
              rest: list[str]) -> webob.Response:
        """``.../tags`` and ``.../tags/{tag}`` with Neutron's statuses: the tag list 200,
        a tag's presence 204, adding one 201 (with a null body, as Neutron answers),
        replacing them all 200, removing 204."""
        method = request.method
        self._allow(method, "GET", "PUT", "DELETE")
        if not rest:
            if method == "GET":
                return _json(200, {"tags": self.model.get_tags(kind, resource_id)})
            if method == "PUT":
                tags = self.model.replace_tags(kind, resource_id,
                                               self._body(request, None, None))
                return _json(200, {"tags": tags})
            self.model.remove_tags(kind, resource_id)
            return webob.Response(status=204)
        tag = rest[0]
        if method == "GET":
            self.model.check_has_tag(kind, resource_id, tag)
        elif method == "PUT":
            self.model.add_tag(kind, resource_id, tag)
            return _json(201, None)
        else:
            self.model.remove_tag(kind, resource_id, tag)
        return webob.Response(status=204)

    def _quotas(self, request: webob.Request, rest: list[str]) -> webob.Response:
        """``/quotas`` (projects with limits of their own), ``/quotas/{project}`` to read,
        set and reset, and its ``/default`` and ``/details`` views, as Neutron serves them."""
        method = request.method
        if not rest:
            self._allow(method, "GET")
            return _json(200, {"quotas": self.model.quota_projects()})
        project = rest[0]
        if len(rest) == 2:
            self._allow(method, "GET")
            if rest[1] == "default":
                return _json(200, {"quota": dict(self.model.quota_defaults)})
            if rest[1] == "details":
                return _json(200, {"quota": self.model.quota_details(project)})
            raise NotFound(f"The resource could not be found: {request.path_info}")
        self._allow(method, "GET", "PUT", "DELETE")
        if method == "GET":
            return _json(200, {"quota": self.model.quota_limits(project)})
        if method == "PUT":
            limits, check = attributes.parse_quota_body(self._body(request, None, None))
            return _json(200, {"quota": self.model.update_quota(project, limits, check)})
        self.model.delete_quota(project)
        return webob.Response(status=204)

    def _projects(self, request: webob.Request, rest: list[str]) -> webob.Response:
        """Keystone's project lookups, which the openstack client makes before a quota
        command.  Without Keystone (no-auth, as here) a project is any id a caller names,
        and it is named after itself; with ``--os-identity-api-version 3`` the client
        asks this endpoint.  A listing without a filter gives the projects that own
        something or have quotas of their own."""
        if rest:
            return _json(200, {"project": _project_entry(rest[0])})
        wanted = request.GET.getall("name") + request.GET.getall("id")
        names = list(dict.fromkeys(wanted)) or self.model.known_projects()
        return _json(200, {"projects": [_project_entry(name) for name in names]})

    def _router_action(self, request: webob.Request, kind: str, router_id: str,
                       action: str) -> webob.Response:
        if kind == "router" and action == "l3-agents":
            self._allow(request.method, "GET")
            return self._router_agents(router_id)
        if kind != "router" or action not in ("add_router_interface",
                                              "remove_router_interface"):
            raise NotFound(f"The resource could not be found: {request.path_info}")
        self._allow(request.method, "PUT")
        body = self._body(request, None, None)
        values = attributes.parse_body("interface", attributes.ROUTER_INTERFACE,
                                       {"interface": body}, False)
        return _json(200, getattr(self.model, action)(router_id, values))

    @staticmethod
    def _project(request: webob.Request) -> str | None:
        """The caller's project from its header, checked as a body's project_id is (a
        header reaches here as latin-1: its bytes must be UTF-8)."""
        for header in ("X-Project-Id", "X-Tenant-Id"):
            if value := request.headers.get(header):
                try:
                    value = value.encode("latin-1").decode("utf-8")
                except UnicodeError:
                    raise BadRequest(f"The {header} header is not valid UTF-8.") from None
                return attributes.to_string()(header, value)
        return None

    @classmethod
    def _listing_project(cls, request: webob.Request) -> str | None:
        """The project a listing is for: the one it filters on, else the caller's."""
        for key in ("project_id", "tenant_id"):
            if request.GET.get(key):
                return request.GET.getall(key)[0]
        return cls._project(request)

    @staticmethod
    def _body(request: webob.Request, kind: str | None, collection: str | None) -> Any:
        body = parse_json(read_body(request))
        if collection and isinstance(body, dict) and (collection in body or
                                                      f"{kind}s" in body):
            raise BadRequest(f"Bulk creation of {collection} is not supported; "
                             f"send one '{kind}' per request.")
        return body

    # ----------------------------------------------------------------- listing

    def _list(self, request: webob.Request, kind: str, collection: str) -> webob.Response:
        query = request.GET
        matches = self._filters(kind, query)
        if kind in DEFAULT_GROUP_LISTINGS:
            self.model.ensure_default_security_group(self._listing_project(request))
        marker = self._marker(kind, query)
        items = [item for item in self.model.all(kind)
                 if item["id"] == marker or all(m(item) for m in matches)]
        spec = attributes.RESOURCES[kind]
        items = self._sorted(items, query, lambda key: _listable(spec.get(key)), f"{kind}s")
        key = collection.replace("-", "_")   # security-groups are listed as security_groups
        return self._paged(request, collection, key, items,
                           lambda item, fields: self._shown(kind, item, fields),
                           lambda marker: not_found(kind, marker))

    def _paged(self, request: webob.Request, collection: str, key: str, items: list[dict],
               shown: Callable[[dict, list[str]], dict],
               unknown: Callable[[str], NeutronError] | None) -> webob.Response:
        """The page of sorted ``items`` the query asks for (all of them with ``unknown``
        None, else a marker not among them is ``unknown``'s error), each entry ``shown``,
        and, as Neutron links them under a ``limit``, the ``next`` page (forward from its
        last entry) and the ``previous`` one (backward from its first) where there is
        one."""
        query = request.GET
        first, end, limited = (self._window(items, query, unknown) if unknown
                               else (0, len(items), False))
        fields = query.getall("fields")
        document: dict[str, Any] = {key: [shown(item, fields) for item in items[first:end]]}
        kept = [(k, v) for k, v in query.items() if k not in ("marker", "page_reverse")]
        links = []
        if limited and first < end < len(items):
            links.append(("next", [*kept, ("marker", items[end - 1]["id"])]))
        if limited and 0 < first < end:
            links.append(("previous", [*kept, ("marker", items[first]["id"]),
                                       ("page_reverse", "True")]))
        if links:
            document[f"{key}_links"] = [
                {"rel": rel, "href": f"{request.host_url}/v2.0/{collection}?{urlencode(params)}"}
                for rel, params in links]
        return _json(200, document)

    @staticmethod
    def _filters(kind: str, query: webob.multidict.MultiDict) -> list[Callable[[dict], bool]]:
        spec = attributes.RESOURCES[kind]
        matches = []
        for key in dict.fromkeys(query.keys()):
            if key in LISTING_PARAMS:
                continue
            wanted = query.getall(key)
            if kind == "port" and key == "fixed_ips":
                matches.append(_fixed_ip_filter(wanted))
                continue
            if key in TAG_FILTERS and kind in TAGGABLE:
                matches.append(_tag_filter(key, wanted))
                continue
            if kind == "port" and key == "security_groups":   # ports in any of them
                matches.append(lambda item, wanted=set(wanted): bool(
                    wanted.intersection(item["security_groups"])))
                continue
            attr = spec.get(key)
            if not _listable(attr):
                raise BadRequest(f"{key} is not a valid filter for {kind}s.")
            values = [_filter_value(attr, key, value) for value in wanted]
            matches.append(lambda item, key=key, values=values: item.get(key) in values)
        return matches

    @staticmethod
    def _sorted(items: list[dict], query: webob.multidict.MultiDict,
                sortable: Callable[[str], bool], noun: str) -> list[dict]:
        """``items`` in the order of the query's ``sort_key``/``sort_dir`` pairs."""
        keys, directions = query.getall("sort_key"), query.getall("sort_dir")
        if len(keys) != len(directions):   # as Neutron's api_common.get_sorts
            raise BadRequest("The number of sort_keys and sort_dirs must be same")
        for key, direction in reversed(list(zip(keys, directions, strict=True))):
            if not sortable(key):
                raise BadRequest(f"{key} is not a valid sort key for {noun}.")
            if direction not in ("asc", "desc"):
                raise BadRequest(f"sort_dir must be 'asc' or 'desc', not '{direction}'.")
            items = sorted(items, key=lambda item: _sort_value(item.get(key)),
                           reverse=direction == "desc")
        return items

    @staticmethod
    def _limit(query: webob.multidict.MultiDict) -> int:
        """The page size the query asks for, 0 for no limit."""
        limit = query.get("limit")
        try:
            size = 0 if limit is None else int(limit)
        except ValueError:
            size = -1
        if size < 0:
            raise BadRequest(f"Limit must be an integer 0 or greater and not '{limit}'")
        return size

    def _marker(self, kind: str, query: webob.multidict.MultiDict) -> str | None:
        """The id of the record a listing pages from, listed whatever the filters say (a
        page starts where the marker sorts, as Neutron's does); an unknown one is the
        resource's 404.  Without a limit the marker is ignored, as Neutron's
        get_limit_and_marker does."""
        marker = query.get("marker")
        if marker is None or not self._limit(query):
            return None
        return self.model.get(kind, marker)["id"]

    def _window(self, items: list[dict], query: webob.multidict.MultiDict,
                unknown: Callable[[str], NeutronError]) -> tuple[int, int, bool]:
        """The page the query asks for as ``items[first:end]``: at most ``limit`` entries
        (0: no limit) after ``marker`` (before it, with ``page_reverse``), the marker
        itself left out; and whether a limit applied.  A marker not among the items is
        ``unknown``'s error."""
        reverse = attributes.to_bool("page_reverse", query.get("page_reverse", False))
        size = self._limit(query)
        marker = query.get("marker") if size else None
        at = None
        if marker is not None:
            at = next((i for i, item in enumerate(items) if item.get("id") == marker), None)
            if at is None:
                raise unknown(marker)
        if reverse:
            end = len(items) if at is None else at
            return (max(0, end - size) if size else 0), end, bool(size)
        first = 0 if at is None else at + 1
        return first, (min(len(items), first + size) if size else len(items)), bool(size)

    @staticmethod
    def _shown(kind: str, item: dict, fields: list[str] = ()) -> dict:
        """A resource as the API shows it: its declared attributes, or those of them
        asked for.  A record stored before an attribute was withdrawn (router ``ha``,
        subnet ``service_types``: extensions not served) keeps it on disk, never on the
        wire."""
        declared = attributes.RESOURCES[kind]
        keys = [key for key in (fields or declared) if key in declared and declared[key].visible]
        return {key: _as_shown(declared[key], item[key]) for key in keys if key in item}

    @staticmethod
    def _select(item: dict, fields: list[str]) -> dict:
        return {key: item[key] for key in fields if key in item} if fields else item

    # ------------------------------------------------------------------ agents

    def _agents(self, request: webob.Request, rest: list[str]) -> webob.Response:
        """The hypervisors' agents as they describe themselves, with the operator's
        ``admin_state_up`` and ``description``, which ``PUT`` sets; ``DELETE`` retires
        a hypervisor whose OVSDB session is down (model/agents.py); ``.../l3-routers``
        the routers whose SNAT runs on its hypervisor."""
        if not rest:
            self._allow(request.method, "GET")
            return self._entries(request, "agents", self._agent_entries(), AGENT_FILTERS,
                                 unknown=_agent_not_found)
        if len(rest) == 2:
            if rest[1] != "l3-routers":
                raise NotFound(f"The resource could not be found: {request.path_info}")
            self._allow(request.method, "GET")
            host = self._agent(rest[0])["host"]
            return _json(200, {"routers": [
                self._shown("router", router) for router in self.model.all("router")
                if self.snat_host(router["id"]) == host]})
        self._allow(request.method, "GET", "PUT", "DELETE")
        agent = self._agent(rest[0])
        if request.method == "DELETE":
            reached = agent["configurations"]
            if reached["ovsdb_connected"] or reached["openflow_connected"]:
                raise Conflict(f"Agent {agent['id']} on host {agent['host']} is "
                               "connected: its OVSDB session or a bridge's OpenFlow "
                               "connection is up. Stop its Open vSwitch first.",
                               "AgentInUse")
            self.model.retire_agent(agent["id"], agent["host"])
            return webob.Response(status=204)
        if request.method == "PUT":
            values = attributes.parse_body("agent", attributes.AGENT,
                                           self._body(request, None, None), False)
            agent.update(self.model.update_agent(agent["id"], agent["host"], values))
        return _json(200, {"agent": self._select(agent, request.GET.getall("fields"))})

    def _ip_availabilities(self, request: webob.Request, rest: list[str]) -> webob.Response:
        """``/network-ip-availabilities[/{network_id}]``: filtered on the network's fields
        and on ``ip_version`` (a network without a subnet of it is left out, and so are
        its subnets of another), listed whole, as Neutron lists them."""
        entries = ip_availability.availabilities(self.model)
        if rest:
            entry = next((e for e in entries if e["network_id"] == rest[0]), None)
            if entry is None:
                raise not_found("network", rest[0])
            return _json(200, {"network_ip_availability": self._select(
                entry, request.GET.getall("fields"))})
        versions = set(request.GET.getall("ip_version"))
        if versions:
            entries = [{**entry, "subnet_ip_availability": subnets} for entry in entries
                       if (subnets := [subnet for subnet in entry["subnet_ip_availability"]
                                       if str(subnet["ip_version"]) in versions])]
            for entry in entries:
                for total in ("total_ips", "used_ips"):
                    entry[total] = sum(s[total] for s in entry["subnet_ip_availability"])
        return self._entries(request, IP_AVAILABILITIES, entries, IP_AVAILABILITY_FILTERS,
                             unknown=None, applied=("ip_version",))

    def _agent_entries(self) -> list[dict]:
        """Every agent not being retired, with the operator's fields."""
        retiring = self.model.retiring_hosts()
        return [{**agent, **self.model.agent_settings(agent["id"])}
                for agent in self.agents() if agent["host"] not in retiring]

    def _agent(self, agent_id: str) -> dict:
        agent = next((agent for agent in self._agent_entries() if agent["id"] == agent_id), None)
        if agent is None:
            raise _agent_not_found(agent_id)
        return agent

    def _router_agents(self, router_id: str) -> webob.Response:
        """``GET /routers/{id}/l3-agents``: the agent of the hypervisor that runs the
        router's SNAT (the dvr_snat node Neutron schedules it to), none without a
        gateway or a node to run it."""
        self.model.get("router", router_id)
        host = self.snat_host(router_id)
        return _json(200, {"agents": [agent for agent in self._agent_entries()
                                      if host is not None and agent["host"] == host]})

    def _entries(self, request: webob.Request, collection: str, entries: list[dict],
                 filters: tuple[str, ...], unknown: Callable[[str], NeutronError] | None,
                 applied: tuple[str, ...] = ()) -> webob.Response:
        """A listing that is not a stored resource's, filtered on the given fields by
        their text (booleans as 'true'/'false', case-insensitive), sorted on them, paged
        as the stored resources are, an unknown marker ``unknown``'s error (agents;
        with ``unknown`` None, as availability zones and service providers have no id to
        be a marker, listed whole as Neutron lists them), and narrowed to ``fields``."""
        key = collection.replace("-", "_")
        marker = request.GET.get("marker") if unknown and self._limit(request.GET) else None
        for name in dict.fromkeys(request.GET.keys()):
            if name in LISTING_PARAMS or name in applied:   # the caller filtered on these
                continue
            if name not in filters:
                raise BadRequest(f"{name} is not a valid filter for {key}.")
            wanted = {value.lower() for value in request.GET.getall(name)}
            entries = [entry for entry in entries
                       if (marker is not None and entry.get("id") == marker)
                       or _field_text(entry.get(name)) in wanted]
        entries = self._sorted(entries, request.GET, filters.__contains__, key)
        return self._paged(request, collection, key, entries, self._select, unknown)


def _agent_not_found(agent_id: str) -> NotFound:
    return NotFound(f"Agent {agent_id} could not be found.", "AgentNotFound")


def _listable(attr: attributes.Attr | None) -> bool:
    """Whether a stored resource can be filtered and sorted on the attribute."""
    return attr is not None and attr.scalar and attr.visible


def read_body(request: webob.Request) -> bytes:
    """The request body, sized by Content-Length or sent in chunks; 413 over the limit,
    400 when it breaks off (shorter than its Content-Length, the client silent past the
    timeout, a chunk that does not parse)."""
    try:
        raw = _body(request)
    except (ValueError, OSError) as error:   # eventlet's ChunkReadError, a timeout, EOF
        raise BadRequest(f"Malformed request body: it could not be read ({error}).") from None
    if not raw:
        raise BadRequest("Resource body required")
    return raw


def _body(request: webob.Request) -> bytes:
    if request.content_length is not None:
        if request.content_length > MAX_BODY_BYTES:
            raise RequestEntityTooLarge(f"Request body larger than {MAX_BODY_BYTES} bytes.")
        return request.body
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        raw = request.environ["wsgi.input"].read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise RequestEntityTooLarge(f"Request body larger than {MAX_BODY_BYTES} bytes.")
        return raw
    return b""


class _NotJson(ValueError):
    pass


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise _NotJson(f"the number {text} is out of range")
    return number


def _no_constant(name: str) -> None:
    raise _NotJson(f"{name} is not a number JSON allows")


# a \uD800-\uDFFF escape: half of a surrogate pair, or a lone one no UTF-8 can carry
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_json(raw: bytes) -> Any:
    """JSON as RFC 8259 has it: UTF-8 (no BOM, no UTF-16), no NaN or Infinity, no number
    beyond a double, no lone surrogate in a string (it could not be written back as
    UTF-8), nothing nested deeper than a Neutron body ever is."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_float=_finite,
                          parse_constant=_no_constant)
    except _NotJson as error:
        raise BadRequest(f"Malformed request body: {error}.") from None
    except RecursionError:
        raise BadRequest("Malformed request body: nested too deeply.") from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Malformed request body") from None
    levels = [[body]]
    for _ in range(MAX_JSON_DEPTH):
        level = [child for value in levels[-1] if isinstance(value, (dict, list))
                 for child in (value.values() if isinstance(value, dict) else value)]
        if not level:
            break
        levels.append(level)
    else:
        raise BadRequest("Malformed request body: nested too deeply.")
    # only a body with such an escape can hold one: the others are not walked again
    if SURROGATE_ESCAPE.search(raw) and not all(
            _is_unicode(text) for level in levels for value in level
            for text in ((value,) if isinstance(value, str) else
                         value if isinstance(value, dict) else ())):
        raise BadRequest("Malformed request body: a string holds a lone surrogate.")
    return body


def _is_unicode(text: str) -> bool:
    """True unless the text holds a lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _filter_value(attr: attributes.Attr, key: str, value: str) -> Any:
    """A query-string value converted like the attribute, so '100' matches 100."""
    if value == "" and attr.default is None:
        return None
    try:
        return (attr.filter_convert or attr.convert)(key, value)
    except NeutronError:
        raise BadRequest(f"Invalid value '{value}' for filter {key}.") from None


def _sort_value(value: Any) -> tuple:
    """Sort by the value itself (numbers as numbers, strings as strings, anything else by
    its JSON), missing values last: values of two kinds never meet in a comparison (a
    stored value an older release accepted, say)."""
    if value is None:
        return (2, 0, "")
    if isinstance(value, (int, float)):
        return (0, 0, value)
    if isinstance(value, str):
        return (0, 1, value)
    return (1, 0, json.dumps(value, sort_keys=True))


def _as_shown(attr: attributes.Attr, value: Any) -> Any:
    return attr.shown_as(value) if attr.shown_as and value is not None else value


def _project_entry(project: str) -> dict:
    return {"id": project, "name": project, "domain_id": "default", "enabled": True,
            "description": "", "is_domain": False, "parent_id": "default", "links": {}}


AGENT_FILTERS = ("id", "agent_type", "binary", "host", "topic", "alive", "admin_state_up",
                 "availability_zone", "description")


def _field_text(value: Any) -> str:
    """A field as a filter compares it: booleans as 'true'/'false'."""
    return str(value).lower() if value is not None else ""


def _fixed_ip_filter(wanted: list[str]) -> Callable[[dict], bool]:
    """fixed_ips=ip_address=10.0.0.5 / fixed_ips=subnet_id=X, as the openstack client sends;
    as Neutron's query: the values of one field are alternatives, the fields all apply."""
    values: dict[str, set[str]] = {}
    for entry in wanted:
        field, _, value = entry.partition("=")
        if field not in ("ip_address", "subnet_id", "ip_address_substr") or not value:
            raise BadRequest(f"Invalid fixed_ips filter '{entry}'.")
        values.setdefault(field, set()).add(value)

    def holds(ip: dict, field: str, alternatives: set[str]) -> bool:
        if field == "ip_address_substr":
            return any(value in ip["ip_address"] for value in alternatives)
        return ip[field] in alternatives

    def match(port: dict) -> bool:
        return all(any(holds(ip, field, alternatives) for ip in port["fixed_ips"])
                   for field, alternatives in values.items())
    return match


def _tag_filter(key: str, wanted: list[str]) -> Callable[[dict], bool]:
    """Neutron's tag filters: ``tags`` all of them, ``tags-any`` one of them, and the
    ``not-`` forms keep the resources those would not."""
    tags = {tag for value in wanted for tag in value.split(",")}
    if key.endswith("-any"):
        def hit(item: dict) -> bool:
            return not tags.isdisjoint(item["tags"])
    else:
        def hit(item: dict) -> bool:
            return tags.issubset(item["tags"])
    if key.startswith("not-"):
        return lambda item: not hit(item)
    return hit
