"""Campaign engine: a mailing becomes one campaign at the ESP, test-sent, sent or scheduled there.

Validation happens before any call. One remote campaign per mailing whatever happens: the campaign's name
carries a marker made of the database and the mailing, and before creating one the engine looks for a campaign
with that marker (a create whose answer was lost, or whose transaction died before its commit, is found again
instead of being created twice). A send never goes out without a book or a contact (dotdigital would mail
All Contacts), never to a list that is not up to date, and never through Odoo's own mail queue. The send and
its follow-up are jobs (``campaign_jobs.py``); this module is what the mailing's buttons and those jobs share.
"""

import logging
import re
from datetime import timedelta

from markupsafe import Markup

from odoo import fields
from odoo.exceptions import UserError
from odoo.tools import html2plaintext

from .. import providers
from . import mailing_audience, split_test
from .common import crash_point
from .content import UNSUBSCRIBE_TOKEN, UNSUBSCRIBE_URL, EspContent
from .content import plain_text as content_plain_text

_logger = logging.getLogger(__name__)

# Odoo's unsubscribe links in a mailing body (the editor's footer, or a link written by hand).
_ODOO_UNSUBSCRIBE_HREF = re.compile(r"""href=(["'])[^"']*(?:/unsubscribe_from_list|/mailing/[^"']*/unsubscribe)[^"']*\1""")
MAX_TEST_ADDRESSES = 10
# The seed's wording, as its users know it (the message itself is written out where it is raised, to be
# translated).
SUBJECT_REQUIRED = ("Unable to create the external campaign for the following reason : Campaign subject is "
                    "required and has not been provided")


def campaign_marker(env, mailing):
    """What ties a remote campaign to this mailing, in its name."""
    return f"{_marker_prefix(env)}{mailing.id}]"


def _marker_prefix(env):
    """What every ``campaign_marker`` of this database starts with."""
    uuid = env["ir.config_parameter"].sudo().get_param("database.uuid", "")[:8]
    return f"[odoo {uuid}-"


def recipient_problems(mailing, account=None):
    """What keeps the mailing's lists from going out the way the mailing is sent: one line per list, or [].

    Through an ESP account (``account``, by default the mailing's) every list must be connected to one of its
    address books. Through Odoo's own mail server no list may be connected to any: its contacts are the ESP's, and
    Odoo would mail them without the ESP's suppressions and tracking (unless a person chose so, the mailing's
    ``esp_send_through_odoo``, which callers look at).
    """
    _ = mailing.env._
    if mailing.mailing_model_real != "mailing.contact":
        return []
    account = account if account is not None else mailing.esp_account_id
    # Read as the connector: a list may be connected to an account of a company the user does not work in.
    lists = mailing.contact_list_ids.sudo()
    if not account and not lists.filtered("esp_account_id"):
        return []
    problems = []
    for mailing_list in lists:
        other = mailing_list.esp_account_id
        if account and other == account:
            continue
        if not other:
            problems.append(_("%(list)s: not connected to an ESP account", list=mailing_list.name))
        elif account:
            problems.append(_("%(list)s: connected to the ESP account “%(other)s”, not “%(account)s”",
                              list=mailing_list.name, other=other.name, account=account.name))
        else:
            problems.append(_("%(list)s: connected to the ESP account “%(other)s”",
                              list=mailing_list.name, other=other.name))
    return problems


def lists_account(mailing):
    """The ESP account that sends ``mailing`` to its lists, or an empty recordset: the one account every list is
    connected to, when its API sends campaigns (or sends to a list chosen at send). The one definition of "the
    ESP sends it" for a mailing to lists (its ``esp_account_id`` default, the ESP tab's reason why Odoo sends)."""
    lists = mailing.contact_list_ids
    books = lists.esp_address_book_id
    accounts = books.account_id
    if (len(accounts) == 1 and len(books) == len(lists)
            and (accounts.support_campaigns or accounts.support_list_at_send)):
        return accounts
    return accounts.browse()


