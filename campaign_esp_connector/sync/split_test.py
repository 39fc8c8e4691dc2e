"""A/B tests through the ESP: the versions of an Odoo A/B test are one split test campaign at the ESP.

Odoo's A/B test is a UTM campaign whose mailings have A/B testing on: each version goes to its own percentage
of the recipients, then on "Send Final On" Odoo copies the version with the best figure and mails the copy to
everyone left. Through an ESP with split tests (capability ``SPLIT_TEST``, dotdigital) the ESP does all of it
in one campaign, and Odoo sends no final mailing:

- **versions**: the A/B mailings of the UTM campaign, oldest first. The first one (the *lead*) carries the
  ESP campaign, its send, its follow-up and its figures (the ESP reports one campaign); each version's subject,
  sender, from address and body become one entry of the split test's arrays. The versions must share the lists
  and the ESP account (one send to one set of books).
- **metric**: Winner Selection *Highest Open Rate* judges by opens, *Highest Click Rate* by clicks. *Manual*
  and any other figure (replies, leads, quotations, ...) cannot be judged by the ESP: refused.
- **test percentage**: the ESP deals its test share evenly between the versions, where Odoo gives each version
  its own percentage. The versions must therefore have the same percentage, and the test share is their sum
  (two versions on 10 % each: a test share of 20 %, 10 % each), from 1 to 100 %.
- **test period**: the hours from the send (at once, or the scheduled date) to *Send Final On*, rounded up,
  one at least: the ESP sends the winner when the period ends.

Anything else is refused before Sync or Send, with the reason, and shown on the mailing's ESP tab at once
(:func:`refusal`). The winner comes back with the split test's results (:func:`record_results`, read by the
statistics refresh): each version shows its result, the winner is marked, becomes the UTM campaign's winner
(Odoo's own notion, which also ends Odoo's A/B cron for it) and the versions' chatter says so.
"""

import logging
import math
from datetime import timedelta

from markupsafe import Markup

from odoo import fields
from odoo.exceptions import UserError

from .. import providers
from .common import crash_point

_logger = logging.getLogger(__name__)

# Odoo's Winner Selection → the providers' neutral metric.
METRICS = {
    "opened_ratio": providers.records.SPLIT_METRIC_OPENS,
    "clicks_ratio": providers.records.SPLIT_METRIC_CLICKS,
}


def is_split_test(mailing):
    """An A/B mailing sent through the ESP: sent as a split test, or refused."""
    return bool(mailing.ab_testing_enabled and mailing.esp_account_id)


def versions(mailing):
    """The mailings sent with ``mailing`` as one split test, the lead first (``mailing`` itself, as edited, in
    its place); empty for a mailing that is not an A/B test through the ESP."""
    if not is_split_test(mailing):
        return mailing.browse()
    siblings = mailing.campaign_id._origin.mailing_mail_ids.filtered("ab_testing_enabled") - mailing._origin
    return (siblings | mailing).sorted(lambda version: version._origin.id or 0)


def lead(mailing):
    """The version whose ESP campaign is the split test (``mailing`` itself when it is not an A/B test)."""
    return versions(mailing)[:1] or mailing


def group(mailing):
    """What one send moves: the versions of an A/B test, or the mailing alone."""
    return versions(mailing) or mailing


