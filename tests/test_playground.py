"""The playground and the explorer in a real browser: Chromium (Debian's, or playwright's own) driven by
playwright against a real ``ponder serve`` process. No timing assertions: how fast the first reasoning
line shows is measured by ``benchmarks/playground.py``."""

import json
import os
import shutil
import subprocess

import pytest
from conftest import PONDER, missing, needs_module
from test_serve import start, stop

needs_module("playwright", "pip install playwright")
from playwright.sync_api import sync_playwright  # noqa: E402

KEY = "browser-key"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
"""Chromium in a sandbox with no network: without the background-networking flags it keeps dialing out."""


def chromium() -> str | None:
    """Debian's Chromium (what .ci/run installs), or None for playwright's own download."""
    return os.environ.get("PONDER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server():
    proc, url = start("--api-key", KEY)
    yield url
    stop(proc)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        except Exception as e:  # no browser here: install Debian's chromium (see .ci/run)
            missing(f"no Chromium to drive: {str(e).splitlines()[0]}")
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    """A page with the API key in its storage, its console errors collected in ``page.errors``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(f"localStorage.setItem('ponder-key', '{KEY}')")
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


def ask(page, server, problem: str, effort: str):
    page.goto(server + "/")
    page.wait_for_selector("#task option", state="attached")
    page.fill("#problem", problem)
    page.select_option("#effort", effort)
    page.click("#submit")
    page.wait_for_selector("#explorer:not([hidden])", timeout=120_000)


def test_a_puzzle_streams_its_reasoning_and_answer(page, server):
    ask(page, server, "Game of 24: 4 7 8 8", "low")
    assert page.get_attribute("#thinking", "data-first") is not None  # a reasoning delta arrived while it ran
    assert page.inner_text("#thinking").startswith("Thinking with greedy")
    assert page.inner_text("#answer") == "8 * ((7 + 4) - 8)"
    assert page.inner_text("#verdict") == "correct, checked by rule"
    assert "reasoning tokens" in page.inner_text("#stats")
    marks = page.eval_on_selector_all(".lines li", "items => items.map(i => i.className)")
    assert marks.count("path") == 3 and "dead" in marks  # the chain: its solution's steps and its dead ends
    assert page.errors == []


def test_the_tree_of_a_search(page, server):
    ask(page, server, "Game of 24: 4 7 8 8", "high")
    assert "best-first" in page.inner_text("#explorer-kind")
    chosen = page.locator(".tree .node.chosen")
    assert chosen.count() >= 4 and "answer" in chosen.last.inner_text()  # root to answer, highlighted
    assert page.locator(".tree .node.open").count() > 0  # children never expanded
    hidden = page.locator(".tree ul[hidden]").count()
    page.click("text=Expand all")
    assert page.locator(".tree ul[hidden]").count() == 0 <= hidden
    page.click("text=Chosen line only")
    assert page.locator(".tree ul:not([hidden])").count() == chosen.count() - 1
    assert page.errors == []


def test_votes_and_a_drawn_problem(page, server):
    page.goto(server + "/")
    page.wait_for_selector("#task option", state="attached")
    page.select_option("#task", label="game24")
    page.click("#draw")
    page.wait_for_function("document.getElementById('problem').value.startsWith('Game of 24:')")
    page.select_option("#effort", "medium")
    page.click("#submit")
    page.wait_for_selector("#explorer:not([hidden])", timeout=120_000)
    assert "Tally of 8 samples" in page.inner_text("#explorer-body")
    assert page.locator("#explorer-body table").nth(1).locator("tr").count() == 9  # a row per sample
    assert page.errors == []


def test_a_refused_problem_is_said_plainly(page, server):
    page.goto(server + "/")
    page.wait_for_selector("#task option", state="attached")
    page.fill("#problem", "hello")
    page.click("#submit")
    page.wait_for_selector("#status.error")
    assert "no puzzle found" in page.inner_text("#status")


def test_the_explorer_opens_a_saved_row(page, server, tmp_path):
    row = subprocess.run([*PONDER, "solve", "Game of 24: 2 5 8 11", "--effort", "high", "--json", "--show-search"],
                         capture_output=True, text=True, check=True).stdout
    saved = tmp_path / "row.json"
    saved.write_text(row)
    assert json.loads(row)["search"]["kind"] == "tree"
    page.goto(server + "/explorer")
    page.set_input_files("#file", str(saved))
    page.wait_for_selector("#explorer:not([hidden])")
    assert page.locator(".tree .node.chosen").count() >= 4
    assert page.errors == []


def test_it_fits_a_phone(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.add_init_script(f"localStorage.setItem('ponder-key', '{KEY}')")
    page = context.new_page()
    ask(page, server, "Game of 24: 4 7 8 8", "high")
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width  # nothing wider than the screen
    context.close()
