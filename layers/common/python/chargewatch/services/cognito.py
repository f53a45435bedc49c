"""People's sign-in: Amazon Cognito user-pool tokens.

`verify_token` checks a token the way AWS documents it (signature against the pool's JWKS, issuer,
expiry, `token_use`, and the app client: `aud` for ID tokens, `client_id` for access tokens) with
PyJWT. The admin helpers below (create a user, sign in) serve the CLI and tests; the API never
sees passwords.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from chargewatch import aws
from chargewatch.settings import Settings, get_settings

# Keys are cached per JWKS URL for an hour; an unknown `kid` makes PyJWKClient refetch once.
_jwks_clients: dict[str, jwt.PyJWKClient] = {}
LEEWAY_SECONDS = 30


class InvalidToken(Exception):
    """The token is not a valid, current token of our user pool and app client."""


@dataclass(frozen=True)
class UserClaims:
    user_id: str  # the Cognito `sub`: stable, never reused
    email: str | None
    groups: tuple[str, ...]


def is_configured(settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    return bool(settings.cognito_user_pool_id and settings.cognito_client_id)


def issuer(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return settings.cognito_issuer or (
        f"https://cognito-idp.{settings.aws_region}.amazonaws.com/{settings.cognito_user_pool_id}"
    )


def jwks_url(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return settings.cognito_jwks_url or f"{issuer(settings)}/.well-known/jwks.json"


def _jwks_client(url: str) -> jwt.PyJWKClient:
    client = _jwks_clients.get(url)
    if client is None:
        client = _jwks_clients[url] = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=5)
    return client


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


def verify_token(token: str, *, settings: Settings | None = None) -> UserClaims:
    settings = settings or get_settings()
    if not is_configured(settings):
        raise InvalidToken("user sign-in is not configured for this deployment")
    try:
        signing_key = _jwks_client(jwks_url(settings)).get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            issuer=issuer(settings),
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "sub", "token_use"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidToken("token has expired") from error
    except (jwt.PyJWTError, ValueError) as error:
        raise InvalidToken(f"token is not valid: {error}") from error
    token_use = claims.get("token_use")
    if token_use == "id":
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if settings.cognito_client_id not in audiences:
            raise InvalidToken("token was issued to another app client")
    elif token_use == "access":
        if claims.get("client_id") != settings.cognito_client_id:
            raise InvalidToken("token was issued to another app client")
    else:
        raise InvalidToken("token_use must be 'id' or 'access'")
    return UserClaims(
        user_id=str(claims["sub"]), email=claims.get("email"), groups=tuple(claims.get("cognito:groups") or ())
    )


# ------------------------------------------------------------------ admin helpers (CLI, tests)


def _client(settings: Settings) -> Any:  # boto3's cognito-idp client (boto3 ships no types)
    return aws.client("cognito-idp", settings=settings)


def admin_create_user(email: str, password: str, *, settings: Settings | None = None) -> str:
    """Create a confirmed user with a permanent password; returns its `sub` (our user id)."""
    settings = settings or get_settings()
    if not is_configured(settings):
        raise InvalidToken("COGNITO_USER_POOL_ID / COGNITO_CLIENT_ID are not set")
    client = _client(settings)
    pool = settings.cognito_user_pool_id
    try:
        client.admin_create_user(
            UserPoolId=pool,
            Username=email,
            MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        )
    except client.exceptions.UsernameExistsException:
        pass  # re-running provisioning is fine: the password is set again below
    client.admin_set_user_password(UserPoolId=pool, Username=email, Password=password, Permanent=True)
    user = client.admin_get_user(UserPoolId=pool, Username=email)
    sub: str = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
    return sub


def login(email: str, password: str, *, settings: Settings | None = None) -> dict[str, Any]:
    """Password sign-in (ADMIN_USER_PASSWORD_AUTH); returns Cognito's AuthenticationResult."""
    settings = settings or get_settings()
    if not is_configured(settings):
        raise InvalidToken("COGNITO_USER_POOL_ID / COGNITO_CLIENT_ID are not set")
    response = _client(settings).admin_initiate_auth(
        UserPoolId=settings.cognito_user_pool_id,
        ClientId=settings.cognito_client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )
    result: dict[str, Any] = response["AuthenticationResult"]
    return result
