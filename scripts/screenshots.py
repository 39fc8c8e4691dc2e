"""Take the README's screenshots from the running demo (./scripts/demo), in headless Chromium.

    .venv/bin/python scripts/screenshots.py [--url http://localhost:8069] [--out docs/screenshots]

Logs in as admin, finds the demo's records over JSON-RPC (the connected list with the most contacts, a list not
connected, the sent ESP mailing, the draft ESP mailing, the A/B test, the filter connected to a book, the mailings to
Contacts and to Leads, a saved recipient filter), opens each view a person opens and saves a PNG per view.
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
        # Odoo's web client shows dates in the browser's time zone, its server-written texts (a sync run's name
        # and steps, say) in the user's: the browser takes the user's, as a person's browser where they work.
        self.tz = (answer.get("user_context") or {}).get("tz") or "UTC"

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
        # mailing changed as it loads: discard first, so taking screenshots never writes to the demo. A dialog
        # left open is closed unsaved the same way.
        self.evaluate("document.querySelector('.modal .btn-close')?.click()")
        time.sleep(0.3)
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

    def type(self, selector, text):
        """Type ``text`` in a char input, as a person's typing commits it (input, then change)."""
        self.wait_for(selector)
        self.evaluate(f"""(() => {{
            const input = document.querySelector({json.dumps(selector)});
            input.focus();
            input.value = {json.dumps(text)};
            input.dispatchEvent(new Event("input", {{bubbles: true}}));
            input.dispatchEvent(new Event("change", {{bubbles: true}}));
        }})()""")
        time.sleep(0.5)

    def pick(self, selector, text):
        """Type ``text`` in a many2one (or many2many tags) input and choose the suggestion that reads ``text``,
        else the first one that contains it."""
        self.wait_for(selector)
        self.evaluate(f"""(() => {{
            const input = document.querySelector({json.dumps(selector)});
            input.focus();
            input.value = {json.dumps(text)};
            input.dispatchEvent(new Event("input", {{bubbles: true}}));
        }})()""")
        item = ".o-autocomplete--dropdown-item a"
        self.wait_for(item)
        self.evaluate(f"""(() => {{
            const items = [...document.querySelectorAll({json.dumps(item)})];
            (items.find(a => a.textContent.trim() === {json.dumps(text)})
             || items.find(a => a.textContent.includes({json.dumps(text)})))?.click();
        }})()""")
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


def find_feature_records(odoo, sent, draft, free_list, account_name):
    """The records the shots of issues 21 (A/B tests, mixed lists, link trackers) and 23 (connected filters,
    mailings to Contacts) show; ``None`` for what the demo does not have."""
    # Issue 21: the demo's A/B test (its first version), ready to send through the ESP.
    ab_version = odoo.first("mailing.mailing", [("ab_testing_enabled", "=", True), ("esp_account_id", "!=", False),
                                               ("state", "=", "draft")])
    # Issue 23: a filter connected to a book, the mailing to Contacts sent through the ESP, a saved filter to pick.
    filter_list = odoo.first("mailing.list", [("esp_source_kind", "!=", False), ("esp_address_book_id", "!=", False)])
    to_contacts = odoo.first("mailing.mailing", [("esp_account_id", "!=", False), ("state", "=", "done"),
                                                ("mailing_model_name", "=", "res.partner")], order="sent_date desc")
    # The mailing to Leads (the demo has it when its Odoo has CRM).
    to_leads = odoo.first("mailing.mailing", [("esp_account_id", "!=", False), ("state", "=", "done"),
                                             ("mailing_model_name", "=", "crm.lead")], order="sent_date desc")
    saved_filters = odoo.call("mailing.filter", "search_read", [("mailing_model_id.model", "=", "res.partner")],
                              fields=["name"], limit=1)
    # Link Trackers: the sent mailing's links (several, with the ESP's clicks on each), else the mailing to Contacts'.
    clicked = next((mailing for mailing in (sent, to_contacts) if mailing and any(
        tracker["count"] for tracker in odoo.call("link.tracker", "search_read", [("mass_mailing_id", "=", mailing)],
                                                  fields=["count"]))), None)
    return {"ab_version": ab_version, "filter_list": filter_list, "to_contacts": to_contacts, "to_leads": to_leads,
            "clicked": clicked,
            "saved_filter": saved_filters[0]["name"] if saved_filters else None, "draft": draft,
            "free_list": free_list, "account_name": account_name}


