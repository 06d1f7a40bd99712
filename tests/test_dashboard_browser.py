"""The dashboard in a real headless browser (Debian's Chromium, driven by Selenium).

The mock runs as a user runs it (`mockserver serve`, a real socket); the page is read as
a person would read it: journal rows, a click for the whole exchange, the coverage map,
the scenarios and the APIs. A screenshot is kept in `test-artifacts/dashboard.png`.
CI installs Chromium (`.ci/run`); elsewhere, without it, these tests are skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, LiveServer

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SESSION = "dashboard-test"
ARTIFACT = ROOT / "test-artifacts" / "dashboard.png"

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    if os.environ.get("CI"):
        pytest.fail("CI must have Chromium and ChromeDriver (.ci/run installs them)")
    pytest.skip("Chromium and ChromeDriver are not installed", allow_module_level=True)


def _send(url: str, method: str, path: str, body: Any = None, **headers: str) -> int:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method)
    request.add_header("X-Mock-Session", SESSION)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    server = LiveServer()
    assert _send(server.url, "GET", "/api/v1/events/query/") == 200
    assert _send(server.url, "GET", "/api/v1/events/query/?page_size=banana") == 400
    assert _send(server.url, "GET", "/api/v1/events/query/", X_Mock_Status="400") == 400
    scenario = {
        "scenarios": [
            {
                "name": "list-fails-once",
                "match": {"operationId": "queryEvents"},
                "times": 1,
                "respond": {"status": 400},
            }
        ]
    }
    put = urllib.request.Request(
        f"{server.url}/__mock/scenarios?session={SESSION}",
        data=json.dumps(scenario).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(put, timeout=10) as answer:
        assert answer.status == 200
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def _wait(browser: Any, condition: Any) -> Any:
    return WebDriverWait(browser, 15, poll_frequency=0.1).until(condition)


@pytest.fixture(scope="module")
def page(server: LiveServer, browser: Any) -> Any:
    browser.get(server.url + "/__mock/ui")
    session = browser.find_element(By.ID, "session")
    session.clear()
    session.send_keys(SESSION)
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", session)
    _wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#journal tbody tr")) == 3)
    return browser


def test_the_journal_lists_the_sessions_requests_newest_first(page: Any) -> None:
    rows = page.find_elements(By.CSS_SELECTOR, "#journal tbody tr")
    assert all("/api/v1/events/query/" in row.text for row in rows)
    statuses = [row.find_elements(By.TAG_NAME, "td")[3].text for row in rows]
    assert statuses == ["400", "400", "200"]


def test_violations_are_highlighted(page: Any) -> None:
    rows = page.find_elements(By.CSS_SELECTOR, "#journal tbody tr")
    invalid = [row for row in rows if "invalid" in (row.get_attribute("class") or "")]
    assert len(invalid) == 1
    assert "page_size" in invalid[0].find_element(By.CLASS_NAME, "problems").text


def test_a_click_shows_the_whole_exchange(page: Any) -> None:
    rows = page.find_elements(By.CSS_SELECTOR, "#journal tbody tr")
    rows[1].click()
    detail = _wait(page, lambda b: b.find_element(By.ID, "detail-body"))
    shown = json.loads(detail.text)
    assert shown["query"] == {"page_size": ["banana"]}
    assert shown["status"] == 400
    assert shown["problems"]


def test_the_coverage_map_shows_served_and_how_to_reach_the_rest(page: Any) -> None:
    page.find_element(By.CSS_SELECTOR, "nav button[data-tab=coverage]").click()
    _wait(page, lambda b: b.find_elements(By.CSS_SELECTOR, "#coverage span.served"))
    served = {
        cell.get_attribute("data-status")
        for cell in page.find_elements(By.CSS_SELECTOR, "#coverage span.served")
    }
    assert served == {"200", "400"}
    uncovered = page.find_elements(By.CSS_SELECTOR, "#coverage span.uncovered")
    assert uncovered
    assert all("X-Mock-Status: " in cell.text for cell in uncovered)
    assert "statuses 2/" in page.find_element(By.ID, "coverage-totals").text


def test_the_scenarios_and_apis_are_shown(page: Any) -> None:
    page.find_element(By.CSS_SELECTOR, "nav button[data-tab=scenarios]").click()
    _wait(page, lambda b: b.find_elements(By.CSS_SELECTOR, "#scenarios tbody tr"))
    assert "list-fails-once" in page.find_element(By.CSS_SELECTOR, "#scenarios tbody").text
    page.find_element(By.CSS_SELECTOR, "nav button[data-tab=apis]").click()
    rows = _wait(page, lambda b: b.find_elements(By.CSS_SELECTOR, "#apis tbody tr"))
    listed = json.loads(urllib.request.urlopen(page.current_url.replace("/ui", "/apis")).read())
    assert len(rows) == sum(len(api["operations"]) for api in listed["apis"])


def test_a_screenshot_is_kept(page: Any) -> None:
    page.find_element(By.CSS_SELECTOR, "nav button[data-tab=journal]").click()
    _wait(page, lambda b: b.find_elements(By.CSS_SELECTOR, "#journal tbody tr"))
    ARTIFACT.parent.mkdir(exist_ok=True)
    assert page.save_screenshot(str(ARTIFACT))
    assert ARTIFACT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not page.find_element(By.ID, "failure").is_displayed()
