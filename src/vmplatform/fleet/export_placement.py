"""Set each host's traits on its resource provider in a running OpenStack Placement service.

The HTTP API as documented in the Placement API reference: custom traits
are created with ``PUT /traits/{name}`` (microversion 1.6), a provider's
traits are replaced as a whole with ``PUT /resource_providers/{uuid}/traits``
guarded by its generation (a 409 means another writer got there first: read
and try again). Traits outside our namespace (set by nova-compute or an
operator) are kept.

Nova creates one resource provider per compute node, named after the
hypervisor host; this module only finds it by name. For a Placement without
Nova (or a test), ``create_vcpus`` creates the missing providers with a VCPU
inventory of that size.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from vmplatform.errors import VmplatformError
from vmplatform.fleet.export_traits import NAMESPACE
from vmplatform.model.jsonvalue import JsonObject

#: Traits need 1.6, POST /resource_providers returning the provider needs 1.20.
MICROVERSION = "placement 1.20"
#: uuid5 namespace for providers this module creates: the same host gets the same uuid everywhere.
_PROVIDER_NS = uuid.UUID("6a1d4c1e-5b0f-5c57-9a43-8f7f2b4f7a10")
_RETRIES = 5


class PlacementError(VmplatformError):
    """Placement refused a request or cannot be reached."""


@dataclass(frozen=True)
class SyncResult:
    created: tuple[str, ...]          # providers created (create_vcpus)
    updated: tuple[str, ...]          # providers whose traits changed
    unchanged: tuple[str, ...]
    missing: tuple[str, ...]          # hosts without a provider (and none created)
    traits_created: tuple[str, ...]

    def to_json(self) -> JsonObject:
        return {"created": [*self.created], "updated": [*self.updated], "unchanged": [*self.unchanged],
                "missing": [*self.missing], "traits-created": [*self.traits_created]}


class PlacementClient:
    """A small synchronous client over one keep-alive connection (reopened when the server closes it)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PlacementError(f"{url!r} is not an http(s) URL", "pass the Placement endpoint, e.g. "
                                 "http://controller:8778 (openstack endpoint list --service placement)")
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._base = parts.path.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: object = None,
                microversion: str = MICROVERSION) -> tuple[int, Any]:
        headers = {"Accept": "application/json", "OpenStack-API-Version": microversion}
        if self._token:
            headers["X-Auth-Token"] = self._token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                conn = self._connection()
                conn.request(method, self._base + path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                if resp.getheader("Connection", "").lower() == "close" or resp.version < 11:
                    self.close()
                break
            except (ConnectionError, http.client.HTTPException) as err:
                self.close()  # a kept-alive connection the server dropped: one fresh try
                if attempt == 2:
                    raise PlacementError(f"cannot reach Placement at {self.url}: {err}",
                                         "check the URL and that placement-api is running") from err
            except OSError as err:
                self.close()
                raise PlacementError(f"cannot reach Placement at {self.url}: {err.strerror or err}",
                                     "check the URL and that placement-api is running") from err
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        if resp.status == 401:
            raise PlacementError(f"Placement at {self.url} refused the token ({method} {path}: 401)",
                                 "pass a valid Keystone token with --token or $OS_AUTH_TOKEN")
        if resp.status == 403:
            raise PlacementError(f"Placement at {self.url} forbids {method} {path} (403)",
                                 "the token needs the admin role (or placement's service role)")
        return resp.status, payload

    def expect(self, method: str, path: str, body: object = None, ok: Iterable[int] = (200,)) -> Any:
        status, payload = self.request(method, path, body)
        if status not in tuple(ok):
            raise PlacementError(f"Placement {method} {path} answered {status}: {_detail(payload)}",
                                 "see the placement-api log for the request id")
        return payload


def _detail(payload: Any) -> str:
    if isinstance(payload, dict) and payload.get("errors"):
        err = payload["errors"][0]
        return " ".join(str(err.get("detail") or err.get("title") or err).split())
    return str(payload)[:200]


def provider_uuid(host: str) -> str:
    return str(uuid.uuid5(_PROVIDER_NS, host))


def find_provider(client: PlacementClient, name: str) -> str | None:
    found = client.expect("GET", f"/resource_providers?name={quote(name, safe='')}")
    rps = found.get("resource_providers", [])
    return str(rps[0]["uuid"]) if rps else None


def create_provider(client: PlacementClient, name: str, vcpus: int) -> str:
    rp = client.expect("POST", "/resource_providers", {"name": name, "uuid": provider_uuid(name)}, ok=(200,))
    rp_uuid = str(rp["uuid"])
    client.expect("PUT", f"/resource_providers/{rp_uuid}/inventories",
                  {"resource_provider_generation": rp["generation"], "inventories": {"VCPU": {"total": vcpus}}},
                  ok=(200,))
    return rp_uuid


def ensure_traits(client: PlacementClient, wanted: Iterable[str]) -> list[str]:
    """Create the custom traits Placement does not know yet; the ones created."""
    have = set(client.expect("GET", f"/traits?name=startswith:{NAMESPACE}_")["traits"])
    created = []
    for trait in sorted(set(wanted) - have):
        client.expect("PUT", f"/traits/{trait}", ok=(201, 204))
        created.append(trait)
    return created


def set_provider_traits(client: PlacementClient, rp_uuid: str, ours: frozenset[str]) -> bool:
    """Make our namespace's traits on the provider exactly ``ours``; others stay. True if it changed."""
    for _ in range(_RETRIES):
        cur = client.expect("GET", f"/resource_providers/{rp_uuid}/traits")
        current = set(cur["traits"])
        keep = {t for t in current if not t.startswith(NAMESPACE + "_")}
        target = keep | ours
        if target == current:
            return False
        status, payload = client.request("PUT", f"/resource_providers/{rp_uuid}/traits", {
            "traits": sorted(target), "resource_provider_generation": cur["resource_provider_generation"]})
        if status == 200:
            return True
        if status != 409:
            raise PlacementError(f"Placement PUT /resource_providers/{rp_uuid}/traits answered {status}: "
                                 f"{_detail(payload)}", "see the placement-api log for the request id")
    raise PlacementError(f"resource provider {rp_uuid} kept changing under us ({_RETRIES} generation conflicts)",
                         "run the export again")


def sync_placement(client: PlacementClient, traits: Mapping[str, frozenset[str]], every_trait: Iterable[str] = (),
                   create_vcpus: int | None = None) -> SyncResult:
    """Give every host's resource provider exactly its vmplatform traits.

    ``every_trait`` (all names of the trait map) are created too: a flavor or
    query may require a trait no host has yet, and Placement answers 400 for
    a trait it does not know rather than "no candidates".
    """
    created_traits = ensure_traits(client, {t for ts in traits.values() for t in ts} | set(every_trait))
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    missing: list[str] = []
    for host, ours in sorted(traits.items()):
        rp_uuid = find_provider(client, host)
        if rp_uuid is None:
            if create_vcpus is None:
                missing.append(host)
                continue
            rp_uuid = create_provider(client, host, create_vcpus)
            created.append(host)
        (updated if set_provider_traits(client, rp_uuid, ours) else unchanged).append(host)
    return SyncResult(tuple(created), tuple(updated), tuple(unchanged), tuple(missing), tuple(created_traits))
