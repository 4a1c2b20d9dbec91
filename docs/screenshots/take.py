"""Retake the README screenshots from a running demo.

The screenshots show the demo as `make run` builds it: a chat with its artifact cards (one card
run, its chart drawn and its rows open), the artifact list, an artifact page after Run (with its
chart) and the admin change page of the same artifact (down to its chart spec), each at 1400 px
(laptop) and 390 px (phone, with touch) wide, as full-page PNGs in this folder: chat-1400.png,
chat-390.png, artifacts-1400.png, artifacts-390.png, artifact-1400.png, artifact-390.png,
admin-artifact-1400.png, admin-artifact-390.png.

Usage, from the repository root, with the demo running (`make run PORT=8031`) in another shell:

    .venv/bin/python docs/screenshots/take.py --base-url http://127.0.0.1:8031

Options: --base-url (default http://127.0.0.1:8000), --username / --password (default the demo
user, demo / demo-password-123, or DEMO_PASSWORD), --chat (title of the demo chat to show,
default "Revenue by category last month"; its first card is the artifact shown), --out (folder,
default this one), --chromium (default /usr/bin/chromium; Playwright drives that browser
instead of downloading its own). Running a card and the artifact page adds runs to the demo
artifact, as a person clicking Run would. `optipng -o2 docs/screenshots/*.png` makes the files
smaller afterwards, if it is installed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

WIDTHS = (1400, 390)
HEIGHT = {1400: 900, 390: 844}
# The launch options that work in a container (as in tests/browser/conftest.py).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
TIMEOUT_MS = 20_000


def sign_in(page: Page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form [type=submit]")
    page.wait_for_url("**/chats/**")


def wait_for_charts(page: Page, scope: str) -> None:
    """Every visible chart under `scope` drawn (vega-embed replaces the loading note)."""
    page.wait_for_selector(
        f"{scope} [data-chart]:not([hidden]) .chart-canvas svg, "
        f"{scope} [data-chart]:not([hidden]) .chart-canvas canvas"
    )
    page.wait_for_function("s => !document.querySelector(s + ' .chart-loading')", arg=scope)
    # vega animates nothing, but fonts and the last layout pass need a moment.
    page.wait_for_timeout(300)


def check_no_errors(page: Page, what: str) -> None:
    """An error alert on the page would spoil the screenshot: stop and say which."""
    alerts = page.locator(".htmx-error, .alert-danger, .errornote")
    if alerts.count():
        raise SystemExit(f"{what}: the page shows an error: {alerts.first.inner_text()!r}")


def shoot(page: Page, out: Path, name: str, width: int, until: str | None = None) -> None:
    """The whole page, or its top down to the end of the `until` element.

    Taken through a window as tall as the page: Playwright's full_page stitches the page under
    a window of the first screen's height, which leaves the chat's sticky composer floating
    halfway down; a tall window puts it where a person who scrolled to the end sees it.
    """
    path = out / f"{name}-{width}.png"
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": width, "height": max(height, HEIGHT[width])})
    page.wait_for_timeout(300)
    clip = None
    if until:
        box = page.locator(until).first.bounding_box()
        clip = {
            "x": 0,
            "y": 0,
            "width": width,
            "height": min(height, box["y"] + box["height"] + 16),
        }
    page.screenshot(path=str(path), clip=clip)
    page.set_viewport_size({"width": width, "height": HEIGHT[width]})
    print(f"wrote {path}")


def take(page: Page, out: Path, width: int, chat_title: str) -> None:
    # A demo chat, its first card run: the chart drawn and its rows unfolded.
    page.goto("/chats/")
    page.get_by_role("link", name=chat_title).first.click()
    page.wait_for_selector(".artifact-card")
    card = page.locator(".artifact-card").first
    artifact_url = card.locator("a.artifact-card-title").get_attribute("href")
    card.locator(".artifact-card-run-form button[type=submit]").click()
    page.wait_for_selector(".artifact-card .run-summary")
    card = page.locator(".artifact-card").first
    if card.locator("[data-chart]:not([hidden])").count():
        wait_for_charts(page, ".artifact-card")
    rows = card.locator("details.card-rows")
    if rows.count():
        rows.locator("summary").click()
    check_no_errors(page, "chat")
    shoot(page, out, "chat", width)

    page.goto("/artifacts/")
    page.wait_for_selector("table, .artifact-list")
    check_no_errors(page, "artifact list")
    shoot(page, out, "artifacts", width)

    # The artifact page after Run, its chart drawn.
    page.goto(artifact_url)
    page.click("#artifact-run-form .run-button")
    page.wait_for_selector("#artifact-run-result .run-summary")
    if page.locator("#artifact-run-result [data-chart]:not([hidden])").count():
        wait_for_charts(page, "#artifact-run-result")
    check_no_errors(page, "artifact page")
    shoot(page, out, "artifact", width)

    # Its admin change page (/artifacts/<pk>/ -> /admin/llm_artifact/artifact/<pk>/change/),
    # down to the end of the fields people edit: the SQL, parameters and chart spec.
    pk = artifact_url.rstrip("/").rsplit("/", 1)[-1]
    page.goto(f"/admin/llm_artifact/artifact/{pk}/change/")
    page.wait_for_selector("#artifact_form")
    check_no_errors(page, "admin artifact page")
    shoot(page, out, "admin-artifact", width, until="fieldset:has(#id_visualization_config)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", "demo-password-123"))
    parser.add_argument("--chat", default="Revenue by category last month")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
        )
        for width in WIDTHS:
            context = browser.new_context(
                base_url=args.base_url.rstrip("/"),
                viewport={"width": width, "height": HEIGHT[width]},
                device_scale_factor=1,
                # The phone width as a phone: touch, and the page's viewport meta honoured.
                is_mobile=width < 576,
                has_touch=width < 576,
            )
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            sign_in(page, args.username, args.password)
            take(page, args.out, width, args.chat)
            context.close()
            if errors:
                raise SystemExit(f"JavaScript errors at {width} px: {errors}")
        browser.close()


if __name__ == "__main__":
    main()
