"""Operator access to the HTTP API against a real gateway: authentication, roles, CSRF, Origin, audit."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import socket
import ssl
import urllib.parse

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from vehicle_mw.gateway import Gateway, GatewayError
from vehicle_mw.gateway.api import PUBLIC_ROUTES
from vehicle_mw.gateway.loadgen import WsVehicle, hello
from vehicle_mw.gateway.operators import OperatorStore, Role, hash_password, verify_password
from vehicle_mw.manifest.gateway import GatewayAuth, GatewayTls
from vehicle_mw.v1 import link_pb2

from .helpers import http_json, local_config, operator_token, run

PASSWORD = "correct horse battery"


async def request(
    base: str, method: str, path: str, body=None, headers: dict | None = None
) -> tuple[int, dict[str, str], object]:
    """(status, lower-cased headers, JSON or text body) without following redirects."""
    url = urllib.parse.urlsplit(base)

    def call():
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        try:
            data = None if body is None else json.dumps(body)
            sent = {"content-type": "application/json"} | (headers or {})
            conn.request(method, path, body=data, headers=sent)
            resp = conn.getresponse()
            raw = resp.read().decode()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed
        finally:
            conn.close()

    return await asyncio.to_thread(call)


def add_operator(database: str, name: str, role: Role, password: str | None = PASSWORD) -> None:
    store = OperatorStore(database)
    try:
        store.add(name, role, password)
    finally:
        store.close()


def audit_rows(database: str) -> list[tuple]:
    import sqlite3

    conn = sqlite3.connect(database)
    try:
        return conn.execute(
            "SELECT actor, via, action, target, result, detail FROM audit ORDER BY key"
        ).fetchall()
    finally:
        conn.close()


def test_every_route_refuses_anonymous_callers(tmp_path):
    """Enumerated from the app itself, so a route added later is covered without editing this test."""
    cfg = local_config(tmp_path)

    async def scenario() -> int:
        async with Gateway(cfg) as gw:
            checked = 0
            for route in gw.app.routes:
                path = re.sub(r"\{[^}]+\}", "VIN-X", getattr(route, "path", ""))
                if isinstance(route, APIWebSocketRoute):
                    with pytest.raises(InvalidStatus) as refused:
                        async with ws_connect(gw.http_url.replace("http", "ws") + path):
                            pass
                    assert refused.value.response.status_code == 401, route.path
                    checked += 1
                if not isinstance(route, APIRoute):
                    continue
                for method in sorted(route.methods):
                    status, headers, body = await request(gw.http_url, method, path, {})
                    if (method, route.path) in PUBLIC_ROUTES:
                        assert status in (200, 303, 422), (method, route.path, status)
                        assert "vehicles" not in str(body)
                        continue
                    assert status == 401, (method, route.path, status, body)
                    assert headers["www-authenticate"].startswith("Bearer")
                    checked += 1
            status, headers, _ = await request(gw.http_url, "GET", "/")
            assert status == 303 and headers["location"] == "/login"
            return checked

    assert run(scenario()) >= 18  # every data, control and management route, plus the live feed


def test_roles_viewer_operator_admin_and_the_audit_log(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)
    viewer, operator, admin = (operator_token(cfg.database, r) for r in ("viewer", "operator", "admin"))
    V = "VIN-ROLES"

    async def vehicle_applying(v: WsVehicle) -> None:
        while (down := await v.next()) is not None:
            if down.WhichOneof("msg") == "command":
                ack = link_pb2.CommandAck(id=down.command.id, ok=True, detail="applied")
                await v.send(link_pb2.Uplink(command_ack=ack))

    async def scenario():
        async with Gateway(cfg) as gw:
            v = await WsVehicle.connect(gw.ws_url)
            await v.open(hello(V))
            answering = asyncio.create_task(vehicle_applying(v))
            api = f"{gw.http_url}/api/vehicles/{V}"
            status, fleet = await http_json(f"{gw.http_url}/api/fleet", token=viewer)
            assert status == 200 and fleet[0]["vehicle_id"] == V
            status, refused = await http_json(f"{api}/commands", "POST", {"kind": "config"}, token=viewer)
            assert status == 403 and "needs operator" in refused["detail"]
            status, ack = await http_json(f"{api}/commands", "POST", {"kind": "config"}, token=operator)
            assert status == 200 and ack["ok"] is True and ack["detail"] == "applied"
            status, _ = await http_json(f"{api}/revoke", "POST", token=operator)
            assert status == 403
            status, _ = await http_json(f"{gw.http_url}/api/audit", token=operator)
            assert status == 403
            status, _ = await http_json(f"{api}/revoke", "POST", token=admin)
            assert status == 200
            await asyncio.wait_for(answering, 10)  # the revoked vehicle's session ended
            status, audit = await http_json(f"{gw.http_url}/api/audit?limit=50", token=admin)
            assert status == 200
            return audit

    audit = run(scenario())
    by_action = {(r["action"], r["actor"]): r for r in audit}
    cmd = by_action[("command", "test-operator")]
    assert cmd["target"] == V and cmd["result"] == "acked" and "applied" in cmd["detail"]
    assert cmd["via"].startswith("token:") and cmd["peer"] == "127.0.0.1"
    assert by_action[("revoke", "test-admin")]["result"] == "ok"
    denied = [r for r in audit if r["action"] == "denied"]
    assert {(r["actor"], r["target"]) for r in denied} == {
        ("test-viewer", f"/api/vehicles/{V}/commands"),
        ("test-operator", f"/api/vehicles/{V}/revoke"),
        ("test-operator", "/api/audit"),
    }
    assert not any(r["action"] == "command" and r["actor"] == "test-viewer" for r in audit)


def test_expired_revoked_and_removed_tokens_are_refused(tmp_path):
    cfg = local_config(tmp_path)
    admin = operator_token(cfg.database, "admin")
    store = OperatorStore(cfg.database)
    store.add("bot", Role.VIEWER)
    _, expired = store.issue_token("bot", ttl_s=1e-6)
    _, to_revoke = store.issue_token("bot")
    to_revoke_id = store.tokens("bot")[1].id
    store.close()

    async def scenario():
        async with Gateway(cfg) as gw:
            fleet = f"{gw.http_url}/api/fleet"
            status, body = await http_json(fleet, token=expired)
            assert status == 401 and "expired" in body["detail"]
            assert (await http_json(fleet, token=to_revoke))[0] == 200
            status, _ = await http_json(
                f"{gw.http_url}/api/operator-tokens/{to_revoke_id}", "DELETE", token=admin
            )
            assert status == 200
            status, body = await http_json(fleet, token=to_revoke)
            assert status == 401 and "revoked" in body["detail"]
            status, body = await http_json(fleet, token=to_revoke[:-2] + "xx")
            assert status == 401 and body["detail"] == "unknown token"
            status, body = await http_json(fleet, headers={"authorization": "Basic Ym90OmJvdA=="})
            assert status == 401 and "Bearer" in body["detail"]
            # tokens issued through the API work, and die with their operator
            status, made = await http_json(
                f"{gw.http_url}/api/operators", "POST", {"name": "carol", "role": "viewer"}, token=admin
            )
            assert status == 201 and made["password"] is False
            status, issued = await http_json(
                f"{gw.http_url}/api/operators/carol/tokens", "POST", {}, token=admin
            )
            assert status == 201 and (await http_json(fleet, token=issued["token"]))[0] == 200
            assert (await http_json(f"{gw.http_url}/api/operators/carol", "DELETE", token=admin))[0] == 200
            assert (await http_json(fleet, token=issued["token"]))[0] == 401
            status, body = await http_json(f"{gw.http_url}/api/operators/test-admin", "DELETE", token=admin)
            assert status == 409 and "last admin" in body["detail"]

    run(scenario())
    actions = [(a, t, r) for _, _, a, t, r, _ in audit_rows(cfg.database)]
    assert ("token_revoke", to_revoke_id, "ok") in actions and ("operator_remove", "carol", "ok") in actions


def test_dashboard_session_needs_csrf_and_same_origin(tmp_path):
    cfg = local_config(tmp_path)
    add_operator(cfg.database, "olga", Role.OPERATOR)
    token = operator_token(cfg.database, "operator")

    async def scenario():
        async with Gateway(cfg) as gw:
            base, own = gw.http_url, gw.http_url
            status, _, _ = await request(
                base,
                "POST",
                "/api/login",
                {"username": "olga", "password": PASSWORD},
                {"origin": "http://evil.test"},
            )
            assert status == 403  # login CSRF: a foreign page cannot log the browser in
            status, headers, me = await request(
                base, "POST", "/api/login", {"username": "olga", "password": PASSWORD}, {"origin": own}
            )
            assert status == 200 and me["role"] == "operator"
            cookie_line = headers["set-cookie"]
            assert (
                "HttpOnly" in cookie_line and "SameSite=strict" in cookie_line and "Secure" not in cookie_line
            )
            cookie = {"cookie": cookie_line.split(";", 1)[0]}
            status, _, who = await request(base, "GET", "/api/me", headers=cookie)
            assert status == 200 and who["csrf_token"] == me["csrf_token"] and who["via"] == "session"
            status, _, page = await request(base, "GET", "/", headers=cookie)
            assert status == 200 and 'id="fleet"' in page

            cmd = "/api/vehicles/VIN-OFF/commands"
            body = {"kind": "config"}
            csrf = {"x-csrf-token": me["csrf_token"]}
            for headers, why in (
                (cookie | {"origin": own}, "CSRF"),
                (cookie | {"origin": own, "x-csrf-token": "forged"}, "CSRF"),
                (cookie | csrf, "Origin"),
                (cookie | csrf | {"origin": "http://evil.test"}, "origin"),
            ):
                status, _, refused = await request(base, "POST", cmd, body, headers)
                assert status == 403 and why.lower() in refused["detail"].lower(), (headers, refused)
            status, _, passed = await request(base, "POST", cmd, body, cookie | csrf | {"origin": own})
            assert status == 409 and "not connected" in passed["detail"]  # past every check
            # a token is not a cookie (no CSRF needed) but a foreign page still cannot use it
            bearer = {"authorization": f"Bearer {token}"}
            assert (await request(base, "POST", cmd, body, bearer))[0] == 409
            assert (await request(base, "POST", cmd, body, bearer | {"origin": "http://evil.test"}))[0] == 403

            live = base.replace("http", "ws") + "/api/live"
            with pytest.raises(InvalidStatus) as foreign:
                async with ws_connect(live, origin="http://evil.test", additional_headers=cookie):
                    pass
            assert foreign.value.response.status_code == 403
            async with ws_connect(live, origin=own, additional_headers=cookie) as feed:
                assert json.loads(await asyncio.wait_for(feed.recv(), 10))["type"] == "fleet"
                status, headers, _ = await request(
                    base, "POST", "/api/logout", None, cookie | csrf | {"origin": own}
                )
                assert status == 200 and 'vmw_session=""' in headers["set-cookie"]
                with pytest.raises(ConnectionClosed) as ended:  # the open feed ends with the session
                    while True:
                        await asyncio.wait_for(feed.recv(), 10)
                assert ended.value.rcvd.code == 1008 and "log in" in ended.value.rcvd.reason
            assert (await request(base, "GET", "/api/me", headers=cookie))[0] == 401
            assert (await request(base, "GET", "/", headers=cookie))[0] == 303

    run(scenario())
    rows = audit_rows(cfg.database)
    assert ("-", "-", "login", "olga", "refused", "foreign origin") in rows
    assert ("olga", "password", "login", "olga", "ok", "") in rows and (
        "olga",
        "session",
        "logout",
        "olga",
        "ok",
        "",
    ) in rows
    commands = [r for r in rows if r[2] == "command"]
    assert [(r[0], r[4]) for r in commands] == [("olga", "failed"), ("test-operator", "failed")]


def test_failed_logins_are_throttled_per_user_and_peer(tmp_path):
    cfg = local_config(tmp_path, auth=GatewayAuth(login_max_failures=3, login_window_s=600))
    add_operator(cfg.database, "olga", Role.VIEWER)

    async def scenario():
        async with Gateway(cfg) as gw:
            login = f"{gw.http_url}/api/login"
            for _ in range(3):
                status, body = await http_json(
                    login, "POST", {"username": "olga", "password": "wrong password"}
                )
                assert status == 401 and body["detail"] == "wrong user name or password"
            status, unknown = await http_json(login, "POST", {"username": "nobody", "password": PASSWORD})
            assert status == 429  # the same client address is throttled too
            status, body = await http_json(login, "POST", {"username": "olga", "password": PASSWORD})
            assert status == 429 and "retry in" in body["detail"]

    run(scenario())
    results = [(r[3], r[4]) for r in audit_rows(cfg.database) if r[2] == "login"]
    assert results == [("olga", "failed")] * 3 + [("nobody", "throttled"), ("olga", "throttled")]


def test_public_http_bind_needs_an_operator_and_each_endpoint_binds_its_own_address(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True, http_host="0.0.0.0")
    with pytest.raises(GatewayError) as refused:
        run(Gateway(cfg).start())
    assert "http_host: 0.0.0.0 is not a loopback address" in str(refused.value)
    assert "vmw gateway operator add" in str(refused.value)

    add_operator(cfg.database, "root", Role.ADMIN)
    split = cfg.model_copy(
        update={"grpc_host": "127.0.0.2", "ws_host": "127.0.0.3", "http_host": "127.0.0.1"}
    )

    async def scenario():
        async with Gateway(cfg) as gw:  # with an operator it starts on the public address
            assert gw.http_url.startswith("http://0.0.0.0:")
        async with Gateway(split) as gw:
            assert gw.ws_url.startswith("ws://127.0.0.3:") and gw.grpc_target.startswith("127.0.0.2:")
            v = await WsVehicle.connect(gw.ws_url)
            assert (await v.open(hello("VIN-BIND"))).WhichOneof("msg") == "welcome"
            await v.close()
            for host, port, listening in (
                ("127.0.0.3", gw.ws_port, True),
                ("127.0.0.1", gw.ws_port, False),
                ("127.0.0.2", gw.grpc_port, True),
                ("127.0.0.1", gw.grpc_port, False),
                ("127.0.0.1", gw.http_port, True),
                ("127.0.0.3", gw.http_port, False),
            ):
                assert await asyncio.to_thread(accepts, host, port) is listening, (host, port)

    run(scenario())


def accepts(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(5)
        return s.connect_ex((host, port)) == 0


def test_passwords_are_scrypt_hashed_and_checked():
    stored = hash_password(PASSWORD)
    assert stored.startswith("scrypt$16384$8$1$") and PASSWORD not in stored
    assert verify_password(PASSWORD, stored) and not verify_password(PASSWORD + "x", stored)
    assert hash_password(PASSWORD) != stored  # salted
    assert not verify_password(PASSWORD, "md5$abc")


def test_https_operator_api_sets_a_secure_cookie(tmp_path, pki):
    tls = GatewayTls(cert=str(pki.server.cert), key=str(pki.server.key))
    cfg = local_config(tmp_path, tls=tls, http_tls=True)
    add_operator(cfg.database, "olga", Role.VIEWER)
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))

    async def scenario():
        async with Gateway(cfg) as gw:
            assert gw.http_url.startswith("https://127.0.0.1:")
            url = urllib.parse.urlsplit(gw.http_url)

            def login() -> tuple[int, str]:
                conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=30, context=ctx)
                try:
                    body = json.dumps({"username": "olga", "password": PASSWORD})
                    conn.request("POST", "/api/login", body, {"content-type": "application/json"})
                    resp = conn.getresponse()
                    resp.read()
                    return resp.status, resp.getheader("set-cookie") or ""
                finally:
                    conn.close()

            return await asyncio.to_thread(login)

    status, cookie = run(scenario())
    assert status == 200 and "Secure" in cookie and "HttpOnly" in cookie
