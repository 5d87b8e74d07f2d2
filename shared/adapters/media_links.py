"""A URL a provider can download one of our files from, for providers that take media by link (Twilio's MediaUrl).

The file is stored in the media bucket under a prefix of its own and its tenant (links/tenants/{t}/{sha256}.{ext}:
the prefix is what the signing account may read, terraform/voice_clone.tf) and linked with a
V4 signed URL that expires in minutes. Cloud Functions have no key file: google-cloud-storage signs through the
IAM Credentials API's signBlob with the function's own service account when given its e-mail and an access
token (https://cloud.google.com/storage/docs/access-control/signing-urls-with-helpers; the account needs
roles/iam.serviceAccountTokenCreator on itself, terraform/voice_clone.tf). Against the local Storage emulator
(STORAGE_EMULATOR_HOST) the link is the emulator's plain download URL: it checks no signature.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import quote

from google.api_core import exceptions as gexc
from google.cloud import storage

LINKS_PREFIX = "links/"
_EXTENSIONS = {"audio/ogg": "ogg", "audio/mpeg": "mp3", "audio/aac": "aac", "audio/amr": "amr"}


class SignedMediaLinks:
    def __init__(self, client: storage.Client, bucket: str, signer_email: str | None, expiry: timedelta,
                 emulator_host: str | None = None) -> None:
        self._client = client
        self._bucket = bucket
        self._signer_email = signer_email
        self._expiry = expiry
        self._emulator_host = emulator_host

    def link(self, tenant_id: str, content: bytes, content_type: str) -> str:
        """Stores `content` (once per content: the name is its hash) and returns a URL that expires."""
        name = f"{LINKS_PREFIX}tenants/{tenant_id}/{hashlib.sha256(content).hexdigest()}." \
               f"{_EXTENSIONS.get(content_type, 'bin')}"
        blob = self._client.bucket(self._bucket).blob(name)
        try:
            # Content-Type is what the provider checks against the file (Twilio refuses a mismatch). Create-only:
            # the same note again (a retried send) is already there, and objectCreator may not overwrite.
            blob.upload_from_string(content, content_type=content_type, if_generation_match=0)
        except gexc.PreconditionFailed:
            pass
        if self._emulator_host:
            return f"{self._emulator_host.rstrip('/')}/download/storage/v1/b/{self._bucket}/o/{quote(name, safe='')}?alt=media"
        if not self._signer_email:
            raise RuntimeError("MEDIA_SIGNER_SERVICE_ACCOUNT is not set: no account to sign media links with")
        from google.auth.transport.requests import Request

        credentials = self._client._credentials  # the function's own identity (metadata server)
        if not credentials.valid:
            credentials.refresh(Request())
        return blob.generate_signed_url(version="v4", expiration=self._expiry, method="GET",
                                        service_account_email=self._signer_email, access_token=credentials.token)
