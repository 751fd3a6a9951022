import argparse
from functools import partial

from devices.bulk import DeviceRows, devices_ban_many, devices_unban_many
from devices.errors import DomainError
from devices.management.rows import DeviceRowsCommand
from devices.services import ban_reason_clean


def ban_reason(value: str) -> str:
    try:
        return ban_reason_clean(value)
    except DomainError as error:
        raise argparse.ArgumentTypeError(error.message) from error


class Command(DeviceRowsCommand):
    help = (
        "Ban the devices named in a CSV file (a header row, then rows of a uuid, or a type with a mac and/or "
        "serial_number) with --reason, or lift their bans with --unban. Already banned devices keep their ban and "
        "its reason. Exit 0 when every row succeeded, 1 when some failed, 2 on usage errors."
    )

    def add_command_arguments(self, parser):
        # One of the two, as in the admin: a ban always says why, and lifting one has no reason to record.
        choice = parser.add_mutually_exclusive_group(required=True)
        choice.add_argument("--reason", type=ban_reason, help="Why the devices are banned (required to ban).")
        choice.add_argument("--unban", action="store_true", help="Lift the bans instead.")

    def operation(self, options):
        if options["unban"]:
            return DeviceRows(devices_unban_many, "unbanned")
        return DeviceRows(partial(devices_ban_many, reason=options["reason"]), "banned")
