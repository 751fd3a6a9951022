"""The VoIP softswitch (Kolmisoft MOR) API: signed form or JSON requests, XML answers (seed 004, the wiki pages)."""

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.views import APIView

from devices.api.base import HTTP_METHODS_BUT_OPTIONS
from devices.api.parsers import SafeJSONParser
from devices.choices import EventSource
from devices.services import Actor
from devices.throttling import ClientIpThrottle
from mor_api import services
from mor_api.api.serializers import (
    DeviceCreateSerializer,
    DeviceDeleteSerializer,
    DeviceDetailsGetSerializer,
    DevicesGetSerializer,
    DeviceUpdateSerializer,
)
from mor_api.auth import CallerIpAllowed, caller_for, check_hash, managed_user
from mor_api.errors import (
    ACCESS_DENIED,
    BAD_LOGIN,
    CREATED,
    DELETED,
    DEVICE_NOT_FOUND,
    DONT_BE_SO_SMART,
    GET_DISABLED,
    NOT_ALLOWED,
    UPDATED,
    USER_ID_EMPTY,
    USER_NOT_FOUND_SHORT,
    MorError,
    mor_exception_handler,
)
from mor_api.models import Authentication, MorDevice
from mor_api.xml import DECLARATION, XMLNegotiation, XMLPageRenderer, xml_page

TAG = "VoIP softswitch (MOR)"
SCALARS = (str, int, float)
WIKI = "https://wiki.kolmisoft.com/index.php/"
# The wiki pages sign their examples with this secret; the demo (make run) signs with `secret`.
WIKI_EXAMPLE_NOTE = "The example is the wiki page's own, signed with its secret `456789` (the demo's is `secret`)."


class MorAPIView(APIView):
    """Base of the MOR calls: parameters from the query string and the body, the hash, the caller.

    Whatever the request, the answer is the XML page: its own renderer and a negotiation that never refuses an
    Accept header, and no OPTIONS metadata (OPTIONS is a method the API doesn't have).
    """

    call: str
    denied: str = ACCESS_DENIED  # this call's page's answer to a caller that may not use it
    authentication_classes = []
    permission_classes = [CallerIpAllowed]  # MOR_API_ALLOWED_IPS, before the hash and the throttle
    parser_classes = [FormParser, MultiPartParser, SafeJSONParser]
    renderer_classes = [XMLPageRenderer]
    content_negotiation_class = XMLNegotiation
    http_method_names = HTTP_METHODS_BUT_OPTIONS
    throttle_classes = [ClientIpThrottle]
    throttle_scope = "mor"

    def get_exception_handler(self):
        return mor_exception_handler

    @extend_schema(exclude=True)  # disabled by default; the POST operation documents the parameters
    def get(self, request):
        if not settings.MOR_API_ALLOW_GET:
            raise MorError(GET_DISABLED)
        return self.respond(self._strings(request.query_params))

    def post(self, request):
        # The seed's own example POSTs its parameters in the query string: both count, the body wins.
        params = self._strings(request.query_params)
        body = request.data if request.data is not None else {}
        if not hasattr(body, "items"):
            raise MorError("Request body must be form fields or a JSON object")
        params.update(self._strings(body))
        return self.respond(params)

    @staticmethod
    def _strings(source) -> dict[str, str]:
        # JSON numbers and booleans count as their text (a PHP client sends "user_id": 2, "hidden": true).
        params = {}
        for key, value in source.items():
            if isinstance(value, bool):
                value = int(value)
            if value is None:
                value = ""
            if not isinstance(value, SCALARS):
                raise MorError(f"Parameter {str(key)[:40]} must be a single value")
            params[str(key)] = str(value)
        return params

    def authorize(self, params: dict[str, str]):
        check_hash(params, self.call)
        return caller_for(params.get("u") or "", denied=self.denied)

    @staticmethod
    def actor(caller) -> Actor:
        return Actor(source=EventSource.MOR, name=caller.login)

    def respond(self, params: dict[str, str]):
        raise NotImplementedError


