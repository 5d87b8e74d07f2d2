"""One root exception for Piloto, with the specific failures entry points map to HTTP codes."""

from datetime import datetime


class PilotoError(Exception):
    """Root of every error Piloto raises on purpose."""


class InvalidPayload(PilotoError):
    """The request body is not what the provider documents (HTTP 400)."""


class PayloadTooLarge(PilotoError):
    """The request body is over the configured limit (HTTP 413)."""


class BatchTooLarge(PayloadTooLarge):
    """One webhook request carries more parts than WEBHOOK_MAX_BATCH_ITEMS (HTTP 413): its work would not fit
    the request's deadline."""


class MissingSignature(PilotoError):
    """No signature or token came with the request (HTTP 401)."""


class BadSignature(PilotoError):
    """A signature or token came but does not match (HTTP 403)."""


class UnknownTenant(PilotoError):
    """No tenant owns the number or instance the provider named (HTTP 404)."""


class NotFound(PilotoError):
    """The document a request names does not exist under that tenant (HTTP 404)."""


class UnknownProvider(PilotoError):
    """The webhook path names no provider Piloto speaks (HTTP 404)."""


class TransientError(PilotoError):
    """Something outside failed in a way a retry may fix (HTTP 503, so Cloud Tasks retries)."""


class DeadlinePassed(TransientError):
    """A dependency (Firestore, Cloud Tasks) did not answer inside the request's deadline (HTTP 503 + Retry-After).
    What the request had not stored yet is not acknowledged: the provider delivers it again."""


class TurnInProgress(TransientError):
    """Another delivery of the same agent turn holds the lease; retry later."""


class ProviderSendError(TransientError):
    """The WhatsApp provider refused or failed a send that may work on retry."""

    def __init__(self, provider: str, status: int, detail: str) -> None:
        super().__init__(f"{provider} send failed with HTTP {status}: {detail}")
        self.provider = provider
        self.status = status


class ProviderRejected(PilotoError):
    """The provider refused a send for good (bad number, auth): retrying will not help."""

    def __init__(self, provider: str, status: int, detail: str) -> None:
        super().__init__(f"{provider} rejected the send with HTTP {status}: {detail}")
        self.provider = provider
        self.status = status


class ModelUnavailable(TransientError):
    """The language model failed (429, 5xx, timeout) after its own retries."""


class ModelAttemptFailed(PilotoError):
    """One model attempt failed. `call` is its ledger record (outcome, error code, tokens the API reported), so
    the caller meters failed attempts too."""

    def __init__(self, message: str, call: object | None = None) -> None:
        super().__init__(message)
        self.call = call


class ModelTransient(ModelAttemptFailed, ModelUnavailable):
    """429, 5xx, timeout or no connection: the same model may answer later."""


class ModelOutOfTokens(ModelAttemptFailed):
    """The output limit ran out (finish reason MAX_TOKENS) before a usable answer: retry with more room."""


class ModelBlocked(ModelAttemptFailed):
    """The answer or the prompt was blocked (SAFETY, RECITATION…): no tier will answer this conversation."""


class ModelRejected(ModelAttemptFailed):
    """The model refused the request itself (bad request, unknown or retired model id, permission): a retry of the
    same request fails the same way; another model may not."""


# Media understanding


class WaitingForMedia(TransientError):
    """The burst has a lead file still being read: the turn is retried later (or woken when it is read)."""


class MediaInProgress(TransientError):
    """Another delivery of the same media task holds its lease; retry later."""


class MediaTooLarge(PilotoError):
    """The provider's file is over the configured limit for its kind: it is not downloaded."""

    def __init__(self, size: int) -> None:
        super().__init__(f"file has {size} bytes")
        self.size = size


class MediaUnavailable(PilotoError):
    """The provider will not hand the file over (expired, deleted, not stored, refused): retrying will not help."""


class MediaUnreadable(PilotoError):
    """The file was downloaded but its text cannot be read (corrupt, encrypted PDF, refused by the model)."""


# Knowledge base


class UnsupportedDocument(PilotoError):
    """A knowledge file that cannot become text (type, empty, too large): stored and marked, never retried."""


