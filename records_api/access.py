"""Who the reader is: API keys, the stage's access policy, and the personal-data scope.

- ``ApiKeyAuthentication`` reads a key from ``X-Api-Key`` (the seed's header) or
  ``Authorization: Api-Key <key>`` and checks it with djangorestframework-api-key (only
  the key's SHA-512 hash is stored). A key that is sent but unknown, revoked or expired
  is a 401 in every mode: a client should hear that its key is wrong, not get the
  public shape silently.
- ``ApiAccessPolicy``: with ``TWL_API_ACCESS=key`` a data endpoint needs a valid key or
  a signed-in staff user (401 JSON otherwise); ``public`` lets anyone read. Views that
  set ``open_access`` (health, schema, docs, the root) are open in both.
- ``reads_personal``: a key with the ``personal-data`` scope, or an active staff user.
  Pages use it too (they see the session's user, never a key).
- A request with a bad key counts against its address's anonymous rate: once over
  it, 429 instead of 401, so guessing keys is no cheaper than reading anonymously.
- ``ApiKeyRateThrottle``: a keyed request is counted per key on the shared counters
  (the key's own rate, else ``TWL_API_KEY_RATE``), instead of per address.

The key model is imported inside functions: DRF imports this module while building
``APIView`` (its default classes), which may be before the app registry is ready.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Final, NoReturn, cast

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, Throttled
from rest_framework.permissions import BasePermission

from pipeline.core.clock import iso, utc_now
from pipeline.core.config import get_config
from pipeline.core.constants import PERSONAL_DATA_SCOPE
from pipeline.core.errors import AWS_ERRORS
from pipeline.stores.throttle import key_used_stamp
from records_api.throttling import SharedAnonRateThrottle

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

    from pipeline.models import ApiKey

log = logging.getLogger(__name__)

KEY_HEADER: Final = "HTTP_X_API_KEY"
AUTH_KEYWORD: Final = "api-key"
# A key is <8-character prefix>.<32 characters>; anything much longer is not one.
MAX_KEY_CHARS: Final = 128
# A key's "last used" is written at most this often per key and web instance.
LAST_USED_EVERY_SECONDS: Final = 60
_stamped: dict[str, float] = {}


def key_from(request: HttpRequest) -> str | None:
    """The key a request sends (X-Api-Key first), or None when it sends none."""
    header = request.META.get(KEY_HEADER, "").strip()
    if header:
        return header
    keyword, _, value = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    if keyword.lower() == AUTH_KEYWORD and value.strip():
        return value.strip()
    return None


def _foreign_authorization(request: HttpRequest) -> bool:
    """An Authorization header in another scheme, with no X-Api-Key to go by."""
    header = request.META.get("HTTP_AUTHORIZATION", "").strip()
    if not header or request.META.get(KEY_HEADER, "").strip():
        return False
    keyword, _, value = header.partition(" ")
    return keyword.lower() != AUTH_KEYWORD or not value.strip()


def api_key_of(request: Any) -> ApiKey | None:
    """The valid key a DRF request was authenticated with, if any."""
    from pipeline.models import ApiKey

    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiKey) else None


def is_staff(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


def reads_personal(request: Any) -> bool:
    """Whether this reader receives personal fields: the scope, or a staff sign-in."""
    key = api_key_of(request)
    if key is not None and PERSONAL_DATA_SCOPE in key.scope_set:
        return True
    return is_staff(getattr(request, "user", None))


def _stamp_last_used(prefix: str) -> None:
    now = time.monotonic()
    if now - _stamped.get(prefix, -LAST_USED_EVERY_SECONDS) < LAST_USED_EVERY_SECONDS:
        return
    _stamped[prefix] = now
    try:
        key_used_stamp(prefix, at=iso(utc_now()), config=get_config())
    except AWS_ERRORS as exc:
        # Bookkeeping only: a missing stamp must not fail the request.
        log.warning("could not record the use of API key %s: %s", prefix, exc)


class ApiKeyAuthentication(BaseAuthentication):
    """``X-Api-Key: <key>`` or ``Authorization: Api-Key <key>``; 401 for a bad key."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, ApiKey] | None:
        from pipeline.models import ApiKey

        if _foreign_authorization(request._request):
            # Bearer, Basic, a mistyped keyword: a client that meant to send a key.
            self._refuse(
                request, "send the key as X-Api-Key: <key> or Authorization: Api-Key <key>"
            )
        key = key_from(request._request)
        if key is None:
            return None
        if len(key) > MAX_KEY_CHARS or "." not in key:
            self._refuse(request, "the API key is not valid")
        try:
            api_key = cast(ApiKey, ApiKey.objects.get_from_key(key))
        except ApiKey.DoesNotExist:
            self._refuse(request, "the API key is not valid (unknown or revoked)")
        if api_key.has_expired:
            self._refuse(request, "the API key has expired")
        _stamp_last_used(api_key.prefix)
        return AnonymousUser(), api_key

    def _refuse(self, request: Request, reason: str) -> NoReturn:
        """401; but a client sending bad keys is held to the anonymous rate (then 429).

        A bad key is counted as an anonymous request of its address: guessing keys costs
        what reading anonymously costs, and no more than the anonymous rate allows.
        """
        throttle = SharedAnonRateThrottle()
        if not throttle.allow(request._request):
            raise Throttled(wait=throttle.wait())
        raise AuthenticationFailed(reason)

    def authenticate_header(self, request: Request) -> str:
        return 'Api-Key realm="api"'


class ApiAccessPolicy(BasePermission):
    """``TWL_API_ACCESS``: ``key`` needs a valid key or staff; ``public`` lets anyone read."""

    message = "this API needs an API key: send it as X-Api-Key or Authorization: Api-Key <key>"

    def has_permission(self, request: Request, view: APIView) -> bool:
        if getattr(view, "open_access", False) or settings.TWL_API_ACCESS == "public":
            return True
        if api_key_of(request) is not None or is_staff(request.user):
            return True
        # Refused before DRF's throttles run: counted here, so a flood without a key is
        # held to the anonymous rate (429) like any anonymous reader; and always a 401,
        # for a signed-in non-staff user too (a key is what this API asks for).
        throttle = SharedAnonRateThrottle()
        if not throttle.allow(request._request):
            raise Throttled(wait=throttle.wait())
        raise NotAuthenticated(self.message)


class ApiKeyRateThrottle(SharedAnonRateThrottle):
    """Keyed requests, per key: the key's ``rate``, else ``TWL_API_KEY_RATE``."""

    scope = "apikey"
    counter_scope = "apikey"

    def allow_request(self, request: Request, view: APIView) -> bool:
        key = api_key_of(request)
        if key is None:
            return True
        self.rate = key.rate or self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return self.allow(request, client=key.prefix)
