"""What the admin's first page shows: a few aggregate queries, whatever the fleet's size."""

from collections.abc import Callable
from datetime import timedelta

from django.db.models import Count, Model, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from devices.choices import DeviceStatus, EventAction
from devices.models import Device, DeviceEvent
from licensing.models import License

CHART_DAYS = 30
# The chart's drawing, in SVG units: the plot, and the margins its axes' labels take.
CHART_WIDTH, CHART_HEIGHT, BAR_GAP = 600, 120, 2
AXIS_LEFT, AXIS_BOTTOM, MARGIN_TOP, MARGIN_RIGHT = 30, 14, 6, 16
LABEL_EVERY_DAYS = 7


def _fleet() -> dict:
    """Devices by status and by type, from one GROUP BY over both."""
    by_status = dict.fromkeys(DeviceStatus.values, 0)
    by_type: dict[str, int] = {}
    for row in Device.objects.order_by().values("status", "type").annotate(n=Count("id")):
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["n"]
        by_type[row["type"]] = by_type.get(row["type"], 0) + row["n"]
    labels = dict(DeviceStatus.choices)
    return {
        "total": sum(by_status.values()),
        "by_status": [(status, labels.get(status, status), n) for status, n in by_status.items()],
        "by_type": sorted(by_type.items(), key=lambda item: -item[1]),
        "banned": Device.objects.filter(is_banned=True).count(),
    }


def _licenses() -> dict:
    now = timezone.now()
    usable = Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    totals = License.objects.aggregate(
        keys=Count("id"),
        usable=Count("id", filter=usable),
        in_use=Count("id", filter=Q(activations_count__gt=0)),
        free=Count("id", filter=usable & Q(activations_count=0)),
        activations=Sum("activations_count"),
    )
    totals["activations"] = totals["activations"] or 0
    totals["unusable"] = totals["keys"] - totals["usable"]
    return totals


def _activations_chart() -> dict:
    """Activations per day (billing, licensing and MOR alike) over the last days, as SVG bars."""
    today = timezone.now().date()
    first = today - timedelta(days=CHART_DAYS - 1)
    counts = dict(
        DeviceEvent.objects.filter(
            created_at__date__gte=first, action__in=[EventAction.ACTIVATED, EventAction.LICENSE_ACTIVATED]
        )
        .order_by()
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    days = [first + timedelta(days=i) for i in range(CHART_DAYS)]
    peak = max(counts.values(), default=0)
    width = CHART_WIDTH / CHART_DAYS
    bars = []
    for i, day in enumerate(days):
        n = counts.get(day, 0)
        height = round(CHART_HEIGHT * n / peak, 1) if peak else 0
        bars.append(
            {
                "day": day,
                "n": n,
                "x": round(AXIS_LEFT + i * width, 1),
                "y": round(MARGIN_TOP + CHART_HEIGHT - height, 1),
                "width": round(width - BAR_GAP, 1),
                "height": height,
            }
        )
    # The y axis: 0, half the peak and the peak (whole activations); the x axis: a date every week, from the last.
    y_ticks = sorted({0, -(-peak // 2), peak}) if peak else [0]
    x_labels = [
        {"day": bar["day"], "x": round(bar["x"] + bar["width"] / 2, 1)}
        for i, bar in enumerate(bars)
        if (CHART_DAYS - 1 - i) % LABEL_EVERY_DAYS == 0
    ]
    return {
        "bars": bars,
        "peak": peak,
        "total": sum(counts.values()),
        "width": AXIS_LEFT + CHART_WIDTH + MARGIN_RIGHT,
        "height": MARGIN_TOP + CHART_HEIGHT + AXIS_BOTTOM,
        "plot_left": AXIS_LEFT,
        "plot_right": AXIS_LEFT + CHART_WIDTH,
        "y_ticks": [
            {"n": n, "y": round(MARGIN_TOP + CHART_HEIGHT - (CHART_HEIGHT * n / peak if peak else 0), 1)}
            for n in y_ticks
        ],
        "x_labels": x_labels,
        "label_y": MARGIN_TOP + CHART_HEIGHT + AXIS_BOTTOM - 3,
        "first": first,
        "last": today,
    }


def _latest_events():
    return DeviceEvent.objects.select_related("device").order_by("-created_at", "-id")[:10]


# Each panel, the model whose rows it counts or shows, and what makes it.
PANELS = {
    "fleet": (Device, _fleet),
    "licenses": (License, _licenses),
    "activations": (DeviceEvent, _activations_chart),
    "latest_events": (DeviceEvent, _latest_events),
}


def dashboard_context(may_view: Callable[[type[Model]], bool]) -> dict:
    """The panels of the models `may_view` allows: a panel's queries run only for those who see it."""
    return {name: make() for name, (model, make) in PANELS.items() if may_view(model)}
