"""OAuth 2.0 against the login (or My Domain) host: refresh token, JWT bearer, client credentials.

Salesforce answers every flow with ``access_token`` and ``instance_url``; the API lives on
the instance, not the login host, so the client is built only after the first token. The
token response's ``id`` URL ends in the integration user's id, which is how the hub later
recognises its own writes in OpportunityHistory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from connectors.http import Action, ApiClient, RequestStats, Verdict
from models.errors import AuthError, ConfigError, SourceError

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class Token:
    access_token: str
    instance_url: str
    user_id: str | None


def _classify_token(response: requests.Response) -> Verdict:
    if response.status_code == 200:
        return Verdict(Action.OK)
    if response.status_code == 429 or response.status_code >= 500:
        return Verdict(Action.RETRY, reason=f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        reason = f"{body.get('error')}: {body.get('error_description')}"
    elif isinstance(body, list) and body and isinstance(body[0], dict):  # the REST error shape
        reason = f"{body[0].get('errorCode')}: {body[0].get('message')}"
    else:
        reason = response.text[:200]
    return Verdict(Action.FAIL, reason=reason)


class TokenSource:
    """Fetches access tokens with the configured flow; secrets never leave the POST body."""

    def __init__(
        self,
        *,
        login_url: str,
        flow: str,
        credential: Callable[[str], str | None],
        stats: RequestStats,
        jwt_audience: str | None = None,
    ) -> None:
        self.flow = flow
        self.jwt_audience = jwt_audience or (
            "https://test.salesforce.com"
            if "test.salesforce.com" in login_url or ".sandbox." in login_url
            else "https://login.salesforce.com"
        )
        self.login_url = login_url
        self._credential = credential
        self.client = ApiClient(
            login_url,
            vendor="salesforce",
            classify=_classify_token,
            auth_headers=dict,
            stats=stats,
            max_attempts=5,
        )
        self._form = self._static_form()
        for value in self._form.values():
            self.client.add_secret(value)

    def _need(self, key: str) -> str:
        value = self._credential(key)
        if not value:
            raise ConfigError(f"salesforce {self.flow} flow needs credentials.{key}")
        return value

    def _static_form(self) -> dict[str, str]:
        if self.flow == "refresh_token":
            return {
                "grant_type": "refresh_token",
                "client_id": self._need("client_id"),
                "client_secret": self._need("client_secret"),
                "refresh_token": self._need("refresh_token"),
            }
        if self.flow == "client_credentials":
            return {
                "grant_type": "client_credentials",
                "client_id": self._need("client_id"),
                "client_secret": self._need("client_secret"),
            }
        if self.flow == "jwt_bearer":
            self._jwt_key = self._need("private_key")
            self._jwt_claims = {"iss": self._need("client_id"), "sub": self._need("username")}
            return {}
        raise ConfigError(f"unknown salesforce auth_flow '{self.flow}'")

    def _assertion(self) -> str:
        """A fresh RS256 assertion per token request: Salesforce rejects ones older than ~3 min."""
        import jwt

        claims = {**self._jwt_claims, "aud": self.jwt_audience, "exp": int(time.time()) + 180}
        try:
            return jwt.encode(claims, self._jwt_key, algorithm="RS256")
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"salesforce jwt_bearer: credentials.private_key is not a PEM RSA private key ({type(exc).__name__})"
            ) from None

    def fetch(self) -> Token:
        form = dict(self._form)
        if self.flow == "jwt_bearer":
            form = {"grant_type": JWT_GRANT, "assertion": self._assertion()}
            self.client.add_secret(form["assertion"])
        try:
            body = self.client.post_json(
                "/services/oauth2/token", endpoint="/services/oauth2/token", data=form
            )
        except SourceError as exc:
            if "failed with HTTP 4" in str(exc):
                raise AuthError(
                    f"salesforce: the {self.flow} token request was refused ({exc}); check the "
                    "connected app, its pre-authorised users and the credentials in hub.yml"
                ) from None
            raise
        user_id = str(body.get("id") or "").rstrip("/").rsplit("/", 1)[-1] or None
        return Token(body["access_token"], body["instance_url"].rstrip("/"), user_id)