def odoo_send_reason(mailing):
    """Why Odoo's own mail server sends ``mailing`` rather than an ESP, in a person's words, for its ESP tab; False
    when an ESP sends it, or when :func:`recipient_warning` already says what is to decide."""
    _ = mailing.env._
    if mailing.esp_account_id or mailing.mailing_type != "mail":
        return False
    sent = mailing.state not in ("draft", "in_queue")
    if mailing_audience.is_model_mailing(mailing):
        model = mailing.mailing_model_id.display_name
        if sent:
            return _("Odoo's mail server sent this mailing to its recipients (%(model)s): no ESP account was "
                     "chosen in Send through ESP.", model=model)
        accounts = mailing.env["esp.account"].search([("state", "=", "connected"), ("support_campaigns", "=", True)])
        for account in accounts:
            connected = mailing_audience.connected_filter(mailing, account)
            if connected:
                return _("Odoo's mail server sends this mailing: no ESP account is chosen in Send through ESP. Its "
                         "recipients are the filter “%(filter)s”, connected to the ESP account “%(account)s”: "
                         "choose that account to have the ESP send it.", filter=connected.name, account=account.name)
        return _("Odoo's mail server sends this mailing: its recipients (%(model)s) are no filter connected to an "
                 "ESP account. To have an ESP send it, choose the account in Send through ESP (the ESP then gets "
                 "a list made from its recipients).", model=model)
    if mailing.mailing_model_real != "mailing.contact":
        return False
    if sent:
        if mailing.esp_send_through_odoo:
            return _("Odoo's mail server sent this mailing, as a person chose in this tab, without the ESP's "
                     "suppressions and tracking.")
        if mailing.contact_list_ids.sudo().esp_account_id:
            return _("Odoo's mail server sent this mailing: its lists were not connected to an ESP account when "
                     "it was sent.")
        return _("Odoo's mail server sent this mailing: none of its mailing lists is connected to an ESP account.")
    if recipient_problems(mailing):
        return False  # the recipients warning says why and what to decide
    if not mailing.contact_list_ids:
        return _("Odoo's mail server sends this mailing until you choose its mailing lists: an ESP sends a "
                 "mailing whose lists are all connected to one of its accounts.")
    return _("Odoo's mail server sends this mailing: none of its mailing lists is connected to an ESP account.")


def esp_lists(mailing):
    """The mailing lists whose address books the ESP sends ``mailing`` to (superuser): its lists, or for a mailing
    to a model and domain the list ``mailing_audience`` chose (empty until its send job prepares it)."""
    if mailing_audience.is_model_mailing(mailing):
        return mailing.sudo().esp_audience_list_id
    return mailing.contact_list_ids.sudo()


def recipient_warning(mailing, account=None):
    """:func:`recipient_problems` for a person: what is wrong and what to do, or False."""
    _ = mailing.env._
    problems = recipient_problems(mailing, account)
    if not problems:
        return False
    account = account if account is not None else mailing.esp_account_id
    lists = mailing.contact_list_ids.sudo()
    accounts = lists.esp_account_id
    if account:
        header = _("Not every list of this mailing is connected to the ESP account “%(account)s”, which sends it:",
                   account=account.name)
        footer = _("Remove these lists or connect them to address books of “%(account)s”, or choose to send the "
                   "mailing through Odoo's mail server (in its ESP tab), without the ESP's suppressions and "
                   "tracking.", account=account.name)
    elif len(accounts) == 1 and all(mailing_list.esp_account_id for mailing_list in lists):
        header = _("The lists of this mailing are connected to the ESP account “%(account)s”, but the mailing is "
                   "not sent through it:", account=accounts.name)
        footer = _("Choose the account in Send through ESP (in the mailing's ESP tab), or choose to send through "
                   "Odoo's mail server, without the ESP's suppressions and tracking.")
    else:
        header = _("The lists of this mailing cannot all be sent the same way:")
        footer = _("An ESP sends only to lists connected to one of its accounts, and Odoo's mail server would mail "
                   "the ESP's contacts without its suppressions and tracking. Remove lists until all are connected "
                   "to one ESP account (the ESP sends) or none is (Odoo sends), or choose to send through Odoo's "
                   "mail server (in the mailing's ESP tab).")
    return "\n".join([header, *(f"- {problem}" for problem in problems), footer])


def test_addresses(text):
    return [address for address in re.split(r"[\s,;]+", text or "") if address]


# A scheduled mailing stays in Odoo until this many minutes before its time: until then it can be edited (the
# send job pushes the content at hand-over), rescheduled and cancelled. Then the send job hands it to the ESP,
# which holds the scheduled send: neither dotdigital v2 nor Campaign Master can cancel a send through its API,
# so from then on the mailing is locked. The system parameter SCHEDULE_LEAD_PARAM overrides it.
SCHEDULE_LEAD_MINUTES = 15
SCHEDULE_LEAD_PARAM = "campaign_esp_connector.schedule_lead_minutes"


