"""A local HTTP server speaking the Secret Manager v1 REST calls Piloto makes, so the real SecretManagerRest (httpx)
is what the tests drive. Each rule cites the page that documents it.

Tokens stand for identities: `roles` maps a bearer token to the calls it may make (the function's IAM). A token
not in `roles` may do everything, as the project owner would.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from urllib.parse import parse_qs, urlsplit

import google_crc32c

from dev.json_http import JsonHandler, serve_in_background

# Secret ids: "[a-zA-Z_0-9-]{1,255}" (https://cloud.google.com/secret-manager/docs/reference/rest/v1/
# projects.secrets/create, secretId).
SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
# "The secret data. Must be no larger than 64KiB." (SecretPayload,
# https://cloud.google.com/secret-manager/docs/reference/rest/v1/SecretPayload)
MAX_PAYLOAD = 64 * 1024
PROJECT_NUMBER = "123456789012"  # the API answers with the project number in resource names


def _error(code: int, status: str, message: str) -> tuple[int, dict]:
    return code, {"error": {"code": code, "status": status, "message": message}}


class FakeSecretManager:
    def __init__(self) -> None:
        self.secrets: dict[str, dict] = {}  # secret id → {"replication", "labels", "versions": [{state, data}]}
        self.roles: dict[str, set[str]] = {}  # token → {"create", "addVersion", "access", "disable"}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(JsonHandler):
            def _serve(self) -> None:
                raw = self.read_body()
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    self.reply_json(*_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."))
                    return
                with fake._lock:
                    self.reply_json(*fake.answer(self.command, self.path, self.headers.get("Authorization", ""),
                                                 body))

            do_GET = do_POST = _serve  # noqa: N815 - http.server's naming

        self.server, _ = serve_in_background(Handler)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def version_state(self, version_name: str) -> str:
        secret, number = self._parse_version(version_name)
        return self.secrets[secret]["versions"][number - 1]["state"]

    def answer(self, method: str, target: str, authorization: str, body: dict) -> tuple[int, dict]:
        url = urlsplit(target)
        self.requests.append((method, url.path))
        if not authorization.startswith("Bearer "):
            # Every call needs OAuth 2.0 credentials (https://cloud.google.com/secret-manager/docs/authentication).
            return _error(401, "UNAUTHENTICATED", "Request is missing required authentication credential.")
        token = authorization.removeprefix("Bearer ")
        create = re.fullmatch(r"/v1/projects/([^/]+)/secrets", url.path)
        add = re.fullmatch(r"/v1/projects/([^/]+)/secrets/([^/:]+):addVersion", url.path)
        version = re.fullmatch(r"/v1/projects/([^/]+)/secrets/([^/]+)/versions/([^/:]+):(access|disable)", url.path)
        if method == "POST" and create:
            return self._create(token, parse_qs(url.query).get("secretId", [""])[0], body)
        if method == "POST" and add:
            return self._add_version(token, add[2], body)
        if version and ((method, version[4]) in (("GET", "access"), ("POST", "disable"))):
            return self._on_version(token, version[4], version[2], version[3])
        return _error(404, "NOT_FOUND", f"no method {method} {url.path}")

    def _denied(self, token: str, call: str) -> tuple[int, dict] | None:
        # Without the permission on the resource the API answers 403 PERMISSION_DENIED
        # (https://cloud.google.com/secret-manager/docs/access-control).
        if token in self.roles and call not in self.roles[token]:
            return _error(403, "PERMISSION_DENIED", f"Permission 'secretmanager.{call}' denied")
        return None

    def _create(self, token: str, secret_id: str, body: dict) -> tuple[int, dict]:
        if denied := self._denied(token, "secrets.create"):
            return denied
        if not SECRET_ID.match(secret_id):
            return _error(400, "INVALID_ARGUMENT", "secretId must match [a-zA-Z_0-9-]{1,255}")
        # Secret.replication is "Required. Immutable." (https://cloud.google.com/secret-manager/docs/reference/rest/
        # v1/projects.secrets#Secret)
        replication = body.get("replication") or {}
        replicas = (replication.get("userManaged") or {}).get("replicas")
        if "automatic" not in replication and not replicas:
            return _error(400, "INVALID_ARGUMENT", "replication is required")
        if replicas is not None and not all(r.get("location") for r in replicas):
            return _error(400, "INVALID_ARGUMENT", "replication.user_managed.replicas[].location is required")
        if secret_id in self.secrets:
            # create on an existing id: 409 ALREADY_EXISTS (standard error model, https://cloud.google.com/apis/
            # design/errors#handling_errors)
            return _error(409, "ALREADY_EXISTS", f"Secret [projects/{PROJECT_NUMBER}/secrets/{secret_id}] already "
                                                 "exists.")
        self.secrets[secret_id] = {"replication": replication, "labels": body.get("labels") or {}, "versions": []}
        return 200, {"name": f"projects/{PROJECT_NUMBER}/secrets/{secret_id}", "replication": replication}

    def _add_version(self, token: str, secret_id: str, body: dict) -> tuple[int, dict]:
        if denied := self._denied(token, "versions.add"):
            return denied
        if secret_id not in self.secrets:
            return _error(404, "NOT_FOUND", f"Secret [projects/{PROJECT_NUMBER}/secrets/{secret_id}] not found.")
        payload = body.get("payload") or {}
        try:
            data = base64.b64decode(payload.get("data") or "", validate=True)
        except (binascii.Error, ValueError):
            return _error(400, "INVALID_ARGUMENT", "payload.data is not valid base64")
        if not data or len(data) > MAX_PAYLOAD:
            return _error(400, "INVALID_ARGUMENT", "payload.data must be 1 byte to 64 KiB")
        # dataCrc32c: "If specified, SecretManagerService will verify the integrity of the received data"
        # (SecretPayload) — a mismatch is refused.
        if "dataCrc32c" in payload and int(payload["dataCrc32c"]) != google_crc32c.value(data):
            return _error(400, "INVALID_ARGUMENT", "Checksum mismatch: dataCrc32c does not match the data")
        versions = self.secrets[secret_id]["versions"]
        versions.append({"state": "ENABLED", "data": data})
        return 200, {"name": f"projects/{PROJECT_NUMBER}/secrets/{secret_id}/versions/{len(versions)}",
                     "state": "ENABLED"}

    def _on_version(self, token: str, call: str, secret_id: str, version: str) -> tuple[int, dict]:
        if denied := self._denied(token, "versions.access" if call == "access" else "versions.disable"):
            return denied
        secret = self.secrets.get(secret_id)
        versions = secret["versions"] if secret else []
        # "latest" is an alias to the most recently created version (AccessSecretVersionRequest.name).
        number = len(versions) if version == "latest" else int(version) if version.isdigit() else 0
        name = f"projects/{PROJECT_NUMBER}/secrets/{secret_id}/versions/{number}"
        if not 1 <= number <= len(versions):
            return _error(404, "NOT_FOUND", f"Secret Version [{name}] not found.")
        entry = versions[number - 1]
        if call == "disable":
            entry["state"] = "DISABLED"
            return 200, {"name": name, "state": "DISABLED"}
        if entry["state"] != "ENABLED":
            # A disabled version cannot be accessed until it is enabled again
            # (https://cloud.google.com/secret-manager/docs/disable-secret-version); the API says
            # FAILED_PRECONDITION.
            return _error(400, "FAILED_PRECONDITION", f"Secret Version [{name}] is in DISABLED state.")
        return 200, {"name": name, "payload": {"data": base64.b64encode(entry["data"]).decode(),
                                               "dataCrc32c": str(google_crc32c.value(entry["data"]))}}

    def _parse_version(self, version_name: str) -> tuple[str, int]:
        match = re.fullmatch(r"projects/[^/]+/secrets/([^/]+)/versions/(\d+)", version_name)
        assert match, version_name
        return match[1], int(match[2])
