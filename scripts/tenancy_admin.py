"""Admin commands for tenancy, run against the project's Firestore with your own credentials
(Application Default Credentials; GOOGLE_CLOUD_PROJECT names the project, FIRESTORE_EMULATOR_HOST a local one).

  .venv/bin/python scripts/tenancy_admin.py register-channels          # migration: registry for existing channels
  .venv/bin/python scripts/tenancy_admin.py issue-key <tenant> <label>  # prints a new /chat API key once
  .venv/bin/python scripts/tenancy_admin.py revoke-key <tenant> <key id>
  .venv/bin/python scripts/tenancy_admin.py list-keys <tenant>
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.adapters.firestore_api_keys import FirestoreApiKeyStore  # noqa: E402 - after the path fix above
from shared.adapters.firestore_channels import FirestoreChannelDirectory  # noqa: E402
from shared.adapters.firestore_client import firestore_client  # noqa: E402
from shared.config import get_settings  # noqa: E402
from shared.services.api_keys import issue_api_key, revoke_api_key  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("register-channels")
    issue = commands.add_parser("issue-key")
    issue.add_argument("tenant_id")
    issue.add_argument("label")
    revoke = commands.add_parser("revoke-key")
    revoke.add_argument("tenant_id")
    revoke.add_argument("key_id")
    listing = commands.add_parser("list-keys")
    listing.add_argument("tenant_id")
    args = parser.parse_args(argv)

    db = firestore_client(get_settings().google_cloud_project)
    if args.command == "register-channels":
        report = FirestoreChannelDirectory(db, cache_seconds=0).register_existing_channels()
        print(json.dumps(report.__dict__, indent=2))
        return 1 if report.conflicts else 0
    keys = FirestoreApiKeyStore(db)
    if args.command == "issue-key":
        directory = FirestoreChannelDirectory(db, cache_seconds=0)
        if directory.get_tenant(args.tenant_id) is None:
            print(f"no tenant {args.tenant_id!r}", file=sys.stderr)
            return 2
        print(issue_api_key(args.tenant_id, args.label, keys))
        return 0
    if args.command == "revoke-key":
        return 0 if revoke_api_key(args.tenant_id, args.key_id, keys) else 2
    print(json.dumps(keys.list_api_keys(args.tenant_id), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
