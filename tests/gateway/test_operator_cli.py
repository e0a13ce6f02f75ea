"""``vmw gateway operator ...`` and ``vmw gateway audit`` as an admin runs them, against a real gateway."""

from __future__ import annotations

from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.operators import OperatorStore

from .helpers import http_json, local_config, run
from .test_cli import vmw


def test_operator_lifecycle_and_audit(tmp_path):
    cfg = local_config(tmp_path)
    db = cfg.database
    pw = tmp_path / "pw"
    pw.write_text("a long enough password\n")

    missing = vmw(
        "gateway", "operator", "add", "alice", "--role", "admin", "--password-file", str(pw), "--database", db
    )
    assert missing.returncode == 1 and "does not exist" in missing.stderr and "--create" in missing.stderr
    assert not (tmp_path / "gw.sqlite").exists()  # no empty database made by a typo

    args = ("--password-file", str(pw), "--database", db)
    assert vmw("gateway", "operator", "add", "alice", "--role", "admin", "--create", *args).returncode == 0
    again = vmw("gateway", "operator", "add", "alice", "--role", "viewer", *args)
    assert again.returncode == 1 and "already exists" in again.stderr
    (tmp_path / "short").write_text("short\n")
    weak = vmw(
        "gateway",
        "operator",
        "add",
        "bob",
        "--role",
        "viewer",
        "--password-file",
        str(tmp_path / "short"),
        "--database",
        db,
    )
    assert weak.returncode == 1 and "too short" in weak.stderr
    assert (
        vmw(
            "gateway", "operator", "add", "bot", "--role", "viewer", "--no-password", "--database", db
        ).returncode
        == 0
    )

    issued = vmw("gateway", "operator", "token", "bot", "--expires", "2h", "--database", db)
    assert issued.returncode == 0 and "shown once" in issued.stderr
    token = issued.stdout.strip()
    unknown = vmw("gateway", "operator", "token", "nobody", "--database", db)
    assert unknown.returncode == 1 and "unknown operator 'nobody'" in unknown.stderr

    store = OperatorStore(db, create=False)
    (record,) = store.tokens("bot")
    assert 7190e9 < record.expires_ns - record.created_ns <= 7200e9
    assert store.authenticate_token(token)[0].name == "bot"
    store.close()

    listed = vmw("gateway", "operator", "list", "--database", db)
    assert listed.returncode == 0
    assert "alice  admin  password" in listed.stdout and "bot  viewer  token only" in listed.stdout
    assert f"token {record.id}  active" in listed.stdout and token not in listed.stdout

    async def fleet_status() -> int:
        async with Gateway(cfg) as gw:
            return (await http_json(f"{gw.http_url}/api/fleet", token=token))[0]

    assert run(fleet_status()) == 200
    assert vmw("gateway", "operator", "revoke-token", record.id, "--database", db).returncode == 0
    assert run(fleet_status()) == 401
    assert f"token {record.id}  revoked" in vmw("gateway", "operator", "list", "--database", db).stdout
    assert vmw("gateway", "operator", "remove", "bot", "--database", db).returncode == 0
    gone = vmw("gateway", "operator", "remove", "bot", "--database", db)
    assert gone.returncode == 1 and "unknown operator 'bot'" in gone.stderr

    audit = vmw("gateway", "audit", "--database", db)
    assert audit.returncode == 0
    lines = audit.stdout.splitlines()
    assert [line.split("  ")[2] for line in lines] == [
        "operator_remove bot",
        f"token_revoke {record.id}",
        f"token_issue {record.id}",
        "operator_add bot",
        "operator_add alice",
    ]
    assert all("(cli, local)" in line for line in lines)
    no_db = vmw("gateway", "audit", "--database", str(tmp_path / "typo.sqlite"))
    assert no_db.returncode == 1 and "does not exist" in no_db.stderr