def handover_datetime(mailing):
    """When the send job hands a scheduled mailing to the ESP (naive UTC), ``None`` for a send "now"."""
    if mailing.schedule_type != "scheduled" or not mailing.schedule_date:
        return None
    try:
        minutes = int(mailing.env["ir.config_parameter"].sudo().get_param(SCHEDULE_LEAD_PARAM, SCHEDULE_LEAD_MINUTES))
    except ValueError:
        minutes = SCHEDULE_LEAD_MINUTES
    return mailing.schedule_date - timedelta(minutes=max(minutes, 0))


class CampaignSync:
    """Everything the ESP does for one mailing. ``binding`` is its ``esp.campaign`` (sudo)."""

    def __init__(self, mailing):
        self.mailing = mailing
        self.env = mailing.env
        self.account = mailing.esp_account_id.sudo()
        # An A/B test through the ESP is one split test campaign, held by its first version (``split_test.py``).
        self.versions = split_test.versions(mailing)
        self.lead = self.versions[:1] or mailing

    # -- checks before any call -------------------------------------------------------------------------------

    def validate(self, for_send=False, pending_too=True, versions_too=True):
        mailing, _ = self.mailing, self.env._
        if not mailing.esp_account_id:
            raise UserError(_("Choose the ESP account that sends this mailing (Send through ESP)."))
        if not self.account.support_campaigns and self.account.support_list_at_send:
            raise UserError(_(
                "The API of the account “%(account)s” neither creates nor sends campaigns: make the campaign in "
                "the ESP itself and choose the list when you send it there. Once sent, it appears here with its "
                "statistics.", account=self.account.name))
        if not self.account.support_campaigns:
            raise UserError(_("The ESP of the account “%(account)s” cannot create campaigns.",
                              account=self.account.name))
        split_test.check(mailing)
        for version in (self.versions - mailing) if versions_too else ():
            CampaignSync(version).validate(versions_too=False)  # every version's own content, before any call
        if not (mailing.subject or "").strip():
            raise UserError(_("Unable to create the external campaign for the following reason : Campaign subject "
                              "is required and has not been provided"))
        if self.account.support_campaign_description and not (mailing.esp_description or "").strip():
            raise UserError(_("Unable to create the external campaign for the following reason : Campaign "
                              "description is required and has not been provided (fill in Campaign Description "
                              "in the mailing's ESP tab)"))
        if mailing_audience.is_model_mailing(mailing):
            mailing_audience.check(mailing)
        elif mailing.mailing_model_real != "mailing.contact" or not mailing.contact_list_ids:
            raise UserError(_("An ESP mailing is sent to mailing lists: select at least one mailing list."))
        warning = recipient_warning(mailing, self.account)
        if warning:
            raise UserError(warning)
        if not mailing.esp_from_address_id:
            raise UserError(_("Choose the ESP's from address: the ESP only sends from its own verified addresses."))
        if not (mailing.esp_from_name or "").strip():
            raise UserError(_("Give the sender name (From Name) the ESP shows."))
        if not mailing.esp_template_id and not html2plaintext(mailing.body_html or "").strip():
            raise UserError(_("The mailing has no content: write its body, or choose an ESP template."))
        EspContent(mailing).check()
        if for_send:
            self._check_fresh(pending_too)

    def _check_fresh(self, pending_too=True):
        """Refuse to send while a list is not up to date at the ESP, saying which and what to do."""
        _ = self.env._
        problems = []
        Member = self.env["esp.list.member"].sudo()
        for mailing_list in esp_lists(self.mailing):
            book = mailing_list.esp_address_book_id
            if book.sync_state == "guard":
                problems.append(_("%(list)s: a mass change waits for confirmation (Confirm Changes on the list)",
                                  list=mailing_list.name))
            elif book.sync_state == "book_missing":
                problems.append(_("%(list)s: its address book no longer exists at the ESP (connect the list to "
                                  "another book, or disconnect it)", list=mailing_list.name))
            elif book.sync_state == "rejected":
                problems.append(_("%(list)s: the ESP rejected an import (see the list, then Retry Rejected)",
                                  list=mailing_list.name))
            elif book.sync_state in ("failed", "retry"):
                problems.append(_("%(list)s: the last synchronization failed (%(error)s)",
                                  list=mailing_list.name, error=book.last_error or "?"))
            elif pending_too and (book.sync_state == "never" or Member._esp_has_unsent(mailing_list.id) or (
                    book._esp_change_mark() or book.odoo_changes_pending)):
                problems.append(_("%(list)s: contacts still wait to be sent to the ESP (Synchronize the list, "
                                  "then send again)", list=mailing_list.name))
        if problems:
            raise UserError(_("The mailing cannot be sent while its lists are not up to date at the ESP:\n%(problems)s",
                              problems="\n".join(problems)))

    # -- content -----------------------------------------------------------------------------------------------

    def content(self, client, marker=None):
        """What the ESP receives: the body as Odoo's own send makes it (``sync/content.py``: preview, absolute
        links, placeholders as the ESP's personalization tags), its plain-text part and the subject.

        :raise UserError: a placeholder the ESP cannot fill, named
        """
        mailing = self.mailing
        esp_content = EspContent(mailing)
        if mailing.esp_template_id and not client.templates_applied_by_provider:
            html = client.get_template_html(int(mailing.esp_template_id.remote_id))
        else:
            html = esp_content.body_html()
        esp_subject = esp_content.subject()
        esp_content.raise_problems()
        html = with_unsubscribe_link(str(html), self.env._("Unsubscribe"))
        plain = content_plain_text(html, self.env._("Unsubscribe"))
        subject = mailing.subject.strip()
        marker = marker or campaign_marker(self.env, mailing)
        return {
            "name": f"{subject[:255 - len(marker) - 1]} {marker}",
            "subject": esp_subject,
            "from_name": mailing.esp_from_name.strip(),
            "from_address_id": int(mailing.esp_from_address_id.remote_id),
            "html": html,
            "plain_text": plain,
            "reply_to": (mailing.esp_reply_to or "").strip() or None,
            # Taken by the ESPs that have them (Campaign Master), left out by the others.
            "marker": marker,
            "description": (mailing.esp_description or "").strip() or None,
            "template_id": mailing.esp_template_id.remote_id or None,
            "test_email": (mailing.esp_test_address or "").split(",")[0].strip() or None,
        }

    # -- remote operations -------------------------------------------------------------------------------------

    def binding(self):
        Campaign = self.env["esp.campaign"].sudo()
        binding = Campaign.search([("mailing_id", "=", self.lead.id)], limit=1)
        if not binding:
            binding = Campaign.create({"mailing_id": self.lead.id, "account_id": self.account.id})
        elif binding.account_id != self.account and not binding.remote_id:
            binding.account_id = self.account
        return binding

    def push(self, client):
        """Create the remote campaign the first time (or find the one a lost answer created), update it after."""
        binding = self.binding()
        if binding.state == "sent" or binding.made_in_esp:
            raise UserError(self.env._("This campaign was sent by the ESP: it can no longer be changed."))
        if self.versions:
            try:
                return split_test.push(self, client, binding)
            except providers.ValidationError as error:
                raise UserError(self._refusal(error)) from None
        if binding.split_test:
            # A/B testing was turned off after a Sync: the split test cannot become a campaign of one version.
            if binding.remote_id:
                client.delete_campaign(int(binding.remote_id))
            binding.write({"remote_id": False, "split_test": False})
        content = self.content(client)
        try:
            if binding.remote_id:
                campaign = client.update_campaign(int(binding.remote_id), content)
            else:
                marker = campaign_marker(self.env, self.mailing)
                campaign = client.find_campaign(marker)
                if campaign is not None:
                    _logger.info("ESP campaign %s of mailing %s found again by its marker", campaign.id,
                                 self.mailing.id)
                    campaign = client.update_campaign(campaign.id, content)
                else:
                    campaign = client.create_campaign(content)
                    # The ESP holds a campaign Odoo has not recorded yet: a worker dying here is what the
                    # marker is for.
                    crash_point("campaign:created")
        except providers.ValidationError as error:
            raise UserError(self._refusal(error)) from None
        binding._esp_synced(campaign)
        return binding

    def _refusal(self, error):
        _ = self.env._
        if isinstance(error, providers.ReadOnly):
            return _("The ESP says this campaign has been sent: it is read-only there, and so here.")
        if isinstance(error, providers.InvalidContent):
            return _("The ESP refused the campaign's content (%(detail)s). Check the body, the from address and "
                     "the unsubscribe link, then sync again.", detail=error.message)
        return self.account._esp_error_message(error)

    def test_send(self, client, addresses):
        """Send the mailing to these addresses only (upserted as contacts in no book).

        dotdigital v2 has no test send, and a campaign once sent can no longer be edited: the proof goes out as
        a campaign of its own (its marker ends in "test", so it is never taken for the mailing's campaign),
        and the mailing's campaign stays a draft at the ESP.
        """
        binding = self.push(client)
        if client.supports(providers.Capability.TEST_SEND):
            try:
                client.test_send_campaign(int(binding.remote_id), addresses)
            except providers.ValidationError as error:
                raise UserError(self._refusal(error)) from None
            return binding
        marker = campaign_marker(self.env, self.mailing)[:-1] + " test]"
        contact_ids = [client.upsert_contact(address).id for address in addresses]
        try:
            proof = client.create_campaign(self.content(client, marker=marker))
            client.send_campaign(proof.id, contact_ids=contact_ids)
        except providers.ValidationError as error:
            raise UserError(self._refusal(error)) from None
        return binding


