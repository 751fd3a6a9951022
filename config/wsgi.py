import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

application = get_wsgi_application()

# What the app loaded (about 100,000 objects) lives as long as the process: keep it out of the garbage
# collector's passes, and collect the young generation every 50,000 allocations instead of every 700. A request
# leaves few cycles behind, and at the default threshold collecting took about 5% of an
# activation's time (bench/README.md).
gc.freeze()
gc.set_threshold(50_000, 20, 100)
