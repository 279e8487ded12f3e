"""The POST of one delivery, safe against server-side request forgery.

A merchant chooses the URL, so it must not reach what the gateway can reach
and the merchant cannot: the cloud's metadata service, the database, Redis, a
private network. In production: https only, and every address the host
resolves to must be a public one. The host is resolved once per attempt, every
address is checked, and the connection goes to a checked address (urllib3 to
the IP, with the host name for SNI, the certificate check and the Host
header): a DNS answer that changes between the check and the connection
(DNS rebinding) is never asked for. No redirect is followed, no proxy from the
environment is used, and the whole attempt has one deadline.

WEBHOOK_ALLOW_LOCAL_URLS (development) also allows http and loopback or
private addresses; link-local ones (169.254.0.0/16, fe80::/10: cloud metadata)
never.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import NewConnectionError

USER_AGENT = "payment-gateway-webhooks/1"
# A name may resolve to many addresses: try this many at most, within the deadline.
_ADDRESSES_TRIED = 3
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
# Deprecated site-local IPv6 (RFC 3879): Python counts it global; it is not.
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
logger = logging.getLogger("payments.webhooks")


class UrlNotAllowed(Exception):
    """The URL, or an address its host resolves to, is not one deliveries may go to."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    duration_ms: int
    error: str = ""  # empty: a 2xx answer

    @property
    def ok(self) -> bool:
        return not self.error


def url_target(url: str, *, allow_local: bool) -> Target:
    """The URL's parts, or UrlNotAllowed. A host given as an address is checked
    here; a name is checked when it is resolved (address_check), at each attempt."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UrlNotAllowed(f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (allow_local and scheme == "http"):
        raise UrlNotAllowed("the URL must start with https://")
    if parts.username is not None or parts.password is not None:
        raise UrlNotAllowed("the URL must not hold a user name or password")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlNotAllowed("the URL has no host")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        address_check(literal, allow_local=allow_local)
    elif not allow_local and (host == "localhost" or host.endswith(".localhost")):
        raise UrlNotAllowed("localhost is not allowed")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80), path=path)


def address_check(address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_local: bool) -> None:
    """Raises UrlNotAllowed unless a delivery may connect to this address."""
    original = address
    if address.version == 6:
        # An IPv6 address that carries an IPv4 one reaches that one: check it.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.teredo is not None:
            raise UrlNotAllowed(f"{original} is a Teredo address")
        if embedded is not None:
            address = embedded
    if address.is_link_local:
        raise UrlNotAllowed(f"{original} is link-local (never allowed)")
    if address.is_multicast or address.is_unspecified or (address.version == 4 and address in _THIS_NETWORK):
        raise UrlNotAllowed(f"{original} is not a unicast address")
    if address.is_loopback:
        if allow_local:
            return
        raise UrlNotAllowed(f"{original} is a loopback address")
    if address.is_reserved:
        raise UrlNotAllowed(f"{original} is a reserved address")
    if address.is_private and allow_local:
        return
    if address.is_private or not address.is_global or (address.version == 6 and address in _SITE_LOCAL):
        raise UrlNotAllowed(f"{original} is a private address")


def resolve(target: Target, *, allow_local: bool) -> list[str]:
    """Every address of the host, each checked: one refused address refuses the
    URL (a name that answers public and private addresses is not trusted)."""
    try:
        literal = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        return [str(literal)]
    try:
        infos = socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise LookupError(f"DNS: {target.host} does not resolve ({exc})") from None
    addresses: list[str] = []
    for _, _, _, _, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        address_check(address, allow_local=allow_local)
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise LookupError(f"DNS: {target.host} has no address")
    return addresses


_context: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    global _context
    if _context is None:
        _context = ssl.create_default_context()  # certificates and host names checked
    return _context


def webhook_post(
    *, url: str, body: bytes, headers: dict[str, str], timeout: float, allow_local: bool
) -> PostResult:
    """POSTs body to url. Never raises for what the network or the receiver does:
    the outcome is a PostResult, a failure unless the answer was a 2xx."""
    started = time.monotonic()

    def done(status_code: int | None, error: str = "", detail: str = "") -> PostResult:
        # The merchant reads `error` in the delivery log: a category only. What
        # an address resolved to, or why it was refused, would let a merchant
        # map internal names and ports through the gateway; that stays in our log.
        if detail:
            logger.info("Webhook to %s not delivered: %s", url_for_log(url), detail)
        return PostResult(status_code, int((time.monotonic() - started) * 1000), error[:300])

    try:
        target = url_target(url, allow_local=allow_local)
        addresses = resolve(target, allow_local=allow_local)
    except UrlNotAllowed as exc:
        return done(None, "URL not allowed", f"URL not allowed: {exc}")
    except LookupError as exc:
        return done(None, "DNS lookup failed", str(exc))
    error = ""
    for address in addresses[:_ADDRESSES_TRIED]:
        remaining = timeout - (time.monotonic() - started)
        if remaining <= 0:
            return done(None, f"timeout after {timeout:g} s")
        try:
            status = _post_to(address, target, body=body, headers=headers, timeout=remaining)
        except NewConnectionError as exc:  # refused or unreachable: the next address may answer
            error = f"connection to {address} failed: {_reason(exc)}"
            continue
        except _DeadlinePassed:
            return done(None, f"timeout after {timeout:g} s")
        except TimeoutError:
            return done(None, f"timeout after {timeout:g} s")
        except ssl.SSLError as exc:
            return done(None, "TLS handshake failed", f"TLS: {_reason(exc)}")
        except Exception as exc:  # urllib3 and http.client raise many types; all mean "not delivered"
            return done(None, "connection failed", f"{type(exc).__name__}: {_reason(exc)}")
        if 200 <= status < 300:
            return done(status)
        if 300 <= status < 400:
            return done(status, f"HTTP {status}: a redirect, not followed")
        return done(status, f"HTTP {status}")
    return done(None, "connection failed", error)


def url_for_log(url: str) -> str:
    """A merchant's URL without its query or fragment (a token may ride there)."""
    return url.split("?", 1)[0].split("#", 1)[0]


class _DeadlinePassed(Exception):
    pass


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc) or type(exc).__name__


def _post_to(address: str, target: Target, *, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """One request to one checked address; the status code. A watchdog closes
    the socket at the deadline, so that a receiver trickling its answer a
    byte at a time cannot hold the sender past it."""
    if target.scheme == "https":
        conn: HTTPConnection = HTTPSConnection(
            address,
            target.port,
            timeout=timeout,
            server_hostname=target.host,
            assert_hostname=target.host,
            ssl_context=_ssl_context(),
        )
    else:
        conn = HTTPConnection(address, target.port, timeout=timeout)
    expired = threading.Event()

    def close_at_deadline() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(timeout, close_at_deadline)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request(
            "POST",
            target.path,
            body=body,
            headers={
                "Host": target.host_header,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                **headers,
            },
        )
        response = conn.getresponse()
        return response.status
    except Exception:
        if expired.is_set():
            raise _DeadlinePassed() from None
        raise
    finally:
        watchdog.cancel()
        conn.close()
