from devices.bulk import DeviceRows, devices_reserve_many, devices_unreserve_many
from devices.management.rows import DeviceRowsCommand


class Command(DeviceRowsCommand):
    help = (
        "Reserve (or with --unreserve, release) the devices named in a CSV file: a header row, then rows of "
        "a uuid, or a type with a mac and/or serial_number. Only available devices can be reserved; already "
        "reserved ones are left as they are. Exit 0 when every row succeeded, 1 when some failed, 2 on usage errors."
    )

    def add_command_arguments(self, parser):
        parser.add_argument("--unreserve", action="store_true", help="Make reserved devices available instead.")

    def operation(self, options):
        if options["unreserve"]:
            return DeviceRows(devices_unreserve_many, "unreserved")
        return DeviceRows(devices_reserve_many, "reserved")
