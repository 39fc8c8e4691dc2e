"""What a person reads about the ESP: its contact statuses in their words, its dates in their time zone.

The providers say what a status means (``status_kinds``, neutral ``records.STATUS_*``); the words are here,
once, translated in the language of the environment that writes or shows them.
"""

from odoo.tools import format_datetime

from .. import providers
from ..providers import records


def _status_words(env):
    return {
        records.STATUS_SUBSCRIBED: env._("Subscribed"),
        records.STATUS_UNSUBSCRIBED: env._("Unsubscribed"),
        records.STATUS_SOFT_BOUNCE: env._("Soft bounce (mailbox temporarily unavailable)"),
        records.STATUS_HARD_BOUNCE: env._("Hard bounce (the address does not exist)"),
        records.STATUS_SPAM_REPORT: env._("Reported as spam by the recipient's mailbox provider"),
        records.STATUS_COMPLAINT: env._("Complained to the sender"),
        records.STATUS_MAIL_BLOCKED: env._("Mail blocked by the recipient's mail server"),
        records.STATUS_PENDING_OPTIN: env._("Waiting for the contact to confirm the subscription"),
        records.STATUS_SUPPRESSED: env._("Suppressed by the ESP (never mailed)"),
        records.STATUS_SHARED_SUPPRESSION: env._("On the ESP's shared suppression list"),
        records.STATUS_DOMAIN_SUPPRESSION: env._("Its domain is suppressed at the ESP"),
        records.STATUS_NO_MAIL_SERVER: env._("No mail server for the domain"),
        records.STATUS_NOT_ALLOWED: env._("Not allowed to be mailed"),
        records.STATUS_DELETED: env._("Deleted at the ESP"),
        records.STATUS_INACTIVE: env._("Inactive at the ESP (unsubscribed, bounced or complained)"),
    }


def region_words(env, region):
    """A region (``records.REGION_*``) in the words of ``env``'s language."""
    return {
        records.REGION_EUROPE: env._("Europe"),
        records.REGION_NORTH_AMERICA: env._("North America"),
        records.REGION_ASIA_PACIFIC: env._("Asia Pacific"),
    }.get(region, region)


def status_words(env, provider, status):
    """A contact status as the ESP spells it (``HardBounced``), in the words of ``env``'s language.

    :param provider: a provider class or client (its ``status_kinds``), or ``None``
    :param status: the ESP's status, or a reason already in words (returned as it is)
    """
    if not status or provider is None:
        return status
    kind = provider.status_kinds.get(status)
    return _status_words(env).get(kind, status) if kind else status


def account_status_words(env, account, status):
    """:func:`status_words` for a status of ``account`` (an ``esp.account``, possibly empty)."""
    if not account or not account.provider:
        return status
    return status_words(env, providers.get_provider_class(account.provider), status)


def readers_tz(env, account=None, requester=None):
    """The time zone of stored text (a chatter note) that people read later, once for all of them: the person
    who asked for the run, else the user writing it; a cron writes as OdooBot, whose time zone is nobody's,
    so then the person who set the ESP account up (an ESP manager of its company), else UTC.
    """
    if requester and requester.tz:
        return requester.tz
    if env.user.tz and env.uid != env.ref("base.user_root").id:
        return env.user.tz
    if account and account.create_uid.tz:
        return account.create_uid.tz
    return "UTC"


def people_datetime(env, value, tz=None):
    """A naive UTC datetime as people read it: their time zone, their language's format, to the second, with
    the time zone named (stored text outlives the reader's settings)."""
    if not value:
        return ""
    tz = tz or env.context.get("tz") or env.user.tz or "UTC"
    return env._("%(datetime)s (%(tz)s)", datetime=format_datetime(env, value.replace(microsecond=0), tz=tz), tz=tz)
