"""Take the README's screenshots from the running demo (./scripts/demo), in headless Chromium.

    .venv/bin/python scripts/screenshots.py [--url http://localhost:8069] [--out docs/screenshots]

Logs in as admin, finds the demo's records over JSON-RPC (the connected list with the most contacts, a list not
connected, the sent ESP mailing, the draft ESP mailing), opens each view a person opens and saves a PNG per view.
Chromium is driven through its DevTools protocol (websocket-client, as Odoo's own browser tests do), so the
script needs no other browser library. Nothing is changed in the demo: dialogs are opened and closed unsaved.
"""

import argparse
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import websocket

ROOT = Path(__file__).resolve().parents[1]
# The Apps page (static/description/index.html) shows three of them.
APP_IMAGES = {
    "03-synced-list": "screenshot_list.png",
    "06-esp-mailing-tab": "screenshot_mailing.png",
    "07-esp-statistics": "screenshot_statistics.png",
}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class Odoo:
    """A logged-in JSON-RPC session: finds the records the screenshots show."""

    def __init__(self, url, db, login, password):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        try:
            answer = self._rpc("/web/session/authenticate", {"db": db, "login": login, "password": password})
        except requests.ConnectionError:
            sys.exit(f"error: no Odoo answers at {self.url}: start the demo (./scripts/demo) and run this again.")
        if not answer.get("uid"):
            sys.exit(f"error: login as {login} refused by {self.url}")

    def _rpc(self, path, params):
        response = self.session.post(self.url + path, json={"jsonrpc": "2.0", "method": "call", "params": params},
                                     timeout=60)
        response.raise_for_status()
        body = response.json()
        if body.get("error"):
            raise RuntimeError(body["error"].get("data", {}).get("message") or body["error"])
        return body["result"]

    def call(self, model, method, *args, **kwargs):
        return self._rpc("/web/dataset/call_kw", {"model": model, "method": method, "args": list(args),
                                                  "kwargs": kwargs})

    def first(self, model, domain, order="id"):
        ids = self.call(model, "search", domain, limit=1, order=order)
        return ids[0] if ids else None

    def cookie(self):
        return self.session.cookies.get("session_id")


