"""Campaigns, sends and the simulated world that answers them.

A send picks its recipients, then draws each recipient's engagement from a generator seeded with
(seed, campaign, email): the same seed always gives the same figures, whatever order recipients come in.
Everything is stored as timestamped events; reports only show events the sandbox clock has reached, and
summary, activities, opens, clicks, page views, metrics and the with-details listings are all computed from
the same rows, so they always add up.

Page views (site tracking: pages of the clicked site a recipient then browses) come from a second generator
seeded with (seed, campaign, email, "page-views"), so adding them left every earlier figure of a seed as it was.
"""

import json
import math
import random
import re
import urllib.parse

from .render import version_label
from .store import SENDABLE, new_guid

HREF_RE = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
MAIL_CLIENTS = (("Apple Mail", "16"), ("Gmail", "2024"), ("Outlook", "16.0"), ("Yahoo! Mail", "1.0"))
USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15",
)
# Reported statuses a simulated event leaves behind, in order of precedence.
STATUS_OF_EVENT = {"hard": "HardBounced", "complaint": "IspComplained", "unsubscribe": "Unsubscribed", "soft": "SoftBounced"}
# Page views after a click: the chance that a click leads to browsing, and how many pages at most. Read from
# the engagement settings when they carry ``page_view`` / ``max_page_views``, otherwise these defaults.
PAGE_VIEW_RATE = 0.6
MAX_PAGE_VIEWS = 3
SITE_PAGES = ("/", "/products", "/about-us", "/contact")
# Spellings accepted by /v2/campaigns/filtered (any case): CampaignType / ApiCampaignTypes and ApiCampaignStatuses.
CAMPAIGN_TYPES = ("Standard", "Triggered", "Template", "AiTemplate")
CAMPAIGN_STATUSES = ("Unsent", "Sending", "Sent", "Paused", "Cancelled", "RequiresSystemApproval",
                     "RequiresSMSApproval", "RequiresWorkflowApproval", "Triggered")


# dotdigital's personalization: a data field's name between at signs (``@FIRSTNAME@``), ``@EMAIL@`` for the
# address.
PERSONALIZATION_TAG_RE = re.compile(r"@([A-Za-z0-9_-]{1,20})@")


def personalize(text, email, values, defaults):
    """``text`` as one recipient reads it: each ``@FIELD@`` tag replaced by the contact's value of that data field
    (any case), or the field's default value when the contact has none; ``@EMAIL@`` by the address. A tag
    naming no data field of the account stays as it is, so a test sees it.

    :param values: the contact's data fields, ``{name: value}``
    :param defaults: the account's data fields, ``{name: default value}``
    """
    values = {name.casefold(): value for name, value in (values or {}).items()}
    defaults = {name.casefold(): value for name, value in defaults.items()}

    def replace(match):
        key = match.group(1).casefold()
        if key == "email":
            return email
        if key not in defaults:
            return match.group(0)
        value = values.get(key)
        if value in (None, ""):
            value = defaults[key]
        return "" if value is None else str(value)

    return PERSONALIZATION_TAG_RE.sub(replace, text or "")


