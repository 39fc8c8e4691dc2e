"""The sync engines: one job kind per module, all on one job base (``job.py``), each with a cron of its own.

Room rules (one-way doors): engines import Odoo and :mod:`..providers`, never a model module; models call the
jobs, never their steps. The job kinds (abstract models inheriting ``esp.sync.job``, extended the Odoo way):

- ``esp.sync.job.list`` (``list_job.py``): connected lists through the list runner (``runner.py``) and its
  steps, one module each (``imports.py``, ``pull.py``, ``optouts.py``, ``book_check.py``, ``export.py``). A
  list step gets a :class:`~.common.ListRun` (binding, provider client, run log, clock, commit points), owns
  one watermark at most, and changes member rows only through the ``esp.list.member`` transition methods;
- ``esp.sync.job.campaign.send`` and ``esp.sync.job.campaign.follow`` (``campaign_jobs.py``): a queued
  mailing sent exactly once, then followed until the ESP reports it sent (``campaigns.py`` is what they and
  the mailing's buttons share);
- ``esp.sync.job.statistics`` (``statistics_job.py``), ``esp.sync.job.activity`` (``activity_job.py``) and
  ``esp.sync.job.catalogue`` (``catalogue_job.py``).

Each plans in SQL, streams to or from the provider, and records what the provider did before the next remote
call, so a crash never forgets a remote side effect.
"""

from .common import ListRun, RunAborted
from .runner import ListSyncRunner
from . import audience, job, list_job, campaign_jobs, statistics_job, activity_job, catalogue_job
