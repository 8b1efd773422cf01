"""The notes app in a real browser: Debian's headless Chromium, driven by Selenium, against `firkin
run` (what ./dev serve runs) in a process of its own. It signs up, logs in, and keeps the list of
notes open in one window while a second window adds a note and deletes it: the first window shows
both changes as they happen, through the live feed, without reloading."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from conftest import Process, chromium_windows
from examples.notes.conftest import PASSWORD

TIMEOUT = 10  # seconds for the page to show what a test waits for


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with chromium_windows(tmp_path / "profile", TIMEOUT) as driver:
        yield driver


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """`firkin run` serving the notes app on a free port, with its SQLite file in tmp_path."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'notes.sqlite'}"}
    args = [sys.executable, "-m", "firkin", "--app", "examples.notes.app:app", "run", "--port", "0"]
    process = Process(args, ready=r"Running on (http://127\.0\.0\.1:\d+)", env=env)
    try:
        yield process.ready.group(1)
    finally:
        status = process.stop()
    assert status == 0, process.output()
    assert "Traceback" not in process.output(), process.output()


def wait_for(browser: WebDriver, what: str, check: Any) -> None:
    WebDriverWait(browser, TIMEOUT).until(lambda _: check(), message=what)


def fill(browser: WebDriver, form: str, **fields: str) -> None:
    for name, value in fields.items():
        field = browser.find_element("css selector", f"#{form} [name={name}]")
        field.clear()
        field.send_keys(value)
    browser.find_element("css selector", f"#{form} button[type=submit]").click()


def texts(browser: WebDriver, selector: str) -> list[str]:
    """The text of each element `selector` finds, read in one script (so in one page: elements
    found one call before reading them may belong to a page the browser has since left)."""
    result: list[str] = browser.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((element) => element.textContent.trim());",
        selector,
    )
    return result


def flashes(browser: WebDriver) -> list[str]:
    return texts(browser, ".flash")


def errors(browser: WebDriver) -> list[str]:
    return texts(browser, ".error")


def notes(browser: WebDriver) -> list[list[str]]:
    """The list on the page: [title, body] per note, as the user sees them (text)."""
    result: list[list[str]] = browser.execute_script(
        """return [...document.querySelectorAll("#notes .note")].map((note) => [
            note.querySelector(".title").textContent, note.querySelector(".body").textContent,
        ]);"""
    )
    return result


def test_sign_up_log_in_and_see_a_note_from_another_window_appear(browser: WebDriver, site: str) -> None:
    browser.get(f"{site}/")
    assert browser.current_url == f"{site}/login?next=%2F"  # the list is for users who logged in
    browser.find_element("link text", "Sign up").click()
    wait_for(browser, "the sign-up form", lambda: texts(browser, "#signup-form button") == ["Sign up"])

    fill(browser, "signup-form", username="alice", password=PASSWORD, confirm="a typo")
    wait_for(browser, "the server's answer", lambda: errors(browser) == ["The two passwords differ."])
    fill(browser, "signup-form", username="Alice", password=PASSWORD, confirm=PASSWORD)
    welcome = ["Welcome, alice: your account is ready. Log in."]
    wait_for(browser, "the login page", lambda: flashes(browser) == welcome)
    assert browser.current_url == f"{site}/login"

    fill(browser, "login-form", username="alice", password="wrong password")
    wait_for(browser, "the server's answer", lambda: errors(browser) == ["Wrong user name or password."])
    fill(browser, "login-form", username="alice", password=PASSWORD)
    wait_for(browser, "the list", lambda: flashes(browser) == ["Logged in as alice."])
    assert browser.current_url == f"{site}/"
    assert texts(browser, "#user") == ["alice"]
    assert browser.find_element("id", "empty").is_displayed()
    wait_for(browser, "the live feed", lambda: browser.find_element("id", "live").text == "live")
    first = browser.current_window_handle
    browser.execute_script("window.notReloaded = true;")

    # A second window (the same browser: the same session) adds a note.
    browser.switch_to.new_window("window")
    browser.get(f"{site}/notes/new")
    fill(browser, "note-form", title="<b>Groceries</b>", body="milk\neggs")
    wait_for(browser, "back on the list", lambda: flashes(browser) == ["Added “<b>Groceries</b>”."])
    assert browser.current_url == f"{site}/#note-1"
    assert notes(browser) == [["<b>Groceries</b>", "milk\neggs"]]
    second = browser.current_window_handle

    # The first window shows it, without a reload, as text (never as markup).
    browser.switch_to.window(first)
    wait_for(browser, "the new note", lambda: notes(browser) == [["<b>Groceries</b>", "milk\neggs"]])
    assert browser.execute_script("return window.notReloaded") is True
    assert browser.execute_script("return document.querySelector('#notes b')") is None
    assert not browser.find_element("id", "empty").is_displayed()

    # Deleted in the second window: gone from the first.
    browser.switch_to.window(second)
    browser.find_element("css selector", "#notes .note form.delete button").click()
    wait_for(browser, "the deletion", lambda: flashes(browser) == ["Note deleted."])
    browser.switch_to.window(first)
    wait_for(browser, "the note to go", lambda: notes(browser) == [])
    assert browser.find_element("id", "empty").is_displayed()
    assert browser.execute_script("return window.notReloaded") is True

    # The first window adds a note itself, through the form, then logs out.
    browser.find_element("id", "new-note").click()
    wait_for(browser, "the note form", lambda: texts(browser, "#note-form button") == ["Add note"])
    fill(browser, "note-form", title="Second", body="")
    wait_for(browser, "the list", lambda: notes(browser) == [["Second", ""]])
    browser.find_element("id", "logout").click()
    wait_for(browser, "logged out", lambda: flashes(browser) == ["Logged out."])
    browser.get(f"{site}/")
    assert browser.current_url == f"{site}/login?next=%2F"
