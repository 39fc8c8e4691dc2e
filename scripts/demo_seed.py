"""The demo's story, seeded once into the demo database and the sandbox ESP by ``scripts/demo``.

Both sandbox accounts connected and their catalogues imported, a dotdigital account with a few ordinary
address books to pick from, a "Newsletter" list of about 2,000 contacts synced to a dotdigital book, a small
"Partners" list synced to Campaign Master, an "Event leads" list not connected, opt-outs and bounces come
back from the ESP, a mailing sent through the ESP a few days ago with its statistics, activity and Odoo's own
figures, a campaign made in the ESP and imported, mailings to Contacts and (with CRM) to Leads sent through the
ESP, and a draft ready to Sync with ESP and send.

Everything goes through the product: the account buttons, the list connection, the crons' own engines (list
sync, campaign send and follow-up, campaigns made in the ESP, statistics, activity). Only the ESP side is
driven from outside, as a person would in dotdigital's UI: address books, contact statuses and the campaign
made there go through the sandbox's v2 API and control surface.

"A few days ago" comes from the sandbox's clock: a fresh sandbox account starts four days behind wall time,
the sends happen, and the clock is advanced step by step (the list sync running in between, as its cron
would every few minutes) and finally back to wall time, where it then runs on with the wall clock. What Odoo
writes meanwhile is dated by Odoo's clock (today): the chatter is moved back to the story's moment as the clock
moves, and the sends' dates are the ESP's, so every fact reads as days old.

Idempotent: the steps done are recorded in the ``campaign_esp_connector.demo_story`` parameter and committed
one by one, and each step looks for its records before making them, so a restart neither duplicates nor
loses anything and an interrupted seed resumes where it stopped.

    python scripts/demo_seed.py -c .data/odoo.conf -d esp_demo --sandbox-url http://127.0.0.1:8899 [--update]

Logs go to stderr (scripts/demo keeps them in .data/seed.log); the one line on stdout says what happened.
"""

import argparse
import json
import logging
import random
import sys
import time
import unicodedata
from pathlib import Path

import phonenumbers
import requests
from dateutil.relativedelta import relativedelta

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from esp_sandbox.testing import SandboxControl  # noqa: E402 - the repository root is on the path only now

_logger = logging.getLogger("demo_seed")

ADDON = "campaign_esp_connector"
MARKER = "campaign_esp_connector.demo_story"
# What Odoo dates with its own clock while the story plays out days in the past (see Seeder._date_story): each
# table's date columns a person reads.
STORY_DATES = {
    "mail_message": ("date",),
    "esp_sync_log": ("start_datetime", "end_datetime", "create_date", "write_date"),
    "link_tracker": ("create_date", "write_date"),
}
DAY = 86400
# The sandbox account starts this far behind wall time: the story's first send is "four days ago".
START_OFFSET = -4 * DAY
# Seconds of sandbox clock between two list syncs while engagement comes in (the cron runs every 4 minutes;
# 20 minutes keeps each run's opt-outs under the mass change guard and the seed quick).
SYNC_STEP = 20 * 60
ENGAGEMENT_WINDOW = 2 * 3600

NEWSLETTER = "Newsletter"
PARTNERS = "Partners"
LEADS = "Event leads"
# Ordinary books a new user can pick in the Connect dialog (the ESP's own "All Contacts" and "Test" never are).
ORDINARY_BOOKS = ("Customers 2024", "Webinar attendees", "Trade show leads", "Product updates")
SENT_SUBJECT = "Spring collection: 20% off for subscribers"
ESP_CAMPAIGN_NAME = "Flash sale: 48 hours only"
DRAFT_SUBJECT = "Summer newsletter"
MAPPINGS = (("company_name", "COMPANY"), ("country", "COUNTRY"), ("mobile", "MOBILE"))
CRONS_RUN = ("ir_cron_esp_sync_catalogue", "ir_cron_esp_sync_statistics", "ir_cron_esp_sync_activity")

# Issue 23: Contacts (res.partner) tagged as customers; those in the United Kingdom are a dynamic filter connected to
# a dotdigital book, and a mailing to every customer (a model and a domain) is sent through the ESP.
CUSTOMER_TAG = "Customers"
UK_CUSTOMERS = "UK customers"
CONTACTS_SUBJECT = "Customer preview: the autumn range"
# A saved recipient filter on Contacts, to pick in Connect a Filter to the ESP (or a mailing's Recipients).
FRENCH_CUSTOMERS = "Customers in France"
# With CRM installed: leads met at a trade show (a few are customers already, one asked never to be mailed), and a
# mailing to them (Recipients: Lead/Opportunity, filtered by their tag) sent through the ESP.
LEAD_TAG = "Trade show"
LEAD_COUNT = 36
LEADS_SUBJECT = "Thank you for visiting our stand"

# Issue 21: an A/B test through the ESP, ready to send: two versions to the Newsletter, one split test at the ESP.
AB_SUBJECT = "Autumn offer: free delivery this week"
AB_SUBJECT_B = "Autumn offer: 15% off your next order"

