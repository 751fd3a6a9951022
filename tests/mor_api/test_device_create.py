"""device_create of seed 004 (SPEC section 6): the seed's example, every error text, in order."""

import pytest

from devices.choices import AccountRole, DeviceStatus
from devices.models import Account, Device, DeviceEvent
from mor_api import services
from mor_api.auth import SIGNED_PARAMS, expected_hash
from mor_api.errors import MorError
from mor_api.models import DeviceGroup, MorDevice
from mor_api.services import DeviceInput, group_primary
from tests.factories import AccountFactory
from tests.mor_api.conftest import accountant, error_of, parse, signed

pytestmark = pytest.mark.django_db

EVENT_FIELDS = ("action", "from_status", "to_status", "source", "actor", "request_id", "details")


def test_the_seeds_hash_is_a_test_vector():
    params = {"u": "admin", "user_id": "2", "description": "desription1", "pin": "3"}
    assert expected_hash(params, SIGNED_PARAMS["device_create"], "secret") == "6e79d4a82f68102f43be11d873177f47817f84df"


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_the_seeds_example_request_creates_the_device(mor):
    # given: the admin account is id 1 and the user id 2, as in the seed
    AccountFactory(login="admin", role=AccountRole.ADMIN)
    user = AccountFactory(login="user2@example.com")
    assert user.pk == 2
    # when: the seed's POST, parameters in the query string
    response = mor.client.post(
        "/billing/api/device_create?u=admin&user_id=2&description=desription1&pin=3"
        "&hash=6e79d4a82f68102f43be11d873177f47817f84df"
    )
    # then
    page = parse(response)
    assert [child.tag for child in page] == ["status", "id", "username", "password"]
    assert page.findtext("status") == "Device created"
    sip = MorDevice.objects.get()
    assert page.findtext("id") == str(sip.device_id)
    assert (page.findtext("username"), page.findtext("password")) == (sip.username, sip.secret)
    assert (sip.pin, sip.description, sip.group.is_primary, sip.group.account) == ("3", "desription1", True, user)
    device = sip.device
    assert (device.type, device.status, device.account, device.name) == (
        "SIP",
        DeviceStatus.ACTIVE,
        user,
        "desription1",
    )
    event = device.events.get()
    assert (event.source, event.actor, event.action) == ("mor", "admin", "activated")


def test_form_fields_and_json_bodies_work_the_same(mor, admin_account, user):
    assert error_of(mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, pin=11))) is None
    response = mor.client.post(
        "/billing/api/device_create",
        signed("device_create", u="admin", user_id=user.pk, pin=12),
        content_type="application/json",
    )
    assert error_of(response) is None
    assert set(MorDevice.objects.values_list("pin", flat=True)) == {"11", "12"}


def test_an_upper_case_hash_is_accepted(mor, admin_account, user):
    params = signed("device_create", u="admin", user_id=user.pk)
    params["hash"] = params["hash"].upper()
    assert parse(mor.post("device_create", params)).findtext("status") == "Device created"


def test_a_pin_not_sent_is_random_and_unique_and_a_pin_sent_empty_is_none(mor, admin_account, user, settings):
    settings.MOR_PIN_LENGTH = 6
    mor.post("device_create", signed("device_create", u="admin", user_id=user.pk))
    mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, pin=""))
    generated, empty = MorDevice.objects.order_by("pk")
    assert generated.pin.isdigit() and len(generated.pin) == 6
    assert empty.pin is None


@pytest.mark.parametrize("device_type", ["SIP", "PJSIP", "IAX2", "FAX", "Virtual", "H323", "ZAP", "Skype"])
def test_every_allowed_type(mor, admin_account, user, device_type):
    assert (
        error_of(mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, type=device_type)))
        is None
    )
    assert Device.objects.get().type == device_type


def test_an_empty_type_is_the_configured_default(mor, admin_account, user, settings):
    settings.MOR_DEFAULT_DEVICE_TYPE = "IAX2"
    mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, type=""))
    assert Device.objects.get().type == "IAX2"


def test_a_group_of_the_user_is_used(mor, admin_account, user):
    group = DeviceGroup.objects.create(account=user, name="Office")
    mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, devicegroup_id=group.pk))
    assert MorDevice.objects.get().group == group


# -- who may act --------------------------------------------------------------------------


