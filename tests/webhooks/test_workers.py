"""deliver_webhooks as it runs (other processes, several at once, stopped, killed), and unsubscribing meanwhile."""

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, connections, transaction

from devices import services
from devices.choices import EventSource
from devices.models import Device
from tests.webhooks.receiver import Receiver
from webhooks.models import EVENT_TYPES, Webhook, WebhookDelivery
from webhooks.services import delivery_make_next, new_secret, webhook_delete, webhook_update

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
ACTOR = services.Actor(source=EventSource.ADMIN, name="op")


def worker(*args: str) -> subprocess.Popen:
    settings = connection.settings_dict
    url = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "WEBHOOK_ALLOW_PRIVATE_URLS": "true", "WEBHOOK_POLL_SECONDS": "0.05"}
    command = [sys.executable, str(ROOT / "manage.py"), "deliver_webhooks", *args]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def events_of(devices: int, each: int) -> list[int]:
    """`devices` devices registered, then reserved and unreserved in turn until each has `each` events."""
    made = [services.device_register(type="mediaagent", mac=f"A1B2C3{i:06X}", actor=ACTOR).pk for i in range(devices)]
    for step in range(each - 1):
        for pk in made:
            change = services.device_reserve if step % 2 == 0 else services.device_unreserve
            change(device=pk, actor=ACTOR)
    return made


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def test_two_workers_never_deliver_one_event_twice_and_keep_each_devices_order(receiver):
    # given: 60 deliveries, 10 devices' worth, to a receiver that takes 20 ms each
    receiver.delay = 0.02
    Webhook.objects.create(url=receiver.url, events=list(EVENT_TYPES), secret=new_secret())
    devices = events_of(10, 6)
    assert WebhookDelivery.objects.count() == 60
    # when: two workers run until all is delivered
    workers = [worker(), worker()]
    try:
        wait_for(lambda: not WebhookDelivery.objects.exclude(status="delivered").exists())
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=30) for process in workers]
    # then: each delivery reached it exactly once, and both workers took part
    assert [process.returncode for process in workers] == [0, 0], outputs
    ids = receiver.ids()
    assert len(ids) == len(set(ids)) == 60
    counts = [int(out.split()[0]) for out, _ in outputs]
    assert sum(counts) == 60 and min(counts) > 0, outputs
    # and: each device's events arrived one after the other, in their order
    for pk in devices:
        mine = [r for r in receiver.received if r.json["data"]["device"]["id"] == pk]
        assert [r.json["data"]["event"]["id"] for r in mine] == sorted(r.json["data"]["event"]["id"] for r in mine)
        assert all(later.started >= earlier.ended for earlier, later in itertools.pairwise(mine))


def worker_mid_delivery(receiver: Receiver, devices: int) -> subprocess.Popen:
    """A worker in the middle of the first of `devices` deliveries: the receiver holds its request."""
    receiver.hold = True
    Webhook.objects.create(url=receiver.url, events=["device.registered"], secret=new_secret())
    events_of(devices, 1)
    process = worker()
    assert receiver.arrived.wait(30)
    return process


def test_a_worker_killed_mid_delivery_loses_nothing(receiver):
    # given
    process = worker_mid_delivery(receiver, 3)
    # when: it is killed before the answer
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    receiver.hold = False
    receiver.release.set()
    # then: that delivery is still pending, and another worker delivers everything
    assert WebhookDelivery.objects.filter(status="pending").count() == 3
    done = worker("--once")
    out, err = done.communicate(timeout=60)
    assert done.returncode == 0, err
    assert out.strip() == "3 delivered, 0 failed attempt(s)."
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
    first = receiver.received[0].message_id
    assert receiver.ids().count(first) == 2  # at least once: the interrupted one again
    assert len(set(receiver.ids())) == 3


def test_sigterm_finishes_the_delivery_in_flight_then_stops(receiver):
    # given
    process = worker_mid_delivery(receiver, 2)
    # when: asked to stop, then the receiver answers
    process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    assert process.poll() is None  # still waiting for the answer
    receiver.release.set()
    out, err = process.communicate(timeout=30)
    # then: that delivery was recorded, and it stopped without taking the next
    assert process.returncode == 0, err
    assert out.strip() == "1 delivered, 0 failed attempt(s)."
    assert list(WebhookDelivery.objects.order_by("id").values_list("status", flat=True)) == ["delivered", "pending"]


def test_unsubscribing_while_a_change_fans_out_to_it_fails_neither():
    # given: a change whose event went to the webhook, its transaction still open
    webhook = Webhook.objects.create(url="https://crm.example.com/h", events=["device.registered"], secret=new_secret())
    fanned_out, commit = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def change():
        try:
            with transaction.atomic():
                services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
                fanned_out.set()
                commit.wait(30)
            outcomes["change"] = "committed"
        except Exception as exc:
            outcomes["change"] = exc
        finally:
            connections.close_all()

    def unsubscribe():
        try:
            webhook_delete(webhook=webhook)
            outcomes["delete"] = "deleted"
        except Exception as exc:
            outcomes["delete"] = exc
        finally:
            connections.close_all()

    changing = threading.Thread(target=change)
    changing.start()
    assert fanned_out.wait(30)
    # when: the webhook is deleted meanwhile, then the change commits
    deleting = threading.Thread(target=unsubscribe)
    deleting.start()
    deleting.join(0.5)
    assert deleting.is_alive()  # it waits for the change
    commit.set()
    changing.join(30)
    deleting.join(30)
    # then: both succeeded, and nothing names the webhook
    assert outcomes == {"change": "committed", "delete": "deleted"}
    assert not Webhook.objects.exists() and not WebhookDelivery.objects.exists()
    assert Device.objects.filter(mac="A1B2C3D4E5F6").exists()


def test_pausing_while_a_delivery_is_in_flight_leaves_it_delivered(receiver):
    # given: a delivery being made (the receiver holds it), and another pending
    receiver.hold = True
    webhook = Webhook.objects.create(url=receiver.url, events=["device.registered"], secret=new_secret())
    events_of(2, 1)
    outcomes: dict[str, object] = {}

    def deliver():
        try:
            outcomes["delivery"] = delivery_make_next().status
        finally:
            connections.close_all()

    def pause():
        try:
            webhook_update(webhook=Webhook.objects.get(pk=webhook.pk), is_active=False)
            outcomes["pause"] = "paused"
        finally:
            connections.close_all()

    delivering = threading.Thread(target=deliver)
    delivering.start()
    assert receiver.arrived.wait(30)
    # when: the webhook is paused meanwhile, then the receiver answers
    pausing = threading.Thread(target=pause)
    pausing.start()
    pausing.join(0.5)
    assert pausing.is_alive()  # it waits for the delivery in flight
    receiver.release.set()
    delivering.join(30)
    pausing.join(30)
    # then: the one in flight is recorded delivered, the other paused
    assert outcomes == {"delivery": "delivered", "pause": "paused"}
    assert list(WebhookDelivery.objects.order_by("id").values_list("status", flat=True)) == ["delivered", "paused"]
