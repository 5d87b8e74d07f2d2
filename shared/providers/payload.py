"""Helpers the provider modules share: reading untrusted JSON, comparing secrets, posting a send,
downloading media.

Everything here is pure except `post_json`, `post_form` and `fetch_limited`, which import httpx only when used.
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

from shared.domain.errors import (
    BadSignature,
    InvalidPayload,
    MediaTooLarge,
    MediaUnavailable,
    MissingSignature,
    ProviderRejected,
    ProviderSendError,
    TransientError,
)
from shared.domain.inbound import MAX_ID_CHARS, Location
from shared.domain.phone import to_e164

if TYPE_CHECKING:
    import httpx

_DETAIL_LIMIT = 200


# Input-safety limits for untrusted webhook bodies. A provider's genuine payload nests about 8 levels deep
# (Meta: entry[].changes[].value.messages[].interactive.list_reply…); ids are tens of characters.
MAX_JSON_DEPTH = 32
# Firestore stores integers as signed 64-bit values; a larger one cannot be written.
# https://firebase.google.com/docs/firestore/manage-data/data-types
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Unix timestamps a WhatsApp payload can honestly carry: after WhatsApp existed, before 2100.
_EPOCH_MIN, _EPOCH_MAX = 1_230_768_000, 4_102_444_800  # 2009-01-01, 2100-01-01 (UTC)


def json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or InvalidPayload saying what it was instead.

    Besides syntax it refuses what would fail later, deep inside the code, as an unexpected error: nesting
    deeper than MAX_JSON_DEPTH, NaN/Infinity, integers outside 64 bits, non-finite floats, and strings that
    are not valid Unicode (lone surrogates, which JSON's \\uXXXX escapes can spell but UTF-8 cannot encode).
    """
    if not body:
        raise InvalidPayload("body is empty")
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidPayload(f"body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError):
        raise InvalidPayload("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidPayload(f"body is not a JSON object (got {shape_of(data)})")
    check_json_tree(data)
    return data


def _no_constant(name: str) -> NoReturn:
    raise InvalidPayload(f"body holds {name}, which is not a JSON number")


def check_json_tree(data: object, root: str = "body") -> None:
    """Walk a parsed JSON value (iteratively: depth is what is being checked) and refuse the first value a
    later step could not handle, naming where it is."""
    stack: list[tuple[object, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            _check_text(value, root, path)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise InvalidPayload(f"{json_path(root, path)} is out of range (integers must fit in 64 bits)")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidPayload(f"{json_path(root, path)} is out of range (not a finite number)")
        elif isinstance(value, dict | list):
            if len(path) >= MAX_JSON_DEPTH:
                raise InvalidPayload(f"{json_path(root, path)} nests deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_text(key, root, path, key=True)
                    stack.append((item, (*path, key)))
            else:
                stack.extend((item, (*path, i)) for i, item in enumerate(value))


def _check_text(text: str, root: str, path: tuple[str | int, ...], *, key: bool = False) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        what = f"a key of {json_path(root, path)}" if key else json_path(root, path)
        raise InvalidPayload(f"{what} is not valid Unicode (it holds a lone surrogate)") from None


def json_path(root: str, path: tuple[str | int, ...]) -> str:
    """`entry[0].changes[1].value` for error messages; over-long or odd keys are shortened, never echoed whole."""
    parts = [root]
    for step in path:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            safe = step if step.isascii() and step.isprintable() and len(step) <= 40 else f"<key of {len(step)} chars>"
            parts.append(f".{safe}")
    return "".join(parts)


def shape_of(value: object) -> str:
    """A JSON-ish type name for error messages: the value's shape, never its content."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string" if value else "empty string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def as_dict(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidPayload(f"{where} must be an object (got {shape_of(value)})")
    return value


def as_list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidPayload(f"{where} must be an array (got {shape_of(value)})")
    return value


def require_str(obj: Mapping[str, Any], key: str, where: str, *, max_chars: int = MAX_ID_CHARS) -> str:
    """obj[key] as a non-empty string of at most max_chars; numbers are accepted because some gateways send ids
    as numbers. The bound matters: these values become Firestore query values and document-id hashes."""
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and value:
        if len(value) > max_chars:
            raise InvalidPayload(f"{where}.{key} is too long ({len(value)} characters; at most {max_chars})")
        return value
    got = "missing" if key not in obj else shape_of(value)
    raise InvalidPayload(f"{where}.{key} must be a non-empty string (got {got})")


def optional_str(obj: object, key: str) -> str | None:
    """obj[key] if obj is an object and that is a non-empty string; None for any other shape."""
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, str) and value else None


def epoch_to_utc(value: object, where: str, *, millis: bool = False) -> datetime:
    """A Unix timestamp (seconds, or milliseconds with millis=True; number or numeric string) as aware UTC.

    Only instants between 2009 and 2100 are accepted: anything else is a forged or broken payload, and a huge
    number would overflow the datetime (or Firestore's timestamp) further down.
    """
    number: float
    if isinstance(value, bool):
        raise InvalidPayload(f"{where} must be a Unix timestamp (got boolean)")
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str) and 0 < len(value.strip()) <= 20 and value.strip().isascii() \
            and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise InvalidPayload(f"{where} must be a Unix timestamp (got {shape_of(value)})")
    in_range = isinstance(number, float) and math.isfinite(number) or isinstance(number, int) and abs(number) < 2**63
    seconds = (number / 1000 if millis else number) if in_range else math.inf
    if not _EPOCH_MIN <= seconds <= _EPOCH_MAX:
        unit = "milliseconds" if millis else "seconds"
        raise InvalidPayload(f"{where} is out of range for a Unix timestamp in {unit} (2009–2100)")
    return datetime.fromtimestamp(seconds, tz=UTC)


def bounded_count(value: object, *, maximum: int = _INT64_MAX) -> int | None:
    """A non-negative integer a payload declares (a file size), as int; None when absent or not one
    (a Unicode digit like '²', a 5,000-digit string, a negative or fractional number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()):
            return None
        value = int(text)
    if isinstance(value, int) and 0 <= value <= maximum:
        return value
    return None


def location_from(latitude: object, longitude: object, name: object = None, address: object = None) -> Location | None:
    """A shared location, when both coordinates are numbers (or numeric strings); None otherwise."""
    coordinates = []
    for value in (latitude, longitude):
        if isinstance(value, bool):
            return None
        try:
            coordinates.append(float(value))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
    return Location(latitude=coordinates[0], longitude=coordinates[1],
                    name=name if isinstance(name, str) and name else None,
                    address=address if isinstance(address, str) and address else None)


def string_fields(value: object) -> dict[str, str] | None:
    """The non-empty string fields of an object (an ad referral), or None."""
    if not isinstance(value, Mapping):
        return None
    fields = {str(k): v for k, v in value.items() if isinstance(v, str) and v}
    return fields or None


def loose_phone(raw: str) -> str:
    """'+' and whatever digits a JID holds: for group ids, which are not phone numbers but must still parse."""
    digits = "".join(ch for ch in raw.split("@", 1)[0] if ch.isdigit())
    return f"+{digits}"


def constant_time_equals(given: str, expected: str) -> bool:
    """Compare a secret without leaking, through timing, how much of it matched."""
    # surrogatepass: a lone surrogate in a forged token must compare unequal, not raise.
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def check_channel_token(given: list[str], expected: str | None, *, missing: str, unconfigured: str,
                        mismatch: str) -> None:
    """The unofficial gateways' webhook auth: one of the tokens the request carries must equal the channel's.
    Every candidate is compared, so timing does not reveal which one was checked."""
    if not given:
        raise MissingSignature(missing)
    if not expected:
        raise BadSignature(unconfigured)
    if not any([constant_time_equals(token, expected) for token in given]):
        raise BadSignature(mismatch)


def utc_now() -> datetime:
    return datetime.now(UTC)


def recipient_digits(provider: str, to_phone: str) -> str:
    """The digits-only number the send APIs want; a bad number is a permanent failure."""
    try:
        return to_e164(to_phone)[1:]
    except ValueError:
        raise ProviderRejected(provider, 0, "recipient is not a phone number") from None


def missing_credential(provider: str, name: str) -> NoReturn:
    """A channel without the credential a send needs: fixing it takes an admin, not a retry."""
    raise ProviderRejected(provider, 0, f"channel has no {name} configured")


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: Any  # parsed JSON, or None when the body was not JSON


def post_json(
    http: httpx.Client, provider: str, url: str, headers: Mapping[str, str], payload: dict[str, Any]
) -> HttpReply:
    """POST JSON; timeouts and connection failures become ProviderSendError (retryable).

    Messages name the failure class only: the URL may carry a token (Z-API puts it in the path).
    """
    return _post(http, provider, url, headers=dict(headers), json=payload)


def post_form(
    http: httpx.Client, provider: str, url: str, auth: tuple[str, str], data: Mapping[str, str]
) -> HttpReply:
    """POST a form with HTTP basic auth (Twilio's REST API); failures as post_json's."""
    return _post(http, provider, url, auth=auth, data=dict(data))


def _post(http: httpx.Client, provider: str, url: str, **request: Any) -> HttpReply:
    import httpx

    try:
        response = http.post(url, **request)
    except httpx.TimeoutException as err:
        raise ProviderSendError(provider, 0, f"request timed out ({type(err).__name__})") from err
    except httpx.TransportError as err:
        raise ProviderSendError(provider, 0, f"connection failed ({type(err).__name__})") from err
    try:
        body = response.json()
    except ValueError:
        body = None
    return HttpReply(response.status_code, body)


def is_transient_status(status: int) -> bool:
    """HTTP statuses a later retry may turn into a success."""
    return status in (408, 429) or status >= 500


def fail(provider: str, status: int, detail: str, secrets: Iterable[str | None], *, transient: bool) -> NoReturn:
    """Raise the send failure, with the provider's words trimmed and scrubbed of the channel's secrets."""
    clean = redact(detail, secrets)[:_DETAIL_LIMIT] or "no error detail"
    if transient:
        raise ProviderSendError(provider, status, clean)
    raise ProviderRejected(provider, status, clean)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace any secret that appears in text (providers sometimes echo what they were sent)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def detail_text(value: object) -> str:
    """A provider's error message, which may be a string, a list or an object, as one line."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- Media downloads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchedBody:
    status: int
    content: bytes
    content_type: str | None


def fetch_limited(
    http: httpx.Client, provider: str, method: str, url: str, headers: Mapping[str, str], max_bytes: int,
    json_body: dict[str, Any] | None = None,
) -> FetchedBody:
    """Stream a response, giving up as soon as it is over max_bytes (MediaTooLarge): a lead's 200 MB video
    must not fill the function's memory. Timeouts and connection failures are TransientError.

    Messages name the failure class only: a URL may carry a token (Z-API) or a signature (Meta's media URL).
    A URL that can never be fetched (not http(s), no host: the docs' placeholder "https://") is MediaUnavailable,
    never retried.
    """
    import httpx

    require_fetchable_url(provider, url)
    try:
        with http.stream(method, url, headers=dict(headers), json=json_body) as response:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes and response.status_code < 300:
                raise MediaTooLarge(int(declared))
            chunks: list[bytes] = []
            received = 0
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > max_bytes:
                    if response.status_code < 300:
                        raise MediaTooLarge(received)
                    break  # an oversized error body: what was read is enough to say why
                chunks.append(chunk)
            return FetchedBody(response.status_code, b"".join(chunks), response.headers.get("content-type"))
    except httpx.TimeoutException as err:
        raise TransientError(f"{provider} media download timed out ({type(err).__name__})") from err
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as err:
        # Raised on a redirect to an unusable URL as well: no retry can fix it.
        raise MediaUnavailable(f"{provider} media URL cannot be fetched ({type(err).__name__})") from err
    except httpx.TransportError as err:
        raise TransientError(f"{provider} media download failed to connect ({type(err).__name__})") from err


def require_fetchable_url(provider: str, url: str) -> None:
    """An http(s) URL with a host, or MediaUnavailable (permanent) naming what is wrong, never the URL itself."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise MediaUnavailable(f"{provider} media URL is malformed") from None
    if parts.scheme not in ("http", "https"):
        raise MediaUnavailable(f"{provider} media URL is not http(s) (scheme {parts.scheme[:10]!r})")
    if not host:
        raise MediaUnavailable(f"{provider} media URL has no host")


def media_failure(provider: str, status: int, detail: str, secrets: Iterable[str | None]) -> NoReturn:
    """A failed download: retry what may heal (429, 5xx), give up on the rest (expired, deleted, refused)."""
    clean = redact(detail, secrets)[:_DETAIL_LIMIT] or "no error detail"
    if is_transient_status(status):
        raise TransientError(f"{provider} media download failed with HTTP {status}: {clean}")
    raise MediaUnavailable(f"{provider} refused the media download with HTTP {status}: {clean}")


def json_of(body: FetchedBody) -> Any:
    try:
        return json.loads(body.content)
    except (UnicodeDecodeError, ValueError):
        return None