def with_unsubscribe_link(html, label):
    """The body with the ESP's unsubscribe token: Odoo's unsubscribe links point to it, and a visible link is
    added when the body has none."""
    html = _ODOO_UNSUBSCRIBE_HREF.sub(f'href="{UNSUBSCRIBE_URL}"', html)
    if UNSUBSCRIBE_TOKEN in html:
        return html
    link = Markup('<p style="text-align:center;font-size:12px;"><a href="%s">%s</a></p>') % (UNSUBSCRIBE_URL, label)
    if re.search(r"</body>", html, re.IGNORECASE):
        return re.sub(r"</body>", f"{link}</body>", html, count=1, flags=re.IGNORECASE)
    return f"{html}{link}"


class CampaignRunner:
    """What the campaign crons do, in one call (tests, benchmarks, the demo's seed): queued sends, then the
    follow-up of sends in progress. Each is a job of its own (``sync/campaign_jobs.py``) with its own cron."""

    def __init__(self, env):
        self.env = env

    def run(self):
        self.env["esp.sync.job.campaign.send"]._esp_job_run()
        self.env["esp.sync.job.campaign.follow"]._esp_job_run()


def import_esp_campaigns(env):
    """Campaigns sent from the ESP to books connected to Odoo lists appear as sent mailings, once each."""
    for account in env["esp.account"].sudo().search([("state", "=", "connected")]):
        if not account.support_campaign_import:
            continue
        try:
            with account._esp_client() as client:
                import_account_campaigns(account, client)
        except providers.EspError as error:
            _logger.warning("ESP account %s: campaigns not imported: %s", account.id, account._esp_error_message(error))


