from functools import partial

from devices.bulk import DeviceRows, devices_ban_many, devices_unban_many
from devices.management.rows import DeviceRowsCommand


class Command(DeviceRowsCommand):
    help = (
        "Ban (or with --unban, unban) the devices named in a CSV file: a header row, then rows of a uuid, "
        "or a type with a mac and/or serial_number. Already banned devices are left as they are. "
        "Exit 0 when every row succeeded, 1 when some failed, 2 on usage errors."
    )

    def add_command_arguments(self, parser):
        parser.add_argument("--reason", default="Banned by ban_devices", help="Why the devices are banned.")
        parser.add_argument("--unban", action="store_true", help="Lift the bans instead.")

    def operation(self, options):
        if options["unban"]:
            return DeviceRows(devices_unban_many, "unbanned")
        return DeviceRows(partial(devices_ban_many, reason=options["reason"]), "banned")