def test_a_reseller_creates_for_its_own_users_only(mor, user):
    reseller = AccountFactory(role=AccountRole.RESELLER)
    own = AccountFactory(owner=reseller)
    other_reseller = AccountFactory(role=AccountRole.RESELLER)
    theirs = AccountFactory(owner=other_reseller)
    assert error_of(mor.post("device_create", signed("device_create", u=reseller.login, user_id=own.pk))) is None
    for target in (theirs, user):
        response = mor.post("device_create", signed("device_create", u=reseller.login, user_id=target.pk))
        assert error_of(response) == "User was not found"


def test_an_accountant_with_the_permission_acts_as_an_admin(mor, user):
    clerk = accountant(can_create=True)
    assert error_of(mor.post("device_create", signed("device_create", u=clerk.login, user_id=user.pk))) is None


# -- every error, in the order of the checks ----------------------------------------------------


def test_get_is_disabled_by_default_and_allowed_when_configured(mor, admin_account, user, settings):
    params = signed("device_create", u="admin", user_id=user.pk)
    assert error_of(mor.get("device_create", params)) == "GET Requests are disabled"
    assert not Device.objects.exists()
    settings.MOR_API_ALLOW_GET = True
    assert parse(mor.get("device_create", params)).findtext("status") == "Device created"


def test_get_disabled_comes_before_the_hash(mor):
    assert error_of(mor.get("device_create", {"hash": "nope"})) == "GET Requests are disabled"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: p.pop("hash"),
        lambda p: p.update(hash=""),
        lambda p: p.update(hash="0" * 40),
        lambda p: p.update(description="changed after signing"),
        lambda p: p.update(pin="99"),
        lambda p: p.update(hash="é" * 40),
    ],
    ids=["missing", "empty", "wrong", "unsigned-description", "unsigned-pin", "non-ascii"],
)
def test_a_missing_or_wrong_hash_is_incorrect_and_reveals_nothing_else(mor, tamper):
    # Neither the account nor the user exists: a caller that can't sign learns nothing of that.
    params = signed("device_create", u="nobody", user_id=999, pin=3)
    tamper(params)
    assert error_of(mor.post("device_create", params)) == "Incorrect hash"


def test_no_secret_configured_refuses_everything(mor, admin_account, user, settings):
    settings.MOR_API_SECRET_KEY = ""
    params = {"u": "admin", "user_id": str(user.pk), "hash": expected_hash({"user_id": str(user.pk)}, ("user_id",), "")}
    assert error_of(mor.post("device_create", params)) == "Incorrect hash"


@pytest.mark.parametrize(
    "case",
    ["u missing", "u unknown", "plain user", "accountant without permission", "user_id missing", "blocked admin"],
)
def test_dont_be_so_smart(mor, user, case):
    admin = AccountFactory(
        login="admin", role=AccountRole.ADMIN, status="blocked" if case == "blocked admin" else "active"
    )
    login = {
        "u missing": None,
        "u unknown": "nobody",
        "plain user": user.login,
        "accountant without permission": accountant(can_create=False).login,
        "user_id missing": admin.login,
        "blocked admin": admin.login,
    }[case]
    params = signed("device_create", user_id="" if case == "user_id missing" else user.pk, description="x")
    if login is not None:
        params["u"] = login
    assert error_of(mor.post("device_create", params)) == "Dont be so smart"
    assert not Device.objects.exists()


@pytest.mark.parametrize("user_id", ["999999", "abc", "-1", "1.5", "99999999999999999999999"])
def test_user_was_not_found(mor, admin_account, user_id):
    assert (
        error_of(mor.post("device_create", signed("device_create", u="admin", user_id=user_id))) == "User was not found"
    )


def test_a_deleted_user_is_not_found(mor, admin_account):
    from django.utils import timezone

    gone = AccountFactory(deleted_at=timezone.now())
    assert (
        error_of(mor.post("device_create", signed("device_create", u="admin", user_id=gone.pk))) == "User was not found"
    )


@pytest.mark.parametrize("device_type", ["sip", "PSTN", "<SIP>", "SIP ", "pjsip", "PJSIP2"])
def test_device_type_invalid(mor, admin_account, user, device_type):
    response = mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, type=device_type))
    assert error_of(response) == "Device type invalid"


def test_device_group_invalid(mor, admin_account, user):
    elsewhere = DeviceGroup.objects.create(account=AccountFactory(), name="Not yours")
    for group_id in [elsewhere.pk, 999999, "x"]:
        response = mor.post(
            "device_create", signed("device_create", u="admin", user_id=user.pk, devicegroup_id=group_id)
        )
        assert error_of(response) == "Device group invalid"


@pytest.mark.parametrize("pin", ["12a", "-1", "1 2", "١٢٣", "+1"])
def test_pin_must_be_numeric(mor, admin_account, user, pin):
    assert (
        error_of(mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, pin=pin)))
        == "Pin must be numeric"
    )