class Chromium:
    """Just enough of the DevTools protocol: navigate, evaluate, wait for a selector, capture."""

    def __init__(self, width=1440, height=900):
        binary = next((shutil.which(name) for name in CHROMIUM_NAMES if shutil.which(name)), None)
        if not binary:
            sys.exit("error: Chromium was not found: install it (e.g. `apt-get install chromium`) and run again.")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.profile = tempfile.mkdtemp(prefix="esp-screenshots-")
        self.process = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             f"--window-size={width},{height}", f"--remote-debugging-port={port}", f"--user-data-dir={self.profile}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _attempt in range(100):
            try:
                targets = requests.get(f"http://127.0.0.1:{port}/json", timeout=1).json()
                page = next(target for target in targets if target["type"] == "page")
                break
            except (requests.RequestException, StopIteration, ValueError):
                time.sleep(0.1)
        else:
            self.close()
            sys.exit("error: Chromium did not start")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self._id = 0
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def send(self, method, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def goto(self, url):
        # Odoo saves a form it considers changed when the page is left, and Email Marketing's body editor marks a
        # mailing changed as it loads: discard first, so taking screenshots never writes to the demo.
        self.evaluate("document.querySelector('.o_form_button_cancel')?.click()")
        time.sleep(0.3)
        self.send("Page.navigate", url=url)

    def wait_for(self, selector, timeout=30):
        deadline = time.monotonic() + timeout
        check = f"!!document.querySelector({json.dumps(selector)})"
        while time.monotonic() < deadline:
            if self.evaluate(check):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{selector!r} did not appear within {timeout}s")

    def click(self, selector):
        self.wait_for(selector)
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    def pick(self, selector, text):
        """Type ``text`` in a many2one input and choose the first suggestion that contains it."""
        self.wait_for(selector)
        self.evaluate(f"""(() => {{
            const input = document.querySelector({json.dumps(selector)});
            input.focus();
            input.value = {json.dumps(text)};
            input.dispatchEvent(new Event("input", {{bubbles: true}}));
        }})()""")
        item = ".o-autocomplete--dropdown-item a"
        self.wait_for(item)
        self.evaluate(f"""[...document.querySelectorAll({json.dumps(item)})]
            .find(a => a.textContent.includes({json.dumps(text)}))?.click()""")
        time.sleep(0.5)

    def settle(self, seconds=1.0):
        """Let Odoo finish rendering (lazy fields, fonts, animations) before the capture; toasts (e.g. "The page
        is out of date" after the demo's server restarted) would hide part of the view."""
        self.evaluate("document.querySelectorAll('.o_notification_manager').forEach(n => n.style.display = 'none')")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.evaluate(
            "!!document.querySelector('.o_loading_indicator, .o-loading, .o_blockUI')"
        ):
            time.sleep(0.2)
        time.sleep(seconds)

    def capture(self, path):
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.evaluate("document.querySelector('.modal .btn-close')?.click()")
            self.evaluate("document.querySelector('.o_form_button_cancel')?.click()")
            time.sleep(0.3)
            self.ws.close()
        except Exception:  # noqa: BLE001 - closing a browser that may already be gone
            pass
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("ESP_DEMO_URL", "http://localhost:%s" %
                                                        os.environ.get("ESP_DEMO_PORT", "8069")))
    parser.add_argument("--db", default="esp_demo")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--no-app-images", dest="app_images", action="store_false",
                        help="do not copy the Apps page's images into static/description")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    odoo = Odoo(args.url, args.db, args.login, args.password)
    connected_ids = odoo.call("mailing.list", "search", [("esp_address_book_id", "!=", False)])
    if not connected_ids:
        sys.exit("error: the demo has no connected list yet: start it with ./scripts/demo and wait for its seed.")
    counted = odoo.call("mailing.list", "read", connected_ids, ["contact_count"])
    synced_list = max(counted, key=lambda row: row["contact_count"])["id"]
    # The demo's "Event leads" is the list waiting to be connected; any unconnected list elsewhere.
    free_list = odoo.first("mailing.list", [("esp_address_book_id", "=", False), ("name", "=", "Event leads")]) \
        or odoo.first("mailing.list", [("esp_address_book_id", "=", False)], order="id desc")
    sent = odoo.first("mailing.mailing", [("esp_account_id", "!=", False), ("state", "=", "done"),
                                         ("esp_made_in_esp", "=", False)], order="sent_date desc")
    draft = odoo.first("mailing.mailing", [("esp_account_id", "!=", False), ("state", "=", "draft")])
    account = odoo.first("esp.account", [("provider", "=", "dotdigital")])
    account_name = odoo.call("esp.account", "read", [account], ["name"])[0]["name"] if account else None

    browser = Chromium()
    taken = []
    try:
        browser.send("Network.enable")
        host = re.sub(r"^https?://", "", args.url).split("/")[0].split(":")[0]
        browser.send("Network.setCookie", name="session_id", value=odoo.cookie(), domain=host, path="/")

        def shot(name, url, ready, before=None, settle=1.0):
            browser.goto(args.url + url)
            browser.wait_for(ready)
            if before:
                before()
            browser.settle(settle)
            path = out / f"{name}.png"
            browser.capture(path)
            taken.append(path)
            print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

        def open_tab(name):
            def run():
                browser.click(f'.o_notebook .nav-link[name="{name}"]')
                browser.wait_for(f'.o_notebook .nav-link[name="{name}"].active')
            return run

        lists = "/odoo/action-mass_mailing.action_view_mass_mailing_lists"
        mailings = "/odoo/action-mass_mailing.mailing_mailing_action_mail"
        if account:
            shot("01-esp-account", f"/odoo/action-campaign_esp_connector.esp_account_action/{account}",
                 ".o_form_view .o_statusbar_status")
        if free_list:
            shot("02-connect-dialog", f"{lists}/{free_list}", '.o_form_view button[name="action_esp_connect"]',
                 before=lambda: (browser.click('.o_form_view button[name="action_esp_connect"]'),
                                 browser.wait_for('.modal .o_field_widget[name="account_id"] input'),
                                 account_name and browser.pick('.modal .o_field_widget[name="account_id"] input',
                                                               account_name)))
        shot("03-synced-list", f"{lists}/{synced_list}", '.o_form_view .o_field_widget[name="esp_address_book_id"]')
        def open_sync_history():
            button = '.oe_stat_button[name="action_esp_view_sync_logs"]'
            if not browser.evaluate(f"!!document.querySelector('{button}')"):
                browser.click(".o_form_view .o-form-buttonbox .o_button_more")
            browser.click(button)
            browser.wait_for(".o_list_view .o_data_row")

        shot("04-sync-history", f"{lists}/{synced_list}", '.o_form_view .o_field_widget[name="esp_address_book_id"]',
             before=open_sync_history)
        shot("05-sync-health", "/odoo/action-campaign_esp_connector.mailing_list_action_esp_health",
             ".o_list_view .o_data_row")
        if draft:
            shot("06-esp-mailing-tab", f"{mailings}/{draft}", ".o_form_view .o_notebook", before=open_tab("esp"))
        if sent:
            shot("07-esp-statistics", f"{mailings}/{sent}", ".o_form_view .o_notebook",
                 before=open_tab("esp_statistics"))
            shot("08-recipient-activity", f"{mailings}/{sent}", ".o_form_view .o_notebook",
                 before=lambda: (open_tab("esp_statistics")(), browser.click('button[name="action_view_esp_activity"]'),
                                 browser.wait_for(".o_list_view .o_data_row")))
            shot("09-engagement-wizard", f"{mailings}/{sent}", ".o_form_view .o_notebook",
                 before=lambda: (open_tab("esp_statistics")(),
                                 browser.click('.o_notebook button.btn-secondary[name$="esp_engagement_list_wizard_action"], '
                                               '.o_notebook button[special="esp_engagement"], '
                                               '.o_notebook .tab-pane.active button[type="action"]'),
                                 browser.wait_for('.modal .o_field_widget[name="criterion"]')))
        else:
            print("  (no sent ESP mailing in the demo: statistics screenshots skipped)")
    finally:
        browser.close()
    print(f"{len(taken)} screenshots in {out}")
    if args.app_images:
        description = ROOT / "campaign_esp_connector" / "static" / "description"
        for path in taken:
            if path.stem in APP_IMAGES:
                shutil.copyfile(path, description / APP_IMAGES[path.stem])
        print(f"Apps page images refreshed in {description.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
