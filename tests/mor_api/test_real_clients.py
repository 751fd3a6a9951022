"""MOR clients' requests, replayed byte for byte over a real HTTP connection, with their whole answers compared.

Sources:

- The public Laravel client CODEIQBV/laravel-kolmisoft (`src/Api/BaseApi.php`, `src/Api/Device.php`, its
  `WIKI/device.md` examples). `sendRequest()` adds `u` and the password `p` to every call, `generateHash()`
  joins the values of the call's hash keys that are set (`isset`) and the secret, and Laravel's
  `Http::post($url, $params)` sends the array as JSON (`json_encode`: integers stay integers, keys in the order
  they were set) with `Content-Type: application/json`. Guzzle's curl handler adds `User-Agent: GuzzleHttp/7`
  and suppresses curl's `Accept`. It reads `status`, `id`, `username`, `password` of device_create,
  `status/success` of device_update, `status` of device_delete, `devices` of devices_get, the page of
  device_details_get, and `error` (or `status/error`) when a call fails.
- Kolmisoft's wiki pages: each call's "We send: HTML POST: http://<SERVER_IP>/billing/api/...?..." request,
  signed with the pages' secret 456789 (curl -X POST: the parameters in the query string, no body).
- A provisioning script posting form fields with curl (`curl -d u=admin -d ...`).
"""

import hashlib
import http.client
import json
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest

from devices.choices import AccountRole
from mor_api.models import MorDevice
from tests.factories import AccountFactory, MorDeviceFactory
from tests.mor_api.conftest import SECRET

pytestmark = pytest.mark.django_db(transaction=True)

HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
LARAVEL_PASSWORD = "laravel-pa55"  # config('kolmisoft.password'): sent as `p`, never checked (the hash is)


@dataclass
class Answer:
    status: int
    content_type: str
    body: str

    @property
    def page(self) -> ElementTree.Element:
        return ElementTree.fromstring(self.body.encode())


