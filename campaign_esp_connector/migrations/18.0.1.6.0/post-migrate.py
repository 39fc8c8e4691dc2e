"""18.0.1.6.0: two columns written in bulk lose their foreign keys.

``esp_list_member.batch_id`` (the import carrying a member) and ``mailing_contact.esp_source_list_id`` (the list
whose filter filled a contact) became plain ids: PostgreSQL checked their foreign keys row by row, seconds per
million rows on a first export. Their deletion rules moved to ``esp.import.batch.unlink`` and
``mailing.list.unlink``. The field type changed but the column did not, so the constraints an earlier version
created are dropped here, with their ``ir.model.constraint`` records; ids of imports or lists deleted meanwhile
cannot be left behind, the constraints kept them clean until now.
"""

CONSTRAINTS = (
    ("esp_list_member", "esp_list_member_batch_id_fkey"),
    ("mailing_contact", "mailing_contact_esp_source_list_id_fkey"),
)


def migrate(cr, version):
    for table, name in CONSTRAINTS:
        cr.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"')  # noqa: S608 - fixed names
        cr.execute("DELETE FROM ir_model_constraint WHERE name = %s AND type = 'f'", [name])
