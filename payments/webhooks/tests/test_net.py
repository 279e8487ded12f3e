"""The SSRF rules of a delivery's POST: what production refuses, what
development allows, and that the connection goes to the address checked."""

from __future__ import annotations

import socket

import pytest
import urllib3.util.connection

from payments.webhooks import net

pytestmark = pytest.mark.fast

ALWAYS_REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/",
    "https://[fe80::1]/hooks",
    "https://[::ffff:169.254.169.254]/hooks",
    "https://0.0.0.0/hooks",
    "https://[::]/hooks",
    "https://224.0.0.1/hooks",
]
REFUSED_IN_PRODUCTION = [
    "https://10.1.2.3/hooks",
    "https://192.168.1.1/hooks",
    "https://172.16.0.1/hooks",
    "https://127.0.0.1/hooks",
    "https://127.8.9.10/hooks",
    "https://[::1]/hooks",
    "https://[::ffff:127.0.0.1]/hooks",
    "https://[::ffff:10.0.0.1]/hooks",
    "https://[fd00::1]/hooks",
    "https://100.64.0.1/hooks",
    "https://localhost/hooks",
    "http://example.com/hooks",
    "https://user:pw@example.com/hooks",
    "ftp://example.com/hooks",
    "https:///hooks",
]


@pytest.mark.reliability(
    "Merchant integration",
    "Webhook URLs are SSRF-safe: link-local always refused, private and http refused in production, the "
    "connection goes to the address checked (DNS rebinding), redirects not followed",
)
@pytest.mark.parametrize("url", ALWAYS_REFUSED + REFUSED_IN_PRODUCTION)
def test_production_refuses(url):
    with pytest.raises(net.UrlNotAllowed):
        net.url_target(url, allow_local=False)


@pytest.mark.reliability(
    "Merchant integration",
    "Webhook URLs are SSRF-safe: link-local always refused, private and http refused in production, the "
    "connection goes to the address checked (DNS rebinding), redirects not followed",
)
@pytest.mark.parametrize("url", ALWAYS_REFUSED)
def test_link_local_and_non_unicast_addresses_are_refused_even_in_development(url):
    with pytest.raises(net.UrlNotAllowed):
        net.url_target(url, allow_local=True)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/hooks", "http://localhost/hooks", "http://[::1]/x", "http://10.0.0.5/x"]
)
def test_development_allows_http_and_local_addresses(url):
    assert net.url_target(url, allow_local=True).host


def test_a_public_https_url_is_allowed():
    target = net.url_target("https://Hooks.Example.com:8443/in?x=1", allow_local=False)
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.com",
        8443,
        "/in?x=1",
    )
    assert target.host_header == "hooks.example.com:8443"


@pytest.fixture
def fake_dns(monkeypatch):
    """Answers for the names in `answers` (each a list: one address per lookup,
    the last repeated); every other lookup as the system would. Counts lookups."""
    real = socket.getaddrinfo
    answers: dict[str, list[str]] = {}
    lookups: dict[str, int] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups[host] = lookups.get(host, 0) + 1
        queue = answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


@pytest.fixture
def no_connection(monkeypatch):
    """Records where urllib3 would connect, and refuses: nothing leaves the machine."""
    attempts: list[tuple] = []

    def create_connection(address, *args, **kwargs):
        attempts.append(address)
        raise ConnectionRefusedError("refused by the test")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    return attempts


def _post(url: str, *, allow_local: bool) -> net.PostResult:
    return net.webhook_post(url=url, body=b"{}", headers={}, timeout=2, allow_local=allow_local)


def test_a_name_that_resolves_to_a_private_address_is_refused_without_connecting(
    fake_dns, no_connection, caplog
):
    answers, _ = fake_dns
    answers["internal.example"] = ["10.0.0.7"]

    result = _post("https://internal.example/hooks?token=t0p", allow_local=False)

    # The merchant reads a category; the address it resolved to stays in our log,
    # without the URL's query.
    assert not result.ok and result.error == "URL not allowed" and "10.0.0.7" not in result.error
    assert "10.0.0.7" in caplog.text and "t0p" not in caplog.text
    assert no_connection == []


def test_a_name_with_one_private_address_among_public_ones_is_refused(fake_dns, no_connection, monkeypatch):
    real = socket.getaddrinfo

    def two_answers(host, port, *args, **kwargs):
        if host == "mixed.example":
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port)),
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", two_answers)

    assert _post("https://mixed.example/", allow_local=False).error == "URL not allowed"
    assert no_connection == []


def test_site_local_ipv6_is_refused():
    import ipaddress

    with pytest.raises(net.UrlNotAllowed):
        net.address_check(ipaddress.ip_address("fec0::1"), allow_local=False)


@pytest.mark.reliability(
    "Merchant integration",
    "Webhook URLs are SSRF-safe: link-local always refused, private and http refused in production, the "
    "connection goes to the address checked (DNS rebinding), redirects not followed",
)
def test_dns_rebinding_the_connection_goes_to_the_address_that_was_checked(fake_dns, no_connection):
    # A public answer for the check, then loopback for anyone who would ask again.
    answers, lookups = fake_dns
    answers["rebind.example"] = ["93.184.216.34", "127.0.0.1"]

    result = _post("https://rebind.example/hooks", allow_local=False)

    assert not result.ok  # the test refused the connection: nothing left the machine
    assert lookups["rebind.example"] == 1
    assert [address[0] for address in no_connection] == ["93.184.216.34"]


def test_dns_rebinding_end_to_end_in_development(fake_dns, receiver, settings):
    # Development allows loopback: the first answer is the receiver; the next
    # would be the cloud's metadata address, and is never asked for.
    answers, lookups = fake_dns
    answers["rebind.example"] = ["127.0.0.1", "169.254.169.254"]
    port = receiver.server.server_address[1]

    result = net.webhook_post(
        url=f"http://rebind.example:{port}/hooks",
        body=b'{"a":1}',
        headers={"webhook-id": "x"},
        timeout=5,
        allow_local=True,
    )

    assert result.ok, result.error
    assert lookups["rebind.example"] == 1
    [request] = receiver.requests
    assert request["headers"]["host"] == f"rebind.example:{port}"
    assert request["body"] == b'{"a":1}'


def test_a_receiver_that_never_answers_times_out(silent_port):
    result = net.webhook_post(
        url=f"http://127.0.0.1:{silent_port}/", body=b"{}", headers={}, timeout=0.5, allow_local=True
    )
    assert not result.ok and result.error.startswith("timeout") and result.status_code is None


def test_an_ipv4_mapped_address_is_checked_as_the_ipv4_one():
    with pytest.raises(net.UrlNotAllowed, match="link-local"):
        net.url_target("https://[::ffff:a9fe:a9fe]/", allow_local=True)
