"""Protocol data tied to devices.Device; see SPEC."""
