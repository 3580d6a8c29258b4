"""The studio in a real browser: Debian's Chromium driven by Playwright (never
``playwright install``), against a real studio server on 127.0.0.1 and the emulator.

The three steps -- add the task, pick the API, test the request -- end to end, with the
saved YAML checked by ``validate``; a validation error at its field; a 429 and its wait;
the canary secret in no page and no answer; no access without the token.

Screenshots of the three steps go to ``$TASK_RUNNER_SCREENSHOTS`` when it is set (the
README's come from ``TASK_RUNNER_SCREENSHOTS=docs/images``), else to the test's folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from task_runner.catalogue import Catalogue
from task_runner.emulator import Emulator
from task_runner.workflow.validate import validate_paths
from tests.test_studio import CANARY, make_folder, studio_config

CHROMIUM = "/usr/bin/chromium"
#: Where pytest was started: a relative $TASK_RUNNER_SCREENSHOTS is taken from there.
STARTED_IN = Path.cwd()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() or shutil.which("chromium") is None,
    reason="needs Debian's chromium (apt-get install -y chromium; .ci/run installs it)",
)


@dataclass
class Running:
    url: str  # with the token
    base: str
    folder: Path
    emulator: Emulator
    answers: list[str]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def studio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    import uvicorn

    from task_runner.studio.app import create_app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STUDIO_CANARY", CANARY)
    monkeypatch.delenv("TASK_RUNNER_DEFINITIONS", raising=False)
    folder = make_folder(tmp_path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    with Emulator(dataset_end=time.time()) as em:
        config = studio_config(folder, em, port=port)
        app = create_app(config)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the studio did not start"
            time.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        try:
            yield Running(f"{base}/?token={config.token}", base, folder, em, [])
        finally:
            server.should_exit = True
            thread.join(10)
            app.state.studio.jobs.wait_all()
            sock.close()


@pytest.fixture
def page(browser: Any, studio: Running) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    expected = ("status of 409", "net::ERR_FAILED")  # conflicts and aborted requests, tested

    def console(message: Any) -> None:
        if message.type == "error" and not any(e in message.text for e in expected):
            errors.append(f"{message.text} at {message.location}")

    tab.on("console", console)

    def keep(response: Any) -> None:
        try:
            studio.answers.append(response.text())
        except Exception:  # a redirect has no body
            studio.answers.append(str(response.headers))

    tab.on("response", keep)
    yield tab
    context.close()
    assert errors == [], errors  # no script error, no CSP violation


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = os.environ.get("TASK_RUNNER_SCREENSHOTS")
    folder = STARTED_IN / target if target else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_add_view(page: Any, studio: Running, workflow: str = "procore_images.yaml") -> None:
    page.goto(studio.url)
    page.get_by_role("link", name=workflow).click()
    page.click("#add-task")
    page.wait_for_selector("#api-search")


def choose(page: Any, query: str, operation: str) -> None:
    page.fill("#api-search", query)
    page.click(f'.result[data-op="{operation}"]')
    page.wait_for_selector("#request-form")
    page.wait_for_selector("#draft-state:not(:empty)")


def test_the_three_steps_from_search_to_saved_yaml(page: Any, studio: Running, shots: Path) -> None:
    (studio.folder / "canary.yaml").unlink()  # the screenshots show the examples only
    open_add_view(page, studio)
    page.fill("#api-search", "list")
    page.wait_for_selector("text=4 operations")  # searched as typed
    groups = page.locator(".api-group").all_inner_texts()
    assert sorted(g.lower() for g in groups) == ["payments", "procore", "tickets"]
    assert page.locator("#search-results mark").count() >= 4  # the match, highlighted
    page.screenshot(path=str(shots / "studio-1-add.png"))

    page.click('.result[data-op="procore.images.list"]')
    page.wait_for_selector("#reference")
    assert "GET" in page.inner_text("#reference .ref-head")
    assert "/rest/v1.0/images" in page.inner_text("#reference .ref-head")
    page.click("#reference-params > summary")  # every parameter, its place, type, enum
    reference = page.inner_text("#reference")
    assert "filters[updated_at]" in reference and "most_recent" in reference
    assert "default false" in reference
    page.click("#reference-params > summary")
    page.fill("#task-name", "recent_photos")
    page.click("#optional-params > summary")
    page.fill("#param-per_page", "10")
    page.select_option("#param-sort", "-created_at")
    page.fill("#input-company_id", "8089")
    page.fill("#input-project_id", "777")
    page.wait_for_function("document.querySelector('#draft-state').textContent.startsWith('valid')")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / "studio-2-reference.png"))

    page.click("#test-request")
    page.wait_for_selector("#response-body table", timeout=30_000)
    assert page.inner_text("#http-status").startswith("200")
    assert "per_page=10" in page.inner_text("#sent-request")
    assert "IMG_" in page.inner_text("#response-body")  # the body, as a table
    page.evaluate(
        "window.scrollTo(0, document.querySelector('#test-request').getBoundingClientRect().top"
        " + window.scrollY - 80)"
    )
    page.screenshot(path=str(shots / "studio-3-response.png"))

    page.click("#save-task")
    page.wait_for_selector(".banner-ok")
    notice = page.inner_text(".banner-ok")
    text = (studio.folder / "procore_images.yaml").read_text()
    assert "  recent_photos:\n    operation: procore.images.list" in text, (notice, text[-600:])
    assert "      per_page: 10   # integer" in text and '      sort: "-created_at"' in text
    assert "# re-read the last 5 minutes" in text  # the file's comments kept
    assert (
        validate_paths([studio.folder / "procore_images.yaml"], catalogue=Catalogue.load([]))[1]
        == []
    )


def test_a_wrong_value_is_shown_at_its_field(page: Any, studio: Running) -> None:
    open_add_view(page, studio)
    choose(page, "images", "procore.images.list")
    page.click("#optional-params > summary")
    page.fill("#param-per_page", "many")
    field = page.locator('.field[data-param="per_page"]')
    field.locator(".err").wait_for(state="visible")
    assert "'many' is not an integer" in field.locator(".err").inner_text()
    assert "invalid" in (field.get_attribute("class") or "")
    assert page.locator(".code .ln.err").count() >= 1  # and at its YAML line
    page.fill("#param-per_page", "25")
    field.locator(".err").wait_for(state="hidden")


def test_a_429_then_success_shows_the_wait(page: Any, studio: Running) -> None:
    studio.emulator.set_faults("429:retry-after=1@1")
    page.goto(studio.url)
    page.goto(f"{studio.base}/#/test/procore_images.yaml/list_images")
    page.fill("#input-company_id", "8089")
    page.fill("#input-project_id", "777")
    page.click("#test-request")
    page.wait_for_selector("#attempts", timeout=30_000)
    attempts = page.inner_text("#attempts")
    assert "429" in attempts and "200" in attempts
    assert "waited 1 s before retrying" in attempts
    assert "Retry-After: 1" in attempts
    assert page.inner_text("#http-status").startswith("200")


def test_the_canary_secret_is_in_no_page_and_no_answer(page: Any, studio: Running) -> None:
    page.goto(studio.url)
    page.get_by_role("link", name="canary.yaml").click()
    page.wait_for_selector("text=STUDIO_CANARY")  # named, never shown
    page.goto(f"{studio.base}/#/test/canary.yaml/photos")
    page.fill("#input-company_id", "8089")
    page.fill("#input-project_id", "777")
    page.click("#test-request")
    page.wait_for_selector("#response-body", timeout=30_000)
    page.click("#outcome details > summary")
    shown = page.inner_text("#outcome")
    assert "X-Canary\n***" in shown or "X-Canary\t***" in shown, shown  # sent, masked
    pages = [page.content()]
    page.goto(f"{studio.base}/#/rec/canary.yaml/photos")
    page.wait_for_selector("table")
    pages.append(page.content())
    assert len(studio.answers) > 10
    for text in pages + studio.answers:
        assert CANARY not in text


def test_without_the_token_nothing_is_served(browser: Any, studio: Running) -> None:
    context = browser.new_context()
    tab = context.new_page()
    response = tab.goto(studio.base + "/")
    assert response.status == 403
    assert "Access token required" in tab.content()
    for path in ("/api/workflows", "/static/studio.js", f"/?token={'x' * 43}"):
        assert tab.goto(studio.base + path).status == 403
    assert "procore_images.yaml" not in tab.content()
    context.close()


def test_a_new_workflow_is_created_by_its_first_task(page: Any, studio: Running) -> None:
    page.goto(studio.url)
    page.click("#new-workflow")
    page.fill("#new-workflow-name", "site_photos")
    page.press("#new-workflow-name", "Enter")
    page.wait_for_selector("#api-search")
    choose(page, "images", "procore.images.list")
    page.fill("#input-company_id", "8089")  # inputs of a new file: from the draft
    page.click("#save-task")
    page.wait_for_selector(".banner-ok")
    created = studio.folder / "site_photos.yaml"
    assert "operation: procore.images.list" in created.read_text()
    assert validate_paths([created], catalogue=Catalogue.load([]))[1] == []
    page.wait_for_selector(".wf-item:has-text('site_photos.yaml')")


def test_an_edit_on_disk_shows_up_and_a_stale_save_is_refused(page: Any, studio: Running) -> None:
    path = studio.folder / "procore_images.yaml"
    page.goto(studio.url)
    page.get_by_role("link", name="procore_images.yaml").click()
    page.wait_for_selector("#add-task")
    path.write_text(path.read_text().replace("  list_images:", "  list_images_renamed:"))
    page.wait_for_selector("td:has-text('list_images_renamed')", timeout=10_000)  # watched

    page.click("#add-task")
    choose(page, "images", "procore.images.list")
    page.route("**/api/workflows", lambda route: route.abort())  # it has not looked yet
    edited = path.read_text() + "# changed while the form was open\n"
    path.write_text(edited)
    page.click("#save-task")
    notice = page.locator(".banner-bad")
    notice.wait_for()
    assert "changed on disk" in notice.inner_text() and "NOT saved" in notice.inner_text()
    assert path.read_text() == edited  # never overwritten
    page.unroute("**/api/workflows")
    page.click("text=Rebuild the preview on the new version")
    page.locator(".banner-bad").wait_for(state="detached")
    page.click("#save-task")
    page.wait_for_selector(".banner-ok")
    saved = path.read_text()
    assert "# changed while the form was open" in saved  # the editor's change, kept
    assert "  list_images:\n    operation: procore.images.list" in saved  # and the task


def test_a_running_test_can_be_cancelled(page: Any, studio: Running) -> None:
    studio.emulator.set_faults("429:retry-after=30@1")  # then a 30 s wait before the retry
    page.goto(studio.url)
    page.goto(f"{studio.base}/#/test/procore_images.yaml/list_images")
    page.fill("#input-company_id", "8089")
    page.fill("#input-project_id", "777")
    page.click("#test-request")
    deadline = time.monotonic() + 20
    while not [r for r in studio.emulator.request_log if r.path == "/rest/v1.0/images"]:
        assert time.monotonic() < deadline, "the test request never reached the emulator"
        time.sleep(0.02)
    assert "timeout" in (page.get_attribute("#cancel-test", "title") or "")
    page.click("#cancel-test")
    # far sooner than the 30 s wait: the cancel ended it
    page.wait_for_selector("text=Cancelled: the test request was stopped", timeout=10_000)
    assert "429" in page.inner_text("#attempts")  # what it got before the cancel
    sent = [r for r in studio.emulator.request_log if r.path == "/rest/v1.0/images"]
    assert len(sent) == 1  # the retry was never sent


def open_edit_view(page: Any, studio: Running) -> None:
    page.goto(studio.url)
    page.get_by_role("link", name="procore_images.yaml").click()
    page.click("#edit-list_images")
    page.wait_for_selector("#reference")
    page.wait_for_selector("#draft-state:has-text('valid')")


def test_an_existing_task_is_edited_in_the_form_and_saved(
    page: Any, studio: Running, shots: Path
) -> None:
    path = studio.folder / "procore_images.yaml"
    before = path.read_text()
    open_edit_view(page, studio)
    assert page.input_value("#task-name") == "list_images"
    assert page.input_value("#param-project_id") == "{{ inputs.project_id }}"  # from the YAML
    assert "GET" in page.inner_text("#reference") and "/rest/v1.0/images" in page.inner_text(
        "#reference"
    )
    page.click("#optional-params summary")
    assert page.input_value("#param-per_page") == "100"
    page.fill("#param-per_page", "lots")  # checked as you type, at the field
    error = page.locator('.field[data-param="per_page"] .err')
    error.wait_for()
    assert "procore_images.yaml:" in error.inner_text()
    page.fill("#param-per_page", "50")
    error.wait_for(state="hidden")
    page.wait_for_selector("#draft-state:has-text('valid')")
    page.click("#save-task")
    page.wait_for_selector(".banner-ok")
    page.screenshot(path=str(shots / "studio-edit.png"))
    after = path.read_text()
    assert after == before.replace("      per_page: 100\n", "      per_page: 50\n", 1)
    assert "# the identity for" in after  # comments kept
    _files, errors = validate_paths([path], catalogue=Catalogue.load([]))
    assert errors == []


def test_an_edit_on_a_file_changed_on_disk_is_refused_then_applied(
    page: Any, studio: Running
) -> None:
    path = studio.folder / "procore_images.yaml"
    open_edit_view(page, studio)
    page.click("#optional-params summary")
    page.fill("#param-per_page", "50")
    page.wait_for_selector("#draft-state:has-text('valid')")
    page.route("**/api/workflows", lambda route: route.abort())  # it has not looked yet
    edited = path.read_text() + "# changed while the form was open\n"
    path.write_text(edited)
    page.click("#save-task")
    notice = page.locator(".banner-bad")
    notice.wait_for()
    assert "NOT saved" in notice.inner_text()
    assert path.read_text() == edited  # never overwritten
    page.unroute("**/api/workflows")
    page.click("text=Apply my changes to the new version")
    page.locator(".banner-bad").wait_for(state="detached")
    page.click("#save-task")
    page.wait_for_selector(".banner-ok")
    saved = path.read_text()
    assert saved == edited.replace("      per_page: 100\n", "      per_page: 50\n", 1)


def test_save_waits_for_a_valid_task_and_saves_again_without_a_conflict(
    page: Any, studio: Running
) -> None:
    path = studio.folder / "procore_images.yaml"
    open_add_view(page, studio)
    choose(page, "images", "procore.images.list")
    page.fill("#task-name", "twice")
    page.click("#optional-params > summary")
    page.fill("#param-per_page", "many")
    page.wait_for_selector("#draft-state:has-text('to fix')")
    assert page.is_disabled("#save-task")  # a file that would not validate is not written
    page.fill("#param-per_page", "10")
    page.wait_for_selector("#draft-state:has-text('valid:')")
    assert page.is_enabled("#save-task")
    page.click("#save-task")
    page.wait_for_selector(".banner-ok")
    assert "      per_page: 10" in path.read_text()
    # the second save builds on the file the first one wrote: no conflict, no second task
    page.wait_for_selector("#save-task:has-text('Save changes')")
    page.fill("#param-per_page", "20")
    page.wait_for_timeout(400)  # the draft is rebuilt after a short pause in typing
    page.wait_for_selector("#draft-state:has-text('valid:')")
    page.click("#save-task")
    page.wait_for_selector(".banner-ok:has-text('only the changed lines')")
    assert not page.locator(".banner-bad").count()
    text = path.read_text()
    assert "      per_page: 20" in text and text.count("  twice:\n") == 1
    assert validate_paths([path], catalogue=Catalogue.load([]))[1] == []