def personalized_campaign(store, campaign_id, email):
    """The campaign's subject, HTML and plain text as the contact ``email`` receives them, or ``None`` when the
    campaign or the contact does not exist."""
    row = store.db.execute("SELECT body FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
    contact = store.contact_by_email(email)
    if row is None or contact is None:
        return None
    body = json.loads(row["body"])
    values = json.loads(contact["data"] or "{}")
    defaults = {field["name"]: json.loads(field["default_value"]) for field in store.data_fields()}
    return {key: personalize(body.get(key), contact["email"], values, defaults)
            for key in ("subject", "htmlContent", "plainTextContent")}


def campaign_links(html):
    """Trackable links of a campaign: its hrefs, minus the unsubscribe and mailto links."""
    return [url for url in HREF_RE.findall(html or "") if "$UNSUB$" not in url and not url.startswith("mailto:")]


# -- recipients ---------------------------------------------------------------------------------------------


def recipients(store, campaign_id, book_ids, contact_ids):
    """Sendable contacts of the books and ids, minus those who already received this campaign."""
    db = store.db
    marks = ",".join("?" * len(book_ids)) or "NULL"
    ids = ",".join("?" * len(contact_ids)) or "NULL"
    return db.execute(
        f"SELECT c.id, c.email, c.email_key FROM contacts c WHERE c.status IN ({','.join('?' * len(SENDABLE))}) AND ("  # noqa: S608
        f" c.id IN (SELECT contact_id FROM members WHERE book_id IN ({marks}) AND unsubscribed = 0)"
        f" OR c.id IN ({ids})) AND NOT EXISTS (SELECT 1 FROM events e WHERE e.campaign_id = ? AND e.contact_id = c.id"
        " AND e.kind = 'sent') ORDER BY c.id",
        (*SENDABLE, *book_ids, *contact_ids, campaign_id),
    ).fetchall()


# -- simulation -----------------------------------------------------------------------------------------------


def simulate(rng, rates, links):
    """One recipient's events as (kind, offset seconds, url) tuples, starting with the 'sent' event."""
    window = max(float(rates["window_seconds"]), 0.0)
    events = [("sent", 0.0, None)]
    draw = rng.random()
    if draw < rates["hard_bounce"]:
        return [*events, ("hard", rng.uniform(0, min(window, 300.0)), None)]
    if draw < rates["hard_bounce"] + rates["soft_bounce"]:
        return [*events, ("soft", rng.uniform(0, min(window, 300.0)), None)]
    events.append(("delivered", 0.0, None))
    if rng.random() < rates["complaint"]:
        events.append(("complaint", rng.uniform(0, window), None))
    if rng.random() >= rates["open"]:
        return events
    opens = sorted(rng.uniform(0, window) for _ in range(rng.randint(1, max(int(rates["max_opens"]), 1))))
    events += [("open", offset, None) for offset in opens]

    def after_open():
        return rng.uniform(opens[0], window)

    if links and rng.random() < rates["click"]:
        events += [("click", after_open(), rng.choice(links)) for _ in range(rng.randint(1, max(int(rates["max_clicks"]), 1)))]
    if rng.random() < rates["forward"]:
        events.append(("forward", after_open(), None))
    if rng.random() < rates["unsubscribe"]:
        events.append(("unsubscribe", after_open(), None))
    return events


def simulate_page_views(rng, rates, events):
    """Page views that follow a recipient's clicks, as ('page_view', offset, url) tuples: the clicked page
    first, then other pages of the same site, each a little later."""
    rate = float(rates.get("page_view", PAGE_VIEW_RATE))
    most = max(int(rates.get("max_page_views", MAX_PAGE_VIEWS)), 1)
    views = []
    for kind, offset, url in events:
        if kind != "click" or not url.startswith(("http://", "https://")) or rng.random() >= rate:
            continue
        at, page = offset, url
        for index in range(rng.randint(1, most)):
            if index:
                page = urllib.parse.urljoin(url, rng.choice(SITE_PAGES))
            at += rng.uniform(1.0, 120.0)
            views.append(("page_view", at, page))
    return views


def run_send(store, config, send):
    """Deliver a due send: draw every recipient's events and queue the status changes they cause."""
    body = json.loads(send["body"])
    campaign_id = send["campaign_id"]
    campaign = json.loads(store.db.execute("SELECT body FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()[0])
    book_ids = body.get("addressBookIds") or []
    contact_ids = body.get("contactIds") or []
    if not book_ids and not contact_ids:
        book_ids = [store.all_contacts_book_id()]  # dotdigital: an empty send goes to All Contacts
    contacts = recipients(store, campaign_id, book_ids, contact_ids)
    rows, changes = _draw(config, campaign_id, contacts, campaign_links(campaign.get("htmlContent")), send["send_at"])
    _store_send(store, send, campaign_id, book_ids, rows, changes)


def _draw(config, campaign_id, contacts, links, sent_at, salt=""):
    """Event rows and status changes of ``contacts`` receiving content with ``links`` at ``sent_at``; ``salt``
    tells a split test's versions apart (each draws its own engagement)."""
    rows, changes = [], []
    for contact in contacts:
        rng = random.Random(f"{config.seed}|{campaign_id}|{contact['email_key']}{salt}")
        ip = f"203.0.113.{rng.randint(1, 254)}"
        client, version = rng.choice(MAIL_CLIENTS)
        agent = rng.choice(USER_AGENTS)
        events = simulate(rng, config.engagement, links)
        pages_rng = random.Random(f"{config.seed}|{campaign_id}|{contact['email_key']}{salt}|page-views")
        events += simulate_page_views(pages_rng, config.engagement, events)
        for kind, offset, url in events:
            rows.append((campaign_id, contact["id"], contact["email"], kind, sent_at + offset, url, ip, agent,
                         f"{client}|{version}"))
        changes += _status_changes(contact["id"], events, sent_at)
    return rows, changes


def _status_changes(contact_id, events, sent_at):
    """The one status change a recipient's events cause, if any (a hard bounce beats a complaint, …)."""
    by_kind = {kind: offset for kind, offset, _url in events}
    for kind, status in STATUS_OF_EVENT.items():
        if kind in by_kind:
            return [(contact_id, status, sent_at + by_kind[kind])]
    return []


def _store_send(store, send, campaign_id, book_ids, rows, changes, finished=True, before_commit=None):
    """Write a send's events; ``finished`` False leaves the send and its campaign ``Sending`` (a split test's
    versions went out, its winner has not); ``before_commit(db)`` adds writes to the same transaction."""
    db = store.db
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO events (campaign_id, contact_id, email, kind, at, url, ip, user_agent, mail_client) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.executemany("INSERT INTO status_changes (contact_id, status, at) VALUES (?, ?, ?)", changes)
    db.executemany("INSERT OR IGNORE INTO campaign_books (campaign_id, book_id) VALUES (?, ?)",
                   [(campaign_id, book_id) for book_id in book_ids])
    if before_commit is not None:
        before_commit(db)
    status = "Sent" if finished else "Sending"
    db.execute("UPDATE sends SET status = ? WHERE id = ?", (status, send["id"]))
    db.execute("UPDATE campaigns SET status = ?, date_sent = COALESCE(date_sent, ?) WHERE id = ?",
               (status, send["send_at"], campaign_id))
    db.execute("COMMIT")


def process_due(store, config):
    """Run due sends, then apply the status changes whose time the clock has reached."""
    now = store.now()
    for send in store.db.execute(
        "SELECT s.*, t.phase AS split_phase FROM sends s LEFT JOIN split_tests t ON t.send_id = s.id "
        "WHERE s.status IN ('Scheduled', 'Sending') AND s.send_at <= ? ORDER BY s.send_at", (now,)
    ).fetchall():
        if send["split_phase"] is None:
            run_send(store, config, send)
        elif send["split_phase"] == "pending":
            run_split_test(store, config, send)
    for split in store.db.execute(
        "SELECT * FROM split_tests WHERE phase = 'testing' AND decide_at <= ? ORDER BY decide_at", (now,)
    ).fetchall():
        send_split_winner(store, config, split)
    for change in store.db.execute("SELECT * FROM status_changes WHERE at <= ? ORDER BY at, id", (now,)).fetchall():
        _apply_status_change(store, change)


def _apply_status_change(store, change):
    row = store.db.execute("SELECT status FROM contacts WHERE id = ?", (change["contact_id"],)).fetchone()
    store.db.execute("DELETE FROM status_changes WHERE id = ?", (change["id"],))
    # Only a sendable contact changes: a contact already suppressed keeps its first reason.
    if row is None or row["status"] not in SENDABLE or row["status"] == change["status"]:
        return
    store.set_status(change["contact_id"], change["status"], at=change["at"])


def create_send(store, campaign_id, body, send_at):
    """Queue a send (``body``: ``addressBookIds``, ``contactIds``); the next ``process_due`` runs it when due."""
    send_id = new_guid()
    status = "Scheduled" if send_at > store.now() else "Sending"
    store.db.execute(
        "INSERT INTO sends (id, campaign_id, body, status, send_at) VALUES (?, ?, ?, ?, ?)",
        (send_id, campaign_id, json.dumps(body), status, send_at),
    )
    if status == "Sending":
        store.db.execute("UPDATE campaigns SET status = 'Sending' WHERE id = ?", (campaign_id,))
    return send_id, status


# -- reporting ------------------------------------------------------------------------------------------------

# The page's recipients are picked first, from the covering index (contact ids with an event the clock has
# reached, and after ``since`` when given), so a page costs its own rows plus an index walk, not a grouping of
# every recipient before it.
ACTIVITY_SQL = """
SELECT contact_id, email,
       SUM(kind = 'open') AS opens, SUM(kind = 'click') AS clicks, SUM(kind = 'forward') AS forwards,
       SUM(kind = 'page_view') AS page_views,
       MIN(CASE WHEN kind = 'sent' THEN at END) AS date_sent,
       MIN(CASE WHEN kind = 'open' THEN at END) AS first_open, MAX(CASE WHEN kind = 'open' THEN at END) AS last_open,
       -- The first open's IP without a subquery per recipient: the earliest (time, ip) pair as sortable text.
       substr(MIN(CASE WHEN kind = 'open' THEN printf('%020.6f', at) || COALESCE(ip, '') END), 21) AS first_open_ip,
       MAX(kind = 'unsubscribe') AS unsubscribed, MAX(kind = 'soft') AS soft, MAX(kind = 'hard') AS hard,
       MAX(kind = 'complaint') AS complained,
       MIN(CASE WHEN kind = 'click' THEN at END) AS first_click, MAX(CASE WHEN kind = 'click' THEN at END) AS last_click,
       MAX(at) AS last_activity
FROM events e WHERE campaign_id = ? AND at <= ? AND contact_id IN (
    SELECT DISTINCT contact_id FROM events INDEXED BY events_contact_at
     WHERE campaign_id = ? AND at <= ? AND at >= ? {contact_filter}
     ORDER BY contact_id LIMIT ? OFFSET ?)
GROUP BY contact_id ORDER BY contact_id
"""


def activities(store, campaign_id, skip=0, select=1000, since=None, contact_id=None):
    """Per-recipient activity rows; ``since`` keeps recipients with an event after that date."""
    query = ACTIVITY_SQL.format(contact_filter="AND contact_id = ?" if contact_id is not None else "")
    now = store.now()
    args = [campaign_id, now, campaign_id, now, since if since is not None else float("-inf")]
    args += [contact_id] if contact_id is not None else []
    return store.db.execute(query, (*args, select, skip)).fetchall()


def events(store, campaign_id, kind, skip, select, since=None, contact_id=None):
    """Opens, clicks or page views of a campaign that the clock has reached, oldest first."""
    return store.db.execute(
        "SELECT * FROM events WHERE campaign_id = ? AND kind = ? AND at <= ? AND at >= ? "
        "AND (? IS NULL OR contact_id = ?) ORDER BY at, id LIMIT ? OFFSET ?",
        (campaign_id, kind, store.now(), since or 0, contact_id, contact_id, select, skip),
    ).fetchall()


def counts(store, campaign_id):
    """Totals of each event kind plus unique openers, clickers, viewers (opened or clicked) and forwarders, as
    seen at the sandbox's now."""
    row = store.db.execute(
        "SELECT SUM(kind = 'sent') AS sent, SUM(kind = 'delivered') AS delivered, SUM(kind = 'open') AS opens, "
        "COUNT(DISTINCT CASE WHEN kind = 'open' THEN contact_id END) AS unique_opens, "
        "SUM(kind = 'click') AS clicks, COUNT(DISTINCT CASE WHEN kind = 'click' THEN contact_id END) AS clickers, "
        "SUM(kind = 'forward') AS forwards, SUM(kind = 'hard') AS hard, SUM(kind = 'soft') AS soft, "
        "SUM(kind = 'unsubscribe') AS unsubscribes, SUM(kind = 'complaint') AS complaints, "
        "SUM(kind = 'page_view') AS page_views, "
        "COUNT(DISTINCT CASE WHEN kind IN ('open', 'click') THEN contact_id END) AS viewers, "
        "COUNT(DISTINCT CASE WHEN kind = 'forward' THEN contact_id END) AS forwarders "
        "FROM events WHERE campaign_id = ? AND at <= ?",
        (campaign_id, store.now()),
    ).fetchone()
    return {key: row[key] or 0 for key in row.keys()}


def campaigns_with_activity_since(store, since, skip, select):
    return store.db.execute(
        "SELECT * FROM campaigns WHERE id IN (SELECT campaign_id FROM events "
        "WHERE kind IN ('open', 'click', 'page_view') AND at >= ? AND at <= ?) ORDER BY id LIMIT ? OFFSET ?",
        (since, store.now(), select, skip),
    ).fetchall()


def bounces(store, campaign_id, skip, select):
    """Hard and soft bounce events the clock has reached, oldest first."""
    return store.db.execute(
        "SELECT * FROM events WHERE campaign_id = ? AND kind IN ('hard', 'soft') AND at <= ? "
        "ORDER BY at, id LIMIT ? OFFSET ?",
        (campaign_id, store.now(), select, skip),
    ).fetchall()


def hard_bouncers(store, campaign_id, skip, select):
    return store.db.execute(
        "SELECT c.*, 0 AS book_unsubscribed FROM contacts c WHERE c.id IN (SELECT contact_id FROM events "
        "WHERE campaign_id = ? AND kind = 'hard' AND at <= ?) ORDER BY c.id LIMIT ? OFFSET ?",
        (campaign_id, store.now(), select, skip),
    ).fetchall()


# -- listings with details, filters and metrics ------------------------------------------------------------

# Campaign rows plus the dates the detailed listings show: the next scheduled send and the last send done.
CAMPAIGNS_SQL = """
SELECT * FROM (
    SELECT c.*,
           (SELECT MIN(s.send_at) FROM sends s WHERE s.campaign_id = c.id AND s.status = 'Scheduled') AS scheduled_at,
           (SELECT MAX(s.send_at) FROM sends s WHERE s.campaign_id = c.id AND s.status = 'Sent') AS last_sent
    FROM campaigns c
) AS c
"""


def campaign_with_dates(store, campaign_id):
    return store.db.execute(f"{CAMPAIGNS_SQL} WHERE c.id = ?", (campaign_id,)).fetchone()  # noqa: S608


def campaigns_with_dates(store, skip, select, filters=None):
    """Campaigns in id order; ``filters`` is a list of (SQL condition on ``c``, argument list) pairs."""
    filters = filters or []
    where = " AND ".join(condition for condition, _args in filters) or "1"
    args = [arg for _condition, values in filters for arg in values]
    return store.db.execute(
        f"{CAMPAIGNS_SQL} WHERE {where} ORDER BY c.id LIMIT ? OFFSET ?",  # noqa: S608 - conditions are ours
        (*args, select, skip),
    ).fetchall()


def campaign_filters(kind=None, tags=(), sent_since=None, statuses=(), scheduled_from=None, scheduled_to=None):
    """SQL conditions of /v2/campaigns/filtered. Sandbox campaigns are all Standard and carry no tags."""
    filters = []
    if kind is not None and kind != "Standard":
        filters.append(("0", []))
    if tags:
        filters.append(("0", []))  # every listed tag must be assigned, and none ever is
    if statuses:
        filters.append((f"c.status IN ({','.join('?' * len(statuses))})", list(statuses)))
    if sent_since is not None:
        filters.append(("c.date_sent >= ?", [sent_since]))
    if scheduled_from is not None:
        filters.append(("c.scheduled_at >= ?", [scheduled_from]))
    if scheduled_to is not None:
        filters.append(("c.scheduled_at <= ?", [scheduled_to]))
    return filters


def campaigns_sent_between(store, start, end, skip, select):
    """Campaigns first sent inside [start, end], both ends included, for /v2/campaigns/metrics."""
    return campaigns_with_dates(store, skip, select, [("c.date_sent >= ? AND c.date_sent <= ?", [start, end])])


# -- split tests ------------------------------------------------------------------------------------------------
#
# ``POST /v2/campaigns/split-test`` keeps the versions in the campaign's body (``versions``, version 1 also as
# the campaign's own subject and content). Sent with ``splitTestOptions``, the recipients are shuffled (seeded
# with the seed and the campaign), the first ``ceil(recipients × testPercentage / 100)`` of them are dealt
# to the versions in turn, and each version's engagement is drawn for its own recipients. ``testPeriodHours``
# after the send, on the sandbox clock, each version's result is counted (Opens: recipients who opened; Clicks:
# recipients who clicked; ROI: no revenue is simulated, so 0 everywhere) as a share of its recipients; the
# highest share wins (a tie goes to the earlier version) and the winner goes to everyone left. Until then the
# send and the campaign stay ``Sending``.

SPLIT_METRICS = ("Opens", "Clicks", "ROI")
_METRIC_EVENT = {"Opens": "open", "Clicks": "click"}


def split_versions(campaign_body):
    return campaign_body.get("versions") or []


def create_split_send(store, campaign_id, body, send_at):
    """Queue a split test's send: ``create_send``, plus the test's options, decided ``testPeriodHours`` after."""
    options = body["splitTestOptions"]
    send_id, status = create_send(store, campaign_id, body, send_at)
    store.db.execute(
        "INSERT INTO split_tests (campaign_id, send_id, metric, percentage, period_hours, decide_at, phase) "
        "VALUES (?, ?, ?, ?, ?, ?, 'pending')",
        (campaign_id, send_id, options["testMetric"], options["testPercentage"], options["testPeriodHours"],
         send_at + 3600.0 * options["testPeriodHours"]),
    )
    return send_id, status


def run_split_test(store, config, send):
    """The versions go to the test share of the recipients."""
    body = json.loads(send["body"])
    campaign_id = send["campaign_id"]
    campaign = json.loads(store.db.execute("SELECT body FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()[0])
    versions = split_versions(campaign)
    split = store.db.execute("SELECT * FROM split_tests WHERE campaign_id = ?", (campaign_id,)).fetchone()
    book_ids = body.get("addressBookIds") or []
    contacts = list(recipients(store, campaign_id, book_ids, body.get("contactIds") or []))
    random.Random(f"{config.seed}|{campaign_id}|split").shuffle(contacts)
    tested = contacts[:math.ceil(len(contacts) * split["percentage"] / 100)]
    rows, changes, dealt = [], [], []
    for index, version in enumerate(versions):
        share = tested[index::len(versions)]
        version_rows, version_changes = _draw(config, campaign_id, share, campaign_links(version.get("htmlContent")),
                                              send["send_at"], salt=f"|{version_label(index)}")
        rows += version_rows
        changes += version_changes
        dealt += [(campaign_id, contact["id"], index) for contact in share]

    def record(db):
        db.executemany("INSERT INTO split_recipients (campaign_id, contact_id, version) VALUES (?, ?, ?)", dealt)
        db.execute("UPDATE split_tests SET phase = 'testing' WHERE campaign_id = ?", (campaign_id,))

    _store_send(store, send, campaign_id, book_ids, rows, changes, finished=False, before_commit=record)


def split_results(store, campaign_id, split):
    """``[(recipients, result)]`` per version, counted at the earlier of the sandbox's now and the decision."""
    campaign = json.loads(store.db.execute("SELECT body FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()[0])
    versions = split_versions(campaign)
    results = [(0, 0)] * len(versions)
    if split is None or split["phase"] == "pending":
        return results
    until = min(store.now(), split["decide_at"])
    event = _METRIC_EVENT.get(split["metric"])
    rows = store.db.execute(
        "SELECT r.version, COUNT(DISTINCT e.contact_id) AS result "
        "FROM split_recipients r LEFT JOIN events e ON e.campaign_id = r.campaign_id AND e.contact_id = r.contact_id "
        "AND e.kind = ? AND e.at <= ? WHERE r.campaign_id = ? GROUP BY r.version",
        (event or "", until, campaign_id),
    ).fetchall()
    sizes = dict(store.db.execute(
        "SELECT version, COUNT(*) FROM split_recipients WHERE campaign_id = ? GROUP BY version", (campaign_id,)
    ).fetchall())
    for row in rows:
        results[row["version"]] = (sizes.get(row["version"], 0), row["result"])
    return results


def send_split_winner(store, config, split):
    """The period is over: the version with the best result goes to everyone the test left out."""
    campaign_id = split["campaign_id"]
    results = split_results(store, campaign_id, split)
    shares = [result / size if size else 0.0 for size, result in results]
    winner = max(range(len(shares)), key=lambda index: (shares[index], -index))
    send = store.db.execute("SELECT * FROM sends WHERE id = ?", (split["send_id"],)).fetchone()
    body = json.loads(send["body"])
    campaign = json.loads(store.db.execute("SELECT body FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()[0])
    version = split_versions(campaign)[winner]
    book_ids = body.get("addressBookIds") or []
    contacts = recipients(store, campaign_id, book_ids, body.get("contactIds") or [])
    rows, changes = _draw(config, campaign_id, contacts, campaign_links(version.get("htmlContent")),
                          split["decide_at"], salt=f"|{version_label(winner)}")

    def record(db):
        db.execute("UPDATE split_tests SET phase = 'done', winner = ? WHERE campaign_id = ?", (winner, campaign_id))

    _store_send(store, send, campaign_id, book_ids, rows, changes, before_commit=record)
