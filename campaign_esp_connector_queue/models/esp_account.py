"""Queue channels per ESP provider, their capacity taken from the accounts' rate budgets.

queue_job 18.0 (4.x) reads each database's channel configuration from its ``queue.job.channel`` records
(``capacity``, ``throttle``, ...) and reloads it when they change, unless a server-wide ``channels`` option
(``[queue_job] channels = ...`` in the Odoo configuration file, or ``ODOO_QUEUE_JOB_CHANNELS``) is set: that one
then replaces the records' configuration for every database. This add-on writes the records.
"""

import logging

from odoo import api, models

_logger = logging.getLogger(__name__)

CHANNEL_PARENT = "root.esp"
# Units of one account run at once when the account says nothing of its rate budget.
DEFAULT_CAPACITY = 4


class EspAccount(models.Model):
    _inherit = "esp.account"

    @api.model
    def _esp_queue_channel_name(self, provider):
        """``root.esp.<provider code>``, or ``root.esp`` for a unit with no account."""
        return f"{CHANNEL_PARENT}.{provider}" if provider else CHANNEL_PARENT

    def _esp_queue_capacity(self):
        """How many units of this account may run at once: its rate budget (``_esp_rate_capacity``, when the
        main add-on has it), else :data:`DEFAULT_CAPACITY`."""
        self.ensure_one()
        budget = getattr(self, "_esp_rate_capacity", None)
        capacity = budget() if budget else None
        return max(1, int(capacity)) if capacity else DEFAULT_CAPACITY

    @api.model
    def _esp_queue_channel_capacities(self):
        """``{channel name: capacity}`` for every provider: the sum of its connected accounts' budgets (each
        account's own ESP rate limit applies to it alone), :data:`DEFAULT_CAPACITY` with none connected."""
        accounts = self.sudo().search([("state", "=", "connected")])
        capacities = {}
        for code, _label in self._selection_provider():
            own = accounts.filtered(lambda account, code=code: account.provider == code)
            capacities[self._esp_queue_channel_name(code)] = sum(
                account._esp_queue_capacity() for account in own) or DEFAULT_CAPACITY
        return capacities

    @api.model
    def _esp_queue_sync_channels(self):
        """Create the providers' channels that are missing and write their capacities; a record is written
        only when its capacity changes (queue_job's runner reloads its configuration on each write).

        :return: the ``queue.job.channel`` records of the providers
        """
        Channel = self.env["queue.job.channel"].sudo()
        parent = Channel.search([("complete_name", "=", CHANNEL_PARENT)], limit=1)
        if not parent:
            root = Channel.search([("complete_name", "=", "root")], limit=1)
            parent = Channel.create({"name": CHANNEL_PARENT.split(".")[-1], "parent_id": root.id})
        channels = Channel.browse()
        for name, capacity in self._esp_queue_channel_capacities().items():
            channel = Channel.search([("complete_name", "=", name)], limit=1)
            if not channel:
                channel = Channel.create({"name": name.split(".")[-1], "parent_id": parent.id, "capacity": capacity})
            elif channel.capacity != capacity:
                _logger.info("ESP queue channel %s: capacity %s -> %s", name, channel.capacity, capacity)
                channel.capacity = capacity
            channels |= channel
        return channels