def refusal(mailing):
    """Why the ESP cannot send this A/B mailing as a split test, in words for the person; ``False`` when it
    can (or the mailing is no A/B test through the ESP)."""
    if not is_split_test(mailing):
        return False
    _ = mailing.env._
    account = mailing.esp_account_id.sudo()
    if not account.support_split_test:
        return _("A/B testing: %(provider)s has no split test, so the ESP account “%(account)s” cannot send an A/B "
                 "test; sent as it is, every version would go to all the recipients. Turn A/B testing off (A/B Tests "
                 "tab), or send the mailing through Odoo (empty Send through ESP).",
                 provider=account._get_provider_label(), account=account.name)
    selection = mailing.ab_testing_winner_selection
    if not selection:
        return _("A/B testing: the ESP picks the winner by the open rate or the click rate: choose Highest Open Rate "
                 "or Highest Click Rate as Winner Selection (A/B Tests tab).")
    if selection not in METRICS:
        label = dict(mailing._fields["ab_testing_winner_selection"]._description_selection(mailing.env)).get(
            selection, selection)
        return _("A/B testing: the ESP picks the winner by the open rate or the click rate only, not “%(selection)s”. "
                 "Choose Highest Open Rate or Highest Click Rate as Winner Selection (A/B Tests tab).",
                 selection=label)
    if not mailing.ab_testing_schedule_datetime:
        return _("A/B testing: set when the test ends (Send Final On, A/B Tests tab): the ESP sends the winner then.")
    group = versions(mailing)
    if len(group) < 2:
        return _("A/B testing: a split test at the ESP has two versions at least: create an alternative version "
                 "(A/B Tests tab) before you send.")
    lists = mailing.contact_list_ids._origin
    apart = group.filtered(lambda version: version.esp_account_id._origin != mailing.esp_account_id._origin
                           or version.contact_list_ids._origin != lists)
    if apart:
        return _("A/B testing: the versions are one campaign at the ESP, sent to the same mailing lists through one "
                 "ESP account, and these versions differ from this one: %(versions)s. Give every version the same "
                 "lists.", versions=", ".join(apart.mapped(lambda version: version.subject or "?")))
    percentages = sorted(set(group.mapped("ab_testing_pc")))
    if len(percentages) > 1:
        return _("A/B testing: the ESP deals its test share evenly between the versions: give every version the "
                 "same percentage (now %(percentages)s %%).", percentages=", ".join(map(str, percentages)))
    total = sum(group.mapped("ab_testing_pc"))
    if not 1 <= total <= 100:
        return _("A/B testing: the versions' percentages add up to %(total)s %%, and the ESP's test share is 1 to "
                 "100 %% of the recipients.", total=total)
    moved = group.filtered(lambda version: version.state != mailing.state)
    if moved:
        return _("A/B testing: the versions are sent together, and these ones are not where this one is: "
                 "%(versions)s.", versions=", ".join(moved.mapped(lambda version: version.subject or "?")))
    return False


def check(mailing):
    reason = refusal(mailing)
    if reason:
        raise UserError(reason)


def test_share(mailing):
    return sum(versions(mailing).mapped("ab_testing_pc"))


def period_hours(mailing, send_at):
    """Whole hours from ``send_at`` to the end of the test (Send Final On), one at least."""
    seconds = (mailing.ab_testing_schedule_datetime - send_at).total_seconds()
    return max(1, math.ceil(seconds / 3600))


def options(mailing, send_at):
    """The split test's send options for a send at ``send_at`` (naive UTC)."""
    return {"metric": METRICS[mailing.ab_testing_winner_selection], "percentage": test_share(mailing),
            "period_hours": period_hours(mailing, send_at)}


def test_ends(binding):
    """When the ESP sends the winner of a split test it has sent (naive UTC), ``None`` for other campaigns."""
    if not (binding.split_test and binding.send_date and binding.split_test_period_hours):
        return None
    return binding.send_date + timedelta(hours=binding.split_test_period_hours)


