"""devices_get, device_details_get, device_update and device_delete, as their Kolmisoft wiki pages have them."""

import pytest

from devices.choices import AccountRole, DeviceStatus, EventAction
from devices.models import Device, DeviceEvent
from mor_api.models import Authentication, DeviceGroup, MorDevice
from tests.factories import AccountFactory, MorDeviceFactory
from tests.mor_api.conftest import accountant, error_of, parse, signed

pytestmark = pytest.mark.django_db

HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
UPDATED = HEAD + "<page><status><success>Device successfully updated</success></status></page>"
DELETED = HEAD + "<page><status>Device was deleted</status></page>"


@pytest.fixture
def line(admin_account, user) -> MorDevice:
    return MorDeviceFactory(device__account=user, description="desk", pin="1111")


def details(mor, line: MorDevice) -> dict[str, str]:
    page = parse(mor.post("device_details_get", signed("device_details_get", u="admin", device_id=line.device_id)))
    return {child.tag: child.text or "" for child in page}


# -- devices_get --------------------------------------------------------------------------------------------


def test_devices_get_answers_the_wikis_device_list(mor, line, user):
    second = MorDeviceFactory(device__account=user, device__type="IAX2", caller_id="37060000001", callerid_name="Hall")
    response = mor.post("devices_get", signed("devices_get", u="admin", user_id=user.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.decode() == (
        f"{HEAD}<page><devices>"
        f"<device><device_id>{line.device_id}</device_id><device_type>SIP</device_type>"
        f"<devicegroup_id>{line.group_id}</devicegroup_id><primary_device>yes</primary_device>"
        f"<username>{line.username}</username><secret>{line.secret}</secret><ipaddr>0.0.0.0</ipaddr><port>0</port>"
        "<callerid></callerid></device>"
        f"<device><device_id>{second.device_id}</device_id><device_type>IAX2</device_type>"
        f"<devicegroup_id>{second.group_id}</devicegroup_id><primary_device>no</primary_device>"
        f"<username>{second.username}</username><secret>{second.secret}</secret><ipaddr>0.0.0.0</ipaddr>"
        '<port>0</port><callerid>"Hall" &lt;37060000001&gt;</callerid></device>'
        "</devices></page>"
    )


def test_device_list_is_devices_get_under_its_old_name(mor, line, user):
    params = signed("devices_get", u="admin", user_id=user.pk)
    assert mor.post("device_list", params).content == mor.post("devices_get", params).content


def test_devices_get_of_a_user_without_devices_is_an_empty_list(mor, admin_account, user):
    response = mor.post("devices_get", signed("devices_get", u="admin", user_id=user.pk))
    assert response.content.decode() == f"{HEAD}<page><devices></devices></page>"


def test_show_hidden_devices_0_leaves_hidden_and_blocked_devices_out(mor, line, user):
    # given: the first (primary) line hidden, a second one banned, a third one plain
    MorDevice.objects.filter(pk=line.pk).update(hidden=True)
    banned = MorDeviceFactory(device__account=user)
    Device.objects.filter(pk=banned.device_id).update(is_banned=True)
    plain = MorDeviceFactory(device__account=user)

    def listed(**extra):
        page = parse(mor.post("devices_get", {**signed("devices_get", u="admin", user_id=user.pk), **extra}))
        return [(d.findtext("device_id"), d.findtext("primary_device")) for d in page.iter("device")]

    everything = [(str(line.device_id), "yes"), (str(banned.device_id), "no"), (str(plain.device_id), "no")]
    assert listed() == everything
    assert listed(show_hidden_devices="1") == everything
    # the hidden line is still the user's primary device: the others stay "no"
    assert listed(show_hidden_devices="0") == [(str(plain.device_id), "no")]


def test_the_primary_device_is_the_users_first(mor, line, user):
    second = MorDeviceFactory(device__account=user)
    mor.post("device_delete", signed("device_delete", u="admin", device=line.device_id))
    page = parse(mor.post("devices_get", signed("devices_get", u="admin", user_id=user.pk)))
    assert [(d.findtext("device_id"), d.findtext("primary_device")) for d in page.iter("device")] == [
        (str(second.device_id), "yes")
    ]


def test_devices_get_errors_have_the_wikis_texts(mor, admin_account, user):
    other_reseller = AccountFactory(role=AccountRole.RESELLER)
    plain_user = AccountFactory()
    cases = [
        ({"u": "admin", "user_id": user.pk, "hash": "0" * 40}, "Incorrect hash"),
        (signed("devices_get", u="nobody", user_id=user.pk), "Bad login"),
        (signed("devices_get", u=plain_user.login, user_id=user.pk), "Bad login"),
        (signed("devices_get", u=accountant(can_create=False).login, user_id=user.pk), "Bad login"),
        (signed("devices_get", u="admin"), "user_id is empty"),
        (signed("devices_get", u="admin", user_id=""), "user_id is empty"),
        (signed("devices_get", u="admin", user_id=999999), "User not found"),
        (signed("devices_get", u="admin", user_id="abc"), "User not found"),
        (signed("devices_get", u=other_reseller.login, user_id=user.pk), "User not found"),
        ({**signed("devices_get", u="admin", user_id=user.pk), "show_hidden_devices": "no"}, "show_hidden_devices "
         "must be 0 or 1"),
    ]  # fmt: skip
    assert [error_of(mor.post("devices_get", params)) for params, _ in cases] == [text for _, text in cases]


def test_a_reseller_lists_its_own_users_devices(mor, user):
    reseller = AccountFactory(role=AccountRole.RESELLER)
    own = AccountFactory(owner=reseller)
    mine = MorDeviceFactory(device__account=own)
    page = parse(mor.post("devices_get", signed("devices_get", u=reseller.login, user_id=own.pk)))
    assert [d.findtext("device_id") for d in page.iter("device")] == [str(mine.device_id)]


# -- device_details_get -------------------------------------------------------------------------------------


def test_device_details_get_answers_the_devices_fields_directly_under_page(mor, line, user):
    response = mor.post("device_details_get", signed("device_details_get", u="admin", device_id=line.device_id))
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.decode() == (
        f"{HEAD}<page><id>{line.device_id}</id><name>{line.username}</name><host>dynamic</host>"
        f"<secret>{line.secret}</secret><ipaddr>0.0.0.0</ipaddr><port>0</port><accountcode>{line.device_id}"
        f"</accountcode><callerid></callerid><extension></extension><username>{line.username}</username><device_type>SIP</device_type>"
        f"<user_id>{user.pk}</user_id><devicegroup_id>{line.group_id}</devicegroup_id><description>desk</description>"
        "<pin>1111</pin><call_limit>0</call_limit><comment></comment><hidden>0</hidden></page>"
    )


def test_device_details_get_gives_the_sip_login(mor, line):
    # docs/security.md: the SIP secret is stored in clear because the device must be given it back
    shown = details(mor, line)
    assert (shown["username"], shown["secret"]) == (line.username, line.secret)


def test_device_details_get_finds_a_device_by_its_sip_login(mor, line):
    by_login = mor.post("device_details_get", signed("device_details_get", u="admin", device_u=line.username))
    assert parse(by_login).findtext("id") == str(line.device_id)
    other = MorDeviceFactory(device__account=line.device.account)
    # both sent: device_id counts, as the page says (and both are signed, in that order)
    both = signed("device_details_get", u="admin", device_id=other.device_id, device_u=line.username)
    assert parse(mor.post("device_details_get", both)).findtext("id") == str(other.device_id)


def test_device_details_get_errors_have_the_wikis_texts(mor, line):
    other_reseller = AccountFactory(role=AccountRole.RESELLER)
    cases = [
        ({"u": "admin", "device_id": line.device_id, "hash": "0" * 40}, "Incorrect hash"),
        (signed("device_details_get", u="nobody", device_id=line.device_id), "Access Denied"),
        (signed("device_details_get", u=line.device.account.login, device_id=line.device_id), "Access Denied"),
        (signed("device_details_get", u=other_reseller.login, device_id=line.device_id), "Device was not found"),
        (signed("device_details_get", u="admin", device_id=999999), "Device was not found"),
        (signed("device_details_get", u="admin", device_id="5 OR 1=1"), "Device was not found"),
        (signed("device_details_get", u="admin", device_u="nobody"), "Device was not found"),
        (signed("device_details_get", u="admin"), "Device was not found"),
    ]
    assert [error_of(mor.post("device_details_get", params)) for params, _ in cases] == [text for _, text in cases]


# -- device_update ------------------------------------------------------------------------------------------


def test_device_update_to_ip_authentication_is_read_back(mor, line, user):
    params = signed("device_update", u="admin", device=line.device_id, authentication=1, host="192.168.5.20", port=5060)
    assert mor.post("device_update", params).content.decode() == UPDATED
    shown = details(mor, line)
    assert (shown["host"], shown["ipaddr"], shown["port"]) == ("192.168.5.20", "192.168.5.20", "5060")
    listed = parse(mor.post("devices_get", signed("devices_get", u="admin", user_id=user.pk))).find("devices/device")
    assert (listed.findtext("ipaddr"), listed.findtext("port")) == ("192.168.5.20", "5060")
    line.refresh_from_db()
    assert (line.authentication, line.host, line.port) == (Authentication.IP, "192.168.5.20", 5060)


def test_ip_authentication_without_a_port_takes_sips_own_and_back_to_dynamic_forgets_the_address(mor, line):
    params = signed("device_update", u="admin", device=line.device_id, authentication=1, host="10.0.0.7")
    assert mor.post("device_update", params).content.decode() == UPDATED
    assert (details(mor, line)["host"], details(mor, line)["port"]) == ("10.0.0.7", "5060")
    params = signed("device_update", u="admin", device=line.device_id, authentication=0, username="lobby-101")
    assert mor.post("device_update", params).content.decode() == UPDATED
    shown = details(mor, line)
    assert (shown["host"], shown["ipaddr"], shown["port"], shown["username"]) == (
        "dynamic",
        "0.0.0.0",  # noqa: S104 - an address shown, not bound
        "0",
        "lobby-101",
    )


def test_device_update_keeps_every_supported_field_and_details_read_them_back(mor, line, user):
    # given: the unsigned fields of the page that the product keeps
    changes = {
        "description": "lobby",
        "pin": "3333",
        "callerid_number": "37060000000",
        "callerid_name": "Lobby",
        "hidden": "1",
        "password": "n3w-s3cret",
        "extension": "101",
        "comment": "by the door",
        "call_limit": "2",
    }
    # when
    params = {**signed("device_update", u="admin", device=line.device_id), **changes}
    assert mor.post("device_update", params).content.decode() == UPDATED
    # then
    shown = details(mor, line)
    assert {
        k: shown[k] for k in ("description", "pin", "callerid", "secret", "extension", "comment", "call_limit")
    } == {
        "description": "lobby",
        "pin": "3333",
        "callerid": '"Lobby" <37060000000>',
        "secret": "n3w-s3cret",
        "extension": "101",
        "comment": "by the door",
        "call_limit": "2",
    }
    assert shown["hidden"] == "1"
    line.device.refresh_from_db()
    assert line.device.name == "lobby"  # the core device's name follows the description, with its audit event
    assert line.device.events.filter(action=EventAction.UPDATED, source="mor", actor="admin").count() == 1


def test_fields_not_sent_are_kept_and_empty_ones_clear_what_may_be_empty(mor, line):
    MorDevice.objects.filter(pk=line.pk).update(caller_id="370", callerid_name="Desk", extension="7", comment="c")
    params = {**signed("device_update", u="admin", device=line.device_id), "pin": "", "extension": "", "comment": ""}
    assert mor.post("device_update", params).content.decode() == UPDATED
    line.refresh_from_db()
    assert (line.pin, line.extension, line.comment, line.description) == (None, None, "", "desk")
    # an empty caller id is ignored unless allow_empty_callerid=1 says it is meant
    params = {**signed("device_update", u="admin", device=line.device_id), "callerid_number": ""}
    mor.post("device_update", params)
    line.refresh_from_db()
    assert (line.caller_id, line.callerid_name) == ("370", "Desk")
    params = {**params, "allow_empty_callerid": "1", "callerid_name": ""}
    mor.post("device_update", params)
    line.refresh_from_db()
    assert (line.caller_id, line.callerid_name) == ("", "")


def test_fields_of_the_page_the_product_does_not_keep_are_accepted_and_change_nothing(mor, line):
    before = {f.name: getattr(line, f.name) for f in MorDevice._meta.concrete_fields}
    params = {
        **signed("device_update", u="admin", device=line.device_id),
        "new_location_id": "7",
        "trunk": "1",
        "language": "lt",
        "fromuser": "x",
        "call_timeout": "60",
    }
    assert mor.post("device_update", params).content.decode() == UPDATED
    line.refresh_from_db()
    assert {f.name: getattr(line, f.name) for f in MorDevice._meta.concrete_fields} == before


def test_the_hash_signs_device_authentication_username_host_and_port_only(mor, line):
    params = signed("device_update", u="admin", device=line.device_id, authentication=1, host="192.168.5.20", port=5060)
    assert error_of(mor.post("device_update", {**params, "host": "192.168.5.21"})) == "Incorrect hash"
    assert error_of(mor.post("device_update", {**params, "username": "someone"})) == "Incorrect hash"
    assert error_of(mor.post("device_update", {**params, "description": "unsigned"})) is None


@pytest.mark.parametrize(
    ("change", "messages"),
    [
        ({"authentication": "2"}, ["Authentication must be 0 (username and password) or 1 (IP address)"]),
        ({"authentication": "1"}, ["IP authentication needs a host"]),
        ({"authentication": "1", "host": "example.com"}, ["Host must be an IP address"]),
        ({"authentication": "1", "host": "10.0.0.1", "port": "70000"}, ["Port must be a number from 1 to 65535"]),
        ({"host": "10.0.0.1"}, ["Host and port apply to IP authentication (authentication=1) only"]),
        ({"username": "a b"}, ["Username must be 1 to 32 letters, digits, '.', '_', '-' or '+'"]),
        ({"extension": "EXT 1"}, ["Extension may have only a-z, 0-9, # and *"]),
        ({"extension": "1" * 41}, ["Extension is longer than 40 characters"]),
        ({"extension": "X" * 41}, ["Extension is longer than 40 characters",
                                   "Extension may have only a-z, 0-9, # and *"]),
        ({"hidden": "yes"}, ["Hidden must be 0 or 1"]),
        ({"call_limit": "-1"}, ["Call limit must be a whole number (0: unlimited)"]),
        ({"description": "d" * 256, "comment": "a\x00b"}, ["Description is longer than 255 characters",
                                                           "Comment contains a NUL character"]),
        ({"pin": "1" * 21}, ["Pin is longer than 20 characters"]),
    ],
)  # fmt: skip
def test_device_was_not_updated_lists_every_reason_and_writes_nothing(mor, line, change, messages):
    before = {f.name: getattr(line, f.name) for f in MorDevice._meta.concrete_fields}
    signed_part = {k: change.pop(k) for k in ("authentication", "username", "host", "port") if k in change}
    params = {**signed("device_update", u="admin", device=line.device_id, **signed_part), **change}
    page = parse(mor.post("device_update", params))
    assert (page.findtext("error"), [m.text for m in page.findall("message")]) == ("Device was not updated", messages)
    line.refresh_from_db()
    assert {f.name: getattr(line, f.name) for f in MorDevice._meta.concrete_fields} == before


def test_a_username_or_extension_of_another_device_is_refused(mor, line, user):
    other = MorDeviceFactory(device__account=user, extension="200")
    params = {**signed("device_update", u="admin", device=line.device_id, username=other.username), "extension": "200"}
    page = parse(mor.post("device_update", params))
    assert [m.text for m in page.findall("message")] == ["Username is already used", "Extension is already used"]


def test_a_refused_extension_is_not_said_to_be_another_devices(mor, line, user):
    # given: another line with no extension either, as this one
    other = MorDeviceFactory(device__account=user)
    assert line.extension is None and other.extension is None
    # when
    params = {**signed("device_update", u="admin", device=line.device_id), "extension": "EXT"}
    page = parse(mor.post("device_update", params))
    # then: why it is refused, not that the other line's extension (none) is taken
    assert [m.text for m in page.findall("message")] == ["Extension may have only a-z, 0-9, # and *"]


def test_device_update_checks_pins_and_caller_id_permission_with_the_texts_of_create(mor, line, user):
    MorDeviceFactory(device__account=user, pin="4444")
    clerk = accountant(can_create=True, can_callerid=False)
    cases = [
        ({"pin": "4444"}, "admin", "Pin is already used"),
        ({"pin": "x"}, "admin", "Pin must be numeric"),
        ({"pin": "x", "callerid_number": "1"}, clerk.login, "Pin must be numeric"),
        ({"callerid_name": "Boss"}, clerk.login, "You are not authorized to manage callerid"),
        (
            {"callerid_number": "", "allow_empty_callerid": "1"},
            clerk.login,
            "You are not authorized to manage callerid",
        ),
    ]
    for change, caller, error in cases:
        response = mor.post("device_update", {**signed("device_update", u=caller, device=line.device_id), **change})
        assert error_of(response) == error
    line.refresh_from_db()
    assert line.pin == "1111"
    # its own pin again is no change, not a clash
    params = {**signed("device_update", u="admin", device=line.device_id), "pin": "1111"}
    assert mor.post("device_update", params).content.decode() == UPDATED


def test_device_update_errors_have_the_wikis_texts(mor, line):
    other_reseller = AccountFactory(role=AccountRole.RESELLER)
    cases = [
        ({"u": "admin", "device": line.device_id, "hash": "0" * 40}, "Incorrect hash"),
        (signed("device_update", u="nobody", device=line.device_id), "Access Denied"),
        (signed("device_update", u=accountant(can_create=False).login, device=line.device_id), "Access Denied"),
        (signed("device_update", u=other_reseller.login, device=line.device_id), "Device was not found"),
        (signed("device_update", u="admin", device=999999), "Device was not found"),
        (signed("device_update", u="admin"), "Device was not found"),
    ]
    assert [error_of(mor.post("device_update", params)) for params, _ in cases] == [text for _, text in cases]


# -- device_delete ------------------------------------------------------------------------------------------


def test_device_delete_removes_the_sip_line_and_ends_the_ownership(mor, line, settings):
    settings.DEVICE_DEACTIVATION_SECONDS = 0
    response = mor.post("device_delete", signed("device_delete", u="admin", device=line.device_id))
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.decode() == DELETED
    assert not MorDevice.objects.exists()
    device = Device.objects.get(pk=line.device_id)
    assert (device.status, device.account) == (DeviceStatus.AVAILABLE, None)
    actions = list(device.events.filter(source="mor").order_by("pk").values_list("action", flat=True))
    assert actions == [EventAction.DEACTIVATION_STARTED, EventAction.DEACTIVATION_FINISHED]
    again = mor.post("device_delete", signed("device_delete", u="admin", device=line.device_id))
    assert error_of(again) == "Device was not found"


def test_device_destroy_is_device_delete_under_its_old_name(mor, line):
    response = mor.post("device_destroy", signed("device_delete", u="admin", device=line.device_id))
    assert response.content.decode() == DELETED
    assert not MorDevice.objects.exists()


def test_deleting_a_device_an_operator_is_already_deactivating_removes_its_line(mor, line):
    Device.objects.filter(pk=line.device_id).update(status=DeviceStatus.DEACTIVATING)
    response = mor.post("device_delete", signed("device_delete", u="admin", device=line.device_id))
    assert response.content.decode() == DELETED
    assert not MorDevice.objects.exists()
    assert Device.objects.get(pk=line.device_id).status == DeviceStatus.DEACTIVATING


def test_device_delete_errors_have_the_wikis_texts(mor, line):
    other_reseller = AccountFactory(role=AccountRole.RESELLER)
    cases = [
        ({"u": "admin", "device": line.device_id, "hash": "0" * 40}, "Incorrect hash"),
        (signed("device_delete", u="nobody", device=line.device_id), "Access Denied"),
        (signed("device_delete", u=line.device.account.login, device=line.device_id), "Access Denied"),
        (signed("device_delete", u="admin"), "Access Denied"),  # the page: "... or params id not send"
        (signed("device_delete", u=other_reseller.login, device=line.device_id), "Device was not found"),
        (signed("device_delete", u="admin", device=999999), "Device was not found"),
    ]
    assert [error_of(mor.post("device_delete", params)) for params, _ in cases] == [text for _, text in cases]
    assert MorDevice.objects.filter(pk=line.pk).exists()


# -- all of them --------------------------------------------------------------------------------------------


def test_an_operator_deactivating_a_sip_device_clears_its_sip_data(line, settings):
    from devices import services
    from devices.choices import EventSource

    settings.DEVICE_DEACTIVATION_SECONDS = 0
    services.device_deactivate(device=line.device, actor=services.Actor(source=EventSource.ADMIN, name="op"))
    assert not MorDevice.objects.exists()


def test_a_group_of_another_user_never_shows(mor, line, user):
    # device_update has no devicegroup_id (the page has none): the line keeps the group device_create gave it
    group = DeviceGroup.objects.create(account=AccountFactory(), name="Theirs")
    params = {**signed("device_update", u="admin", device=line.device_id), "devicegroup_id": group.pk}
    assert mor.post("device_update", params).content.decode() == UPDATED
    assert details(mor, line)["devicegroup_id"] == str(line.group_id)


# -- queries ------------------------------------------------------------------------------------------------


@pytest.fixture
def two_lines(line, user) -> MorDevice:
    MorDeviceFactory(device__account=user)
    return line


@pytest.mark.parametrize("call", ["devices_get", "device_list"])
def test_devices_get_takes_three_queries(mor, two_lines, user, call, django_assert_num_queries):
    # the caller, the user among the caller's, the user's lines with their devices
    with django_assert_num_queries(3):
        page = parse(mor.post(call, signed("devices_get", u="admin", user_id=user.pk)))
    assert len(page.findall("devices/device")) == 2


def test_device_details_get_takes_two_queries(mor, two_lines, django_assert_num_queries):
    # the caller, the line with its device among the caller's users'
    with django_assert_num_queries(2):
        page = parse(
            mor.post("device_details_get", signed("device_details_get", u="admin", device_id=two_lines.device_id))
        )
    assert page.findtext("id") == str(two_lines.device_id)


def test_device_update_takes_a_query_per_step(mor, two_lines, django_assert_num_queries):
    params = {**signed("device_update", u="admin", device=two_lines.device_id), "pin": "4242", "hidden": "1"}
    # the caller; SAVEPOINT, lock the device, lock its line, is the pin free?, SAVEPOINT, UPDATE the line,
    # RELEASE; the core device_update records the line's changes: SAVEPOINT, lock, INSERT its event, RELEASE; RELEASE
    with django_assert_num_queries(13):
        assert mor.post("device_update", params).content.decode() == UPDATED
    event = DeviceEvent.objects.filter(device_id=two_lines.device_id, action="updated").get()
    assert (event.source, event.actor) == ("mor", "admin")
    assert event.details == {"pin": [two_lines.pin, "4242"], "hidden": [False, True]}


def test_device_update_of_the_description_renames_the_core_device_too(mor, two_lines, django_assert_num_queries):
    params = {**signed("device_update", u="admin", device=two_lines.device_id), "description": "hall"}
    # the caller; SAVEPOINT, lock the device, lock its line, SAVEPOINT, UPDATE the line, RELEASE; the core
    # device_update: SAVEPOINT, lock, SAVEPOINT, UPDATE the device, RELEASE, INSERT its event, RELEASE; RELEASE
    with django_assert_num_queries(15):
        assert mor.post("device_update", params).content.decode() == UPDATED


def test_device_delete_takes_a_query_per_step(mor, two_lines, django_assert_num_queries):
    # the caller; SAVEPOINT, lock the device, lock its line, DELETE the line; the core device_deactivate
    # (DEVICE_DEACTIVATION_SECONDS is 300): one statement that starts it and writes its event; RELEASE
    with django_assert_num_queries(7):
        assert mor.post(
            "device_delete", signed("device_delete", u="admin", device=two_lines.device_id)
        ).content.decode() == (DELETED)