class ScanUnreadable(UnsupportedDocument):
    """A scanned PDF the configured reader cannot read (the offline reader never can)."""


# Domain events and CRM sync


class CrmUnavailable(TransientError):
    """A CRM answered 429/5xx or timed out: the event is retried (Pub/Sub redelivers with backoff).

    `retry_at` is when the CRM said it will take requests again (Retry-After, a rate-limit reset header, a
    daily limit's midnight); None when it did not say.
    """

    def __init__(self, crm: str, status: int | None, detail: str, retry_at: datetime | None = None) -> None:
        when = f"; retry after {retry_at.isoformat(timespec='seconds')}" if retry_at else ""
        super().__init__(f"{crm} unavailable ({f'HTTP {status}' if status else 'no answer'}): {detail}{when}")
        self.crm = crm
        self.status = status
        self.retry_at = retry_at


class CrmRejected(PilotoError):
    """A CRM refused the request for good (credentials, validation): recorded with its message and not retried."""

    def __init__(self, crm: str, status: int, detail: str) -> None:
        super().__init__(f"{crm} rejected the request with HTTP {status}: {detail}")
        self.crm = crm
        self.status = status
        self.detail = detail


class EventPublishFailed(TransientError):
    """Pub/Sub did not take an event in time; it stays in the outbox for the drain."""


class CrmMisconfigured(PilotoError):
    """The tenant's CRM configuration cannot work (missing section, unsafe webhook URL): recorded, not retried."""


class LeadSyncInProgress(TransientError):
    """Another event of the same lead is being applied to the CRM (its first sync creates the records); retry later."""


class DeliveryInProgress(TransientError):
    """Another delivery of the same event holds its lease (Pub/Sub delivered it twice at once); retry later."""


# Configuration documents and tenancy (issue 13)


class InvalidConfiguration(PilotoError):
    """A configuration document (tenant, channel, agent, CRM) is invalid: names the document and the fields.

    A retry cannot fix it (only an admin's edit can), so callers record it and stop rather than loop.
    """

    def __init__(self, path: str, problems: list[str], alert_phone: str | None = None) -> None:
        super().__init__(f"{path}: {'; '.join(problems)}")
        self.path = path
        self.problems = problems
        self.alert_phone = alert_phone  # who to tell (an invalid agent's seller_phone, if it is readable)


class ChannelAlreadyRegistered(PilotoError):
    """A number (provider:channel_id) already belongs to another tenant: one number, one tenant (HTTP 409)."""


class Unauthorized(MissingSignature):
    """No API key came with the request (HTTP 401)."""


class Forbidden(BadSignature):
    """The API key is unknown, revoked or belongs to another tenant (HTTP 403)."""


class MissingWebhookKey(MissingSignature):
    """A gateway webhook URL came without its channel or key parameter (HTTP 401)."""


class WrongWebhookKey(BadSignature):
    """A gateway webhook URL's key is not the one derived for its channel, or the body names another channel
    (HTTP 403)."""


class SpeechUnavailable(PilotoError):
    """Text-to-Speech could not produce the voice note (refused, failed or timed out): the reply goes as text."""


# Google Calendar (issue 19)


class CalendarError(PilotoError):
    """Google Calendar refused or failed a request. The agent then falls back to request-and-confirm."""

    def __init__(self, status: int | None, reason: str, detail: str) -> None:
        super().__init__(f"calendar {f'HTTP {status}' if status else 'no answer'} {reason}: {detail}")
        self.status = status
        self.reason = reason


class CalendarConflict(CalendarError):
    """409: an event with this id already exists (a retried booking, or a cancelled one kept by Calendar)."""


class CalendarPreconditionFailed(CalendarError):
    """412: the event changed since it was read (its etag no longer matches)."""


class CalendarNotFound(CalendarError):
    """404/410: the calendar is not shared with Piloto, or the event does not exist (or was deleted)."""


class CalendarUnavailable(CalendarError):
    """429/5xx, a rate-limit 403 or a timeout: worth another try later."""
