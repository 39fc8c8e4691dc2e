from . import models
from . import wizard


def uninstall_hook(env):
    """Drop the database triggers esp.list.member created on core tables (they would outlive the module)."""
    from .models.esp_list_member import REMOVAL_TRIGGERS

    for name, table in REMOVAL_TRIGGERS:
        # Fixed names from the module itself, never user input.
        env.cr.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")  # noqa: S608
        env.cr.execute(f"DROP FUNCTION IF EXISTS {name}()")  # noqa: S608
