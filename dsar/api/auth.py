"""Token authentication with scopes, and throttling per token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from ..clientaddr import client_address
from ..models import ApiScope, ApiToken


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_token(
    *, name: str, user: Any, scopes: list[str], trusted_identity: bool = False
) -> tuple[ApiToken, str]:
    """A new token and its key; the key is shown once and never stored."""
    key = "dsar_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name,
        user=user,
        prefix=key[:12],
        key_hash=hash_key(key),
        scopes=scopes,
        trusted_identity=trusted_identity,
    )
    return token, key


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <key>``; a revoked token or an inactive user is refused."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header:
            return None
        keyword, _space, key = header.partition(" ")
        if keyword != self.keyword or not key.strip():
            raise exceptions.AuthenticationFailed("Send the header 'Authorization: Bearer <key>'.")
        key_hash = hash_key(key.strip())
        token = ApiToken.objects.select_related("user").filter(key_hash=key_hash).first()
        if token is None or not hmac.compare_digest(token.key_hash, key_hash):
            raise exceptions.AuthenticationFailed("This API key is not valid.")
        if not token.is_active:
            raise exceptions.AuthenticationFailed("This API key was revoked.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The account of this API key is disabled.")
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class HasScope(permissions.BasePermission):
    """The token carries the scope the view asks for (``required_scopes`` by HTTP method)."""

    message = "This API key lacks the scope this action needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        needed = view.required_scopes.get(request.method, ApiScope.ACT)
        if needed not in token.scopes:
            self.message = f"This API key lacks the scope '{needed}'."
            return False
        return True


class HasRole(permissions.BasePermission):
    """The key's account holds the model permissions the view needs for the method
    (``required_perms``), as the admin asks of staff: an auditor reads, a handler acts, an
    approver decides, and an account without ``dsar.view_case`` reads nothing. Objects are
    held to the same permissions (the admin has no per-case rules)."""

    message = "The account of this API key may not do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        needed = getattr(view, "required_perms", {}).get(request.method, ())
        missing = [perm for perm in needed if not request.user.has_perm(perm)]
        if missing:
            self.message = (
                f"The account of this API key lacks the permission this needs "
                f"({', '.join(missing)}); give the account a role that has it."
            )
            return False
        return True

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return self.has_permission(request, view)


class TokenRateThrottle(throttling.SimpleRateThrottle):
    """A rate per token (settings: REST_FRAMEWORK DEFAULT_THROTTLE_RATES['token'])."""

    scope = "token"

    def get_ident(self, request: Request) -> str:
        return client_address(request)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = request.auth
        ident = f"token-{token.pk}" if isinstance(token, ApiToken) else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ApiTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Tells the OpenAPI schema that the API takes a bearer key."""

    target_class = "dsar.api.auth.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An API key from the admin."}