STEPS = ("sandbox", "accounts", "lists", "connect", "esp_optouts", "sent_mailing", "esp_campaign",
         "customer_filter", "contacts_mailing", "leads_mailing", "wall_time", "crons", "draft", "ab_test",
         "saved_filter")

# -- deterministic fake people ---------------------------------------------------------------------------------

PEOPLE = {
    "GB": ("Oliver Amelia Harry Isla George Ava Jack Emily Thomas Sophie Charlotte James",
           "Smith Jones Taylor Brown Wilson Evans Walker Wright Hughes Clarke Turner Hall"),
    "FR": ("Louis Chloé Hugo Camille Léa Jules Manon Arthur Inès Lucas Élodie Théo",
           "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Lefèvre Girard"),
    "DE": ("Lukas Mia Leon Emma Finn Hannah Paul Lena Jonas Sophie Felix Marie",
           "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Hoffmann Koch Schäfer Krüger"),
    "NL": ("Daan Emma Sem Julia Lucas Tess Levi Sara Finn Anna Bram Noor",
           "de Jong Jansen de Vries van den Berg Bakker Visser Smit Meijer de Boer Mulder Bos Vos"),
    "ES": ("Hugo Lucía Martín Sofía Pablo María Daniel Paula Alejandro Carmen Javier Elena",
           "García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Ruiz Díaz Moreno"),
    "IT": ("Leonardo Giulia Francesco Sofia Lorenzo Aurora Mattia Alice Andrea Chiara Marco Elisa",
           "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo"),
    "US": ("James Olivia Liam Emma Noah Ava Ethan Mia Mason Harper Logan Ella",
           "Johnson Williams Miller Davis Garcia Anderson Moore Jackson Lee Harris Clark Lewis"),
    "AU": ("Jack Charlotte William Matilda Henry Zoe Oscar Ruby Leo Grace Archie Chloe",
           "Nguyen Kelly Ryan Campbell Mitchell Stewart Robinson Thompson White Young King Scott"),
}
# Dutch surnames keep their particles ("de Jong"): split on the country's own list, not on spaces.
SURNAMES_NL = ("de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "de Boer",
               "Mulder", "Bos", "Vos")
COUNTRY_WEIGHTS = {"GB": 30, "FR": 14, "DE": 14, "NL": 8, "ES": 8, "IT": 8, "US": 12, "AU": 6}
COMPANIES = (
    "Northwind Traders", "Blue Harbour Foods", "Atelier Lumière", "Rheinwerk Logistik", "Greenleaf Gardens",
    "Copper Kettle Café", "Orbit Analytics", "Helios Solar", "Tulip & Stone", "Casa Verde Interiors",
    "Bellavista Ceramics", "Redwood Outfitters", "Kangaroo Point Media", "Silverline Bikes", "Fjord Design",
    "Maple & Oak Furniture", "Brightwater Labs", "Nordwind Software", "La Petite Boulangerie", "Harbourside Hotels",
    "Pinecrest Consulting", "Sunrise Dental", "Vela Yachts", "Quarry Lane Books", "Stellar Print Co",
    "Avenue Fashion", "Cobalt Engineering", "Wildflower Weddings", "Urban Roast", "Evergreen Insurance",
)
WEBMAIL = ("example.com", "example.net", "example.org")


def _ascii(text):
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _slug(text):
    return "".join(ch if ch.isalnum() else "-" for ch in _ascii(text)).strip("-").replace("--", "-")


def _mobile(rng, country):
    """A valid mobile number of ``country``, written as people type them (national or international)."""
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    for _attempt in range(20):
        candidate = national[:-4] + f"{rng.randrange(10000):04d}"
        number = phonenumbers.parse(f"+{example.country_code}{candidate}")
        if phonenumbers.is_valid_number(number):
            style = rng.choice((phonenumbers.PhoneNumberFormat.NATIONAL,
                                phonenumbers.PhoneNumberFormat.INTERNATIONAL))
            return phonenumbers.format_number(number, style)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def fake_people(count, seed, domain_tag):
    """``count`` people as ``mailing.contact`` values (country as a code), the same for the same arguments.

    :param domain_tag: keeps the emails of two lists apart (their contacts are different people)
    """
    rng = random.Random(seed)
    codes = list(COUNTRY_WEIGHTS)
    weights = [COUNTRY_WEIGHTS[code] for code in codes]
    people, emails = [], set()
    while len(people) < count:
        country = rng.choices(codes, weights)[0]
        firsts, lasts = PEOPLE[country]
        first = rng.choice(firsts.split())
        last = rng.choice(SURNAMES_NL if country == "NL" else lasts.split())
        company = rng.choice(COMPANIES) if rng.random() < 0.75 else False
        domain = f"{_slug(company)}.{domain_tag}.example.com" if company else f"{domain_tag}.{rng.choice(WEBMAIL)}"
        local = f"{_slug(first)}.{_slug(last)}".replace("-", "")
        email, suffix = f"{local}@{domain}", 2
        while email in emails:
            email, suffix = f"{local}{suffix}@{domain}", suffix + 1
        emails.add(email)
        people.append({
            "first_name": first,
            "last_name": last,
            "email": email,
            "company_name": company,
            "country": country,
            "mobile": _mobile(rng, country) if rng.random() < 0.8 else False,
        })
    return people


