"""Settings resolved once and passed down; qualifiers loaded from them, checked and closed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from qualify import qualifiers
from qualify.api import Qualify
from qualify.errors import ConfigError, ICPError, InputError
from qualify.qualifiers.web import WebQualifier
from qualify.settings import DEFAULT_USER_AGENT, FetchSettings, Settings
from qualify.worker import WorkerOptions
from tests.support import create_run

GATEWAY = "http://127.0.0.1:9/fetch?url={url}"


def test_arguments_come_first_then_the_environment_then_defaults() -> None:
    env = {"QUALIFY_DB": "env.db", "QUALIFY_QUEUE": "redis://127.0.0.1:6379/9"}
    assert Settings.resolve(environ={}) == Settings()
    assert Settings.resolve(environ=env) == Settings(db="env.db", queue=env["QUALIFY_QUEUE"])
    chosen = Settings.resolve("arg.db", "redis://127.0.0.1:6379/1", environ=env)
    assert (chosen.db, chosen.queue) == ("arg.db", "redis://127.0.0.1:6379/1")


def test_fetch_settings_come_from_the_environment() -> None:
    fetch = Settings.resolve(
        environ={
            "QUALIFY_FETCH_VIA": f" {GATEWAY} ",
            "QUALIFY_ALLOW_PRIVATE_NETWORKS": "yes",
            "QUALIFY_USER_AGENT": "acme-bot (+ops@example.com)",
        }
    ).fetch
    assert fetch == FetchSettings(
        fetch_via=GATEWAY, allow_private_networks=True, user_agent="acme-bot (+ops@example.com)"
    )
    blank = Settings.resolve(
        environ={"QUALIFY_FETCH_VIA": " ", "QUALIFY_ALLOW_PRIVATE_NETWORKS": "0"}
    ).fetch
    assert blank == FetchSettings()
    assert blank.user_agent == DEFAULT_USER_AGENT


def test_the_environment_is_read_by_resolve_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUALIFY_FETCH_VIA", GATEWAY)
    monkeypatch.setenv("QUALIFY_DB", "env.db")
    assert Settings() == Settings(db="qualify.db", fetch=FetchSettings())
    assert FetchSettings().fetch_via is None
    assert Settings.resolve().fetch.fetch_via == GATEWAY
    assert Settings.resolve().db == "env.db"


def test_a_bad_environment_setting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="must contain"):
        Settings.resolve(environ={"QUALIFY_FETCH_VIA": "http://127.0.0.1:9/fetch"})


def test_with_fetch_replaces_some_settings_and_leaves_the_original() -> None:
    base = Settings(db="x.db", fetch=FetchSettings(fetch_via=GATEWAY, host_delay=0.1))
    changed = base.with_fetch(allow_private_networks=True, fetch_via=None, deadline=None)
    assert changed == Settings(
        db="x.db",
        fetch=FetchSettings(fetch_via=GATEWAY, host_delay=0.1, allow_private_networks=True),
    )
    assert base.fetch.allow_private_networks is False
    assert base.with_fetch(fetch_via="").fetch.fetch_via is None  # "" fetches directly
    assert base.with_fetch() is base
    with pytest.raises(ConfigError, match="deadline"):
        base.with_fetch(deadline=0)
    with pytest.raises(TypeError, match="unknown settings: colour"):
        base.with_fetch(colour="red")


def loaded_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(run.stdout.split())


def test_the_settings_module_stays_light() -> None:
    heavy = {"httpx", "selectolax", "tldextract", "qualify.qualifiers.web"}
    assert loaded_after("qualify.settings") & heavy == set()
    # The CLI starts (`qualify --help`) without the web qualifier, and without the store,
    # the queue, the readers or rich: each command imports what it uses.
    heavy |= {"peewee", "huey", "redis", "rich", "idna", "openpyxl", "qualify.store",
              "qualify.api", "qualify.inputs", "qualify.demo"}  # fmt: skip
    assert loaded_after("qualify.cli") & heavy == set()


def test_load_builds_the_builtin_from_the_settings() -> None:
    settings = Settings(fetch=FetchSettings(fetch_via=GATEWAY))
    qualifier = qualifiers.load("web", settings)
    try:
        assert isinstance(qualifier, WebQualifier)
        assert qualifier.settings is settings.fetch
        assert qualifiers.load("web", settings) is not qualifier  # one per worker
    finally:
        qualifiers.close(qualifier)


def test_load_returns_a_module_callable_as_it_is() -> None:
    from tests import sample_qualifiers

    assert qualifiers.load("tests.sample_qualifiers:by_name", Settings()) is (
        sample_qualifiers.by_name
    )
    with pytest.raises(InputError, match="cannot import"):
        qualifiers.load("no_such_module:go", Settings())
    qualifiers.close(sample_qualifiers.by_name)  # nothing to close: no error


def test_check_needs_no_settings_and_builds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> None:
        raise AssertionError("check() built a qualifier")

    monkeypatch.setattr(WebQualifier, "__init__", refuse)
    example = Path(__file__).resolve().parent.parent / "qualify" / "examples" / "icp.json"
    qualifiers.check("web", __import__("json").loads(example.read_text()))
    with pytest.raises(ICPError, match="expected a JSON object"):
        qualifiers.check("web", ["not", "an", "object"])
    with pytest.raises(ICPError, match=r"employees\.min"):
        qualifiers.check("web", {"name": "x", "employees": {"min": "many"}})
    with pytest.raises(InputError, match="expected MODULE:CALLABLE"):
        qualifiers.check("justaname", {})


class Closing:
    """A built-in-style qualifier that records being closed."""

    closed: ClassVar[list[Closing]] = []

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> Closing:
        return cls(settings)

    def __call__(self, domain: str, icp: dict) -> dict:
        return {"score": 50, "verdict": "review", "reasons": [], "evidence": {}}

    def close(self) -> None:
        Closing.closed.append(self)


def test_the_worker_builds_from_the_apps_settings_and_closes_on_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(qualifiers.BUILTIN, "closing", f"{__name__}:Closing")
    monkeypatch.setattr(Closing, "closed", [])
    settings = Settings(db=str(tmp_path / "q.db"), fetch=FetchSettings(fetch_via=GATEWAY))
    with Qualify.open(settings=settings) as app:
        assert app.settings is settings
        run_id = create_run(app, ["acme.com", "globex.io"], qualifier="closing")
        worker = app.worker(WorkerOptions(burst=True, handle_signals=False, concurrency=2))
        worker.run()
        assert app.runs.get(run_id).status == "COMPLETED"
    assert len(Closing.closed) == 1
    assert Closing.closed[0].settings is settings


def test_open_with_settings_and_overrides(tmp_path: Path) -> None:
    settings = Settings(db=str(tmp_path / "a.db"), fetch=FetchSettings(fetch_via=GATEWAY))
    with Qualify.open(str(tmp_path / "b.db"), settings=settings) as app:
        assert app.settings.db == str(tmp_path / "b.db")
        assert app.settings.fetch is settings.fetch
    assert (tmp_path / "b.db").exists() and not (tmp_path / "a.db").exists()