# -- documentation ------------------------------------------------------------------------------------------


def _xml_example(name: str, body: str, summary: str = "") -> OpenApiExample:
    return OpenApiExample(name, value=f"{DECLARATION}<page>{body}</page>", media_type="text/xml", summary=summary)


def _text(description: str) -> dict:
    return {"type": "string", "description": description}


ERROR_PROPERTIES = {
    "error": _text("Why the call failed (every failure; nothing else but `message`s comes with it)."),
    "message": {
        "type": "array",
        "description": "One per reason, after `Device was not created` / `Device was not updated`.",
        "items": {"type": "string", "xml": {"name": "message"}},
    },
}


def _page(properties: dict) -> dict:
    # An object named `page` with string examples: Swagger UI then shows the examples as they are. A bare
    # string schema has no root element name, and Swagger UI shows "XML example cannot be generated".
    return {"type": "object", "xml": {"name": "page"}, "properties": {**properties, **ERROR_PROPERTIES}}


NOT_ALLOWED_EXAMPLE = OpenApiExample(
    "IP address not allowed", value=f"{DECLARATION}<page><error>{NOT_ALLOWED}</error></page>", media_type="text/xml"
)


def _xml_responses(page: dict, *examples: OpenApiExample) -> dict:
    return {
        (200, "text/xml"): OpenApiResponse(
            page,
            description="Always HTTP 200 and `text/xml`: the call's answer, or `<error>` (and `<message>`s). "
            "Any `Accept` header gets this page. When `MOR_API_ALLOWED_IPS` is set, a caller at any other "
            f"address gets `<error>{NOT_ALLOWED}</error>` before anything else is checked.",
            examples=[*examples, NOT_ALLOWED_EXAMPLE],
        )
    }


def _request(serializer, name: str, example: dict[str, str], summary: str) -> dict:
    """extend_schema's `request` and `examples`: the call's parameters as form fields or JSON, and the page's request.

    Each property's example is the page's value (empty for the others): Swagger UI fills its form with them, so
    "Try it out" sends exactly the page's request. The JSON body shows the same request as a named example.
    """
    fields = serializer().fields
    schema = {
        "type": "object",
        "properties": {
            key: {"type": "string", "description": str(field.help_text), "example": example.get(key, "")}
            for key, field in fields.items()
        },
        "required": [key for key, field in fields.items() if field.required],
    }
    return {
        "request": {"application/x-www-form-urlencoded": schema, "application/json": schema},
        "examples": [
            OpenApiExample(name, value=example, summary=summary, request_only=True, media_type="application/json")
        ],
    }


INCORRECT_HASH_EXAMPLE = _xml_example("Incorrect hash", "<error>Incorrect hash</error>")
GET_DISABLED_EXAMPLE = _xml_example("GET disabled", "<error>GET Requests are disabled</error>")
ACCESS_DENIED_EXAMPLE = _xml_example("Access Denied", "<error>Access Denied</error>")
NOT_FOUND_EXAMPLE = _xml_example("Device was not found", "<error>Device was not found</error>")


# -- device_create ------------------------------------------------------------------------------------------


