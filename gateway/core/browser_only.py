"""Browser-only middleware, not run for the API (issue #28's lean API path).

The API authenticates each request with its key and keeps no session: the
session, CSRF, user, second-factor and messages middleware do nothing for it
but cost time (loading a session, reading cookies, a lazy user, the messages
store on the way out). Each class here is the framework's own, run only when
the path is not under /api/. The admin, the hosted payment page (/pay/) and
the MFA pages keep all of them. The API never reads `request.session` or
Django's `request.user` (DRF authenticates with ApiKeyAuthentication and sets
its own user); a test checks that an API request gets no session cookie and
that the admin still has its session, CSRF and second factor.

django-axes stays as it is: it acts only on a request its login signal has
marked (one attribute read otherwise), and its system check asks for its own
class name in MIDDLEWARE.
"""

from __future__ import annotations

from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Messages
from django.contrib.sessions.middleware import SessionMiddleware as _Sessions
from django.middleware.csrf import CsrfViewMiddleware as _Csrf
from django_otp.middleware import OTPMiddleware as _Otp

API_PREFIX = "/api/"

_HOOKS = ("process_view", "process_exception", "process_template_response")


def _for_browsers(base: type) -> type:
    """`base`, skipped for paths under /api/ (its hooks too)."""

    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return base.__call__(self, request)

    namespace = {"__call__": __call__, "__doc__": f"{base.__module__}.{base.__name__}, not for /api/."}
    for hook in _HOOKS:
        original = getattr(base, hook, None)
        if original is None:
            continue

        def skipped(self, request, *args, _original=original):
            if request.path_info.startswith(API_PREFIX):
                return None
            return _original(self, request, *args)

        namespace[hook] = skipped
    return type(base.__name__, (base,), namespace)


SessionMiddleware = _for_browsers(_Sessions)
CsrfViewMiddleware = _for_browsers(_Csrf)
AuthenticationMiddleware = _for_browsers(_Authentication)
OTPMiddleware = _for_browsers(_Otp)
MessageMiddleware = _for_browsers(_Messages)


def csrf_middleware_check(app_configs=None, **kwargs):
    """In place of Django's security.W003 (silenced: it wants Django's own path
    in MIDDLEWARE): some CsrfViewMiddleware must be installed."""
    from django.conf import settings
    from django.core.checks import Error
    from django.utils.module_loading import import_string

    if any(issubclass(import_string(path), _Csrf) for path in settings.MIDDLEWARE if "." in path):
        return []
    return [
        Error(
            "No CsrfViewMiddleware in MIDDLEWARE: the admin and the pages would have no CSRF protection.",
            hint="Add gateway.core.browser_only.CsrfViewMiddleware.",
            id="core.E001",
        )
    ]
