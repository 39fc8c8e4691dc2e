"""18.0.1.2.0: opted-out members remember since when (an Odoo opt-out made later is sent again).

Rows opted out before the update get the update's time: opt-outs Odoo made before it were sent then.
"""


def migrate(cr, version):
    cr.execute(
        "UPDATE esp_list_member SET opted_out_datetime = now() at time zone 'UTC' "
        "WHERE state = 'opted_out' AND opted_out_datetime IS NULL"
    )
