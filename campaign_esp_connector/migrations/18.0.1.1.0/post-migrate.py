"""18.0.1.1.0: a connected list's sync state moved from mailing_list to its address book (the binding).

The old columns are still in the table after the update (Odoo never drops them): copy them over once, and
record a change for every connected list so its first run under the new engine plans a full comparison.
"""

OLD_TO_NEW = {
    "esp_create_contacts": "create_contacts",
    "esp_last_sync_datetime": "last_sync_datetime",
    "esp_last_attempt_datetime": "last_attempt_datetime",
    "esp_last_error": "last_error",
    "esp_pull_watermark": "pull_watermark",
    "esp_optout_watermark": "optout_watermark",
    "esp_guard_confirmed": "guard_confirmed",
}


def migrate(cr, version):
    cr.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'mailing_list' AND column_name = ANY(%s)",
        [[*OLD_TO_NEW, "esp_sync_state"]],
    )
    present = {row[0] for row in cr.fetchall()}
    # Column names come from the fixed mapping above, never from input.
    assignments = [f"{new} = l.{old}" for old, new in OLD_TO_NEW.items() if old in present]
    if "esp_sync_state" in present:
        assignments.append(
            "sync_state = CASE WHEN l.esp_sync_state IN ('guard', 'rejected', 'failed', 'done') THEN l.esp_sync_state "
            "ELSE 'queued' END"
        )
    if assignments:
        cr.execute(
            f"UPDATE esp_address_book b SET {', '.join(assignments)} "  # noqa: S608
            "FROM mailing_list l WHERE l.esp_address_book_id = b.id"
        )
    cr.execute(
        "INSERT INTO esp_list_change (list_id) SELECT mailing_list_id FROM esp_address_book "
        "WHERE mailing_list_id IS NOT NULL"
    )
