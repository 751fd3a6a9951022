"""Connections through nginx: kept alive with clients, a worker lost mid-request, who the client is."""

import http.client
import json
import os
import pwd
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

from tests.conftest import REGISTRY_BODY
from tests.serving.stack import TRUSTED_PROXY, request, requires_nginx
from tests.serving.test_refusals import assert_protocol_error

pytestmark = requires_nginx

JSON = {"Content-Type": "application/json"}
# One request of each protocol, with its answer's status and a key or text it carries.
EACH_PROTOCOL = [
    ("GET", "/api/base/configs", None, 200, "device_management"),
    ("POST", "/api/v2/device", json.dumps(REGISTRY_BODY), 200, "ban_status"),
    ("POST", "/api/v1/billing/devices/check", "{}", 401, "Unauthenticated."),
    ("POST", "/api/v2/device/license/validate", "", 400, "statusCode"),
    ("POST", "/billing/api/device_create", "{}", 200, "<error>Incorrect hash</error>"),
]


def test_two_rounds_of_every_protocol_on_one_kept_alive_connection_are_all_answered(stack):
    # given: one connection, as a client that keeps it
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    connection.connect()
    sock = connection.sock
    # when: each protocol's request twice on it
    for method, path, body, status, carried in EACH_PROTOCOL * 2:
        connection.request(method, path, body=body, headers=JSON if body is not None else {})
        answer = connection.getresponse()
        text = answer.read().decode()
        # then: every one answered, on the same connection, which stays open
        assert (answer.status, carried in text) == (status, True), text
        assert answer.getheader("Connection") == "keep-alive"
        assert connection.sock is sock
    connection.close()


def blocked_on_the_device_table(database_url: str, count: int) -> bool:
    with psycopg.connect(database_url, autocommit=True) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()[0]
    return waiting >= count


def register(port: int, mac: str):
    body = json.dumps({**REGISTRY_BODY, "mac_address": mac}).encode()
    return request(port, "POST", "/api/v2/device", body, JSON, timeout=60)


def test_a_worker_killed_mid_request_costs_that_request_only(stack):
    # given: both workers held mid-request, each registering a device while a transaction locks the table
    workers = stack.gunicorn_workers()
    assert len(workers) == 2
    with psycopg.connect(stack.database_url) as lock, ThreadPoolExecutor(2) as pool:
        lock.execute("LOCK TABLE devices_device IN EXCLUSIVE MODE")
        held = [pool.submit(register, stack.port, mac) for mac in ("0A0000000001", "0A0000000002")]
        deadline = time.monotonic() + 30
        while not blocked_on_the_device_table(stack.database_url, 2):
            assert time.monotonic() < deadline, "the workers never reached the lock"
            time.sleep(0.05)
        # when: one worker is killed, then the lock is released
        os.kill(workers[0], signal.SIGKILL)
        while not any(future.done() for future in held):
            assert time.monotonic() < deadline, "nginx never answered the killed worker's request"
            time.sleep(0.05)
        lock.rollback()
        answers = sorted((future.result() for future in held), key=lambda answer: answer.status)
    # then: the killed worker's request is a 502 in the registry's envelope, the other one is served
    assert answers[0].status == 200
    assert_protocol_error(answers[1], "/api/v2/device", 502)
    # and the next requests are all served, a new worker in the killed one's place
    for i in range(10):
        answer = register(stack.port, f"0A00000001{i:02X}")
        assert (answer.status, answer.json()["message"]) == (200, "Success")
    deadline = time.monotonic() + 30
    while len(stack.gunicorn_workers()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert workers[0] not in stack.gunicorn_workers()


def test_the_client_s_address_is_the_peer_s_and_a_forwarded_one_only_from_a_trusted_proxy(stack):
    spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on"}
    # from a client: its own address, whatever it claims, and plain HTTP (no HSTS)
    direct = request(stack.port, "GET", "/api/base/configs", headers=spoofed)
    assert direct.json()["ip"] == "127.0.0.1"
    assert "Strict-Transport-Security" not in direct.headers
    # from the trusted proxy (TRUSTED_PROXIES): the client it names, and HTTPS as it says
    proxied = request(stack.port, "GET", "/api/base/configs", headers=spoofed, source=TRUSTED_PROXY)
    assert proxied.json()["ip"] == "203.0.113.9"
    assert proxied.headers["Strict-Transport-Security"].startswith("max-age=")
    # and nginx's own answers name the same client once it has read the headers; a 414 is made before that
    body = b" " * (2 * 1024 * 1024)
    refused = request(stack.port, "POST", "/api/v2/device", body, headers=spoofed, source=TRUSTED_PROXY)
    assert (refused.status, refused.json()["ip"]) == (413, "203.0.113.9")
    refused = request(stack.port, "GET", "/api/base/configs?" + "a" * 20_000, headers=spoofed, source=TRUSTED_PROXY)
    assert (refused.status, refused.json()["ip"]) == (414, TRUSTED_PROXY)


def test_a_trusted_proxy_s_request_id_is_kept_and_nginx_s_own_replaces_a_client_s_or_any_other(stack):
    sent = "0c2f1bd3-9ec5-4c67-a3a4-3b0a7b0a1e29"
    proxied = request(stack.port, "GET", "/healthz", headers={"X-Request-ID": sent}, source=TRUSTED_PROXY)
    assert proxied.headers["X-Request-ID"] == sent
    # a proxy's for a client it names: the app sees the client's address, and believes nginx's header
    forwarded = {"X-Request-ID": sent, "X-Forwarded-For": "203.0.113.9"}
    proxied = request(stack.port, "GET", "/api/base/configs", headers=forwarded, source=TRUSTED_PROXY)
    assert (proxied.json()["ip"], proxied.headers["X-Request-ID"]) == ("203.0.113.9", sent)
    for headers, source in [({"X-Request-ID": sent}, "127.0.0.1"), ({"X-Request-ID": "<script>"}, TRUSTED_PROXY)]:
        replaced = request(stack.port, "GET", "/healthz", headers=headers, source=source).headers["X-Request-ID"]
        assert len(replaced) == 32 and int(replaced, 16) >= 0


def test_a_client_s_request_id_never_reaches_the_audit_trail(stack):
    # given: a client that is no trusted proxy sends the request id of its choice
    sent = "0c2f1bd3-9ec5-4c67-a3a4-3b0a7b0a1e30"
    body = json.dumps({**REGISTRY_BODY, "mac_address": "0A0B0C0D0E30"}).encode()
    answer = request(stack.port, "POST", "/api/v2/device", body, {**JSON, "X-Request-ID": sent})
    # then: nginx's own id answers it, and it is the one the device's event records
    assert answer.status == 200
    assert answer.headers["X-Request-ID"] != sent
    with psycopg.connect(stack.database_url) as conn:
        recorded = conn.execute(
            "SELECT e.request_id FROM devices_deviceevent e JOIN devices_device d ON d.id = e.device_id "
            "WHERE d.mac = '0A0B0C0D0E30'"
        ).fetchall()
    assert recorded == [(answer.headers["X-Request-ID"],)]


def test_only_nginx_s_workers_can_reach_gunicorn_s_socket(stack):
    # gunicorn believes X-Forwarded-Proto from any peer of its unix socket, and the app X-Forwarded-For
    folder = stack.socket_path.parent.stat()
    if os.geteuid() == 0:  # nginx's workers run as nobody
        assert (folder.st_mode & 0o777, folder.st_gid) == (0o750, pwd.getpwnam("nobody").pw_gid)
    else:
        assert folder.st_mode & 0o777 == 0o700