@extend_schema_view(
    post=extend_schema(
        operation_id="mor_device_create",
        tags=[TAG],
        summary="device_create",
        description=(
            "Create a SIP device for a user. POST form fields or JSON (or the query string, as the seed's example "
            "does); GET only when MOR_API_ALLOW_GET is set. `hash` = SHA1(user_id, description, pin, type, "
            "devicegroup_id, caller_id — each only when sent and not empty — then the secret key). The seed's "
            "test vector: `u=admin&user_id=2&description=desription1&pin=3` with secret `secret` is signed "
            "`6e79d4a82f68102f43be11d873177f47817f84df`; the form below is that request, which works as it is "
            "against the demo (`make run`). Errors, checked in this order: GET Requests are disabled, Incorrect "
            "hash, Dont be so smart, User was not found, Device type invalid, Device group invalid, Pin must be "
            "numeric, Pin is already used, You are not authorized to manage callerid, Device was not created "
            f"(with a `<message>` per reason). [Wiki page]({WIKI}MOR_API_device_create)."
        ),
        **_request(
            DeviceCreateSerializer,
            "Seed example",
            {
                "u": "admin",
                "user_id": "2",
                "description": "desription1",
                "pin": "3",
                "hash": "6e79d4a82f68102f43be11d873177f47817f84df",
            },
            summary="The seed's own request (secret `secret`)",
        ),
        responses=_xml_responses(
            _page(
                {
                    "status": _text("`Device created`."),
                    "id": _text("The new device's id."),
                    "username": _text("The SIP login the device registers with."),
                    "password": _text("Its SIP secret."),
                }
            ),
            _xml_example(
                "Device created",
                "<status>Device created</status><id>25</id><username>1000000025</username>"
                "<password>s3cr3t-pa55</password>",
            ),
            INCORRECT_HASH_EXAMPLE,
            _xml_example("Dont be so smart", "<error>Dont be so smart</error>"),
            GET_DISABLED_EXAMPLE,
            _xml_example("User was not found", "<error>User was not found</error>"),
            _xml_example("Pin is already used", "<error>Pin is already used</error>"),
            _xml_example(
                "Not created",
                "<error>Device was not created</error><message>Description is longer than 255 characters</message>",
            ),
        ),
    )
)
class DeviceCreateView(MorAPIView):
    call = "device_create"
    denied = DONT_BE_SO_SMART

    def respond(self, params):
        check_hash(params, self.call)
        values = services.DeviceInput(
            description=params.get("description"),
            pin=params.get("pin"),
            type=params.get("type"),
            devicegroup_id=params.get("devicegroup_id"),
            caller_id=params.get("caller_id"),
        )
        mor = services.mor_device_create(
            login=params.get("u") or "", raw_user_id=params.get("user_id") or "", values=values
        )
        return xml_page(
            [("status", CREATED), ("id", mor.device_id), ("username", mor.username), ("password", mor.secret)]
        )


# -- devices_get --------------------------------------------------------------------------------------------


def callerid(line: MorDevice) -> str:
    """The caller id as the softswitch writes it: `"name" <number>`, or `<number>` without a name."""
    if line.callerid_name:
        return f'"{line.callerid_name}" <{line.caller_id}>'
    return f"<{line.caller_id}>" if line.caller_id else ""


def address(line: MorDevice) -> tuple[str, str, int]:
    """host, ipaddr and port: an IP-authenticated line's own; a dynamic one never registered here."""
    if line.authentication == Authentication.IP:
        return line.host or "", line.host or "", line.port or 0
    return "dynamic", "0.0.0.0", 0  # noqa: S104 - the softswitch's "no address", not a socket bound to all


DEVICE_PROPERTIES = {
    "device_id": _text("The device's id."),
    "device_type": _text("SIP, PJSIP, IAX2, FAX, Virtual, H323, ZAP or Skype."),
    "devicegroup_id": _text("Its group."),
    "primary_device": _text("`yes` for the user's first device, `no` for the others."),
    "username": _text("The SIP login."),
    "secret": _text("The SIP secret."),
    "ipaddr": _text("The IP address of an IP-authenticated device; `0.0.0.0` for a dynamic one."),
    "port": _text("Its port; `0` for a dynamic one."),
    "callerid": _text('`"name" <number>`, `<number>`, or empty.'),
}