def test_pin_is_already_used(mor, admin_account, user):
    mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, pin=1234))
    response = mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, pin=1234))
    assert error_of(response) == "Pin is already used"
    assert MorDevice.objects.count() == 1


def test_an_accountant_without_the_callerid_permission(mor, user):
    clerk = accountant(can_create=True, can_callerid=False)
    response = mor.post("device_create", signed("device_create", u=clerk.login, user_id=user.pk, caller_id="+3705000"))
    assert error_of(response) == "You are not authorized to manage callerid"
    allowed = accountant(can_create=True, can_callerid=True)
    response = mor.post(
        "device_create", signed("device_create", u=allowed.login, user_id=user.pk, caller_id="+3705000")
    )
    assert error_of(response) is None
    assert MorDevice.objects.get().caller_id == "+3705000"


def test_device_was_not_created_lists_every_reason(mor, admin_account, user):
    response = mor.post(
        "device_create",
        signed("device_create", u="admin", user_id=user.pk, description="d" * 256, caller_id="c" * 65, pin="1" * 21),
    )
    page = parse(response)
    assert page.findtext("error") == "Device was not created"
    assert [m.text for m in page.findall("message")] == [
        "Description is longer than 255 characters",
        "Caller id is longer than 64 characters",
        "Pin is longer than 20 characters",
    ]
    assert not Device.objects.exists()


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ({"type": "bad", "devicegroup_id": "999999", "pin": "x"}, "Device type invalid"),
        ({"devicegroup_id": "999999", "pin": "x"}, "Device group invalid"),
        ({"pin": "x", "caller_id": "1"}, "Pin must be numeric"),
    ],
)
def test_the_checks_come_in_the_specified_order(mor, user, first, then):
    clerk = accountant(can_create=True, can_callerid=False)
    response = mor.post("device_create", signed("device_create", u=clerk.login, user_id=user.pk, **first))
    assert error_of(response) == then


# -- hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "description",
    ["<b>bold</b> & </page>", "]]><![CDATA[", "日本語のデバイス", "emoji 📞", "tab\tand\nnewline", "\x01\x02\x1f"],
)
def test_markup_and_non_ascii_come_back_as_well_formed_xml(mor, admin_account, user, description):
    response = mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, description=description))
    assert parse(response).findtext("status") == "Device created"
    sip = MorDevice.objects.get()
    assert sip.description == description
    details = mor.post("device_details_get", signed("device_details_get", u="admin", device_id=sip.device_id))
    shown = parse(details).findtext("description")
    assert shown == description or "\ufffd" in shown  # characters XML can't carry are replaced, never break it


@pytest.mark.parametrize("field", ["description", "caller_id"])
def test_a_nul_byte_is_not_created_in_well_formed_xml(mor, admin_account, user, field):
    response = mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, **{field: "a\x00b"}))
    page = parse(response)
    assert page.findtext("error") == "Device was not created"
    assert "NUL" in page.findtext("message")


@pytest.mark.parametrize(
    "params",
    [
        {"u": "adm\x00in", "hash": "x\x00"},
        {"u": "<page>", "hash": "<error>"},
        {"user_id": "2' OR '1'='1", "u": "admin"},
    ],
)
def test_hostile_parameters_get_an_error_in_well_formed_xml(mor, admin_account, params):
    assert error_of(mor.post("device_create", params)) in {"Incorrect hash", "Dont be so smart"}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('{"u": ["a", "b"]}', "application/json"),
        ("<xml/>", "application/xml"),
    ],
)
def test_a_malformed_body_is_an_xml_error(mor, body, content_type):
    response = mor.client.post("/billing/api/device_create", body, content_type=content_type)
    assert error_of(response)


def test_other_methods_and_unknown_calls_answer_xml(mor):
    assert error_of(mor.client.put("/billing/api/device_create")) == "Method not allowed: use POST"
    assert error_of(mor.client.post("/billing/api/device_explode")) == "Unknown API call"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("pin", [2, None], ids=["pin sent", "random pin"])
def test_device_create_takes_one_query(mor, admin_account, user, pin, django_assert_num_queries):
    mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, pin=1))  # makes the primary group
    params = signed(
        "device_create", u="admin", user_id=user.pk, description="x", **({} if pin is None else {"pin": pin})
    )
    # One INSERT of the device that finds the caller, the user and the group, and inserts the event and the
    # SIP line (devices.sql).
    with django_assert_num_queries(1):
        assert parse(mor.post("device_create", params)).findtext("status") == "Device created"


