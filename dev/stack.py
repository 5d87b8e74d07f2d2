"""The local stack: official Firestore and Pub/Sub emulators, Storage and Cloud Tasks emulators, every
function under functions-framework and the provider sandbox, all on 127.0.0.1. Used by the demo and the tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dev.calendar_sandbox import CalendarSandbox
from dev.voice_sandbox import VoiceSandbox
from dev.crm_receiver import WebhookReceiver
from dev.provider_sandbox import ProviderSandbox

ROOT = Path(__file__).resolve().parent.parent
FIRESTORE_JAR = Path(os.environ.get(
    "FIRESTORE_EMULATOR_JAR",
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"))
PUBSUB_EMULATOR = Path(os.environ.get(
    "PUBSUB_EMULATOR_BIN", "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"))
TASKS_PYTHON = ROOT / ".venv-tasks" / "bin" / "python"

PROJECT = "piloto-local"
REGION = "southamerica-east1"
DEMO_META_APP_SECRET = "local-meta-app-secret"  # local-only values, not secrets of any real app
DEMO_META_VERIFY_TOKEN = "local-verify-token"
# The secret the gateways' webhook URL keys derive from (shared/domain/webhook_key.py); local only.
DEMO_WEBHOOK_URL_KEY = "local-webhook-url-key-4f1c9a7e2b"

KNOWLEDGE_BUCKET = f"{PROJECT}-piloto-knowledge"  # Terraform's "<project>-piloto-<key>" naming
# The offline hashed-n-gram embedder's distances run higher than Gemini's; calibrated on tests/data/knowledge
# (see tests/integration/test_knowledge_recall.py).
OFFLINE_KNOWLEDGE_MAX_DISTANCE = "0.80"

FUNCTIONS = {"whatsapp_webhook": "whatsapp_webhook", "agent_turn": "agent_turn", "chat_api": "chat_api",
             "knowledge_ingest": "knowledge_ingest", "knowledge_lookup": "knowledge_lookup",
             "media_processor": "media_processor", "crm_sync": "crm_sync", "outbox_drain": "outbox_drain",
             "followup_turn": "followup_turn", "followup_sweep": "followup_sweep", "lgpd_admin": "lgpd_admin",
             "metrics_rollup": "metrics_rollup", "tenant_report": "tenant_report",
             "conversation_audit": "conversation_audit", "weekly_digest": "weekly_digest",
             "voice_admin": "voice_admin"}
QUEUES = ("agent-turns", "media", "followups")
MEDIA_BUCKET = "piloto-local-media"

# Domain events (issue 7): the topic, the dead-letter topic and crm_sync's push subscription, as Terraform
# declares them (ordering on, retry with backoff; locally short backoffs and few attempts).
EVENTS_TOPIC = "domain-events"
EVENTS_DEAD_LETTER_TOPIC = "domain-events-dead-letter"
CRM_SYNC_SUBSCRIPTION = "crm-sync"
DEAD_LETTER_HOLD_SUBSCRIPTION = "domain-events-dead-letter-hold"
CRM_SYNC_MAX_DELIVERY_ATTEMPTS = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, name: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}; see its log")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{name} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll until condition() is true; the asynchronous paths (tasks, sends) are observed this way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")


def check_prerequisites() -> None:
    """The emulator jars come with google-cloud-cli and cannot be installed from the package registries."""
    missing = [str(p) for p in (FIRESTORE_JAR, PUBSUB_EMULATOR) if not p.exists()]
    if missing:
        raise SystemExit("missing emulator(s): " + ", ".join(missing)
                         + "\nInstall google-cloud-cli with the cloud-firestore-emulator and pubsub-emulator components.")
    if shutil.which("java") is None:
        raise SystemExit("java is not on PATH; the Firestore and Pub/Sub emulators need Java 11+")
    if not TASKS_PYTHON.exists():
        raise SystemExit(f"{TASKS_PYTHON} missing; run scripts/setup.sh first")


@dataclass
class Process:
    name: str
    port: int
    popen: subprocess.Popen
    log_path: Path


@dataclass
class LocalStack:
    run_dir: Path = ROOT / ".run"
    debounce_seconds: float = 1.0
    functions: dict[str, str] = field(default_factory=lambda: dict(FUNCTIONS))
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    sandbox: ProviderSandbox | None = None
    crm_receiver: WebhookReceiver | None = None
    calendar: CalendarSandbox | None = None  # the fake Google Calendar (issue 19)
    voice: VoiceSandbox | None = None  # fake Text-to-Speech (cloning keys) and Secret Manager (issue 18)

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        check_prerequisites()
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        try:
            self._start_emulators()
            self.sandbox = ProviderSandbox().start()
            self.crm_receiver = WebhookReceiver().start()
            self.calendar = CalendarSandbox().start()
            self.voice = VoiceSandbox().start()
            os.environ.update(self.client_env())
            self._create_event_topics()
            self._create_buckets()
            for name in self.functions:
                self._start_function(name)
            for proc in self.processes:
                wait_for_port(proc.port, proc.name, proc=proc.popen)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.popen.poll() is None:
                try:
                    os.killpg(proc.popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in self.processes:
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
        self.processes.clear()
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        if self.crm_receiver is not None:
            self.crm_receiver.stop()
            self.crm_receiver = None
        if self.calendar is not None:
            self.calendar.stop()
            self.calendar = None
        if self.voice is not None:
            self.voice.stop()
            self.voice = None

    # -- pieces ----------------------------------------------------------------------------------

    def _spawn(self, name: str, cmd: list[str], port: int, env: dict[str, str] | None = None) -> Process:
        log_path = self.run_dir / "logs" / f"{name}.log"
        log_file = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
        popen = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
                                 env={**os.environ, **(env or {})}, cwd=ROOT)
        proc = Process(name, port, popen, log_path)
        self.processes.append(proc)
        self.ports[name] = port
        return proc

    def _start_emulators(self) -> None:
        bin_dir = Path(sys.executable).parent
        fs, ps, gcs, tasks = free_port(), free_port(), free_port(), free_port()
        self._spawn("firestore", ["java", "-Duser.language=en", "-cp", str(FIRESTORE_JAR),
                                  "com.google.cloud.datastore.emulator.firestore.CloudFirestore", "start",
                                  "--host=127.0.0.1", f"--port={fs}"], fs)
        self._start_pubsub(ps)
        self._spawn("storage", [str(bin_dir / "gcp-storage-emulator"), "start", "--host", "127.0.0.1",
                                "--port", str(gcs), "--in-memory"], gcs)
        queues = [f"projects/{PROJECT}/locations/{REGION}/queues/{q}" for q in QUEUES]
        self._spawn("tasks", [str(TASKS_PYTHON), str(ROOT / "dev" / "tasks_emulator.py"), str(tasks), *queues], tasks)
        for proc in self.processes:
            wait_for_port(proc.port, proc.name, proc=proc.popen)
        self._wait_http_ok(f"http://127.0.0.1:{fs}/", "firestore")

    def _start_pubsub(self, port: int, attempts: int = 3) -> None:
        """Domain events depend on this emulator. Its JVM keeps running when the port was taken between free_port()
        and its bind (other stacks share the machine), and then a listening port is someone else's: wait for its
        own "listening on" line, and on "Address already in use" start it again on another port."""
        for _ in range(attempts):
            proc = self._spawn("pubsub", [str(PUBSUB_EMULATOR), "--host=127.0.0.1", f"--port={port}"], port)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.popen.poll() is None:
                log = proc.log_path.read_text(errors="replace")
                if f"listening on {port}" in log:
                    return
                if "Address already in use" in log:
                    break
                time.sleep(0.1)
            os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(timeout=10)
            self.processes.remove(proc)
            port = free_port()
        raise RuntimeError("the Pub/Sub emulator could not bind a port; see .run/logs/pubsub.log")

    @staticmethod
    def _create_buckets() -> None:
        """The Storage emulator starts empty; production's buckets come from Terraform."""
        from google.cloud import storage

        client = storage.Client(project=PROJECT)
        for name in (KNOWLEDGE_BUCKET, MEDIA_BUCKET):
            if client.lookup_bucket(name) is None:
                client.create_bucket(name)

    @staticmethod
    def _wait_http_ok(url: str, name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"{name} not ready at {url}")

    def function_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}/"

    def webhook_url(self, provider: str, channel_id: str | None = None) -> str:
        """The URL a provider calls: Meta's plain /meta; a gateway channel's keyed URL, exactly as
        scripts/tenancy_admin.py webhook-url prints it for production."""
        from shared.domain.webhook_key import keyed_webhook_url

        base = self.function_url("whatsapp_webhook").rstrip("/")
        if channel_id is None:
            return f"{base}/{provider}"
        return keyed_webhook_url(base, provider, channel_id, self.extra_env.get("WEBHOOK_URL_KEY",
                                                                                DEMO_WEBHOOK_URL_KEY))

    def client_env(self) -> dict[str, str]:
        """Environment for anything that talks to the emulators (the functions and the test process)."""
        assert self.sandbox is not None
        env = {
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "REGION": REGION,
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.ports['firestore']}",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.ports['pubsub']}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{self.ports['storage']}",
            "TASKS_EMULATOR_HOST": f"127.0.0.1:{self.ports['tasks']}",
            "LLM_BACKEND": "offline",
            "TTS_BACKEND": "offline",  # voice notes are tones in a real Ogg/Opus file: no Google call
            "META_APP_SECRET": DEMO_META_APP_SECRET,
            "META_VERIFY_TOKEN": DEMO_META_VERIFY_TOKEN,
            "WEBHOOK_URL_KEY": DEMO_WEBHOOK_URL_KEY,
            "META_GRAPH_BASE_URL": f"{self.sandbox.url}/meta",
            "ZAPI_BASE_URL": f"{self.sandbox.url}/zapi",
            "TWILIO_API_BASE_URL": f"{self.sandbox.url}/twilio",
            "DEBOUNCE_SECONDS": str(self.debounce_seconds),
            "CHANNEL_CACHE_SECONDS": "0",
            "EVENTS_TOPIC": EVENTS_TOPIC,
            "CRM_CONFIG_CACHE_SECONDS": "0",
            "CRM_WEBHOOK_ALLOW_HTTP": "true",  # the local webhook receiver is plain http on 127.0.0.1
            "MEDIA_BUCKET": MEDIA_BUCKET,
            "KNOWLEDGE_BUCKET": KNOWLEDGE_BUCKET,
            "EMBEDDING_BACKEND": "offline",
            "KNOWLEDGE_MAX_DISTANCE": OFFLINE_KNOWLEDGE_MAX_DISTANCE,
            # A local run is minutes long: a seller's conversation is "quiet" (auditable) after 3 s, not 12 h.
            "AUDIT_QUIET_HOURS": "0.001",
        }
        for name in self.functions:
            self.ports.setdefault(name, free_port())
        if "agent_turn" in self.ports:
            env["AGENT_TURN_URL"] = self.function_url("agent_turn")
        if "whatsapp_webhook" in self.ports:
            # Where Twilio's status callbacks go (the sandbox delivers them, signed, like Twilio).
            env["PUBLIC_WEBHOOK_URL"] = self.function_url("whatsapp_webhook").rstrip("/")
        if "media_processor" in self.ports:
            env["MEDIA_PROCESSOR_URL"] = self.function_url("media_processor")
        if "followup_turn" in self.ports:
            env["FOLLOWUP_TURN_URL"] = self.function_url("followup_turn")
        if self.calendar is not None:
            env["CALENDAR_EMULATOR_HOST"] = self.calendar.host
        if self.voice is not None:
            env["TTS_EMULATOR_HOST"] = self.voice.tts_host
            env["SECRET_MANAGER_EMULATOR_HOST"] = self.voice.secrets_host
        return {**env, **self.extra_env}

    def _create_event_topics(self) -> None:
        """Topic, dead-letter topic and the push subscription into crm_sync (its CloudEvent path names the topic)."""
        from google.cloud import pubsub_v1
        from google.protobuf import duration_pb2
        from google.pubsub_v1.types import DeadLetterPolicy, PushConfig, RetryPolicy

        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic = publisher.topic_path(PROJECT, EVENTS_TOPIC)
        dead_letter = publisher.topic_path(PROJECT, EVENTS_DEAD_LETTER_TOPIC)
        for path in (topic, dead_letter):
            publisher.create_topic(name=path, timeout=30)
        subscriber.create_subscription(name=subscriber.subscription_path(PROJECT, DEAD_LETTER_HOLD_SUBSCRIPTION),
                                       topic=dead_letter, timeout=30)
        if "crm_sync" in self.functions:
            endpoint = f"{self.function_url('crm_sync')}projects/{PROJECT}/topics/{EVENTS_TOPIC}"
            subscriber.create_subscription(request={
                "name": subscriber.subscription_path(PROJECT, CRM_SYNC_SUBSCRIPTION),
                "topic": topic,
                "push_config": PushConfig(push_endpoint=endpoint),
                "enable_message_ordering": True,
                "ack_deadline_seconds": 30,
                "retry_policy": RetryPolicy(minimum_backoff=duration_pb2.Duration(seconds=1),
                                            maximum_backoff=duration_pb2.Duration(seconds=3)),
                # The emulator stops after these attempts but does not forward to the dead-letter topic (its
                # forwarding fails with a NullPointerException in its log); Pub/Sub itself does.
                "dead_letter_policy": DeadLetterPolicy(dead_letter_topic=dead_letter,
                                                       max_delivery_attempts=CRM_SYNC_MAX_DELIVERY_ATTEMPTS),
            }, timeout=30)

    def _start_function(self, name: str) -> None:
        port = self.ports.get(name) or free_port()
        bin_dir = Path(sys.executable).parent
        env = {"XDG_RUNTIME_DIR": str(self.run_dir), "THREADS": "16", "WORKERS": "1", **self.extra_env}
        self._spawn(name, [str(bin_dir / "functions-framework"), "--target", self.functions[name],
                           "--source", str(ROOT / "main.py"), "--host", "127.0.0.1", "--port", str(port)], port, env)
