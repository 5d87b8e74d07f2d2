"""Benchmark: what voice_admin pays to turn an owner's upload into the LINEAR16 WAV sent to Google — decode
(libsndfile), downmix, FFT resample, WAV encode — and how big the request gets. Not a test: it prints a table.

    .venv/bin/python -m bench.recording_decode [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import time

import numpy as np
import soundfile

from dev.sample_media import opus_voice_note
from shared.adapters.recording_decoder import LibsndfileRecordings


def encoded(seconds: float, rate: int, channels: int, container: str, subtype: str) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * (180 + 20 * np.sin(3 * t)) * t)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.stack([tone] * channels, axis=1).astype(np.float32), rate, format=container,
                    subtype=subtype)
    return buffer.getvalue()


def import_cost() -> float:
    """Milliseconds to import soundfile and numpy in a fresh interpreter: paid on voice_admin's first upload only."""
    code = "import time; t = time.perf_counter(); import numpy, soundfile; print((time.perf_counter() - t) * 1000)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    prepare = LibsndfileRecordings().prepare
    cases = [("WhatsApp voice note, Ogg/Opus 48 kHz mono, 60 s", opus_voice_note(60.0)),
             ("WhatsApp voice note, Ogg/Opus 48 kHz mono, 10 s", opus_voice_note(10.0)),
             ("MP3 44.1 kHz stereo, 60 s", encoded(60.0, 44_100, 2, "MP3", "MPEG_LAYER_III")),
             ("FLAC 48 kHz stereo, 30 s", encoded(30.0, 48_000, 2, "FLAC", "PCM_16")),
             ("WAV 24 kHz mono 16-bit, 60 s (no resampling)", encoded(60.0, 24_000, 1, "WAV", "PCM_16"))]
    print(f"import numpy + soundfile (first upload only): {import_cost():.0f} ms")
    print(f"{'upload':50} {'in kB':>7} {'sent kB':>8} {'rate':>6} {'p50 ms':>7} {'max ms':>7}")
    for label, audio in cases:
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            wav, facts = prepare(audio)
            timings.append((time.perf_counter() - started) * 1000)
        print(f"{label:50} {len(audio) / 1000:7.0f} {len(wav) / 1000:8.0f} {facts.sample_rate_hertz:6} "
              f"{statistics.median(timings):7.0f} {max(timings):7.0f}")
    wav, _ = prepare(opus_voice_note(60.0))
    print(f"two 60 s voice notes as one generateVoiceCloningKey request: {2 * len(wav) * 4 / 3 / 1e6:.1f} MB of base64 "
          f"(at 48 kHz it would be {2 * 60 * 48_000 * 2 * 4 / 3 / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
