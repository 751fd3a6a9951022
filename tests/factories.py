import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from devices.choices import DeviceStatus
from devices.models import Account, Device


class AccountFactory(DjangoModelFactory):
    class Meta:
        model = Account

    login = factory.Sequence(lambda n: f"user{n}@mail.com")
    name = "user"
    type = "special"


class DeviceFactory(DjangoModelFactory):
    class Meta:
        model = Device

    type = "mediaagent"
    mac = factory.Sequence(lambda n: f"00{n:010X}")
    serial_number = factory.Sequence(lambda n: f"SN-{n:06d}")
    name = ""
    version = "1.1.1.1"
    status = DeviceStatus.AVAILABLE

    class Params:
        active = factory.Trait(
            status=DeviceStatus.ACTIVE,
            account=factory.SubFactory(AccountFactory),
            activated_at=factory.LazyFunction(timezone.now),
        )
        reserved = factory.Trait(status=DeviceStatus.RESERVED)
        initializing = factory.Trait(
            status=DeviceStatus.INITIALIZING,
            status_until=factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(hours=1)),
        )
        deactivating = factory.Trait(
            status=DeviceStatus.DEACTIVATING,
            account=factory.SubFactory(AccountFactory),
            activated_at=factory.LazyFunction(timezone.now),
            status_until=factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(hours=1)),
        )
        banned = factory.Trait(
            is_banned=True,
            ban_reason="stolen",
            banned_at=factory.LazyFunction(timezone.now),
            banned_by="operator",
        )


class MorDeviceFactory(DjangoModelFactory):
    """A SIP line of an active SIP device, as device_create leaves one."""

    class Meta:
        model = "mor_api.MorDevice"

    device = factory.SubFactory(DeviceFactory, active=True, type="SIP", mac=None, serial_number=None)
    group = factory.LazyAttribute(lambda line: _primary_group(line.device.account))
    description = ""
    pin = factory.Sequence(lambda n: f"9{n:05d}")
    username = factory.Sequence(lambda n: f"5{n:09d}")
    secret = factory.Sequence(lambda n: f"secret-{n}")


def _primary_group(account):
    from mor_api.services import group_primary

    return group_primary(account)
