"""Secret Manager over REST (httpx + an OAuth token): one secret per agent holding its voice-cloning key.

Methods used (https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets):
  POST v1/projects/{p}/secrets?secretId=ID            create (409 ALREADY_EXISTS when it exists)
  POST v1/projects/{p}/secrets/{id}:addVersion          {payload: {data: base64, dataCrc32c}} → SecretVersion
  GET  v1/projects/{p}/secrets/{id}/versions/{v}:access → {payload: {data, dataCrc32c}}
  POST v1/projects/{p}/secrets/{id}/versions/{v}:disable → SecretVersion {state: DISABLED}
A disabled version cannot be accessed until it is enabled again
(https://cloud.google.com/secret-manager/docs/disable-secret-version). The client library is not used: these
four calls over the httpx client the function already has cost no extra import at cold start.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable

import httpx

from shared.domain.errors import PilotoError


class SecretManagerError(PilotoError):
    """Secret Manager refused or failed a call: status is the HTTP status (0 when unreachable)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"Secret Manager answered {status}: {reason}" if status else reason)
        self.status = status


def crc32c(data: bytes) -> int:
    """The checksum Secret Manager verifies on addVersion and returns on access (dataCrc32c, an int64 string)."""
    import google_crc32c  # installed with google-cloud-storage; C implementation

    return int(google_crc32c.value(data))


class SecretManagerRest:
    def __init__(self, http: httpx.Client, project: str, token: Callable[[], str],
                 base_url: str = "https://secretmanager.googleapis.com", cache_seconds: float = 300.0) -> None:
        self._http = http
        self._project = project
        self._token = token
        self._base = base_url.rstrip("/")
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def create_secret(self, secret_id: str, replica_location: str, labels: dict[str, str]) -> bool:
        """True when created, False when it already existed (a repeated cloning reuses the agent's secret)."""
        body = {"replication": {"userManaged": {"replicas": [{"location": replica_location}]}}, "labels": labels}
        response = self._call("POST", f"/v1/projects/{self._project}/secrets", json=body,
                              params={"secretId": secret_id})
        if response.status_code == 409:
            return False
        self._raise_for(response)
        return True

    def add_version(self, secret_id: str, data: bytes) -> str:
        """The new version's resource name (projects/…/secrets/…/versions/N)."""
        body = {"payload": {"data": base64.b64encode(data).decode(), "dataCrc32c": str(crc32c(data))}}
        response = self._call("POST", f"/v1/projects/{self._project}/secrets/{secret_id}:addVersion", json=body)
        self._raise_for(response)
        return response.json()["name"]

    def access(self, version_name: str) -> bytes:
        """The version's data, from a per-instance cache for cache_seconds: a revocation takes effect within it."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(version_name)
            if cached and now - cached[0] < self._cache_seconds:
                return cached[1]
        response = self._call("GET", f"/v1/{version_name}:access")
        self._raise_for(response)
        payload = response.json().get("payload") or {}
        data = base64.b64decode(payload.get("data") or "")
        if "dataCrc32c" in payload and int(payload["dataCrc32c"]) != crc32c(data):
            raise SecretManagerError(0, "the secret's data does not match its CRC32C checksum")
        with self._lock:
            self._cache[version_name] = (now, data)
        return data

    def disable(self, version_name: str) -> None:
        response = self._call("POST", f"/v1/{version_name}:disable", json={})
        self._raise_for(response)
        with self._lock:
            self._cache.pop(version_name, None)

    def _call(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            return self._http.request(method, f"{self._base}{path}",
                                      headers={"Authorization": f"Bearer {self._token()}"}, **kwargs)
        except httpx.HTTPError as err:
            raise SecretManagerError(0, f"Secret Manager unreachable ({type(err).__name__})") from None

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        if response.status_code < 300:
            return
        try:
            error = response.json().get("error") or {}
            reason = f"{error.get('status', '')} {error.get('message', '')}".strip()[:200]
        except ValueError:
            reason = response.reason_phrase
        raise SecretManagerError(response.status_code, reason or response.reason_phrase)
