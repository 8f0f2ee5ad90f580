"""Intuit's OAuth 2.0 / OpenID endpoints, all on the emulator's own host.

Paths mirror Intuit's: /connect/oauth2 (consent), /oauth2/v1/tokens/bearer (token),
/v2/oauth2/tokens/revoke, /v1/openid_connect/userinfo, /.well-known/openid_*configuration.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from app.emulator.chaos import GATEWAY_TIMEOUT_HTML
from app.emulator.gateway import StoreDep, bearer_token
from app.emulator.jsonio import BadJson, loads
from app.emulator.pages import authorize_page, error_page
from app.emulator.store import Store
from app.emulator.tokens import AccessCheck, TokenError

router = APIRouter()
TOKEN_HEADERS = {"Cache-Control": "no-cache, no-store", "Pragma": "no-cache"}
OAUTH_MEDIA_TYPE = "application/json;charset=UTF-8"
HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in"


def base_url(store: Store, request: Request) -> str:
    """The emulator's public base URL: configured, else taken from the request."""
    return (store.config.base_url or str(request.base_url)).rstrip("/")


def discovery_document(base: str) -> dict[str, Any]:
    """OpenID configuration in the shape of Intuit's, pointing at this host."""
    return {
        "issuer": f"{base}/op/v1",
        "authorization_endpoint": f"{base}/connect/oauth2",
        "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
        "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
        "revocation_endpoint": f"{base}/v2/oauth2/tokens/revoke",
        "jwks_uri": f"{base}/op/v1/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile", "address", "phone"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
    }


@router.get("/.well-known/openid_configuration")
@router.get("/.well-known/openid_configuration/")
@router.get("/.well-known/openid_sandbox_configuration")
@router.get("/.well-known/openid_sandbox_configuration/")
async def discovery(request: Request, store: StoreDep) -> JSONResponse:
    return JSONResponse(discovery_document(base_url(store, request)))


@router.get("/op/v1/jwks")
async def jwks() -> JSONResponse:
    # No id_token is ever issued, so there is no signing key to publish.
    return JSONResponse({"keys": []})


@router.get("/connect/oauth2")
async def authorize(request: Request, store: StoreDep) -> Response:
    params = request.query_params
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if not client_id or not store.tokens.known_client(client_id):
        return HTMLResponse(error_page("Unknown client_id", client_id), status_code=400)
    if not redirect_uri:
        return HTMLResponse(error_page("redirect_uri is required", ""), status_code=400)
    if params.get("response_type", "code") != "code":
        return _redirect(redirect_uri, {"error": "unsupported_response_type", **_state(params)})
    page = authorize_page(
        companies=list(store.companies.values()),
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=params.get("scope", "com.intuit.quickbooks.accounting"),
        state=params.get("state", ""),
    )
    return HTMLResponse(page)


def _state(params: Any) -> dict[str, str]:
    state = params.get("state")
    return {"state": state} if state else {}


def _redirect(redirect_uri: str, query: dict[str, str]) -> RedirectResponse:
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(query)}", status_code=302)


@router.post("/connect/oauth2/decision")
async def decide_consent(request: Request, store: StoreDep) -> Response:
    """The Approve / Deny button of the consent page."""
    form = await request.form()
    field = {k: str(v) for k, v in form.items()}
    redirect_uri = field.get("redirect_uri", "")
    client_id = field.get("client_id", "")
    if not redirect_uri or not store.tokens.known_client(client_id):
        return HTMLResponse(error_page("Invalid consent request", client_id), status_code=400)
    state = _state(field)
    if field.get("action") != "approve":
        return _redirect(redirect_uri, {"error": "access_denied", **state})
    realm_id = field.get("realm_id", "")
    if realm_id == "new" or not realm_id:
        company = store.create_company(
            name=field.get("company_name") or "Sandbox Company",
            country=field.get("country") or "US",
            custom_txn_numbers=field.get("custom_txn_numbers") == "on",
        )
        realm_id = company.realm_id
    elif store.company(realm_id) is None:
        return HTMLResponse(error_page("Unknown company", realm_id), status_code=400)
    code = store.tokens.issue_code(client_id, redirect_uri, realm_id, field.get("scope", ""))
    return _redirect(redirect_uri, {"code": code, **state, "realmId": realm_id})


def client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """Client id and secret from HTTP Basic, else from the form (client_secret_post)."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            decoded = base64.b64decode(encoded.strip()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret", "")


def token_error(error: TokenError) -> JSONResponse:
    """Intuit's OAuth error body (`invalid_grant` is HTTP 400)."""
    return JSONResponse(
        error.as_json(),
        status_code=error.status,
        headers=dict(TOKEN_HEADERS),
        media_type=OAUTH_MEDIA_TYPE,
    )


@router.post("/oauth2/v1/tokens/bearer")
async def token(request: Request, store: StoreDep) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    client_id, secret = client_credentials(request, form)
    grant_type = form.get("grant_type", "")
    try:
        if grant_type == "authorization_code":
            issued = store.tokens.exchange_code(
                client_id, secret, form.get("code", ""), form.get("redirect_uri", "")
            )
        elif grant_type == "refresh_token":
            issued = store.tokens.refresh(client_id, secret, form.get("refresh_token", ""))
            if store.tokens.lose_refresh_replies > 0:
                # Applied (the refresh token may have rotated), but the answer never arrives:
                # the client gets what the gateway in front of the token service sends when
                # it gives up waiting, an HTML 504 page (no OAuth error body).
                store.tokens.lose_refresh_replies -= 1
                return HTMLResponse(GATEWAY_TIMEOUT_HTML, status_code=504)
        elif not grant_type:
            raise TokenError("invalid_request", "grant_type is required")
        else:
            raise TokenError("unsupported_grant_type")
    except TokenError as error:
        return token_error(error)
    include_hard = request.headers.get(HARD_EXPIRY_HEADER, "").lower() == "true"
    return JSONResponse(
        issued.as_json(include_hard), headers=dict(TOKEN_HEADERS), media_type=OAUTH_MEDIA_TYPE
    )


@router.post("/v2/oauth2/tokens/revoke")
async def revoke(request: Request, store: StoreDep) -> Response:
    raw = await request.body()
    form: dict[str, str] = {}
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            parsed = loads(raw) if raw else {}
        except BadJson:
            parsed = {}
        if isinstance(parsed, dict):
            form = {k: str(v) for k, v in parsed.items()}
    else:
        form = {k: str(v) for k, v in (await request.form()).items()}
    client_id, secret = client_credentials(request, form)
    token_value = form.get("token", "")
    try:
        if not token_value:
            raise TokenError("invalid_request", "token is required")
        store.tokens.revoke(client_id, secret, token_value)
    except TokenError as error:
        return token_error(error)
    return Response(status_code=200, headers=dict(TOKEN_HEADERS))


@router.get("/v1/openid_connect/userinfo")
async def userinfo(request: Request, store: StoreDep) -> JSONResponse:
    token_value = bearer_token(request)
    verdict, _ = store.tokens.check_access(token_value, None)
    grant = store.tokens.grant_for_access(token_value) if token_value else None
    if verdict is not AccessCheck.OK or grant is None:
        return JSONResponse(
            {"error": "invalid_token"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'},
        )
    company = store.company(grant.realm_id)
    return JSONResponse(
        {
            "sub": f"emulator-user-{grant.realm_id}",
            "email": "owner@quickbooks.example",
            "emailVerified": True,
            "givenName": "Sandbox",
            "familyName": company.name if company else "Owner",
            "phoneNumber": "+1 6505550100",
            "phoneNumberVerified": False,
        }
    )
