"""The contract fakes of Cloud Text-to-Speech (tests/tts_fake.py) and Secret Manager (tests/secret_manager_fake.py),
served on 127.0.0.1 for the demo and the end-to-end tests: voice_admin creates cloning keys against them and the
functions read the keys back through SECRET_MANAGER_EMULATOR_HOST, as they would reach the real APIs."""

from __future__ import annotations

from tests.secret_manager_fake import FakeSecretManager
from tests.tts_fake import FakeTextToSpeech


class VoiceSandbox:
    def __init__(self) -> None:
        self.tts: FakeTextToSpeech | None = None
        self.secrets: FakeSecretManager | None = None

    def start(self) -> VoiceSandbox:
        self.tts, self.secrets = FakeTextToSpeech(), FakeSecretManager()
        return self

    @property
    def tts_host(self) -> str:
        assert self.tts is not None
        return self.tts.url.removeprefix("http://")

    @property
    def secrets_host(self) -> str:
        assert self.secrets is not None
        return self.secrets.host

    def stop(self) -> None:
        if self.tts is not None:
            self.tts.close()
            self.tts = None
        if self.secrets is not None:
            self.secrets.close()
            self.secrets = None