def exchange(live_server, request: bytes) -> Answer:
    """Send the request's bytes on a new connection and read one answer."""
    url = urlsplit(live_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as connection:
        connection.sendall(request)
        response = http.client.HTTPResponse(connection)
        response.begin()
        body = response.read()
    return Answer(response.status, response.headers["Content-Type"], body.decode("utf-8"))


def assert_page(answer: Answer, expected_page: str) -> None:
    assert (answer.status, answer.content_type) == (200, "text/xml; charset=utf-8")
    assert answer.body == HEAD + expected_page


# -- the Laravel client ---------------------------------------------------------------------------------------


def laravel(live_server, endpoint: str, params: dict, hash_keys: list[str]) -> bytes:
    """The request CODEIQBV/laravel-kolmisoft sends for `params` (in the order the client sets them)."""
    params = {**params, "u": "admin"}  # Device::*(): $params['u'] = config('kolmisoft.username')
    joined = "".join(str(params[key]) for key in hash_keys if params.get(key) is not None)  # isset()
    params["hash"] = hashlib.sha1((joined + SECRET).encode()).hexdigest()  # noqa: S324 - the protocol's hash
    params["p"] = LARAVEL_PASSWORD  # BaseApi::sendRequest(): u is set already, p is new, hash is replaced
    body = json.dumps(params, separators=(",", ":")).encode()  # json_encode(): compact, \uXXXX for non-ASCII
    return (
        f"POST /billing/api/{endpoint} HTTP/1.1\r\n"
        f"Host: {urlsplit(live_server.url).netloc}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "User-Agent: GuzzleHttp/7\r\n"
        "Content-Type: application/json\r\n"
        "\r\n"
    ).encode() + body


def test_the_laravel_client_creates_updates_lists_reads_and_deletes_a_device(live_server, settings):
    # given: the MOR admin and user 2, as in the seed and the client's examples
    settings.DEVICE_DEACTIVATION_SECONDS = 0
    AccountFactory(pk=1, login="admin", role=AccountRole.ADMIN)
    user = AccountFactory(pk=2, login="user2@example.com")

    # createDevice(2, ['description' => 'description1', 'pin' => 3, 'type' => 'SIP'])
    request = laravel(
        live_server,
        "device_create",
        {"description": "description1", "pin": 3, "type": "SIP", "u": "admin", "user_id": 2},
        ["user_id", "description", "pin", "type", "devicegroup_id", "caller_id"],
    )
    assert request.endswith(  # sha1("2" "description1" "3" "SIP" "secret")
        b'{"description":"description1","pin":3,"type":"SIP","u":"admin","user_id":2,'
        b'"hash":"5cfd475509c75d6fb316a9f595228f982be48ca9","p":"laravel-pa55"}'
    )
    created = exchange(live_server, request)
    line = MorDevice.objects.get()
    assert_page(
        created,
        f"<page><status>Device created</status><id>{line.device_id}</id><username>{line.username}</username>"
        f"<password>{line.secret}</password></page>",
    )
    device = line.device_id

    # updateDevice($id, ['new_location_id' => 7, 'authentication' => 1, 'host' => '192.168.5.20', 'port' => 5060])
    request = laravel(
        live_server,
        "device_update",
        {
            "new_location_id": 7,
            "authentication": 1,
            "host": "192.168.5.20",
            "port": 5060,
            "u": "admin",
            "device": device,
        },
        ["device", "authentication", "username", "host", "port"],
    )
    assert_page(
        exchange(live_server, request), "<page><status><success>Device successfully updated</success></status></page>"
    )

    # getDevices(2): show_hidden_devices 1
    request = laravel(live_server, "devices_get", {"u": "admin", "user_id": 2, "show_hidden_devices": 1}, ["user_id"])
    assert_page(
        exchange(live_server, request),
        f"<page><devices><device><device_id>{device}</device_id><device_type>SIP</device_type>"
        f"<devicegroup_id>{line.group_id}</devicegroup_id><primary_device>yes</primary_device>"
        f"<username>{line.username}</username><secret>{line.secret}</secret><ipaddr>192.168.5.20</ipaddr>"
        "<port>5060</port><callerid></callerid></device></devices></page>",
    )

    # getDeviceDetails($id)
    request = laravel(live_server, "device_details_get", {"u": "admin", "device_id": device}, ["device_id"])
    assert_page(
        exchange(live_server, request),
        f"<page><id>{device}</id><name>{line.username}</name><host>192.168.5.20</host><secret>{line.secret}</secret>"
        f"<ipaddr>192.168.5.20</ipaddr><port>5060</port><accountcode>{device}</accountcode><callerid></callerid>"
        f"<extension></extension><username>{line.username}</username><device_type>SIP</device_type>"
        f"<user_id>{user.pk}</user_id><devicegroup_id>{line.group_id}</devicegroup_id>"
        "<description>description1</description><pin>3</pin><call_limit>0</call_limit><comment></comment>"
        "<hidden>0</hidden></page>",
    )

    # deleteDevice($id): the client returns (string) $response->status
    request = laravel(live_server, "device_delete", {"u": "admin", "device": device}, ["device"])
    deleted = exchange(live_server, request)
    assert_page(deleted, "<page><status>Device was deleted</status></page>")
    assert deleted.page.findtext("status") == "Device was deleted"
    assert not MorDevice.objects.exists()

    # its error path: handleError() matches the texts literally
    gone = exchange(live_server, laravel(live_server, "device_delete", {"u": "admin", "device": device}, ["device"]))
    assert_page(gone, "<page><error>Device was not found</error></page>")


# -- the wiki's own requests ------------------------------------------------------------------------------------


def curl_post(live_server, path_and_query: str, *, body: bytes = b"", form: bool = False) -> bytes:
    """What `curl -X POST URL` (or `curl -d ... URL`) sends."""
    head = (
        f"POST {path_and_query} HTTP/1.1\r\n"
        f"Host: {urlsplit(live_server.url).netloc}\r\n"
        "User-Agent: curl/7.88.1\r\n"
        "Accept: */*\r\n"
    )
    if form:
        head += f"Content-Length: {len(body)}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    return (head + "\r\n").encode() + body


@pytest.fixture
def wiki_world(settings):
    """What the wiki pages' examples assume: secret 456789, user 100, devices 5 and 123 (and 51 of device_update)."""
    settings.MOR_API_SECRET_KEY = "456789"
    settings.DEVICE_DEACTIVATION_SECONDS = 0
    AccountFactory(login="admin", role=AccountRole.ADMIN)
    user = AccountFactory(pk=100, login="user100@example.com")
    return {
        pk: MorDeviceFactory(device__pk=pk, device__account=user, pin=str(pk), description=f"Device #{pk}")
        for pk in (5, 51, 123)
    }


def test_the_wikis_devices_get_request(live_server, wiki_world):
    request = curl_post(
        live_server, "/billing/api/devices_get?u=admin&user_id=100&hash=71516eea4850f7e0300ac86adf9fb64bca845aa7"
    )
    devices = "".join(
        f"<device><device_id>{pk}</device_id><device_type>SIP</device_type><devicegroup_id>{line.group_id}"
        f"</devicegroup_id><primary_device>{'yes' if pk == 5 else 'no'}</primary_device><username>{line.username}"
        f"</username><secret>{line.secret}</secret><ipaddr>0.0.0.0</ipaddr><port>0</port><callerid></callerid>"
        "</device>"
        for pk, line in wiki_world.items()
    )
    assert_page(exchange(live_server, request), f"<page><devices>{devices}</devices></page>")


def test_the_wikis_device_details_get_request(live_server, wiki_world):
    line = wiki_world[5]
    request = curl_post(
        live_server, "/billing/api/device_details_get?u=admin&device_id=5&hash=65fd575c441513bd114b84c7dbdb01e0f2716d27"
    )
    assert_page(
        exchange(live_server, request),
        f"<page><id>5</id><name>{line.username}</name><host>dynamic</host><secret>{line.secret}</secret>"
        f"<ipaddr>0.0.0.0</ipaddr><port>0</port><accountcode>5</accountcode><callerid></callerid><extension>"
        f"</extension><username>{line.username}</username><device_type>SIP</device_type><user_id>100</user_id>"
        f"<devicegroup_id>{line.group_id}</devicegroup_id><description>Device #5</description><pin>5</pin>"
        "<call_limit>0</call_limit><comment></comment><hidden>0</hidden></page>",
    )


def test_the_wikis_device_update_request(live_server, wiki_world):
    # the page's "Change Username/Password authenticated Device to IP authenticated Device" (hash XXXX there)
    query = "u=admin&device=51&authentication=1&host=192.168.5.20&port=5060"
    signature = hashlib.sha1(b"511192.168.5.205060456789").hexdigest()  # noqa: S324
    assert signature == "c4928cda712b5e5e7622ee2186f01fa0e05ddc3c"  # as /api/docs/ shows it
    answer = exchange(live_server, curl_post(live_server, f"/billing/api/device_update?{query}&hash={signature}"))
    assert_page(answer, "<page><status><success>Device successfully updated</success></status></page>")
    line = MorDevice.objects.get(device_id=51)
    assert (line.authentication, line.host, line.port) == (1, "192.168.5.20", 5060)


@pytest.mark.parametrize(
    "path_and_query",
    [
        # the current page
        "/billing/api/device_delete?u=admin&device=123&hash=f7c3bc1d808e04732adf679965ccc34ca7ae3441",
        # the 2012 page, to the old name, with the password it sent then (ignored: the hash authenticates)
        "/billing/api/device_destroy?u=admin&p=admin&device=123&hash=f7c3bc1d808e04732adf679965ccc34ca7ae3441",
    ],
    ids=["device_delete", "device_destroy"],
)
def test_the_wikis_device_delete_request(live_server, wiki_world, path_and_query):
    assert_page(
        exchange(live_server, curl_post(live_server, path_and_query)),
        "<page><status>Device was deleted</status></page>",
    )
    assert sorted(MorDevice.objects.values_list("device_id", flat=True)) == [5, 51]


# -- the seed and a form-posting script ---------------------------------------------------------------------


def test_the_seeds_query_string_post_and_a_form_post(live_server):
    # given: the MOR admin and user 2 (secret `secret`, the test settings')
    AccountFactory(pk=1, login="admin", role=AccountRole.ADMIN)
    AccountFactory(pk=2, login="user2@example.com")
    # the seed: HTML POST: http://<SERVER_IP>/billing/api/device_create?u=admin&user_id=2&description=desription1&...
    seed = curl_post(
        live_server,
        "/billing/api/device_create?u=admin&user_id=2&description=desription1&pin=3"
        "&hash=6e79d4a82f68102f43be11d873177f47817f84df",
    )
    answer = exchange(live_server, seed)
    line = MorDevice.objects.get()
    assert_page(
        answer,
        f"<page><status>Device created</status><id>{line.device_id}</id><username>{line.username}</username>"
        f"<password>{line.secret}</password></page>",
    )
    # curl -d u=admin -d user_id=2 -d hash=$(sign 2) .../devices_get
    signature = hashlib.sha1(b"2secret").hexdigest()  # noqa: S324
    form = curl_post(
        live_server, "/billing/api/devices_get", body=f"u=admin&user_id=2&hash={signature}".encode(), form=True
    )
    listed = exchange(live_server, form)
    assert (listed.status, listed.content_type) == (200, "text/xml; charset=utf-8")
    assert [d.findtext("device_id") for d in listed.page.iter("device")] == [str(line.device_id)]


@pytest.mark.parametrize("accept", [None, "text/xml", "application/xml", "*/*", "application/json", "text/html"])
def test_any_accept_header_gets_the_xml_page(live_server, accept):
    AccountFactory(login="admin", role=AccountRole.ADMIN)
    user = AccountFactory()
    signature = hashlib.sha1(f"{user.pk}secret".encode()).hexdigest()  # noqa: S324
    body = f"u=admin&user_id={user.pk}&hash={signature}".encode()
    request = curl_post(live_server, "/billing/api/devices_get", body=body, form=True)
    if accept is None:
        request = request.replace(b"Accept: */*\r\n", b"")
    else:
        request = request.replace(b"Accept: */*", f"Accept: {accept}".encode())
    assert_page(exchange(live_server, request), "<page><devices></devices></page>")