@extend_schema_view(
    post=extend_schema(
        operation_id="mor_devices_get",
        tags=[TAG],
        summary="devices_get (old name: device_list)",
        description=(
            "List a user's devices, in id order. Also answered at `device_list`, the call's old name. "
            "`hash` = SHA1(user_id + secret key). `show_hidden_devices=0` leaves hidden devices (device_update "
            "`hidden=1`) and blocked (banned) ones out; 1, the default, lists them all. Errors, in this order: GET "
            "Requests are disabled, Incorrect hash, Bad login (the caller may not manage devices), user_id is "
            "empty, User not found (not a user the caller manages). "
            f"{WIKI_EXAMPLE_NOTE} [Wiki page]({WIKI}MOR_API_devices_get)."
        ),
        **_request(
            DevicesGetSerializer,
            "Wiki example",
            {"u": "admin", "user_id": "100", "hash": "71516eea4850f7e0300ac86adf9fb64bca845aa7"},
            summary="user_id 100, secret 456789",
        ),
        responses=_xml_responses(
            _page(
                {
                    "devices": {
                        "type": "array",
                        "xml": {"wrapped": True},
                        "items": {"type": "object", "xml": {"name": "device"}, "properties": DEVICE_PROPERTIES},
                    }
                }
            ),
            _xml_example(
                "Devices",
                "<devices><device><device_id>25</device_id><device_type>SIP</device_type>"
                "<devicegroup_id>4</devicegroup_id><primary_device>yes</primary_device>"
                "<username>1000000025</username><secret>s3cr3t-pa55</secret><ipaddr>0.0.0.0</ipaddr><port>0</port>"
                "<callerid>&lt;37060000000&gt;</callerid></device><device><device_id>26</device_id>"
                "<device_type>IAX2</device_type><devicegroup_id>4</devicegroup_id><primary_device>no</primary_device>"
                "<username>1000000026</username><secret>an0ther-s3cr3t</secret><ipaddr>192.168.5.20</ipaddr>"
                '<port>5060</port><callerid>"Office" &lt;37060000001&gt;</callerid></device></devices>',
            ),
            INCORRECT_HASH_EXAMPLE,
            _xml_example("Bad login", "<error>Bad login</error>"),
            _xml_example("user_id is empty", "<error>user_id is empty</error>"),
            _xml_example("User not found", "<error>User not found</error>"),
        ),
    )
)
class DevicesGetView(MorAPIView):
    call = "devices_get"
    denied = BAD_LOGIN

    def respond(self, params):
        caller = self.authorize(params)
        if not params.get("user_id"):
            raise MorError(USER_ID_EMPTY)
        user = managed_user(caller, params["user_id"], not_found=USER_NOT_FOUND_SHORT)
        show_hidden = params.get("show_hidden_devices") or "1"
        if show_hidden not in ("0", "1"):
            raise MorError("show_hidden_devices must be 0 or 1")
        lines, primary = services.mor_devices_of(user, show_hidden=show_hidden == "1")
        return xml_page([("devices", [("device", self.device(line, primary)) for line in lines])])

    @staticmethod
    def device(line: MorDevice, primary: int | None) -> list:
        _host, ipaddr, port = address(line)
        return [
            ("device_id", line.device_id),
            ("device_type", line.device.type),
            ("devicegroup_id", line.group_id),
            ("primary_device", "yes" if line.device_id == primary else "no"),
            ("username", line.username),
            ("secret", line.secret),
            ("ipaddr", ipaddr),
            ("port", port),
            ("callerid", callerid(line)),
        ]


@extend_schema(exclude=True)
class DeviceListView(DevicesGetView):
    """devices_get under its old name."""


# -- device_details_get -------------------------------------------------------------------------------------

DETAILS_PROPERTIES = {
    "id": _text("The device's id."),
    "name": _text("The SIP peer's name: its SIP login."),
    "host": _text("`dynamic`, or the IP address of an IP-authenticated device."),
    "secret": _text("The SIP secret."),
    "ipaddr": _text("The IP address of an IP-authenticated device; `0.0.0.0` for a dynamic one."),
    "port": _text("Its port; `0` for a dynamic one."),
    "accountcode": _text("The device's id, as the softswitch bills it."),
    "callerid": _text('`"name" <number>`, `<number>`, or empty.'),
    "extension": _text("Its extension, or empty."),
    "username": _text("The SIP login."),
    "device_type": _text("SIP, PJSIP, IAX2, FAX, Virtual, H323, ZAP or Skype."),
    "user_id": _text("The owner's id."),
    "devicegroup_id": _text("Its group."),
    "description": _text("Free text."),
    "pin": _text("Its pin, or empty."),
    "call_limit": _text("Simultaneous calls; 0 is unlimited."),
    "comment": _text("Free text."),
    "hidden": _text("1 when hidden, 0 otherwise."),
}


