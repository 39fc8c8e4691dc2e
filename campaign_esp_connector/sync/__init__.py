"""The sync engines: one module per job, and the runner that owns their transactions.

Room rules (one-way doors): engines import Odoo and :mod:`..providers`, never a model module; models call
the list runner, never a list job directly. ``campaigns.py`` is the campaign engine: a mailing's buttons use it
for that one mailing (sync, test send, queue a send), and its ``CampaignRunner`` sends and follows sends from
the cron, after the list runner refreshed the mailing's lists. A job gets a :class:`~.common.ListRun` (binding, provider client, run log,
clock, commit points), owns one watermark at most, and changes member rows only through the
``esp.list.member`` transition methods. Each job plans in SQL, streams to or from the provider, and records
what the provider did before the next remote call, so a crash never forgets a remote side effect.
"""

from .common import ListRun, RunAborted
from .runner import ListSyncRunner
