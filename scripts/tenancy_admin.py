"""Admin commands for tenancy, run against the project's Firestore with your own credentials
(Application Default Credentials; GOOGLE_CLOUD_PROJECT names the project, FIRESTORE_EMULATOR_HOST a local one).

  .venv/bin/python scripts/tenancy_admin.py register-channels          # migration: registry for existing channels
  .venv/bin/python scripts/tenancy_admin.py issue-key <tenant> <label>  # prints a new /chat API key once
  .venv/bin/python scripts/tenancy_admin.py revoke-key <tenant> <key id>
  .venv/bin/python scripts/tenancy_admin.py list-keys <tenant>
  .venv/bin/python scripts/tenancy_admin.py webhook-url --tenant T --provider zapi --channel C  # keyed URL to set
  .venv/bin/python scripts/tenancy_admin.py webhook-urls       # every registered gateway channel's keyed URL

webhook-url(s) read WEBHOOK_URL_KEY (the platform secret: `gcloud secrets versions access latest
--secret=webhook-url-key`) and PUBLIC_WEBHOOK_URL (or --base-url: the whatsapp_webhook URL, `terraform output`).
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
from shared.domain.webhook_key import KEYED_PROVIDERS, keyed_webhook_url  # noqa: E402
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
    one_url = commands.add_parser("webhook-url", help="the keyed webhook URL to set for one gateway channel")
    one_url.add_argument("--tenant", required=True)
    one_url.add_argument("--provider", required=True, choices=sorted(p.value for p in KEYED_PROVIDERS))
    one_url.add_argument("--channel", required=True, help="Evolution instance, Z-API instanceId, Twilio sender")
    one_url.add_argument("--base-url", help="the whatsapp_webhook URL (default: PUBLIC_WEBHOOK_URL)")
    all_urls = commands.add_parser("webhook-urls", help="the keyed webhook URL of every registered gateway channel")
    all_urls.add_argument("--base-url", help="the whatsapp_webhook URL (default: PUBLIC_WEBHOOK_URL)")
    args = parser.parse_args(argv)

    db = firestore_client(get_settings().google_cloud_project)
    if args.command in ("webhook-url", "webhook-urls"):
        return _webhook_urls(args, FirestoreChannelDirectory(db, cache_seconds=0))
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


# Where each gateway takes its webhook URL.
_WHERE = {
    # https://developer.z-api.io/en/webhooks/update-every-webhooks (one URL for received, status and delivery)
    "zapi": "PUT https://api.z-api.io/instances/{channel}/token/<instance token>/update-every-webhooks "
            '{{"value": "<url>"}} (header Client-Token), or the Z-API panel\'s webhook fields',
    # https://doc.evolution-api.com/v2/en/configuration/webhooks: webhook_by_events must stay false (true appends
    # the event name to the URL's path)
    "evolution": "POST <server>/webhook/set/{channel} with webhook.url = <url>, webhook_by_events false, "
                 "events MESSAGES_UPSERT and MESSAGES_UPDATE",
    # https://www.twilio.com/docs/usage/webhooks/webhooks-security: the signature covers this URL, query included
    "twilio": "Twilio Console: the WhatsApp sender's (or sandbox's) \"When a message comes in\" URL (POST); our "
              "sends name the keyed status callback themselves",
}


def _webhook_urls(args: argparse.Namespace, directory: FirestoreChannelDirectory) -> int:
    settings = get_settings()
    secret = settings.webhook_url_key.get_secret_value() if settings.webhook_url_key else None
    base = args.base_url or settings.public_webhook_url
    if not secret or not base:
        print("set WEBHOOK_URL_KEY and PUBLIC_WEBHOOK_URL (or --base-url) first", file=sys.stderr)
        return 2
    if args.command == "webhook-url":
        channel = directory.find_channel(args.provider, args.channel)
        if channel is None or channel.tenant_id != args.tenant:
            print(f"no {args.provider} channel {args.channel!r} registered to tenant {args.tenant!r}", file=sys.stderr)
            return 2
        targets = [(args.provider, args.channel, args.tenant)]
    else:
        targets = [(*key.split(":", 1), tenant) for key, tenant in directory.registered_channels()
                   if key.split(":", 1)[0] in {p.value for p in KEYED_PROVIDERS}]
    for provider, channel_id, tenant in targets:
        print(json.dumps({"tenant": tenant, "provider": provider, "channel": channel_id,
                          "url": keyed_webhook_url(base, provider, channel_id, secret),
                          "set_it": _WHERE[provider].format(channel=channel_id)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
