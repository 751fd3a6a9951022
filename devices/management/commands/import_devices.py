from devices.bulk import Import
from devices.management.rows import RowsCommand


class Command(RowsCommand):
    help = (
        "Register or update devices from a CSV file with the header type,mac,serial_number,name,version[,status]. "
        "A row needs a type and a mac and/or serial_number; an existing device (same mac, or same type and "
        "serial_number) is updated, and empty cells leave its values as they are. status (available or "
        "initializing) sets the state of a new device, or of an existing one that is in one of those states. "
        "A type must be declared (admin: device types); an existing device's type changes only with --change-type. "
        "Exit 0 when every row succeeded, 1 when some failed, 2 on usage errors."
    )
    required_columns = (("type", "mac"), ("type", "serial_number"))
    columns = ("type", "mac", "serial_number", "name", "version", "status")

    def add_command_arguments(self, parser):
        parser.add_argument(
            "--change-type",
            action="store_true",
            help="Change the type of an existing device a row names with another type (without it, such a row fails).",
        )

    def operation(self, options):
        return Import(change_type=options["change_type"])
