from devices.bulk import Import
from devices.management.rows import RowsCommand


class Command(RowsCommand):
    help = (
        "Register or update devices from a CSV file with the header type,mac,serial_number,name,version[,status]. "
        "A row needs a type and a mac and/or serial_number; an existing device (same mac, or same type and "
        "serial_number) is updated, and empty cells leave its values as they are. status (available or "
        "initializing) sets the state of a new device, or of an existing one that is in one of those states. "
        "Exit 0 when every row succeeded, 1 when some failed, 2 on usage errors."
    )
    required_columns = (("type", "mac"), ("type", "serial_number"))
    columns = ("type", "mac", "serial_number", "name", "version", "status")

    def operation(self, options):
        return Import()
