"""Clicks of an ESP mailing on Odoo's link trackers, per link, so the mailing's Link Trackers, their click
statistics and Odoo's Clicked drill-down show what the ESP recorded.

Odoo's own send makes one ``link.tracker`` per link of the body (``mail.render.mixin._shorten_links`` through
``link.tracker.search_or_create``, with the mailing's UTM values) and one ``link.tracker.click`` per click. An
ESP mailing keeps its links as written (the ESP tracks them through its own domain), so the trackers are made
here the same way from the mailing's body, and each click the ESP reports becomes a click row on the tracker
of the URL as written in the mailing, never on the ESP's redirect.

A click's natural key (mailing, recipient, link, click date) is unique in the database, so a page read twice
(the feed is re-read with an overlap, a read resumed after a crash repeats its last page) adds nothing.
"""

import lxml.html
from werkzeug import urls

from odoo.tools.mail import URL_SKIP_PROTOCOL_REGEX, is_html_empty

from odoo.addons.link_tracker.tools.html import find_links_with_urls_and_labels

from .campaigns import UNSUBSCRIBE_TOKEN
from .common import utc_naive

# Links Odoo's own send leaves untracked (mailing.mailing.convert_links), and the ESP's unsubscribe link (in
# the body of a campaign made in the ESP).
UNTRACKED = ["/unsubscribe_from_list", "/view", "/cards/", UNSUBSCRIBE_TOKEN]


def mailing_links(mailing):
    """The tracked links of the mailing's body as Odoo's send finds them: ``[{'url', 'label'}]``."""
    html = mailing.body_html
    if not html or is_html_empty(html):
        return []
    base_url = mailing.get_base_url()
    _nodes, links = find_links_with_urls_and_labels(
        lxml.html.fromstring(str(html)), base_url, skip_regex=rf"^{URL_SKIP_PROTOCOL_REGEX}",
        skip_prefix=base_url + "/r/", skip_list=UNTRACKED)
    return [link for link in links if link["url"].startswith(("http://", "https://"))]


def _target(url, written, base_url):
    """The URL as written in the mailing that the ESP's ``url`` stands for: itself (made absolute as Odoo's
    send makes a local link), or the written URL of the same page whose query the ESP only added to (dotdigital
    can append its own ``utm_*`` parameters)."""
    if url.startswith("/"):
        url = base_url + url
    if url in written:
        return url
    clicked = urls.url_parse(url)
    query = set(clicked.decode_query().items(multi=True))
    best, best_size = url, -1
    for candidate in written:
        parsed = urls.url_parse(candidate)
        if (parsed.scheme, parsed.netloc, parsed.path.rstrip("/")) != (
                clicked.scheme, clicked.netloc, clicked.path.rstrip("/")):
            continue
        params = set(parsed.decode_query().items(multi=True))
        if params <= query and len(params) > best_size:
            best, best_size = candidate, len(params)
    return best


def link_trackers(mailing, clicked_urls):
    """The mailing's link trackers (created like Odoo's send creates them when missing), by URL: the written
    URL of each link of the body, and of each URL in ``clicked_urls``. :return: ``{clicked or written url: id}``"""
    Tracker = mailing.env["link.tracker"].sudo()
    values = mailing._get_link_tracker_values()
    links = mailing_links(mailing)
    written = {link["url"] for link in links}
    base_url = mailing.get_base_url()
    targets = {url: _target(url, written, base_url) for url in clicked_urls}
    # A link tracker is a web page: anything else the ESP reports as clicked (an anchor, a broken href) is not.
    targets = {url: target for url, target in targets.items() if target.startswith(("http://", "https://"))}
    vals_list = [dict(values, **link) for link in links]
    vals_list += [dict(values, url=url, label=False) for url in sorted(set(targets.values()) - written)]
    if not vals_list:
        return {}
    # The title is the link's label or URL: a sync job does not fetch every page of the mailing for its title.
    for vals in vals_list:
        vals.setdefault("title", vals.get("label") or vals["url"])
    originals = [vals["url"] for vals in vals_list]  # search_or_create normalizes the values it is given
    trackers = Tracker.search_or_create(vals_list)
    Tracker.flush_model()
    by_url = {}
    for url, tracker in zip(originals, trackers, strict=True):
        by_url.setdefault(url, tracker.id)  # a URL written twice: its first link
    by_url.update({url: by_url[target] for url, target in targets.items() if target in by_url})
    return by_url


def write_link_clicks(cr, binding, clicks):
    """One page of the ESP's clicks as ``link.tracker.click`` rows on the mailing's trackers, in one insert;
    a click already written is not written again (it gains its trace when it had none). :return: rows added"""
    # The ESP's own unsubscribe link is no link of the mailing (Odoo does not track its unsubscribe link either).
    clicks = [click for click in clicks
              if click.email and click.url and click.clicked_at and UNSUBSCRIBE_TOKEN not in click.url]
    mailing = binding.mailing_id
    # Made with the first read of the feed, clicks or not: Link Trackers lists every link of the mailing, as
    # after Odoo's own send, also those nobody clicked.
    trackers = link_trackers(mailing, {click.url for click in clicks})
    rows = {}
    for click in clicks:
        link_id = trackers.get(click.url)
        if not link_id:
            continue
        email = click.email.lower()
        at = utc_naive(click.clicked_at)
        key = f"{mailing.id}|{email}|{link_id}|{at.isoformat()}"
        rows[key] = (email, link_id, at)
    if not rows:
        return 0
    mailing.env["esp.mailing.activity"].flush_model()
    cr.execute("""
        WITH ins AS (
            INSERT INTO link_tracker_click AS cur (esp_click_key, link_id, campaign_id, mass_mailing_id,
                                                   mailing_trace_id, create_date, write_date, create_uid,
                                                   write_uid)
            SELECT u.key, u.link_id, l.campaign_id, %(mailing)s, a.trace_id, u.at, now() at time zone 'UTC',
                   %(uid)s, %(uid)s
              FROM unnest(%(keys)s::varchar[], %(emails)s::varchar[], %(links)s::int[], %(at)s::timestamp[])
                   AS u(key, email, link_id, at)
              JOIN link_tracker l ON l.id = u.link_id
         LEFT JOIN esp_mailing_activity a ON a.mailing_id = %(mailing)s AND a.email = u.email
            ON CONFLICT (esp_click_key) DO UPDATE SET mailing_trace_id = EXCLUDED.mailing_trace_id
             WHERE cur.mailing_trace_id IS NULL AND EXCLUDED.mailing_trace_id IS NOT NULL
         RETURNING cur.link_id, (xmax = 0) AS inserted
        )
        SELECT link_id, COUNT(*) FILTER (WHERE inserted) FROM ins GROUP BY link_id
    """, {
        "mailing": mailing.id, "uid": mailing.env.uid, "keys": list(rows),
        "emails": [email for email, _link, _at in rows.values()],
        "links": [link for _email, link, _at in rows.values()], "at": [at for _email, _link, at in rows.values()],
    })
    added = dict(cr.fetchall())
    if any(added.values()):
        # ``count`` is stored on the tracker (computed from its clicks): the rows above bypassed the ORM.
        cr.execute("""
            UPDATE link_tracker l SET count = (SELECT COUNT(*) FROM link_tracker_click c WHERE c.link_id = l.id)
             WHERE l.id = ANY(%s)
        """, [[link_id for link_id, count in added.items() if count]])
    mailing.env["link.tracker.click"].invalidate_model()
    mailing.env["link.tracker"].invalidate_model(["count", "link_click_ids"])
    mailing.env["mailing.trace"].invalidate_model(["links_click_ids"])
    return sum(added.values())
