"""The chat's page in a real browser: Debian's headless Chromium, driven by Selenium, opens two tabs on
the page tapster serves; they join one room and see each other's messages, a bad nickname gets the
server's explanation, and what people type is shown as text, never as markup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from conftest import ServeFactory, chromium_windows
from examples.chat.app import create_app

TIMEOUT = 10  # seconds for the page to show what a test waits for


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with chromium_windows(tmp_path / "profile", TIMEOUT) as driver:
        yield driver


def join(browser: WebDriver, nick: str) -> None:
    nick_field = browser.find_element("id", "nick")
    nick_field.clear()
    nick_field.send_keys(nick)
    browser.find_element("id", "join").click()


def say(browser: WebDriver, text: str) -> None:
    browser.find_element("id", "text").send_keys(text)
    browser.find_element("id", "send").click()


def lines(browser: WebDriver) -> list[Any]:
    """The chat log as [class, nick or "", text] per line."""
    result: list[Any] = browser.execute_script(
        """return [...document.querySelectorAll("#log li")].map((li) => [
            li.className,
            li.querySelector(".nick")?.textContent ?? "",
            li.querySelector(".text")?.textContent ?? li.lastElementChild.textContent,
        ]);"""
    )
    return result


def wait_for(browser: WebDriver, what: str, check: Any) -> None:
    WebDriverWait(browser, TIMEOUT).until(lambda _: check(), message=what)


def wait_in_room(browser: WebDriver, nick: str) -> None:
    status = f"in #lobby as {nick}"
    wait_for(browser, status, lambda: browser.find_element("id", "status").text == status)


def wait_for_line(browser: WebDriver, line: list[str]) -> None:
    wait_for(browser, f"the line {line}", lambda: line in lines(browser))


@pytest.mark.parametrize("loop_name", ["asyncio"])  # the loops are the end-to-end tests' business
def test_two_pages_join_one_room_and_see_each_others_messages(
    serve: ServeFactory, browser: WebDriver
) -> None:
    running = serve(create_app({"REDIS_URL": None}))
    page = f"{running.url}/?room=lobby"

    browser.get(page)
    alice = browser.current_window_handle
    join(browser, "bad nick")  # a space: the server says what a nickname may be
    wait_for(browser, "the error", lambda: browser.find_element("id", "error").is_displayed())
    assert browser.find_element("id", "error").text.startswith("A nickname is 1 to 24 letters")
    join(browser, "alice")
    wait_in_room(browser, "alice")
    assert not browser.find_element("id", "error").is_displayed()
    assert browser.find_element("id", "room-title").text == "#lobby"

    browser.switch_to.new_window("tab")
    bob = browser.current_window_handle
    browser.get(page)
    join(browser, "bob")
    wait_in_room(browser, "bob")
    say(browser, "hello from bob")
    wait_for_line(browser, ["message", "bob", "hello from bob"])

    browser.switch_to.window(alice)
    wait_for_line(browser, ["message", "bob", "hello from bob"])
    assert ["notice", "", "bob joined"] in lines(browser)
    say(browser, "<b>hi bob</b>")

    browser.switch_to.window(bob)
    wait_for_line(browser, ["message", "alice", "<b>hi bob</b>"])
    assert browser.execute_script("return document.querySelector('#log b')") is None  # text, not markup
    assert [line for line in lines(browser) if line[0] == "message"] == [
        ["message", "bob", "hello from bob"],
        ["message", "alice", "<b>hi bob</b>"],
    ]
    browser.find_element("id", "leave").click()

    browser.switch_to.window(alice)
    wait_for_line(browser, ["notice", "", "bob left"])

    # A third page joins later: the room's history comes with the welcome.
    browser.switch_to.new_window("tab")
    browser.get(page)
    join(browser, "carol")
    wait_in_room(browser, "carol")
    assert [line for line in lines(browser) if line[0] == "message history"] == [
        ["message history", "bob", "hello from bob"],
        ["message history", "alice", "<b>hi bob</b>"],
    ]
