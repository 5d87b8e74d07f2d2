"""scripts/demo.sh --model: a real model when its credentials are there, otherwise a clear stop (never a silent
switch to the offline model)."""

from __future__ import annotations

import google.auth
from google.auth.exceptions import DefaultCredentialsError

from dev.demo import model_environment


def test_gemini_without_a_key_says_what_is_missing_and_how_to_get_it(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    missing = model_environment("gemini")
    assert isinstance(missing, str) and "GEMINI_API_KEY" in missing and "aistudio.google.com/apikey" in missing


def test_gemini_with_a_key_runs_the_functions_on_the_gemini_api(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    env, line = model_environment("gemini")
    assert env == {"LLM_BACKEND": "gemini", "GEMINI_API_KEY": "test-key"} and "real calls" in line


def test_vertex_without_credentials_says_how_to_log_in(monkeypatch):
    def no_credentials(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise DefaultCredentialsError("none")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    missing = model_environment("vertex")
    assert isinstance(missing, str) and "gcloud auth application-default login" in missing


def test_vertex_with_credentials_and_a_project_uses_that_project(monkeypatch):
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (object(), "adc-project"))
    monkeypatch.setenv("VERTEX_PROJECT", "my-project")
    env, _ = model_environment("vertex")
    assert env == {"LLM_BACKEND": "vertex", "VERTEX_PROJECT": "my-project"}


def test_offline_needs_nothing():
    env, line = model_environment("offline")
    assert env == {} and "OFFLINE" in line