def summary(mailing):
    """What the ESP will do with this A/B test, for the ESP tab."""
    _ = mailing.env._
    group = versions(mailing)
    binding = group[:1].esp_campaign_id
    if binding.split_test_period_hours:  # sent: what the send carried
        share, hours = binding.split_test_percentage, binding.split_test_period_hours
        metric = dict(binding._fields["split_test_metric"]._description_selection(binding.env)).get(
            binding.split_test_metric)
    else:
        send_at = mailing.schedule_date if mailing.schedule_type == "scheduled" and mailing.schedule_date else None
        share = test_share(mailing)
        hours = period_hours(mailing, max(send_at or fields.Datetime.now(), fields.Datetime.now()))
        metric = {"opened_ratio": _("opens"), "clicks_ratio": _("clicks")}[mailing.ab_testing_winner_selection]
    position = list(group).index(mailing) + 1 if mailing in group else 1
    text = _("The %(count)s versions of this A/B test are one split test campaign at the ESP (this mailing is "
             "version %(position)s). The ESP sends each version to %(each)s %% of the recipients of the lists "
             "(%(share)s %% in all), then, at the end of a test period of %(hours)s h from the send, the version with "
             "the most %(metric)s to the other %(rest)s %%. Odoo sends no final mailing: the ESP picks and sends the winner after the test "
             "period, and the winner is shown here once the ESP reports it.",
             count=len(group), position=position, each=share // max(len(group), 1), share=share, hours=hours,
             metric=metric, rest=100 - share)
    if len(group) > 1 and mailing != group[:1]:
        text += " " + _("The campaign, its state and its figures are on version 1, “%(lead)s”: the ESP reports one "
                        "campaign for all versions.", lead=group[0].subject or "")
    return text


# -- at the ESP ---------------------------------------------------------------------------------------------------


def push(sync, client, binding):
    """Create the split test of ``sync``'s A/B test (its lead's ``binding``). A split test cannot be changed at
    the ESP: the one made by an earlier Sync, and one a lost answer made (found by the lead's marker), are
    deleted first, then the versions are created again."""
    from .campaigns import CampaignSync, campaign_marker  # noqa: PLC0415 - campaigns imports this module

    group = versions(sync.mailing)
    lead_mailing = group[0]
    marker = campaign_marker(sync.env, lead_mailing)
    if binding.remote_id:
        client.delete_campaign(int(binding.remote_id))
    found = client.find_campaign(marker)
    if found is not None:
        _logger.info("ESP split test %s of mailing %s found again by its marker: replaced", found.id, lead_mailing.id)
        client.delete_campaign(found.id)
    contents = [CampaignSync(version).content(client) for version in group]
    subject = (lead_mailing.subject or "").strip()
    campaign = client.create_split_test(f"{subject[:255 - len(marker) - 1]} {marker}", contents)
    crash_point("campaign:created")
    binding._esp_synced(campaign)
    binding.split_test = True
    # A version's campaign of its own, synced before it was a version: the split test replaces it.
    for own in (group - lead_mailing).esp_campaign_ids.sudo():
        if own.remote_id:
            client.delete_campaign(int(own.remote_id))
        own.unlink()
    return binding


def record_results(binding, results):
    """The split test's results onto its versions; the winner, once the ESP picked it, is the UTM campaign's."""
    group = versions(binding.mailing_id).sudo()
    if not group:
        return
    by_index = {version.index: version for version in results.versions}
    for index, mailing in enumerate(group):
        version = by_index.get(index)
        if version is None:
            continue
        mailing.write({"esp_ab_version": version.label, "esp_ab_result": version.percentage,
                       "esp_ab_result_count": int(version.result), "esp_ab_winner": version.winning})
    if results.winner is None or results.winner >= len(group):
        return
    winner = group[results.winner]
    campaign = winner.campaign_id
    if campaign.ab_testing_winner_mailing_id == winner:
        return
    campaign.ab_testing_winner_mailing_id = winner
    _ = binding.env._
    figure = {providers.records.SPLIT_METRIC_OPENS: _("opened"), providers.records.SPLIT_METRIC_CLICKS: _("clicked"),
              }.get(results.metric, results.metric or "")
    lines = Markup("").join(
        Markup("<li>%s</li>") % _("Version %(label)s, “%(subject)s”: %(percentage)s %% %(figure)s",
                                  label=mailing.esp_ab_version, subject=mailing.subject or "",
                                  percentage=round(mailing.esp_ab_result, 2), figure=figure)
        for mailing in group)
    body = Markup("<p>%s</p><ul>%s</ul>") % (
        _("The ESP picked version %(label)s, “%(subject)s”, as the winner of the A/B test and sends it to the "
          "rest of the recipients.", label=winner.esp_ab_version, subject=winner.subject or ""), lines)
    for mailing in group:
        mailing.message_post(body=body, subtype_xmlid="mail.mt_note")