def import_account_campaigns(account, client):
    """The campaigns of one account sent from the ESP to its connected books (the statistics job's first step).

    :return: the mailings created
    """
    env = account.env(su=True)
    Campaign = env["esp.campaign"]
    mailings = env["mailing.mailing"]
    books = env["esp.address.book"].search([("account_id", "=", account.id), ("mailing_list_id", "!=", False)])
    if not books or not account.support_campaign_import:
        return mailings
    # The remote account's campaigns Odoo already knows, through this account or another Odoo account on the same
    # remote account (one that a migration disabled, an archived one): each is imported once, or never.
    accounts = account | account._esp_same_remote_accounts()
    known = set(Campaign.with_context(active_test=False).search([("account_id", "in", accounts.ids)]).mapped("remote_id"))
    ours = _marker_prefix(env)
    found = {}
    for book in books:
        for campaign in client.iter_book_campaigns(int(book.remote_id)):
            if str(campaign.id) in known or campaign.state not in ("sent", "sending"):
                continue
            if ours in (campaign.name or ""):
                # Sent by this database (a mailing's campaign or its test proof) whatever account recorded it, or
                # whether it recorded it at all: never "made in the ESP".
                _logger.info("ESP campaign %s carries this database's marker: not imported", campaign.id)
                continue
            found.setdefault(campaign.id, (campaign, env["mailing.list"]))
            found[campaign.id] = (campaign, found[campaign.id][1] | book.mailing_list_id)
    for campaign, lists in found.values():
        mailing = env["mailing.mailing"].create({
            "subject": campaign.subject or campaign.name,
            "body_arch": campaign.html or "",
            "body_html": campaign.html or "",
            "mailing_model_id": env["ir.model"]._get_id("mailing.list"),
            "contact_list_ids": [fields.Command.set(lists.ids)],
            "esp_account_id": account.id,
            "state": "done",
            "sent_date": fields.Datetime.now(),  # the ESP's send date comes with its first summary
        })
        Campaign.create({
            "mailing_id": mailing.id, "account_id": account.id, "remote_id": str(campaign.id),
            "remote_status": campaign.status, "state": "sent", "made_in_esp": True, "template_locked": True,
            "last_sync_datetime": fields.Datetime.now(),
        })
        # Once per campaign, when it first appears in Odoo: the mailing's history starts with where it came from.
        mailing.message_post(body=env._(
            "Imported from the ESP account “%(account)s”: campaign %(id)s, made and sent in the ESP itself, to "
            "the address books of %(lists)s.", account=account.name, id=campaign.id,
            lists=", ".join(lists.mapped("name"))), subtype_xmlid="mail.mt_note")
        mailings |= mailing
    return mailings