@extend_schema_view(
    post=extend_schema(
        operation_id="mor_device_details_get",
        tags=[TAG],
        summary="device_details_get",
        description=(
            "One device of a user the caller manages, its fields directly under `<page>` in the order of the wiki "
            "page (those the product keeps; `comment` and `hidden` last). Named by `device_id`, or by `device_u` "
            "(its SIP login) when no device_id is sent. `hash` = SHA1(device_id, device_u — each only when sent — "
            "then the secret key). Errors, in this order: GET Requests are disabled, Incorrect hash, Access Denied "
            "(the caller may not manage devices), Device was not found (no such device among the caller's "
            f"users'). {WIKI_EXAMPLE_NOTE} [Wiki page]({WIKI}MOR_API_device_details_get)."
        ),
        **_request(
            DeviceDetailsGetSerializer,
            "Wiki example",
            {"u": "admin", "device_id": "5", "hash": "65fd575c441513bd114b84c7dbdb01e0f2716d27"},
            summary="device_id 5, secret 456789",
        ),
        responses=_xml_responses(
            _page(DETAILS_PROPERTIES),
            _xml_example(
                "Device",
                "<id>5</id><name>101</name><host>dynamic</host><secret>vauvszef</secret><ipaddr>0.0.0.0</ipaddr>"
                '<port>0</port><accountcode>5</accountcode><callerid>"101" &lt;101&gt;</callerid>'
                "<extension>101</extension><username>101</username><device_type>IAX2</device_type>"
                "<user_id>2</user_id><devicegroup_id>4</devicegroup_id><description>Test Device #1</description>"
                "<pin>1234</pin><call_limit>0</call_limit><comment></comment><hidden>0</hidden>",
            ),
            INCORRECT_HASH_EXAMPLE,
            ACCESS_DENIED_EXAMPLE,
            NOT_FOUND_EXAMPLE,
        ),
    )
)
class DeviceDetailsGetView(MorAPIView):
    call = "device_details_get"

    def respond(self, params):
        caller = self.authorize(params)
        raw_id, username = params.get("device_id") or "", params.get("device_u") or ""
        line = services.mor_device_for(caller, raw_id=raw_id, username=username)
        host, ipaddr, port = address(line)
        return xml_page(
            [
                ("id", line.device_id),
                ("name", line.username),
                ("host", host),
                ("secret", line.secret),
                ("ipaddr", ipaddr),
                ("port", port),
                ("accountcode", line.device_id),
                ("callerid", callerid(line)),
                ("extension", line.extension or ""),
                ("username", line.username),
                ("device_type", line.device.type),
                ("user_id", line.device.account_id),
                ("devicegroup_id", line.group_id),
                ("description", line.description),
                ("pin", line.pin or ""),
                ("call_limit", line.call_limit),
                ("comment", line.comment),
                ("hidden", int(line.hidden)),
            ]
        )


# -- device_update ------------------------------------------------------------------------------------------