def body(title, paragraphs, links):
    """A mailing body as Odoo's basic theme lays it out, with links the recipients can click."""
    items = "".join(f"<p>{text}</p>" for text in paragraphs)
    buttons = "".join(
        f'<p><a href="{url}" style="background:#714B67;color:#fff;padding:8px 16px;border-radius:4px;'
        f'text-decoration:none;">{label}</a></p>' for label, url in links)
    return (f'<div class="o_layout o_basic_theme"><div class="container o_mail_wrapper"><div class="row">'
            f'<div class="col o_mail_no_options o_mail_wrapper_td"><h1>{title}</h1>{items}{buttons}'
            f'</div></div></div></div>')


SENT_BODY = body(
    "Our spring collection is here",
    ["Hello,", "Light jackets, linen shirts and the new garden range are in the shop, and subscribers get 20% "
     "off everything until Sunday.", "See you soon!"],
    [("See the collection", "https://shop.example.com/spring"), ("Garden range", "https://shop.example.com/garden")],
)
CONTACTS_BODY = body(
    "The autumn range, a week early",
    ["Hello,", "As one of our customers, you see the autumn range a week before everyone else: wool coats, warm "
     "colours and the new boots.", "See you soon!"],
    [("See the autumn range", "https://shop.example.com/autumn")],
)
LEADS_BODY = body(
    "Thank you for visiting our stand",
    ["Hello,", "It was good to meet you at the trade show. Here is the catalogue we talked about, with the show "
     "prices until the end of the month.", "See you soon!"],
    [("Open the catalogue", "https://shop.example.com/catalogue")],
)
ESP_CAMPAIGN_HTML = body(
    "Flash sale: 48 hours only",
    ["Everything in the outlet at half price, this weekend only."],
    [("Shop the sale", "https://shop.example.com/outlet")],
) + '<p style="font-size:12px;"><a href="http://$UNSUB$">Unsubscribe</a></p>'
DRAFT_BODY = body(
    "Summer is coming",
    ["Hello,", "Our summer newsletter: festival season, new colours and free delivery on orders over 50."],
    [("Read more", "https://shop.example.com/summer"), ("Free delivery", "https://shop.example.com/delivery")],
)
AB_BODY = body(
    "Free delivery this week",
    ["Hello,", "Every order ships free until Sunday, whatever its size."],
    [("Shop now", "https://shop.example.com/autumn")],
)
AB_BODY_B = body(
    "15% off your next order",
    ["Hello,", "Take 15% off your next order with the code AUTUMN15, until Sunday."],
    [("Shop now", "https://shop.example.com/autumn")],
)


class SeedError(RuntimeError):
    """The seed cannot go on; the message says why (never with a password)."""