@pytest.mark.django_db(transaction=True)
def test_device_create_for_a_new_user_makes_its_primary_group_then_the_device(
    mor, admin_account, user, django_assert_num_queries
):
    params = signed("device_create", u="admin", user_id=user.pk, pin=2, description="x")
    # The one statement finds no primary group and writes nothing; then the checks: caller, user, primary group
    # (none: SELECT, SAVEPOINT, INSERT, RELEASE), pin free?; then the one statement again.
    with django_assert_num_queries(10):
        assert parse(mor.post("device_create", params)).findtext("status") == "Device created"
    assert DeviceGroup.objects.get(account=user).is_primary


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"login": "nobody"}, "Dont be so smart"),
        ({"raw_user_id": "0"}, "User was not found"),
        ({"pin": "12a"}, "Pin must be numeric"),
        ({"pin": "taken"}, "Pin is already used"),
        ({"type": "Telegraph"}, "Device type invalid"),
        ({"devicegroup_id": "999999"}, "Device group invalid"),
        ({"description": "x" * 256}, "Device was not created"),
        ({"role": AccountRole.ACCOUNTANT}, "Dont be so smart"),
        ({"user_status": "blocked"}, "Device was not created"),
    ],
    ids=lambda value: (
        (next(iter(value)) + "=" + str(next(iter(value.values())))[:10]) if isinstance(value, dict) else ""
    ),
)
def test_anything_but_the_common_case_is_refused_and_writes_nothing(admin_account, user, change, error):
    group_primary(user)
    services.mor_device_create(login="admin", raw_user_id=str(user.pk), values=DeviceInput(pin="555"))
    if "role" in change:
        Account.objects.filter(pk=admin_account.pk).update(role=change["role"])
    if "user_status" in change:
        Account.objects.filter(pk=user.pk).update(status=change["user_status"])
    pin = {"taken": "555"}.get(change.get("pin"), change.get("pin", "556"))
    values = DeviceInput(
        pin=pin,
        type=change.get("type"),
        devicegroup_id=change.get("devicegroup_id"),
        description=change.get("description"),
    )
    with pytest.raises(MorError) as refused:
        services.mor_device_create(
            login=change.get("login", "admin"), raw_user_id=change.get("raw_user_id", str(user.pk)), values=values
        )
    assert refused.value.text == error
    assert MorDevice.objects.count() == 1
    assert Device.objects.count() == 1


def test_device_create_writes_the_device_its_event_and_its_sip_line(admin_account, user):
    group = group_primary(user)
    values = DeviceInput(description="Desk phone", pin="4321", caller_id="+3705")
    line = services.mor_device_create(login="ADMIN", raw_user_id=str(user.pk), values=values)
    stored = MorDevice.objects.select_related("device").get(pk=line.pk)
    assert {f: getattr(stored.device, f) for f in ("type", "name", "status", "account_id", "mac")} == {
        "type": "SIP",
        "name": "Desk phone",
        "status": "active",
        "account_id": user.pk,
        "mac": None,
    }
    event = DeviceEvent.objects.filter(device=stored.device).values(*EVENT_FIELDS).get()
    assert (event["action"], event["from_status"], event["to_status"]) == ("activated", "", "active")
    assert (event["source"], event["actor"], event["details"]) == ("mor", "admin", {"pin": "4321", "group": group.pk})
    assert (stored.group_id, stored.description, stored.pin, stored.caller_id) == (
        group.pk,
        "Desk phone",
        "4321",
        "+3705",
    )
    assert (len(stored.username), len(stored.secret)) == (10, 16)
    assert (line.username, line.secret, line.device_id) == (stored.username, stored.secret, stored.device_id)


@pytest.mark.parametrize(
    ("call", "params", "vector"),
    [
        # MOR API devices get: "We have API Secret Key = 456789, user_id = 100"
        ("devices_get", {"u": "admin", "user_id": "100"}, "71516eea4850f7e0300ac86adf9fb64bca845aa7"),
        # MOR API device details get: "We have API Secret Key = 456789, device_id = 5"
        ("device_details_get", {"u": "admin", "device_id": "5"}, "65fd575c441513bd114b84c7dbdb01e0f2716d27"),
        # MOR API device delete: "We have device = 123, API Secret Key = 456789"
        ("device_delete", {"u": "admin", "device": "123"}, "f7c3bc1d808e04732adf679965ccc34ca7ae3441"),
    ],
)
def test_the_wikis_published_hashes_are_test_vectors(call, params, vector):
    assert expected_hash(params, SIGNED_PARAMS[call], "456789") == vector
