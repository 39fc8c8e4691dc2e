"""The sandbox's own page (``GET /``): what it is, how to log in, where to look, how to move its clock.

A person who opens the sandbox's URL in a browser (the demo prints it) gets this page; API clients never ask
for ``/``. It is plain HTML built from the running settings and a few counts, no template engine.
"""

import html

from werkzeug.wrappers import Response

from .campaign_master import jobs, service
from .timeutil import to_iso

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 1.8rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; } td, th { padding: 0.2rem 1rem 0.2rem 0; text-align: left; vertical-align: top; }
code, pre { background: #f4f4f4; padding: 0.1rem 0.3rem; border-radius: 3px; }
pre { padding: 0.6rem; overflow-x: auto; } .muted { color: #666; }
"""


def _counts(store):
    with store.lock:
        db = store.db
        return {
            "address books": db.execute("SELECT COUNT(*) FROM books WHERE system = 0").fetchone()[0],
            "contacts": db.execute("SELECT COUNT(*) FROM contacts").fetchone()[0],
            "campaigns": db.execute("SELECT COUNT(*) FROM campaigns").fetchone()[0],
            "sends": db.execute("SELECT COUNT(*) FROM sends").fetchone()[0],
        }, store.now(), store.clock.offset


def _rows(pairs):
    return "\n".join(f"<tr><th>{html.escape(label)}</th><td>{value}</td></tr>" for label, value in pairs)


def _code(text):
    return f"<code>{html.escape(str(text))}</code>"


def _link(url, label=None):
    return f'<a href="{html.escape(url)}">{html.escape(label or url)}</a>'


def _offset_text(offset):
    if abs(offset) < 1:
        return "at wall time"
    hours = abs(offset) / 3600
    return f"{hours:,.1f} hours {'ahead of' if offset > 0 else 'behind'} wall time"


def page(app, request):
    """The HTML answer to ``GET /``."""
    config = app.config
    url = (config.public_url or request.host_url).rstrip("/")
    counts, now, offset = _counts(app.store)
    window = int(config.engagement.get("window_seconds", 0))
    advance = (f"curl -X POST -H 'Content-Type: application/json' -d '{{\"seconds\": 7200}}' "
               f"{url}/sandbox/clock/advance")
    body = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox ESP</title><style>{STYLE}</style></head>
<body>
<h1>Sandbox ESP</h1>
<p class="muted">A stand-in for an Email Service Provider on loopback, for the tests and the demo of
campaign_esp_connector. It speaks dotdigital's v2 REST API and Campaign Master's SOAP services from one simulated
world (the same contacts, address books, campaigns and clock). It never sends an email: each recipient's
bounces, opens, clicks and unsubscribes are drawn by a seeded simulation.</p>

<h2>Log in</h2>
<table>
{_rows([
    ("dotdigital (v2 REST)", f"API endpoint {_code(url)}, API user {_code(config.api_user)}, "
                             f"password {_code(config.api_password)} (HTTP Basic)"),
    ("Campaign Master (SOAP)", f"API endpoint {_code(url + '/campaignmaster')}, client ID "
                               f"{_code(config.cm_client_id)}, user {_code(config.api_user)}, "
                               f"password {_code(config.api_password)}"),
    ("WSDLs", f"{_link(url + service.PATH + '?wsdl', 'CampaignMasterService')}, "
              f"{_link(url + jobs.PATH + '?wsdl', 'CampaignMasterJobService')}"),
])}
</table>

<h2>Now</h2>
<table>
{_rows([
    ("sandbox clock", f"{html.escape(to_iso(now))} ({_offset_text(offset)})"),
    *((name.capitalize(), f"{count:,}") for name, count in counts.items()),
])}
</table>

<h2>Look inside</h2>
<p>The control surface under {_code('/sandbox/')} answers JSON and needs no password (loopback only).</p>
<ul>
<li>{_link(url + '/sandbox/state?contacts_limit=50', '/sandbox/state')}: address books with their first
contacts, contacts, imports, sends, campaigns, Campaign Master jobs and test sends</li>
<li>{_link(url + '/sandbox/clock', '/sandbox/clock')}: the sandbox clock (wall time plus an offset that only
moves forward)</li>
<li>{_link(url + '/sandbox/config', '/sandbox/config')}: engagement rates, rate limits, import delay</li>
<li>{_link(url + '/sandbox/requests', '/sandbox/requests')}: every API call served since the start</li>
<li>{_link(url + '/sandbox/', '/sandbox/')}: the list of control routes</li>
</ul>

<h2>Fast-forward</h2>
<p>The clock runs with wall time: a send's opens and clicks spread over the {window // 60} minutes after it
({_code('window_seconds')} = {window}) and appear as the clock reaches them. To see them at once, move the clock
forward (never back):</p>
<pre>{html.escape(advance)}</pre>
<p>Due imports, sends, opens, clicks, bounces and unsubscribes then happen at once; the connector reads them at its
next sync (or from its buttons).</p>
</body></html>
"""
    return Response(body, content_type="text/html; charset=utf-8")
