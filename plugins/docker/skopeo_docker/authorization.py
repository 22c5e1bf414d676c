"""Authorization for registry requests: Basic credentials, bearer tokens
fetched from the challenge's realm (per scope, cached until they expire),
identity tokens (OAuth2 refresh) and ``--registry-token``.

Bearer tokens are kept by one client (one image source or destination), as
upstream does; within a :class:`skopeo.session.Session` they are kept by the
session instead (:class:`TokenStore`), so that the next call for the same
registry, credentials and scope does not ask the token server again."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from skopeo import log
from skopeo.auth import Credentials
from skopeo.errors import SkopeoError

from . import http_messages as http
from . import wwwauth
from .network import TransportError, error_from, read_limited
from .registry_errors import UnauthorizedForCredentialsError, status_text

MAX_AUTH_TOKEN_BODY_SIZE = 1 << 20
MINIMUM_TOKEN_LIFETIME = 60

# Sends one request, retrying as the client does: (method, url, headers, body, Authorization).
Send = Callable[[str, http.URL, list[tuple[str, str]], bytes | None, str | None], http.Response]


class Scope(NamedTuple):
    resource_type: str
    remote_name: str
    actions: str

    def __str__(self) -> str:
        return f"{self.resource_type}:{self.remote_name}:{self.actions}"

    @classmethod
    def parse(cls, text: str) -> Scope | None:
        parts = text.split(":")
        return cls(*parts) if len(parts) == 3 else None


class Token(NamedTuple):
    token: str
    expires: float



class TokenStore:
    """Bearer tokens by what they were fetched for (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[object, ...], Token] = {}

    def get(self, key: tuple[object, ...]) -> Token | None:
        with self._lock:
            found = self._tokens.get(key)
        return found if found is not None and time.time() < found.expires else None

    def put(self, key: tuple[object, ...], token: Token) -> None:
        with self._lock:
            self._tokens[key] = token

    def forget(self, key: tuple[object, ...]) -> None:
        with self._lock:
            self._tokens.pop(key, None)


class Authenticator:
    """The Authorization header of one client's requests (thread-safe: blob
    threads share one token fetch).  *tokens* is where bearer tokens are kept
    (a session's store; by default this authenticator's own); *host* tells
    the registries apart in a shared store."""

    def __init__(self, creds: Credentials, registry_token: str, scope: Scope | None, send: Send,
                 tokens: TokenStore | None = None, host: str = "") -> None:
        self.creds = creds
        self.registry_token = registry_token
        self.scope = scope
        self._send = send
        self._tokens = tokens if tokens is not None else TokenStore()
        # Everything a token depends on besides the challenge and the extra scope.
        self._identity: tuple[object, ...] = (host, creds.username, creds.password, creds.identity_token, scope)
        self._token_lock = threading.Lock()

    def authorization(self, challenges: list[wwwauth.Challenge],
                      extra_scope: Scope | None) -> tuple[str | None, tuple[object, ...] | None]:
        """(Authorization header value, the key of the bearer token used, for :meth:`forget`)."""
        if not challenges:
            return None, None
        names = []
        for scheme, params in challenges:
            names.append(scheme)
            if scheme == "basic":
                raw = f"{self.creds.username}:{self.creds.password}".encode()
                return "Basic " + base64.b64encode(raw).decode(), None
            if scheme == "bearer":
                if self.registry_token:
                    return f"Bearer {self.registry_token}", None
                key = (*self._identity, str(extra_scope) if extra_scope is not None else "",
                       params.get("realm", ""), params.get("service", ""))
                return f"Bearer {self._bearer_token(params, extra_scope, key)}", key
            log.debug(f"no handler for {scheme} authentication")
        log.info(
            f"None of the challenges sent by server ({', '.join(names)}) are supported, "
            "trying an unauthenticated request anyway"
        )
        return None, None

    def _bearer_token(self, params: dict[str, str], extra_scope: Scope | None, key: tuple[object, ...]) -> str:
        # One lock: concurrent blob threads wait for a single token fetch.
        with self._token_lock:
            cached = self._tokens.get(key)
            if cached is not None:
                return cached.token
            scopes = [s for s in (self.scope, extra_scope) if s is not None]
            token = self.fetch_token(params, scopes)
            self._tokens.put(key, token)
            return token.token

    def fetch_token(self, params: dict[str, str], scopes: list[Scope]) -> Token:
        realm = params.get("realm")
        if not realm:
            raise SkopeoError("missing realm in bearer auth challenge")
        query: list[tuple[str, str]] = []
        service = params.get("service", "")
        scope_values = [str(s) for s in scopes if s.resource_type and s.remote_name and s.actions]
        if self.creds.identity_token:
            form: list[tuple[str, str]] = []
            if service:
                form.append(("service", service))
            form.extend(("scope", s) for s in scope_values)
            form += [
                ("grant_type", "refresh_token"),
                ("refresh_token", self.creds.identity_token),
                ("client_id", "containers/image"),
            ]
            body = urllib.parse.urlencode(sorted(form, key=lambda kv: kv[0])).encode()
            url = http.URL(realm)
            headers = [("Content-Type", "application/x-www-form-urlencoded")]
            resp = self._send("POST", url, headers, body, None)
            context = "Trying to obtain access token"
        else:
            parsed = urllib.parse.urlsplit(realm)
            query = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
            if self.creds.username:
                query.append(("account", self.creds.username))
            if service:
                query.append(("service", service))
            query.extend(("scope", s) for s in scope_values)
            # Go's url.Values.Encode(): keys sorted, values in insertion order.
            encoded = urllib.parse.urlencode(sorted(query, key=lambda kv: kv[0]))
            url = http.URL(urllib.parse.urlunsplit(parsed._replace(query=encoded)))
            authorization = None
            if self.creds.username and self.creds.password:
                raw = f"{self.creds.username}:{self.creds.password}".encode()
                authorization = "Basic " + base64.b64encode(raw).decode()
            resp = self._send("GET", url, [], None, authorization)
            context = "Requesting bearer token"
        if resp.status_code == 429:
            resp.close()
            raise TransportError("too many requests to registry")
        if resp.status_code == 401:
            err = error_from(resp)
            raise UnauthorizedForCredentialsError(
                f"unable to retrieve auth token: invalid username/password: {err.message}",
                code=err.code,
                status=401,
            )
        if resp.status_code != 200:
            resp.close()
            raise TransportError(
                f"{context}: received unexpected HTTP status: {resp.status_code} {status_text(resp.status_code)}"
            )
        blob = read_limited(resp, MAX_AUTH_TOKEN_BODY_SIZE)
        try:
            obj = json.loads(blob)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as e:
            sample = blob[:50].decode("utf-8", "replace")
            raise SkopeoError(f'decoding bearer token (last URL "{url}", body start {sample!r}): {e}') from None
        token = obj.get("token") or obj.get("access_token") or ""
        expires_in = obj.get("expires_in")
        if not isinstance(expires_in, int) or expires_in < MINIMUM_TOKEN_LIFETIME:
            expires_in = MINIMUM_TOKEN_LIFETIME
        issued = time.time()
        issued_at = obj.get("issued_at")
        if isinstance(issued_at, str) and issued_at:
            try:
                issued = datetime.fromisoformat(issued_at.replace("Z", "+00:00")).timestamp()
            except ValueError:
                pass
        return Token(str(token), issued + expires_in)

    def forget(self, cache_key: tuple[object, ...]) -> None:
        """Drop a cached token the registry refused (revoked or expired early)."""
        self._tokens.forget(cache_key)
