"""The management API's documented examples: what a real answer holds."""

DEVICE_UUID = "7a593d26-8cfd-47e9-8647-1fb18a36fedb"
NEXT = "https://devices.example.com/api/manage/devices/?cursor=cD0yNDk5OA%3D%3D&status=active"

DEVICE = {
    "uuid": DEVICE_UUID,
    "id": 25,
    "type": "mediaagent",
    "mac": "A1B2C3D4E5F6",
    "serial_number": "sn",
    "name": "Office",
    "version": "1.1.1.1",
    "status": "active",
    "status_until": None,
    "is_online": True,
    "last_seen_at": "2026-05-01T10:00:00.123456Z",
    "owner": {"id": 6, "login": "user@mail.com"},
    "activated_at": "2026-05-01T10:00:00.123456Z",
    "is_banned": False,
    "ban": None,
    "created_at": "2026-04-30T08:00:00.000000Z",
    "updated_at": "2026-05-01T10:00:00.123456Z",
}

DEVICE_DETAIL = {
    **DEVICE,
    "client_app": {
        "app_name": "VMS Client",
        "app_version": "3.2.1",
        "device_os": "Android",
        "device_version": "14",
        "ip": "203.0.113.7",
        "updated_at": "2026-05-01T10:00:00.123456Z",
    },
    "license_session": None,
    "sip_line": {
        "username": "205811",
        "pin": "1234",
        "caller_id": "37060000000",
        "callerid_name": "Office",
        "description": "Reception",
        "group": "Main office",
        "authentication": 0,
        "host": None,
        "port": None,
        "extension": "101",
        "call_limit": 0,
        "hidden": False,
        "comment": "",
        "created_at": "2026-05-01T10:00:00.123456Z",
    },
}

EVENT = {
    "id": 4012,
    "device": DEVICE_UUID,
    "action": "activated",
    "from_status": "available",
    "to_status": "active",
    "source": "billing",
    "actor": "billing-prod",
    "request_id": "5b1f0d6e8a2c4b7f9e3d2a1c0b9f8e7d",
    "details": {"login": "user@mail.com"},
    "created_at": "2026-05-01T10:00:00.123456Z",
}

ACCOUNT = {
    "id": 6,
    "login": "user@mail.com",
    "name": "user",
    "type": "special",
    "status": "active",
    "role": "user",
    "owner": "reseller@mail.com",
    "billing_properties": [],
    "can_update_password": True,
    "is_vendor": False,
    "created_at": "2026-04-01T08:00:00.000000Z",
    "updated_at": "2026-04-01T08:00:00.000000Z",
    "deleted_at": None,
}

LICENSE = {
    "id": 310,
    "key": "7KQ2M-XR4TD-9PLWB-HN3VC",
    "kind": "key",
    "max_activations": 5,
    "activations_count": 2,
    "account": "user@mail.com",
    "expires_at": "2027-01-01T00:00:00Z",
    "revoked_at": None,
    "reference": "order-1042",
    "created_at": "2026-04-01T08:00:00.000000Z",
}

UNAUTHENTICATED = {
    "code": "not_authenticated",
    "message": "A valid API key is required: Authorization: Bearer <key>.",
}
FORBIDDEN = {"code": "permission_denied", "message": "This API key has no manage scope."}
NOT_FOUND = {"code": "not_found", "message": "Not found."}
INVALID_FILTER = {
    "code": "invalid_filter",
    "message": "Invalid query parameter: status.",
    "errors": {"status": ["Select a valid choice. enabled is not one of the available choices."]},
}
INVALID_CURSOR = {
    "code": "invalid_cursor",
    "message": "The cursor is not one this API gave: start again from the first page.",
    "errors": {"cursor": ["The cursor is not one this API gave: start again from the first page."]},
}

WEBHOOK = {
    "id": 3,
    "url": "https://crm.example.com/hooks/devices",
    "events": ["device.activated", "device.deactivation_finished", "device.banned"],
    "is_active": True,
    "description": "CRM: activations and bans",
    "created_at": "2026-05-01T10:00:00.123456Z",
    "updated_at": "2026-05-01T10:00:00.123456Z",
}
WEBHOOK_CREATE = {
    "url": "https://crm.example.com/hooks/devices",
    "events": ["device.activated", "device.deactivation_finished", "device.banned"],
    "description": "CRM: activations and bans",
}
WEBHOOK_CREATED = {**WEBHOOK, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
INVALID_WEBHOOK = {
    "code": "invalid",
    "message": "Invalid field: events.",
    "errors": {"events": ['Item 0: "device.activate" is not a valid choice.']},
}
WEBHOOK_LIMIT = {
    "code": "webhook_limit_reached",
    "message": "There are as many webhooks as allowed (WEBHOOK_MAX_COUNT): delete one first.",
}
