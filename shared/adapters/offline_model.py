"""An offline stand-in for Gemini, for local runs without Google credentials.

It is not a model: it answers with a deterministic template built from the lead's last messages, says
so in every reply and logs backend='offline', so nobody mistakes it for the real thing.
"""

from __future__ import annotations

import time

from shared.domain.usage import ModelCall, TokenUsage
from shared.ports import Extraction, Generation, Prompt

OFFLINE_MODEL_ID = "offline-template"


def _estimate_tokens(text: str) -> int:
    # Roughly four characters per token for Portuguese and English: enough to exercise the accounting.
    return max(1, len(text) // 4)


class OfflineModel:
    backend = "offline"

    def generate(self, prompt: Prompt) -> Generation:
        started = time.perf_counter()
        last_user = next((turn.text for turn in reversed(prompt.turns) if turn.role == "user"), "")
        lines = [line.strip() for line in last_user.splitlines() if line.strip()]
        # A document's text can be long: quote the start of each line, enough to show what was read.
        quoted = " / ".join(line if len(line) <= 220 else f"{line[:220]}…" for line in lines[-3:])
        plural = "suas mensagens" if len(lines) > 1 else "sua mensagem"
        text = (
            f"Olá! Recebi {plural}: “{quoted}”. Já vou te ajudar com isso. "
            "[resposta do modelo offline — sem Gemini nesta execução local]"
        )
        prompt_text = prompt.system + "".join(turn.text for turn in prompt.turns)
        usage = TokenUsage(prompt_tokens=_estimate_tokens(prompt_text), output_tokens=_estimate_tokens(text))
        latency_ms = int((time.perf_counter() - started) * 1000)
        call = ModelCall(model=OFFLINE_MODEL_ID, backend=self.backend, usage=usage, latency_ms=latency_ms, cost_usd=0.0)
        return Generation(text=text, call=call)


OFFLINE_MEDIA_MODEL_ID = "offline-media"


def _wav_seconds(audio: bytes) -> float | None:
    import io
    import wave

    try:
        with wave.open(io.BytesIO(audio)) as wav:
            return wav.getnframes() / float(wav.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


def _png_size(image: bytes) -> tuple[int, int] | None:
    if image[:8] != b"\x89PNG\r\n\x1a\n" or len(image) < 24:
        return None
    return int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")


class OfflineMediaReader:
    """Stands in for Gemini's media input in local runs. It cannot hear, see or read scans, and says so.

    What it returns is labelled as offline and holds only facts read from the file itself (length, size), so
    the demo and tests exercise the whole path without anyone mistaking it for a transcript.
    """

    backend = "offline"

    def transcribe(self, audio: bytes, mime_type: str, language: str) -> Extraction:
        seconds = _wav_seconds(audio)
        length = f"{seconds:.1f} s de áudio" if seconds is not None else f"{len(audio)} bytes de áudio"
        return self._labelled(f"(transcrição offline indisponível: nota de voz recebida, {length} {mime_type}; "
                              "sem Gemini nesta execução local)", "transcription", audio)

    def describe_image(self, image: bytes, mime_type: str, language: str) -> Extraction:
        size = _png_size(image)
        what = f"{size[0]}×{size[1]} px" if size else f"{len(image)} bytes"
        return self._labelled(f"(descrição offline indisponível: imagem {mime_type} de {what} recebida; "
                              "sem Gemini nesta execução local)", "image", image)

    def read_scanned_document(self, pdf: bytes, language: str) -> Extraction:
        return self._labelled("(leitura offline indisponível: PDF escaneado, sem camada de texto; "
                              "sem Gemini nesta execução local)", "ocr", pdf)

    def _labelled(self, text: str, purpose: str, data: bytes) -> Extraction:
        started = time.perf_counter()
        usage = TokenUsage(prompt_tokens=_estimate_tokens("x" * min(len(data), 4000)),
                           output_tokens=_estimate_tokens(text))
        call = ModelCall(model=OFFLINE_MEDIA_MODEL_ID, backend=self.backend, purpose=purpose, usage=usage,
                         latency_ms=int((time.perf_counter() - started) * 1000), cost_usd=0.0)
        return Extraction(text=text, call=call)
