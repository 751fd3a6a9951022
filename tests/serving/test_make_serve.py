"""`make serve` itself: it refuses to start without its secrets, and a signal stops all of it."""

import os
import signal
import subprocess
import time

import pytest

from tests.serving.stack import (
    NGINX,
    ROOT,
    alive,
    command_line,
    free_port,
    port_open,
    requires_nginx,
    stack_environment,
    start_stack,
)

pytestmark = requires_nginx


@pytest.mark.parametrize("missing", ["DATABASE_URL", "DJANGO_SECRET_KEY"])
def test_make_serve_refuses_to_start_without_its_secrets(serving_database_url, missing, tmp_path):
    environment = stack_environment(serving_database_url)
    del environment[missing]
    port = free_port()
    done = subprocess.run(
        ["make", "-s", "serve", f"PORT={port}", f"SERVE_DIR={tmp_path}", "SERVE_HOST=127.0.0.1", f"NGINX={NGINX}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert f"make serve: Set {missing}" in done.stderr
    assert not port_open(port)


@pytest.mark.parametrize(
    "how",
    [
        "SIGTERM to make",  # a supervisor, a container runtime
        "Ctrl-C",  # a terminal sends SIGINT to its foreground process group: make and deploy/serve.py
    ],
)
def test_a_signal_stops_nginx_and_gunicorn_and_leaves_nothing_running(serving_database_url, how):
    # given: a running stack, every process of it
    stack = start_stack(serving_database_url)
    processes = stack.descendants()
    names = " ".join(command_line(pid) for pid in processes)
    assert "nginx: master" in names and "nginx: worker" in names and "gunicorn" in names
    assert "manage.py deliver_webhooks" in names
    # when
    if how == "Ctrl-C":
        os.killpg(stack.process.pid, signal.SIGINT)
    else:
        os.kill(stack.process.pid, signal.SIGTERM)
    stack.process.wait(timeout=60)
    # then
    assert "make serve: stopped" in stack.output()
    assert [pid for pid in processes if alive(pid)] == []
    assert not port_open(stack.port)
    assert not stack.socket_path.exists()


def test_the_webhook_sender_is_started_again_and_the_site_goes_on(serving_database_url):
    # given
    stack = start_stack(serving_database_url)
    sender = stack.webhook_sender()
    # when
    os.kill(sender, signal.SIGKILL)
    # then: a new sender, and the stack still serving
    deadline = time.monotonic() + 30
    while "deliver_webhooks exited with -9: starting it again" not in stack.output() or not _new_sender(stack, sender):
        assert time.monotonic() < deadline, stack.output()
        time.sleep(0.2)
    assert stack.process.poll() is None
    assert port_open(stack.port)
    stack.stop()


def _new_sender(stack, old: int) -> bool:
    try:
        return stack.webhook_sender() != old
    except StopIteration:
        return False


def test_a_stack_stops_when_gunicorn_dies_and_says_so(serving_database_url):
    # given
    stack = start_stack(serving_database_url)
    processes = stack.descendants()
    # when: gunicorn's master is gone (its workers follow it)
    os.kill(stack.gunicorn_master(), signal.SIGKILL)
    # then: make serve stops nginx too and fails, for a supervisor to start it again
    assert stack.process.wait(timeout=60) != 0
    assert "make serve: gunicorn exited with -9: stopping" in stack.output()
    assert [pid for pid in processes if alive(pid)] == []
    assert not port_open(stack.port)
