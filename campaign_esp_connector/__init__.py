from . import models
from . import wizard


def uninstall_hook(env):
    """Drop what the module created outside its models' tables: esp.list.member's triggers on core tables and
    esp.account's API call counts."""
    from .models.esp_list_member import REMOVAL_TRIGGERS

    for name, table in REMOVAL_TRIGGERS:
        # Fixed names from the module itself, never user input.
        env.cr.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")  # noqa: S608
        env.cr.execute(f"DROP FUNCTION IF EXISTS {name}()")  # noqa: S608
    # Not a model's table, so Odoo would leave it behind.
    env.cr.execute("DROP TABLE IF EXISTS esp_account_api_call")
