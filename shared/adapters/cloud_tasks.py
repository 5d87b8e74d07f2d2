"""Cloud Tasks adapter: schedules HTTP tasks (agent turns, media reading; follow-ups reuse it)."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from google.api_core import exceptions as gexc
from google.cloud import tasks_v2
from google.protobuf import timestamp_pb2

from shared.adapters.google_errors import TRANSIENT_GOOGLE_ERRORS
from shared.domain.errors import TransientError
from shared.domain.ids import followup_task_name, task_name
from shared.ports import FollowupRequest, MediaRequest, MeetingReminderRequest, TurnRequest

_client: tasks_v2.CloudTasksClient | None = None
_client_lock = threading.Lock()


def tasks_client(emulator_host: str | None) -> tasks_v2.CloudTasksClient:
    """One client per instance; google-cloud-tasks has no emulator variable, so the channel is built here."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                if emulator_host:
                    import grpc
                    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

                    transport = CloudTasksGrpcTransport(channel=grpc.insecure_channel(emulator_host))
                    _client = tasks_v2.CloudTasksClient(transport=transport)
                else:
                    _client = tasks_v2.CloudTasksClient()
    return _client


class CloudTasksScheduler:
    """Creates named HTTP tasks. The name dedupes in Cloud Tasks (ALREADY_EXISTS for ~1 h after it ran)."""

    def __init__(
        self, client: tasks_v2.CloudTasksClient, project: str, location: str, service_account: str | None,
        call_timeout: float | None = None,
    ) -> None:
        """call_timeout: one attempt bounded to that many seconds (the webhook's deadline); None: 10 s with the
        client's default retry."""
        self._client = client
        self._call: dict = {"timeout": 10.0} if call_timeout is None else {"timeout": call_timeout, "retry": None}
        self._project = project
        self._location = location
        self._service_account = service_account

    def schedule(self, queue: str, url: str, name: str, payload: dict, at: datetime) -> bool:
        """Create the task; False when a task of that name already exists."""
        parent = self._client.queue_path(self._project, self._location, queue)
        request = tasks_v2.HttpRequest(
            http_method=tasks_v2.HttpMethod.POST,
            url=url,
            headers={"Content-Type": "application/json"},
            body=json.dumps(payload).encode(),
        )
        if self._service_account:
            # The private function's Cloud Run IAM checks this token; the audience is the function URL.
            request.oidc_token = tasks_v2.OidcToken(service_account_email=self._service_account, audience=url)
        schedule_time = timestamp_pb2.Timestamp()
        schedule_time.FromDatetime(at.astimezone(UTC))
        task = tasks_v2.Task(name=f"{parent}/tasks/{name}", http_request=request, schedule_time=schedule_time)
        try:
            self._client.create_task(parent=parent, task=task, **self._call)
        except gexc.AlreadyExists:
            return False
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError(f"cloud tasks unavailable creating a task on {queue}") from err
        return True


class CloudTasksTurnQueue:
    """The agent-turn queue: one task per inbound message, named after it."""

    def __init__(self, scheduler: CloudTasksScheduler, queue: str, url: str) -> None:
        self._scheduler = scheduler
        self._queue = queue
        self._url = url

    def enqueue_turn(self, turn: TurnRequest, delay_seconds: float) -> None:
        name = task_name("turn", turn.tenant_id, turn.conversation_id, turn.message_id)
        at = datetime.now(UTC) + timedelta(seconds=delay_seconds)
        self._scheduler.schedule(self._queue, self._url, name, asdict(turn), at)

    def wake_turn(self, turn: TurnRequest, delay_seconds: float, because_of: str) -> None:
        """A second task for a turn, named after what woke it: the first name stays taken ~1 h after it ran."""
        name = task_name("turn", turn.tenant_id, turn.conversation_id, turn.message_id, "woken-by", because_of)
        at = datetime.now(UTC) + timedelta(seconds=delay_seconds)
        self._scheduler.schedule(self._queue, self._url, name, asdict(turn), at)


class CloudTasksMediaQueue:
    """The media queue: one task per lead message with a file, named after the message, due at once."""

    def __init__(self, scheduler: CloudTasksScheduler, queue: str, url: str) -> None:
        self._scheduler = scheduler
        self._queue = queue
        self._url = url

    def enqueue_media(self, request: MediaRequest) -> None:
        name = task_name("media", request.tenant_id, request.conversation_id, request.message_id)
        self._scheduler.schedule(self._queue, self._url, name, asdict(request), datetime.now(UTC))


class CloudTasksFollowupQueue:
    """The follow-up queue: one task per cadence step, named after conversation, step and the lead's last message."""

    def __init__(self, scheduler: CloudTasksScheduler, queue: str, url: str) -> None:
        self._scheduler = scheduler
        self._queue = queue
        self._url = url

    def schedule_followup(self, request: FollowupRequest, at: datetime, attempt_key: str = "") -> bool:
        name = followup_task_name(request.tenant_id, request.conversation_id, request.step,
                                  request.anchor_message_id)
        if attempt_key:
            name = task_name("followup", name, attempt_key)
        return self._scheduler.schedule(self._queue, self._url, name, asdict(request), at)

    def schedule_reminder(self, request: MeetingReminderRequest, at: datetime) -> bool:
        """A meeting reminder rides the follow-up queue and function; its body says `kind: meeting_reminder`."""
        name = task_name("reminder", request.tenant_id, request.conversation_id, request.event_id, request.starts_at)
        return self._scheduler.schedule(self._queue, self._url, name, {"kind": "meeting_reminder", **asdict(request)},
                                        at)