def feature_shots(odoo, browser, found, shot, open_tab, open_stat_button, lists, mailings):
    """Shots of issues 21 and 23; an A/B test, mixed lists and the Connect a Filter dialog are shown as a person
    sees them before saving, and left unsaved."""
    if found["ab_version"]:
        shot("10-ab-test-esp-tab", f"{mailings}/{found['ab_version']}", ".o_form_view .o_notebook",
             before=lambda: (open_tab("esp")(), browser.wait_for(".o_notebook .o_esp_ab_summary")))
    if found["draft"] and found["free_list"]:
        # A list not connected added beside the draft's connected one (unsaved): the line under the lists and
        # the ESP tab say the mailing cannot be sent until a person decides.
        free_name = odoo.call("mailing.list", "read", [found["free_list"]], ["name"])[0]["name"]
        lists_input = '.o_form_view .o_field_widget[name="contact_list_ids"] input'
        shot("11-mixed-lists", f"{mailings}/{found['draft']}", lists_input,
             before=lambda: (browser.pick(lists_input, free_name),
                             browser.wait_for(".o_form_view .o_esp_recipients_alert"),
                             open_tab("esp")(), browser.wait_for(".o_notebook .o_esp_recipients_warning")))
    if found["account_name"]:
        def connect_a_filter():
            browser.click('.o_main_navbar [data-menu-xmlid="mass_mailing.mass_mailing_mailing_list_menu"]')
            browser.click('.o-dropdown--menu [data-menu-xmlid="campaign_esp_connector.esp_connect_filter_menu"]')
            browser.type('.modal .o_field_widget[name="list_name"] input', found["saved_filter"] or "Customers")
            browser.pick('.modal .o_field_widget[name="model_id"] input', "Contact")
            if found["saved_filter"]:
                browser.pick('.modal .o_field_widget[name="filter_id"] input', found["saved_filter"])
            browser.pick('.modal .o_field_widget[name="account_id"] input', found["account_name"])
            browser.type('.modal .o_field_widget[name="new_address_book_name"] input',
                         found["saved_filter"] or "Customers")

        shot("12-connect-filter-dialog", lists, ".o_action_manager .o_view_controller", before=connect_a_filter)
    if found["filter_list"]:
        # The list's sync state and, below it, the filter that fills it: scrolled to the ESP part of the form.
        shot("13-connected-filter", f"{lists}/{found['filter_list']}",
             '.o_form_view .o_field_widget[name="esp_source_kind"]',
             before=lambda: browser.evaluate("document.querySelector('.o_form_view .o_field_widget"
                                             "[name=\"esp_address_book_id\"]').scrollIntoView({block: 'start'})"))
    if found["to_contacts"]:
        shot("14-contacts-mailing-esp-tab", f"{mailings}/{found['to_contacts']}", ".o_form_view .o_notebook",
             before=lambda: (open_tab("esp")(), browser.wait_for(".o_notebook .o_esp_audience")))
    if found["to_leads"]:
        # With CRM: the mailing to Leads, its recipients (Lead/Opportunity) above the ESP's figures.
        shot("16-leads-mailing-statistics", f"{mailings}/{found['to_leads']}", ".o_form_view .o_notebook",
             before=open_tab("esp_statistics"))
    else:
        print("  (no mailing to Leads in the demo (CRM not installed): its screenshot skipped)")
    if found["clicked"]:
        shot("15-link-trackers", f"{mailings}/{found['clicked']}", ".o_form_view .o_notebook",
             before=open_stat_button("action_view_link_trackers"))
    else:
        print("  (no clicks on a link of an ESP mailing in the demo: Link Trackers screenshot skipped)")


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
    # The mailing to lists (the demo's mailing to Contacts, sent later, has its own shots).
    sent = odoo.first("mailing.mailing", [("esp_account_id", "!=", False), ("state", "=", "done"),
                                         ("esp_made_in_esp", "=", False), ("mailing_model_name", "=", "mailing.list")],
                      order="sent_date desc")
    draft = odoo.first("mailing.mailing", [("esp_account_id", "!=", False), ("state", "=", "draft")])
    account = odoo.first("esp.account", [("provider", "=", "dotdigital")])
    account_name = odoo.call("esp.account", "read", [account], ["name"])[0]["name"] if account else None
    found = find_feature_records(odoo, sent, draft, free_list, account_name)

    browser = Chromium()
    taken = []
    try:
        browser.send("Network.enable")
        browser.send("Emulation.setTimezoneOverride", timezoneId=odoo.tz)
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
        def open_stat_button(name):
            def run():
                button = f'.oe_stat_button[name="{name}"]'
                if not browser.evaluate(f"!!document.querySelector('{button}')"):
                    browser.click(".o_form_view .o-form-buttonbox .o_button_more")
                browser.click(button)
                browser.wait_for(".o_list_view .o_data_row")
            return run

        shot("04-sync-history", f"{lists}/{synced_list}", '.o_form_view .o_field_widget[name="esp_address_book_id"]',
             before=open_stat_button("action_esp_view_sync_logs"))
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
        feature_shots(odoo, browser, found, shot, open_tab, open_stat_button, lists, mailings)
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