@extend_schema_view(
    post=extend_schema(
        operation_id="mor_device_update",
        tags=[TAG],
        summary="device_update",
        description=(
            "Change what is sent of a device of a user the caller manages. `hash` = SHA1(device, authentication, "
            "username, host, port — each only when sent and not empty — then the secret key); the other fields "
            "are not signed. Kept: `authentication` (0 dynamic with `username`/`password`, 1 by IP with `host` "
            "and `port`), `username`, `password`, `description`, `pin`, `callerid_number`, `callerid_name` (with "
            "`allow_empty_callerid`), `extension`, `hidden`, `comment`, `call_limit`; device_details_get and "
            "devices_get read them back. Any other field of the wiki page (`new_location_id`, `trunk`, "
            "`language`, `fromuser`, ...) is accepted and not kept. Errors, in this order: GET Requests are "
            "disabled, Incorrect hash, Access Denied (the caller may not manage devices), Device was not found, "
            "Pin must be numeric, Pin is already used, You are not authorized to manage callerid, Device was not "
            "updated (with a `<message>` per reason: a value out of its range, a username or extension another "
            f"device has, ...). {WIKI_EXAMPLE_NOTE} [Wiki page]({WIKI}MOR_API_device_update)."
        ),
        **_request(
            DeviceUpdateSerializer,
            "Wiki example",
            {
                "u": "admin",
                "device": "51",
                "authentication": "1",
                "host": "192.168.5.20",
                "port": "5060",
                "hash": "c4928cda712b5e5e7622ee2186f01fa0e05ddc3c",
            },
            summary="Device 51 to IP authentication, secret 456789",
        ),
        responses=_xml_responses(
            _page({"status": {"type": "object", "properties": {"success": _text("`Device successfully updated`.")}}}),
            _xml_example(
                "Device successfully updated", "<status><success>Device successfully updated</success></status>"
            ),
            INCORRECT_HASH_EXAMPLE,
            ACCESS_DENIED_EXAMPLE,
            NOT_FOUND_EXAMPLE,
            _xml_example(
                "Not updated",
                "<error>Device was not updated</error><message>Port must be a number from 1 to 65535</message>",
            ),
        ),
    )
)
class DeviceUpdateView(MorAPIView):
    call = "device_update"

    def respond(self, params):
        caller = self.authorize(params)
        if not params.get("device"):
            raise MorError(DEVICE_NOT_FOUND)
        services.mor_device_update(
            caller=caller,
            raw_id=params["device"],
            changes=services.DeviceChanges.from_params(params),
            actor=self.actor(caller),
        )
        return xml_page([("status", [("success", UPDATED)])])


# -- device_delete ------------------------------------------------------------------------------------------


@extend_schema_view(
    post=extend_schema(
        operation_id="mor_device_delete",
        tags=[TAG],
        summary="device_delete (old name: device_destroy)",
        description=(
            "Remove a device of a user the caller manages: its SIP line is deleted (its pin, login and extension "
            "are free again) and the device leaves its user through the usual deactivation. Also answered at "
            "`device_destroy`, the call's old name. `hash` = SHA1(device + secret key). Errors, in this order: "
            "GET Requests are disabled, Incorrect hash, Access Denied (the caller may not manage devices, or no "
            f"`device` sent), Device was not found. {WIKI_EXAMPLE_NOTE} [Wiki page]({WIKI}MOR_API_device_delete)."
        ),
        **_request(
            DeviceDeleteSerializer,
            "Wiki example",
            {"u": "admin", "device": "123", "hash": "f7c3bc1d808e04732adf679965ccc34ca7ae3441"},
            summary="device 123, secret 456789",
        ),
        responses=_xml_responses(
            _page({"status": _text("`Device was deleted`.")}),
            _xml_example("Device was deleted", "<status>Device was deleted</status>"),
            INCORRECT_HASH_EXAMPLE,
            ACCESS_DENIED_EXAMPLE,
            NOT_FOUND_EXAMPLE,
        ),
    )
)
class DeviceDeleteView(MorAPIView):
    call = "device_delete"

    def respond(self, params):
        caller = self.authorize(params)
        if not params.get("device"):
            raise MorError(ACCESS_DENIED)  # the page: "... or params id not send"
        services.mor_device_delete(caller=caller, raw_id=params["device"], actor=self.actor(caller))
        return xml_page([("status", DELETED)])


@extend_schema(exclude=True)
class DeviceDestroyView(DeviceDeleteView):
    """device_delete under its old name."""
