"""libsndfile (the `soundfile` package, with numpy): an owner's uploaded recording → the LINEAR16 WAV sent to Google.

Text-to-Speech's Instant Custom Voice takes LINEAR16, PCM, MP3 or M4A recordings
(https://cloud.google.com/text-to-speech/docs/chirp3-instant-custom-voice, "Supported encoding formats"); an owner
has a WhatsApp voice note (Ogg/Opus, 48 kHz mono) or a phone recording. This decodes WAV, Ogg (Opus, Vorbis), FLAC
and MP3, downmixes to one channel, resamples above 24 kHz to 24 kHz (band-limited, by FFT: no resampling library)
and writes a 16-bit PCM mono WAV. What it cannot decode (M4A/AAC, AMR: libsndfile has no decoder for them) is a
ValueError naming the accepted formats and how to convert. The rules themselves are shared.domain.voice_clone's.

soundfile and numpy are imported on the first upload only: voice_admin's cold start does not pay for them, and no
other function imports this module.
"""

from __future__ import annotations

import hashlib
import io

from shared.domain.voice_clone import (
    MAX_RECORDING_SECONDS,
    RecordingFacts,
    check_container,
    check_length,
    check_upload_size,
    sent_sample_rate,
    unreadable,
)


class LibsndfileRecordings:
    def prepare(self, audio: bytes) -> tuple[bytes, RecordingFacts]:
        """The LINEAR16 WAV to send and the recording's facts; ValueError with the reason for the admin."""
        import numpy as np
        import soundfile

        check_upload_size(len(audio))
        try:
            with soundfile.SoundFile(io.BytesIO(audio)) as source:
                check_container(source.format)
                rate, channels = source.samplerate, source.channels
                uploaded_format = f"{source.format}/{source.subtype}"
                # Read one second past the limit at most: a file claiming hours is refused without decoding hours.
                samples = source.read(frames=int((MAX_RECORDING_SECONDS + 1) * rate), dtype="float32",
                                      always_2d=True)
        except (RuntimeError, TypeError) as err:  # soundfile.LibsndfileError is a RuntimeError
            raise ValueError(unreadable(audio)) from err
        seconds = check_length(len(samples) / rate)
        sent_rate = sent_sample_rate(rate)
        mono = samples.mean(axis=1) if channels > 1 else samples[:, 0]  # one speaker, one channel
        if sent_rate != rate:
            mono = _resample(np, mono, rate, sent_rate)
        buffer = io.BytesIO()
        soundfile.write(buffer, np.clip(mono, -1.0, 1.0), sent_rate, format="WAV", subtype="PCM_16")
        wav = buffer.getvalue()
        return wav, RecordingFacts(
            uploaded_format=uploaded_format, uploaded_sha256=hashlib.sha256(audio).hexdigest(),
            uploaded_sample_rate_hertz=rate, uploaded_channels=channels, sample_rate_hertz=sent_rate,
            seconds=seconds, sent_sha256=hashlib.sha256(wav).hexdigest())


def _resample(np, signal, rate: int, target: int):  # noqa: ANN001, ANN202 - numpy is imported lazily
    """Down to target Hz: keep the spectrum below target/2 (an ideal low-pass), drop the rest, scale to the length."""
    size = round(len(signal) * target / rate)
    spectrum = np.fft.rfft(signal)[: size // 2 + 1]
    return (np.fft.irfft(spectrum, size) * (size / len(signal))).astype(np.float32)
