from django.dispatch import Signal

# Sent inside the transaction that ends an ownership (a deactivation completing),
# with `device_ids`: protocol apps clear the data that belonged to it.
device_ownership_ended = Signal()