class DemoSeed:
    """Seeds the story into ``env``'s database and the sandbox at ``sandbox_url``.

    :param env: an environment with the add-on and its demo accounts installed (superuser mode)
    :param sandbox_url: base URL of the running sandbox ESP
    :param commit: called after each step (and by the engines between remote calls); a no-op under tests
    :param accounts: ``(dotdigital account, Campaign Master account)``; default: the demo data's accounts
    :param sizes: contacts of the Newsletter, Partners and Event leads lists
    """

    def __init__(self, env, sandbox_url, commit, accounts=None, sizes=(2000, 40, 40)):
        self.env = env
        self.url = sandbox_url.rstrip("/")
        self.commit = commit
        self.sizes = sizes
        self.control = SandboxControl(self.url)
        if accounts is None:
            accounts = (env.ref(f"{ADDON}.esp_account_demo_sandbox"), env.ref(f"{ADDON}.esp_account_demo_campaign_master"))
        self.dotdigital, self.campaign_master = accounts
        self._session = None
        # The last row of each table in STORY_DATES dated at the story's moment (see _date_story).
        self._dated_up_to = None

    # -- bookkeeping ------------------------------------------------------------------------------------------

    def _story(self):
        raw = self.env["ir.config_parameter"].sudo().get_param(MARKER)
        return json.loads(raw) if raw else {"steps": []}

    def _save(self, story):
        self.env["ir.config_parameter"].sudo().set_param(MARKER, json.dumps(story, sort_keys=True))

    def run(self):
        """Do the steps not done yet; return one line saying what happened."""
        started = time.monotonic()
        story = self._story()
        if not story["steps"] and self._has_own_esp_data():
            return ("Demo story not seeded: this database already has ESP lists or campaigns of its own "
                    "(delete .data/ to start the demo from scratch).")
        if "accounts" in story["steps"]:
            self._point_accounts()
        todo = [name for name in STEPS if name not in story["steps"]]
        self._dated_up_to = self._last_ids()
        for name in todo:
            _logger.info("step %s", name)
            getattr(self, f"_step_{name}")(story)
            story["steps"].append(name)
            self._save(story)
            self.commit()
        if not todo:
            lost = self._sandbox_lost(story)
            if lost:
                return lost
            return f"Demo story already in place ({self._summary()})."
        return f"Demo story seeded in {time.monotonic() - started:.0f} s ({self._summary()})."

    def _has_own_esp_data(self):
        return bool(self.env["esp.address.book"].search_count([("mailing_list_id", "!=", False)])
                    or self.env["esp.campaign"].search_count([]))

    def _sandbox_lost(self, story):
        """The sandbox's data was deleted (or reset) while the database kept the story: say so."""
        book = self._list(NEWSLETTER).esp_address_book_id
        try:
            response = self._v2("GET", f"address-books/{book.remote_id}")
        except requests.RequestException as error:
            return f"warning: the sandbox ESP at {self.url} does not answer ({error.__class__.__name__})."
        if response.status_code == 200 and response.json().get("name") == book.name:
            return None
        return ("warning: the sandbox ESP's data (.data/sandbox) is gone but the demo database kept its story, "
                "so its lists and campaigns point at nothing: stop the demo and delete .data/ to start over.")

    def _summary(self):
        lists = [self._list(name) for name in (NEWSLETTER, PARTNERS, LEADS)]
        sent = self._mailing(SENT_SUBJECT)
        return "lists %s; %s: %s sent, %s opens, %s clicks" % (
            ", ".join(f"{ml.name} {ml.contact_count:,}" for ml in lists if ml),
            sent.subject if sent else "?", sent.esp_stat_sent, sent.esp_stat_opens, sent.esp_stat_clicks)

    # -- the sandbox, as a person in dotdigital's UI would use it ----------------------------------------------

    def _v2(self, method, path, **kwargs):
        if self._session is None:
            self._session = requests.Session()
            self._session.auth = (self.dotdigital.api_user, self.dotdigital.sudo().api_password)
        return self._session.request(method, f"{self.url}/v2/{path}", timeout=60, **kwargs)

    def _v2_json(self, method, path, **kwargs):
        response = self._v2(method, path, **kwargs)
        if response.status_code >= 400:
            raise SeedError(f"the sandbox refused {method} /v2/{path}: {response.status_code} {response.text[:200]}")
        return response.json()

    def _advance(self, seconds):
        self._date_story()
        self.control.advance_clock(seconds)

    def _last_ids(self):
        """The highest id of each table in STORY_DATES."""
        # Tracking messages are written at commit time: written now, they are dated with the rest.
        self.env.flush_all()
        self.env.cr.precommit.run()
        self.env.flush_all()
        last = {}
        for table in STORY_DATES:
            self.env.cr.execute(f"SELECT COALESCE(max(id), 0) FROM {table}")  # noqa: S608 - fixed names
            last[table] = self.env.cr.fetchone()[0]
        return last

    def _date_story(self):
        """Date what Odoo wrote since the clock last moved (chatter, sync runs, link trackers) at the story's
        moment: Odoo dated it with its own clock (today), the story happened at the sandbox's, which runs behind
        wall time until the story catches up. Called before each move of the clock, so each row moves back by
        the lag it was written at."""
        last = self._last_ids()
        if self._dated_up_to is None:
            self._dated_up_to = last
            return
        lag = self.control.now()["offset"]
        if lag < -1:
            for table, columns in STORY_DATES.items():
                if last[table] <= self._dated_up_to[table]:
                    continue
                moved = ", ".join(f"{column} = {column} + make_interval(secs => %(lag)s)" for column in columns)
                self.env.cr.execute(f"UPDATE {table} SET {moved} WHERE id > %(after)s AND id <= %(last)s",  # noqa: S608
                                    {"lag": lag, "after": self._dated_up_to[table], "last": last[table]})
            self.env.invalidate_all()
        self._dated_up_to = last

    def _date_messages(self, mailings, at):
        """Date the chatter these mailings got in this run at ``at`` (naive UTC): what Odoo learnt today (a
        campaign made in the ESP, imported) happened in the story when the ESP sent it."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE mail_message SET date = %s WHERE model = 'mailing.mailing' AND res_id = ANY(%s) AND id > %s",
            [at, mailings.ids, (self._dated_up_to or {}).get("mail_message", 0)])
        self.env["mail.message"].invalidate_model(["date"])

    # -- Odoo records -----------------------------------------------------------------------------------------

    def _list(self, name):
        if name == NEWSLETTER:
            newsletter = self.env.ref("mass_mailing.mailing_list_data", raise_if_not_found=False)
            if newsletter:
                return newsletter
        return self.env["mailing.list"].search([("name", "=", name)], order="id", limit=1)

    def _point_accounts(self):
        """Both accounts at this sandbox's URL (ESP_SANDBOX_PORT may differ from the demo data's port, or from
        the last start's); an account moved is tested again, as a person would after changing its endpoint."""
        accounts = (self.dotdigital, self.campaign_master)
        for account, endpoint in zip(accounts, (self.url, f"{self.url}/campaignmaster"), strict=True):
            if account.api_endpoint != endpoint:
                account.api_endpoint = endpoint
                self._test(account)
        return accounts

    def _test(self, account):
        account.action_test_connection()
        if account.state != "connected":
            raise SeedError(f"{account.name}: {account.last_error}")

    def _mailing(self, subject):
        return self.env["mailing.mailing"].search([("subject", "=", subject)], limit=1)

    def _sync(self, mailing_list, runs=6):
        """Sync the list as its cron does, until nothing waits to go out (imports are confirmed a run later,
        Campaign Master's a minute of its clock later)."""
        from odoo.addons.campaign_esp_connector.sync import ListSyncRunner

        for _run in range(runs):
            ListSyncRunner(self.env).run(mailing_list.esp_address_book_id)
            self.env.invalidate_all()
            if not mailing_list.esp_pending_count and not self.env["esp.import.batch"].search_count(
                    [("list_id", "=", mailing_list.id), ("state", "=", "posted")]):
                return
            self._advance(60)
        raise SeedError(f"the list {mailing_list.name} still has contacts waiting after {runs} syncs")

    def _engagement(self, mailing_list):
        """Let the simulated opens, clicks, bounces and unsubscribes of a send happen, syncing the list every
        SYNC_STEP seconds of sandbox clock as its cron would."""
        for _step in range(ENGAGEMENT_WINDOW // SYNC_STEP):
            self._advance(SYNC_STEP)
            self._sync(mailing_list)

    # -- steps ------------------------------------------------------------------------------------------------

    def _step_sandbox(self, story):
        """A fresh sandbox account four days in the past, with a few ordinary address books."""
        self.control.reset(clock_offset=START_OFFSET)
        existing = {book["name"] for book in self._v2_json("GET", "address-books", params={"select": 1000})}
        for name in ORDINARY_BOOKS:
            if name not in existing:
                self._v2_json("POST", "address-books", json={"name": name, "visibility": "Private"})

    def _step_accounts(self, story):
        """Both accounts pointed at this sandbox, tested (which imports their catalogues), and the dotdigital
        account's mapping extended to company, country and mobile (creating those data fields at the ESP)."""
        for account in self._point_accounts():
            imported = bool(account.catalogue_sync_datetime)
            self._test(account)
            if imported:
                account.action_synchronize()
        account = self.dotdigital
        mapped = set(account.field_mapping_ids.mapped("source"))
        for source, field_name in MAPPINGS:
            if source in mapped:
                continue
            data_field = account.data_field_ids.filtered(lambda field, name=field_name: field.name == name)
            if not data_field:
                data_field = self.env["esp.data.field"].create({"account_id": account.id, "name": field_name})
            self.env["esp.field.mapping"].create({"account_id": account.id, "source": source,
                                                  "data_field_id": data_field.id, "sequence": 20})

    def _step_lists(self, story):
        """The three lists and their people; Newsletter is Odoo's own list of that name, which Email
        Marketing creates (its demo data subscribes a few people to it)."""
        countries = {country.code: country.id for country in self.env["res.country"].search([])}
        newsletter, partners, leads = self.sizes
        people = {
            NEWSLETTER: fake_people(newsletter, 2024, "news"),
            PARTNERS: fake_people(partners, 7, "partner"),
            # Event leads: new people, and a few newsletter readers met at the fair.
            LEADS: fake_people(leads - leads // 4, 11, "fair"),
        }
        Contact = self.env["mailing.contact"].with_context(tracking_disable=True, mail_create_nolog=True)
        for name in (NEWSLETTER, PARTNERS, LEADS):
            mailing_list = self._list(name) or self.env["mailing.list"].create({"name": name})
            known = set(mailing_list.contact_ids.mapped("email"))
            Contact.create([
                {**{key: value for key, value in person.items() if key != "country"},
                 "country_id": countries.get(person["country"]), "list_ids": [(4, mailing_list.id)]}
                for person in people[name] if person["email"] not in known
            ])
        readers = self.env["mailing.contact"].search(
            [("email", "in", [person["email"] for person in people[NEWSLETTER][:leads // 4]])])
        readers.write({"list_ids": [(4, self._list(LEADS).id)]})

    def _step_connect(self, story):
        """Newsletter to a new dotdigital book (contacts added there come into the list), Partners to Campaign
        Master's recipients (its API has no lists), both synced; Event leads stays unconnected."""
        for name, account, create_contacts in ((NEWSLETTER, self.dotdigital, True),
                                               (PARTNERS, self.campaign_master, False)):
            mailing_list = self._list(name)
            if not mailing_list.esp_address_book_id:
                book = account.address_book_ids.filtered(lambda book, name=name: book.name == name
                                                         and not book.mailing_list_id)[:1]
                if not book and not account.support_campaigns:
                    # Campaign Master's v1.1 API has no lists: its one list is all the account's recipients.
                    book = account.address_book_ids.filtered(lambda book: not book.mailing_list_id)[:1]
                mailing_list._esp_connect(book or account._esp_create_address_book(name),
                                          create_contacts=create_contacts)
            self._sync(mailing_list)
        story["newsletter_book"] = self._list(NEWSLETTER).esp_address_book_id.remote_id

    def _step_esp_optouts(self, story):
        """A few people unsubscribe, bounce or complain at the ESP; the next syncs bring it into Odoo."""
        self._advance(10 * 60)
        newsletter, partners = self._list(NEWSLETTER), self._list(PARTNERS)
        book_id = int(newsletter.esp_address_book_id.remote_id)
        # (status, address book): None is account-wide, as dotdigital's suppression list is.
        fates = [("Unsubscribed", book_id)] * 5 + [("Unsubscribed", None), ("HardBounced", None),
                                                  ("HardBounced", None), ("IspComplained", None)]
        readers = newsletter.contact_ids.sorted("id")
        picked = random.Random(99).sample(range(len(readers)), min(len(fates), len(readers)))
        changes = [(readers[index].email, status, book) for index, (status, book) in zip(picked, fates, strict=False)]
        members = partners.contact_ids.sorted("id")
        changes += [(members[index].email, "Unsubscribed", None) for index in (3, 17) if index < len(members)]
        for email, status, book in changes:
            self.control.set_contact_status(email, status, book_id=book)
        self._advance(60)
        for mailing_list in (newsletter, partners):
            self._sync(mailing_list)

    def _step_sent_mailing(self, story):
        """The spring mailing, sent by the ESP to the Newsletter, and its engagement over the next hours."""
        self._advance(50 * 60)
        newsletter = self._list(NEWSLETTER)
        mailing = self._mailing(SENT_SUBJECT) or self.env["mailing.mailing"].create({
            "subject": SENT_SUBJECT,
            "preview": "Light jackets, linen shirts and 20% off until Sunday",
            "body_arch": SENT_BODY,
            "body_html": SENT_BODY,
            "mailing_model_id": self.env["ir.model"]._get_id("mailing.list"),
            "contact_list_ids": [(6, 0, newsletter.ids)],
            "email_from": self._email_from(),
        })
        if mailing.esp_campaign_state not in ("queued", "sending", "sent"):
            mailing.action_launch()
        self._send_until_sent(mailing, 5, "the mailing was not sent")
        self._engagement(newsletter)

    def _send_until_sent(self, mailing, attempts, failure):
        """What the send cron, then the follow-up cron, do, a minute of sandbox clock apart, until the ESP sent
        the mailing; ``failure`` names it in the error otherwise."""
        for _attempt in range(attempts):
            self.env["esp.sync.job.campaign.send"]._esp_job_run()
            self.env["esp.sync.job.campaign.follow"]._esp_job_run()
            self.env.invalidate_all()
            if mailing.esp_campaign_state == "sent":
                return
            self._advance(60)
        raise SeedError(f"{failure}: {mailing.esp_last_error or mailing.esp_campaign_state}")

    def _step_esp_campaign(self, story):
        """A day later, a campaign made and sent in the ESP itself, to the Newsletter's book."""
        self._advance(DAY)
        newsletter = self._list(NEWSLETTER)
        campaign = next((c for c in self._v2_json("GET", "campaigns", params={"select": 1000})
                         if c["name"] == ESP_CAMPAIGN_NAME), None)
        if campaign is None:
            sender = self._v2_json("GET", "custom-from-addresses")[0]
            campaign = self._v2_json("POST", "campaigns", json={
                "name": ESP_CAMPAIGN_NAME, "subject": ESP_CAMPAIGN_NAME, "fromName": self.env.company.name,
                "fromAddress": {"id": sender["id"]}, "htmlContent": ESP_CAMPAIGN_HTML,
                "plainTextContent": "Everything in the outlet at half price: https://shop.example.com/outlet\n"
                                    "Unsubscribe: http://$UNSUB$",
            })
        if campaign.get("status") != "Sent":
            self._v2_json("POST", "campaigns/send", json={
                "campaignId": campaign["id"], "addressBookIds": [int(newsletter.esp_address_book_id.remote_id)]})
        self._engagement(newsletter)

    def _customer_tag(self):
        Tag = self.env["res.partner.category"]
        return Tag.search([("name", "=", CUSTOMER_TAG)], limit=1) or Tag.create({"name": CUSTOMER_TAG})

    def _step_customer_filter(self, story):
        """Contacts tagged Customers, a few dozen of them; those in the United Kingdom are a Dynamic filter
        connected to a new dotdigital book (Email Marketing > Mailing Lists > Connect a Filter to the ESP), synced."""
        tag = self._customer_tag()
        countries = {country.code: country.id for country in self.env["res.country"].search([])}
        Partner = self.env["res.partner"].with_context(tracking_disable=True, mail_create_nolog=True)
        known = set(Partner.search([("category_id", "in", tag.ids)]).mapped("email"))
        Partner.create([{
            "name": f"{person['first_name']} {person['last_name']}", "email": person["email"],
            "company_name": person["company_name"], "mobile": person["mobile"],
            "country_id": countries.get(person["country"]), "category_id": [(4, tag.id)],
        } for person in fake_people(max(self.sizes[1], 20), 31, "customer") if person["email"] not in known])
        uk = self._list(UK_CUSTOMERS) or self.env["mailing.list"].create({"name": UK_CUSTOMERS})
        if not uk.esp_address_book_id:
            domain = repr([("category_id", "in", tag.ids), ("country_id.code", "=", "GB")])
            book = self.dotdigital.address_book_ids.filtered(lambda book: book.name == UK_CUSTOMERS
                                                             and not book.mailing_list_id)[:1]
            uk._esp_connect_source(self.env["ir.model"]._get("res.partner"), domain, "dynamic",
                                   book or self.dotdigital._esp_create_address_book(UK_CUSTOMERS))
        self._sync(uk)

    def _step_contacts_mailing(self, story):
        """A mailing to every customer (Recipients: Contact, filtered by the tag), sent through the ESP: no
        connected filter has that domain, so the send makes a list of its own with exactly the contacts Odoo would
        mail; then its engagement."""
        self._advance(3 * 3600)
        tag = self._customer_tag()
        mailing = self._mailing(CONTACTS_SUBJECT) or self.env["mailing.mailing"].create({
            "subject": CONTACTS_SUBJECT,
            "preview": "Wool coats, warm colours and early access for our customers",
            "body_arch": CONTACTS_BODY,
            "body_html": CONTACTS_BODY,
            "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
            "mailing_domain": repr([("category_id", "in", tag.ids)]),
            "email_from": self._email_from(),
            "esp_account_id": self.dotdigital.id,
        })
        self._send_to_model(mailing, "the mailing to Contacts was not sent")

    def _send_to_model(self, mailing, failure):
        """Send a mailing to a model and a domain through the ESP, then let its engagement happen."""
        if mailing.esp_campaign_state not in ("queued", "sending", "sent"):
            mailing.action_launch()
        # The send job makes the list, syncs it, waits for the ESP's import, then sends.
        self._send_until_sent(mailing, 6, failure)
        self._engagement(mailing.esp_audience_list_id)

    def _step_leads_mailing(self, story):
        """With CRM: leads met at a trade show, tagged (a few are customers already, one asked never to be
        mailed), and a mailing to them (Recipients: Lead/Opportunity, filtered by the tag) sent through the ESP
        the same way as the one to Contacts, with its engagement."""
        if "crm.lead" not in self.env:
            _logger.info("CRM is not installed: no mailing to Leads")
            return
        if "wall_time" in story["steps"]:
            # Its send would move the sandbox's clock ahead of wall time: only a story seeded from scratch has it.
            _logger.info("the story was seeded before it had a mailing to Leads: delete .data/ to have one")
            return
        self._advance(2 * 3600)
        Tag = self.env["crm.tag"]
        tag = Tag.search([("name", "=", LEAD_TAG)], limit=1) or Tag.create({"name": LEAD_TAG})
        countries = {country.code: country.id for country in self.env["res.country"].search([])}
        Lead = self.env["crm.lead"].with_context(tracking_disable=True, mail_create_nolog=True)
        known = set(Lead.search([("tag_ids", "in", tag.ids)]).mapped("email_from"))
        # The same people as the Customers step's first few: a lead may be a customer already (one email).
        customers = fake_people(max(self.sizes[1], 20), 31, "customer")[:4]
        people = fake_people(LEAD_COUNT - len(customers), 41, "show") + customers
        Lead.create([{
            "name": f"{person['company_name'] or person['first_name'] + ' ' + person['last_name']}: trade show visit",
            "type": "lead",
            "contact_name": f"{person['first_name']} {person['last_name']}",
            "partner_name": person["company_name"],
            "email_from": person["email"],
            "mobile": person["mobile"],
            "country_id": countries.get(person["country"]),
            "tag_ids": [(4, tag.id)],
        } for person in people if person["email"] not in known])
        # Someone who asked never to be mailed again: Odoo leaves them out, and so does the ESP's send.
        self.env["mail.blacklist"]._add(people[1]["email"])
        mailing = self._mailing(LEADS_SUBJECT) or self.env["mailing.mailing"].create({
            "subject": LEADS_SUBJECT,
            "preview": "The catalogue we talked about, at the show prices",
            "body_arch": LEADS_BODY,
            "body_html": LEADS_BODY,
            "mailing_model_id": self.env["ir.model"]._get_id("crm.lead"),
            "mailing_domain": repr([("tag_ids", "in", tag.ids)]),
            "email_from": self._email_from(),
            "esp_account_id": self.dotdigital.id,
        })
        self._send_to_model(mailing, "the mailing to Leads was not sent")

    def _step_wall_time(self, story):
        """Back to wall time: from here the sandbox's clock runs with the wall clock."""
        offset = self.control.now()["offset"]
        if offset < 0:
            self._advance(-offset)

    def _step_crons(self, story):
        """What the crons do at their next runs: the lists' last changes, the campaign made in the ESP imported,
        every summary, then each recipient's activity and Odoo's traces."""
        from odoo import fields

        from odoo.addons.campaign_esp_connector.sync import ListSyncRunner

        books = self.env["esp.address.book"].search([("mailing_list_id", "!=", False)])
        ListSyncRunner(self.env).run(books)
        # Both accounts see one simulated world: the list made at Campaign Master is a dotdigital book too.
        self.env["esp.account"]._cron_sync_catalogue()
        Mailing = self.env["mailing.mailing"]
        Mailing._cron_esp_sync_statistics()
        Mailing._cron_esp_sync_activity()
        # The poll that saw the send finish stamped Odoo's own clock; in the story the send was days ago.
        sent = self._mailing(SENT_SUBJECT)
        for mailing in sent | self._mailing(CONTACTS_SUBJECT) | self._mailing(LEADS_SUBJECT):
            if mailing.esp_campaign_id.send_date:
                mailing.sent_date = mailing.esp_campaign_id.send_date
        # These crons have just done their work: their next runs are one interval away, not at the server's
        # start, where they would all run at once.
        for xmlid in CRONS_RUN:
            cron = self.env.ref(f"{ADDON}.{xmlid}", raise_if_not_found=False)
            if cron:
                cron.nextcall = fields.Datetime.now() + relativedelta(**{cron.interval_type: cron.interval_number})
        self.env.invalidate_all()
        imported = self.env["esp.campaign"].search([("made_in_esp", "=", True)])
        for campaign in imported.filtered("send_date"):
            self._date_messages(campaign.mailing_id, campaign.send_date)
        if not sent.esp_stat_opens or not imported:
            raise SeedError("the statistics did not come back from the ESP")

    def _step_draft(self, story):
        """The next mailing, written and ready: Sync with ESP, then Send."""
        if self._mailing(DRAFT_SUBJECT):
            return
        self.env["mailing.mailing"].create({
            "subject": DRAFT_SUBJECT,
            "preview": "Festival season, new colours and free delivery",
            "body_arch": DRAFT_BODY,
            "body_html": DRAFT_BODY,
            "mailing_model_id": self.env["ir.model"]._get_id("mailing.list"),
            "contact_list_ids": [(6, 0, self._list(NEWSLETTER).ids)],
            "email_from": self._email_from(),
            "esp_test_address": "you@example.com",
        })

    def _step_ab_test(self, story):
        """An A/B test through the ESP, ready to send: two versions to the Newsletter on 10 % each, the winner by
        opens a day later. The ESP tab says what the ESP will do with it (one split test campaign)."""
        if self._mailing(AB_SUBJECT):
            return
        from odoo import fields

        version_a = self.env["mailing.mailing"].create({
            "subject": AB_SUBJECT,
            "preview": "Free delivery on every order until Sunday",
            "body_arch": AB_BODY,
            "body_html": AB_BODY,
            "mailing_model_id": self.env["ir.model"]._get_id("mailing.list"),
            "contact_list_ids": [(6, 0, self._list(NEWSLETTER).ids)],
            "email_from": self._email_from(),
            "ab_testing_enabled": True,
            "ab_testing_pc": 10,
            "ab_testing_winner_selection": "opened_ratio",
            "ab_testing_schedule_datetime": fields.Datetime.now() + relativedelta(days=1),
        })
        # Odoo's "Create an Alternative Version" copies the mailing into the same A/B campaign.
        version_a.copy({"subject": AB_SUBJECT_B, "body_arch": AB_BODY_B, "body_html": AB_BODY_B})

    def _step_saved_filter(self, story):
        """A saved recipient filter on Contacts (Odoo's mailing.filter), not connected: the Connect a Filter to the
        ESP dialog offers it."""
        Filter = self.env["mailing.filter"]
        if Filter.search_count([("name", "=", FRENCH_CUSTOMERS)]):
            return
        Filter.create({
            "name": FRENCH_CUSTOMERS,
            "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
            "mailing_domain": repr([("category_id", "in", self._customer_tag().ids), ("country_id.code", "=", "FR")]),
        })

    def _email_from(self):
        sender = self.dotdigital.from_address_ids[:1]
        return f'"{self.env.company.name}" <{sender.email or self.env.company.email}>'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", required=True, help="Odoo configuration file")
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("--sandbox-url", default="http://127.0.0.1:8899")
    parser.add_argument("--update", action="store_true",
                        help=f"update {ADDON} first (what the server's -u would do), so the seed sees today's schema")
    args = parser.parse_args(argv)

    import odoo
    from odoo.modules.registry import Registry

    odoo.tools.config.parse_config(["-c", args.config, "-d", args.database, "--log-level=warn",
                                    "--log-handler=demo_seed:INFO", "--max-cron-threads=0"])
    if args.update:
        odoo.tools.config["update"][ADDON] = 1
    registry = Registry.new(args.database, update_module=args.update)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env = env(user=env.ref("base.user_admin").id, su=True)
        try:
            line = DemoSeed(env, args.sandbox_url, commit=cr.commit).run()
        except Exception as error:  # whatever stopped it, the demo still serves; the log says why
            cr.rollback()
            _logger.exception("the demo story could not be seeded")
            print(f"warning: the demo story could not be seeded: {error} (log: .data/seed.log)")
            return 1
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
