from odoo import api, fields, models

# Remote catalogues are small (thousands of rows), but still read page by page: upsert them in chunks so one
# query covers a chunk, never one query per remote record.
UPSERT_CHUNK = 500


class EspCatalogueMixin(models.AbstractModel):
    """A copy of one kind of object that lives at the ESP (address book, data field, template, sender).

    Concrete models declare the remote key field (``_esp_key``) and how a provider record becomes field values
    (``_esp_values_from_record``); :meth:`_esp_import` then mirrors a whole remote listing: creates what is
    new, updates what changed, re-activates what came back and archives what is gone (never deletes: mailing
    lists and campaigns may still point at it).
    """

    _name = "esp.catalogue.mixin"
    _description = "ESP Remote Catalogue Record"
    _esp_key = "remote_id"

    account_id = fields.Many2one("esp.account", string="ESP Account", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="account_id.company_id", store=True, index=True)
    active = fields.Boolean(default=True)
    sync_date = fields.Datetime(string="Last Seen", readonly=True, copy=False)

    @api.model
    def _esp_values_from_record(self, record):
        """Field values (the key included) for one provider record; implemented by each catalogue model."""
        raise NotImplementedError()

    @api.model
    def _esp_import(self, account, provider_records):
        """Mirror the ESP's listing into this model for ``account``.

        :param account: one ``esp.account``
        :param provider_records: iterable (usually a provider generator) of provider records
        :return: dict of counts ``created``, ``updated``, ``archived``
        """
        counts = {"created": 0, "updated": 0, "archived": 0}
        now = fields.Datetime.now()
        seen = set()
        chunk = []
        for record in provider_records:
            chunk.append(self._esp_values_from_record(record))
            if len(chunk) >= UPSERT_CHUNK:
                self._esp_upsert_chunk(account, chunk, now, seen, counts)
                chunk = []
        if chunk:
            self._esp_upsert_chunk(account, chunk, now, seen, counts)
        gone = self.search([("account_id", "=", account.id), (self._esp_key, "not in", list(seen))])
        gone.write({"active": False})
        counts["archived"] = len(gone)
        return counts

    def _esp_upsert_chunk(self, account, values_list, now, seen, counts):
        key = self._esp_key
        by_key = {str(values[key]): values for values in values_list}
        seen.update(by_key)
        existing = self.with_context(active_test=False).search(
            [("account_id", "=", account.id), (key, "in", list(by_key))]
        )
        compared = [fname for fname in values_list[0] if fname != key]
        for record in existing:
            values = by_key.pop(record[key])
            changes = {
                fname: value for fname, value in values.items() if fname in compared and record[fname] != value
            }
            if not record.active:
                changes["active"] = True
            if changes:
                counts["updated"] += 1
                changes["sync_date"] = now
                record.write(changes)
        # Last-seen dates of unchanged rows in one statement rather than one write per row.
        if existing:
            existing.write({"sync_date": now})
        if by_key:
            self.with_context(campaign_esp_connector_from_esp=True).create(
                [dict(values, account_id=account.id, sync_date=now) for values in by_key.values()]
            )
            counts["created"] += len(by_key)
