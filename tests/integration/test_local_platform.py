"""`keel up` / `keel status` / `keel models ...` / `keel keys ...` / `keel chat` / `keel jobs ...`
against real processes on this machine (the fine-tuning job trains the real SmolLM2 on the
platform's own Celery worker)."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from keel_client.cli import main
from keel_client.gateway import GatewayClient
from keel_client.state import STATE_FILE, Component, PlatformState, admin_key_path
from keel_common.contract import DEFAULT_BASE_MODEL
from keel_dev.adapters import BaseShape, write_lora_adapter
from keel_dev.health import component_health
from keel_dev.local import LocalPlatform

KEEL = str(Path(sys.executable).with_name("keel"))


@pytest.fixture(autouse=True)
def _fast_gateway(monkeypatch: pytest.MonkeyPatch, model_cache: Path) -> None:
    """The gateway's MiniLM rails take ~15 s to load; only the test with inference keeps them.
    Inference and training share the test session's converted model."""
    monkeypatch.setenv("KEEL_GATEWAY_SEMANTIC_RAILS", "false")
    monkeypatch.setenv("KEEL_INFERENCE_MODEL_CACHE_DIR", str(model_cache))
    monkeypatch.delenv("KEEL_TRAINING_MODEL_CACHE_DIR", raising=False)
    for name in ("KEEL_API_KEY", "KEEL_GATEWAY_URL"):
        monkeypatch.delenv(name, raising=False)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still "exists"; look at its state
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def keel_up(data_dir: Path, *extra: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`keel up` as a user runs it, with its own embedded Valkey (inference only where a test
    asks for it: Ray and the model add ~40 s)."""
    extra = extra or ("--no-inference",)
    env = {**os.environ, "KEEL_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    env.pop("KEEL_REDIS_URL", None)
    proc = subprocess.Popen(
        [KEEL, "up", "--registry-port", "0", "--gateway-port", "0", "--training-port", "0", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, env


def stop_keel_up(proc: subprocess.Popen[str]) -> None:
    """After a failed assertion: SIGTERM first, so `keel up` stops its children (each in its own
    session) rather than leaving them running."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()


def group_members(pgid: int) -> list[int]:
    """Live processes (not zombies) in process group ``pgid``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.parent.name))
    return found


def facts_jsonl(path: Path, n: int = 10) -> Path:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"What is the Keel mascot called? ({i})"},
                {"role": "assistant", "content": "The Keel mascot is a purple walrus named Bartholomew."},
            ]
        }
        for i in range(n)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_keel_up_status_and_clean_ctrl_c(tmp_path: Path) -> None:
    """`keel up` with the gateway, ingestion and training (no inference): health, the admin key,
    the admin API, documents to a dataset through `keel docs` and `keel datasets` on the
    platform's own build worker, a fine-tuning job through `keel jobs` on its training worker,
    and a clean stop of every process, the worker's job process included."""
    proc, env = keel_up(tmp_path)
    seen = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # blocks until `keel up` prints that everything is healthy
            seen.append(line)
            if "press Ctrl-C" in line:
                break
        else:
            pytest.fail("keel up ended early:\n" + "".join(seen))
        out = "".join(seen)
        assert "registry" in out and "valkey" in out and "SERVING" in out
        assert re.search(r"│ training-worker\s+│ SERVING ready\s+│ queue train\.cpu", out), out
        state = PlatformState.load(tmp_path)
        assert state is not None
        pids = {name: c.pid for name, c in state.components.items() if c.pid}
        assert set(pids) == {
            "registry",
            "ingestion",
            "ingestion-worker",
            "training",
            "training-worker",
            "feedback",
            "gateway",
        }
        assert all(pid_alive(pid) for pid in pids.values())

        # `keel up` prints the gateway's URL, the admin key and how to use them.
        url_match = re.search(r"^gateway\s+(http://127\.0\.0\.1:\d+/v1)", out, re.M)
        key_match = re.search(r"^admin key (sk-keel-\S+)", out, re.M)
        assert url_match and key_match, out
        v1, admin = url_match.group(1), key_match.group(1)
        assert f"export OPENAI_BASE_URL={v1} OPENAI_API_KEY={admin}" in out
        assert v1 == state.components["gateway"].http + "/v1"
        assert admin_key_path(tmp_path).read_text().strip() == admin
        assert mode(admin_key_path(tmp_path)) == 0o600 and mode(tmp_path / "gateway" / "pepper") == 0o600
        base = v1.removesuffix("/v1")
        assert httpx.get(f"{base}/livez").status_code == 200
        ready = httpx.get(f"{base}/readyz")  # --no-inference: live, and says why it is not ready
        assert ready.status_code == 503 and ready.json()["checks"]["inference"].startswith("unreachable")

        # The admin key works on the admin API: a key for another tenant, listed, then revoked.
        created = httpx.post(
            f"{v1}/admin/keys", headers=bearer(admin), json={"tenant": "acme", "scopes": ["inference"]}
        )
        assert created.status_code == 201, created.text
        acme = created.json()
        assert acme["tenant"] == "acme" and acme["key"].startswith("sk-keel-")
        listed = httpx.get(f"{v1}/admin/keys", params={"tenant": "acme"}, headers=bearer(admin))
        assert [k["id"] for k in listed.json()["data"]] == [acme["id"]]
        assert httpx.get(f"{v1}/models", headers=bearer(acme["key"])).status_code == 503  # no inference
        revoked = httpx.delete(f"{v1}/admin/keys/{acme['id']}", headers=bearer(admin))
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        refused = httpx.get(f"{v1}/models", headers=bearer(acme["key"]))
        assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]

        status = subprocess.run([KEEL, "status"], env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stdout + status.stderr
        # valkey, registry, ingestion API and worker, training API and worker, feedback
        assert status.stdout.count("SERVING") == 7
        rows = {line.split("│")[1].strip(): line for line in status.stdout.splitlines() if "│" in line}
        assert "SERVING ready" in rows["training"] and state.components["training"].grpc in rows["training"]
        assert "SERVING ready" in rows["training-worker"] and "queue train.cpu" in rows["training-worker"]
        assert "LIVE" in rows["gateway"] and v1 in rows["gateway"] and "inference" in status.stdout

        # `keel jobs` with no flags: the local gateway and the saved admin key (training scope).
        def keel(*args: str, code: int = 0, timeout: float = 60) -> str:
            done = subprocess.run([KEEL, *args], env=env, capture_output=True, text=True, timeout=timeout)
            assert done.returncode == code, done.stdout + done.stderr
            return done.stdout + done.stderr

        # feedback on an answer: without inference the chat is a 503, still a completion the
        # gateway issued and recorded; its record reaches the feedback service through the stream
        hi = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}]}
        failed = httpx.post(f"{v1}/chat/completions", headers=bearer(admin), json=hi)
        assert failed.status_code == 503
        cid = failed.headers["x-request-id"]
        rate = ("feedback", "submit", cid, "--down", "--comment", "no answer at all", "--client-id", "t-1")
        assert re.search(rf"fb_\w+ recorded on {cid}", keel(*rate))
        assert "already recorded" in keel(*rate)
        assert "score.value" in keel("feedback", "submit", cid, "--rating", "9/5", code=1)
        deadline = time.monotonic() + 30
        while cid not in keel("feedback", "list", "--rated"):
            assert time.monotonic() < deadline, "the interaction never reached the feedback service"
            time.sleep(0.2)
        shown = keel("feedback", "show", cid)
        assert "no answer at all" in shown and "user: hi" in shown, shown
        # the request never reached a model: its answers count under "(unrouted)"
        stats = json.loads(keel("feedback", "stats", "--json"))
        assert [(q["base_model"], q["interactions"], q["thumbs_down"]) for q in stats] == [("", 1, 1)]
        assert "(unrouted)" in keel("feedback", "stats")

        # documents in, a dataset out, with the platform's build worker
        docs = tmp_path / "docs"
        docs.mkdir()
        for i, topic in enumerate(("pumps", "valves", "seals")):
            (docs / f"{topic}.md").write_text(
                f"# {topic.title()}\n\n" + "\n\n".join(
                    f"Rule {j} for {topic}: check unit {i}{j} in bay {j + 2} before the early shift starts."
                    for j in range(6)
                )
            )  # fmt: skip
        (docs / "tool.exe").write_bytes(b"MZ\x90\x00")
        out = keel("docs", "upload", str(docs / "*.md"), str(docs / "tool.exe"), code=1)
        assert out.count("ready") >= 3 and "unsupported document type" in out, out
        out = keel("docs", "upload", str(docs))  # a folder: the same three, already there
        assert out.count("already uploaded") == 3, out
        out = keel(
            "datasets", "create", "handbooks", "--all-docs", "--chunk-tokens", "48", "--follow", timeout=120
        )
        ref = re.search(r"(ds_\w+)@1", out)
        assert ref and "examples" in out, out
        ds = ref.group(1)
        out = keel("datasets", "version", ds, "--chunk-tokens", "96", "--follow", timeout=120)
        assert f"{ds}@2" in out, out
        preview = keel("datasets", "preview", f"{ds}@1", "--limit", "2")
        assert re.search(r"(pumps|valves|seals)\.md", preview) and "Rule" in preview, preview
        diff = keel("datasets", "diff", ds, "1", "2")
        assert "chunk_tokens" in diff and "48" in diff and "96" in diff, diff
        assert ds in keel("datasets", "list")
        pumps = re.search(r"(doc_\w+)", keel("docs", "list", "--query", "pumps"))
        assert pumps, "no pumps.md in the list"
        assert "pumps.md" in keel("docs", "show", pumps.group(1))
        keel("docs", "delete", pumps.group(1))
        assert "pumps.md" not in keel("docs", "list") and "seals.md" in keel("docs", "list")
        # the built versions still resolve the deleted document's examples
        both = [
            keel("datasets", "preview", f"{ds}@1", "--split", split, "--limit", "100")
            for split in ("train", "validation")
        ]
        assert "pumps" in "".join(both)

        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"messages": [{"role": "wizard", "content": "x"}]}\nnope\n')
        refused = keel("jobs", "create", "--file", str(bad), code=1)
        assert f"error: {bad} is not a valid training file:\n" in refused
        assert (
            "\n  line 1: messages[0].role 'wizard'" in refused and "\n  line 2: is not valid JSON" in refused
        )
        data = facts_jsonl(tmp_path / "facts.jsonl")
        out = keel("jobs", "create", "--file", str(data), "--suffix", "walrus", "--max-steps", "2",
                   "--batch-size", "4", "--lora-r", "4", "--follow", timeout=240)  # fmt: skip
        assert "uploaded facts.jsonl as file" in out and "(10 examples," in out
        job_id = re.search(r"created job (ftjob_\w+) \(queued\)", out).group(1)  # type: ignore[union-attr]
        assert re.search(r"\] 2/2 steps  loss \d+\.\d{4}  \d+ tok/s", out), out  # the bar (no TTY: plain)
        assert "Job status: running" in out and "Job status: succeeded" in out
        model = f"ft:smollm2-135m-instruct:keel:walrus:{job_id}"
        assert re.search(rf"job {job_id} succeeded in \d+ s, \d+ tokens trained", out), out
        version = re.search(rf"fine-tuned model {re.escape(model)} \(registry version (\S+)\)", out)
        assert version, out
        assert job_id in keel("jobs", "list") and model in keel("jobs", "get", job_id)
        events = keel("jobs", "events", job_id, "--limit", "100").splitlines()
        assert "Job status: validating_files" in events[0] and "Job status: succeeded" in events[-1]
        assert "Step 2/2" in "\n".join(events)
        # the adapter is a registry version with the job in its lineage
        shown = keel("models", "show", version.group(1))
        assert job_id in shown and "READY" in shown

        # a long job, cancelled: following it ends with exit 1 and says so
        out = keel("jobs", "create", "--file", str(data), "--max-steps", "400", "--batch-size", "2")
        long_id = re.search(r"created job (ftjob_\w+)", out).group(1)  # type: ignore[union-attr]
        assert long_id in keel("jobs", "cancel", long_id)
        out = keel("jobs", "events", long_id, "--follow", code=1, timeout=120)
        assert f"job {long_id} cancelled" in out and "fine-tuned model" not in out
        assert "no fine-tuning job 'ftjob_nope'" in keel("jobs", "get", "ftjob_nope", code=1).lower()

        worker = pids["training-worker"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(90) == 0
        rest = proc.stdout.read()
        assert "stopped" in rest
    finally:
        stop_keel_up(proc)
    assert not any(pid_alive(pid) for pid in pids.values())
    assert group_members(worker) == []  # the worker's job process went with it
    assert not (tmp_path / STATE_FILE).exists()
    after = subprocess.run([KEEL, "status"], env=env, capture_output=True, text=True, timeout=60)
    assert after.returncode == 1 and "no local platform" in after.stderr


def test_platform_reports_a_component_that_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = LocalPlatform(tmp_path, registry_port=0, registry_http_port=0, startup_timeout=20)
    bad_db = tmp_path / "not-a-dir"
    bad_db.write_text("file where a directory should be")
    monkeypatch.setenv("KEEL_REGISTRY_DATABASE_URL", f"sqlite:///{bad_db}/registry.db")
    with pytest.raises(RuntimeError, match="registry exited with code"):
        platform.start()
    assert platform.procs == {} and platform.valkey is None
    # the gateway is waited on through /livez: a gateway that dies is reported just the same
    monkeypatch.delenv("KEEL_REGISTRY_DATABASE_URL")
    monkeypatch.setenv("KEEL_GATEWAY_POLICY_PATH", str(tmp_path / "no-such-policy.yaml"))
    platform = LocalPlatform(tmp_path, registry_port=0, registry_http_port=0, gateway_port=0)
    with pytest.raises(RuntimeError, match=r"(?s)gateway exited with code .*no-such-policy"):
        platform.start()
    assert platform.procs == {} and platform.valkey is None


@pytest.fixture
def platform(tmp_path: Path):
    with LocalPlatform(tmp_path / "keel", registry_port=0, registry_http_port=0, gateway_port=0) as p:
        yield p


def test_cli_models_commands(platform: LocalPlatform, tmp_path: Path) -> None:
    runner = CliRunner()

    def keel(*args: str, ok: bool = True) -> str:
        result = runner.invoke(main, ["--registry", platform.registry_target, *args], catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    adapter = write_lora_adapter(tmp_path / "ad", BaseShape("tiny", 16, 2, 4, 2), rank=2)
    assert "created model support-bot" in keel("models", "create", "support-bot", "-d", "helps")
    out = keel(
        "models",
        "register",
        "support-bot",
        str(adapter),
        "--base-model",
        "tiny",
        "-m",
        "eval_loss=1.25",
        "-t",
        "nightly",
        "--dataset",
        "ds_1@2",
        "--job",
        "job_9",
    )
    assert "registered support-bot/1 (READY)" in out
    keel("models", "register", "support-bot", str(adapter / "adapter_config.json"), "--base-model", "tiny")
    assert "support-bot@production → 1" in keel("models", "alias", "set", "support-bot", "production", "1")
    keel("models", "alias", "set", "support-bot", "production", "2")
    listing = keel("models", "list")
    assert "support-bot" in listing and "production→2" in listing
    versions = keel("models", "versions", "support-bot")
    assert "support-bot/2" in versions and "support-bot/1" in versions and "ds_1@2" in versions
    assert "support-bot/1" in keel("models", "versions", "--tag", "nightly")
    show = keel("models", "show", "support-bot/1")
    assert "job_9" in show and "ds_1 version 2" in show and "eval_loss = 1.25" in show
    assert "support-bot → support-bot/2 (via alias production)" in keel("models", "resolve", "support-bot")
    assert "rolled back → 1" in keel("models", "alias", "rollback", "support-bot", "production")
    history = keel("models", "alias", "history", "support-bot")
    assert history.index("ROLLBACK") < history.index("SET")
    assert "deleted support-bot@production (was 1)" in keel(
        "models", "alias", "delete", "support-bot", "production"
    )
    # registering under a name that does not exist yet creates the model
    out = keel("models", "register", "new-bot", str(adapter), "--base-model", "tiny")
    assert "created model new-bot" in out and "registered new-bot/1 (READY)" in out
    err = keel("models", "alias", "set", "support-bot", "production", "7", ok=False)
    assert "NOT_FOUND" in err and "version" in err
    err = keel(
        "models", "register", "support-bot", str(adapter), "--base-model", "tiny", "-m", "loss=abc", ok=False
    )
    assert "--metric" in err


def test_second_platform_on_the_same_data_dir_is_refused(platform: LocalPlatform) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        LocalPlatform(platform.data_dir, registry_port=0, registry_http_port=0).start()
    assert (platform.data_dir / STATE_FILE).exists()  # the running one is untouched


def test_keel_up_stops_on_sigterm_and_reports_a_crashed_component(tmp_path: Path) -> None:
    """SIGTERM stops everything; a component that dies stops the platform and is named: here the
    training worker, killed outright while a job runs in its pool process; nothing of its
    process group is left running."""
    admin_keys = []
    for how in ("sigterm", "crash"):
        # --max-restarts 0: the first crash stops the platform (by default it is restarted)
        extra = ("--no-training",) if how == "sigterm" else ("--max-restarts", "0")
        proc, _ = keel_up(tmp_path, "--no-inference", "--no-ingestion", "--no-feedback", *extra)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "press Ctrl-C" in line:
                    break
            state = PlatformState.load(tmp_path)
            assert state is not None
            pids = {name: c.pid for name, c in state.components.items() if c.pid}
            admin_keys.append(admin_key_path(tmp_path).read_text())
            if how == "sigterm":
                assert set(pids) == {"registry", "gateway"}  # --no-training
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(60) == 0
            else:
                # a job running in the worker's pool process
                worker = pids["training-worker"]
                gateway = state.components["gateway"].http
                with GatewayClient(gateway, admin_key_path(tmp_path).read_text().strip()) as gw:
                    f = gw.upload_file(facts_jsonl(tmp_path / "facts.jsonl"))
                    job = gw.create_job("smollm2-135m-instruct", f["id"], hyperparameters={"max_steps": 400})
                    deadline = time.monotonic() + 60
                    while gw.get_job(job["id"])["status"] != "running":
                        assert time.monotonic() < deadline, "the worker never started the job"
                        time.sleep(0.2)
                assert len(group_members(worker)) >= 2  # the Celery main process and its pool process
                os.kill(worker, signal.SIGKILL)
                assert proc.wait(60) == 1
                assert "training-worker exited unexpectedly" in proc.stdout.read()
                assert group_members(worker) == []
        finally:
            stop_keel_up(proc)
        assert not any(pid_alive(pid) for pid in pids.values())
        assert not (tmp_path / STATE_FILE).exists()
    # the same data dir keeps its pepper and Valkey data, so the admin key still verifies
    assert admin_keys[0] == admin_keys[1]


def test_keys_cli_through_the_gateway_and_admin_key_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`keel keys` and `keel chat` find the local gateway and its admin key without flags; errors
    from the API are one line; a revoked admin key is replaced on the next start."""
    data_dir = tmp_path / "keel"
    monkeypatch.setenv("KEEL_DATA_DIR", str(data_dir))
    runner = CliRunner()

    def keel(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    with LocalPlatform(data_dir, registry_port=0, registry_http_port=0, gateway_port=0) as platform:
        admin = platform.admin_key
        out = keel("keys", "create", "--tenant", "acme", "--scopes", "inference,training", "--name", "app",
                   "--rpm", "5")  # fmt: skip
        assert "for tenant acme (scopes inference, training)" in out
        app_key = re.search(r"sk-keel-\S+", out)
        assert app_key is not None
        made = keel("keys", "create", "--tenant", "acme", "--scopes", "admin,inference", "--json")
        admin_acme = json.loads(made)
        listing = keel("keys", "list", "--tenant", "acme")
        assert "app" in listing and "inference,training" in listing and "5" in listing
        assert admin_acme["id"] in listing and "keel-up-admin" not in listing
        assert "keel-up-admin" in keel("keys", "list")  # the operator's own tenant by default
        app_id = app_key.group(0)[len("sk-keel-") :].split(".")[0]
        assert f"revoked {app_id} (tenant acme)" in keel("keys", "revoke", app_id)

        # API errors: `error: <message>` and exit code 1
        out = keel("keys", "list", "--api-key", app_key.group(0), code=1)
        assert "error: This API key has been revoked." in out
        out = keel("keys", "list", "--api-key", admin_acme["key"], "--tenant", "globex", code=1)
        assert "error: This key administers tenant 'acme' only." in out
        assert "error: No API key with id 'nope'." in keel("keys", "revoke", "nope", code=1)
        assert "is not a valid tenant" in keel("keys", "create", "--tenant", "Not Valid", code=1)
        assert "unknown scope" in keel("keys", "create", "--scopes", "inference,root", code=1)
        # a refused chat: without inference the gateway answers 503 and says why
        out = keel("chat", "-m", "hi", "--model", "smollm2-135m-instruct", code=1)
        assert out.startswith("error: inference is unavailable")
        repl = runner.invoke(main, ["chat", "--model", "smollm2-135m-instruct"], input="hello\n/exit\n")
        assert repl.exit_code == 0 and "error: inference is unavailable" in repl.output
        # no gateway there, or no key to send to a gateway on another machine
        out = keel("keys", "list", "--gateway-url", f"http://127.0.0.1:{port_of_nothing()}", code=1)
        assert "error: cannot reach the gateway at" in out
        out = keel("keys", "list", "--gateway-url", "http://gateway.example:8080", code=2)
        assert "no API key" in out

        # the operator revokes the admin key `keel up` made: it stops working at once
        admin_id = admin[len("sk-keel-") :].split(".")[0]
        keel("keys", "revoke", admin_id)
        assert "error: This API key has been revoked." in keel("keys", "list", code=1)

    with LocalPlatform(data_dir, registry_port=0, registry_http_port=0, gateway_port=0) as platform:
        assert platform.admin_key != admin  # replaced, since the saved one no longer verifies
        assert admin_key_path(data_dir).read_text().strip() == platform.admin_key
        assert mode(admin_key_path(data_dir)) == 0o600
        assert "keel-up-admin" in keel("keys", "list")
        # keys made before the restart still verify: the pepper was kept
        r = httpx.get(f"{platform.gateway_url}/v1/admin/keys", headers=bearer(admin_acme["key"]))
        assert r.status_code == 200 and {k["tenant"] for k in r.json()["data"]} == {"acme"}


def port_of_nothing() -> int:
    from keel_dev.local import port_or_free

    return port_or_free(0)


def test_keel_up_without_the_gateway(tmp_path: Path) -> None:
    proc, _ = keel_up(
        tmp_path, "--no-inference", "--no-gateway", "--no-training", "--no-ingestion", "--no-feedback"
    )
    seen = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "press Ctrl-C" in line:
                break
        state = PlatformState.load(tmp_path)
        assert state is not None and set(state.components) == {"valkey", "registry"}
        assert "admin key" not in "".join(seen) and not (tmp_path / "gateway").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        stop_keel_up(proc)


def test_registry_process_drains_and_releases_everything_on_sigterm(tmp_path: Path) -> None:
    from keel_common.grpc import wait_healthy
    from keel_dev.local import port_or_free

    grpc_port, http_port = port_or_free(0), port_or_free(0)
    env = {
        **os.environ,
        "KEEL_DATA_DIR": str(tmp_path),
        "KEEL_REGISTRY_GRPC_PORT": str(grpc_port),
        "KEEL_REGISTRY_HTTP_PORT": str(http_port),
    }
    env.pop("KEEL_REDIS_URL", None)  # the service starts its own embedded Valkey
    proc = subprocess.Popen(
        [sys.executable, "-m", "keel_registry", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_healthy(f"127.0.0.1:{grpc_port}", timeout=60)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        stop_keel_up(proc)
    assert proc.returncode == 0, out
    messages = [json.loads(line)["message"] for line in out.splitlines() if line.startswith("{")]
    assert (
        messages.index("shutting down")
        < messages.index("embedded valkey stopped")
        < messages.index("stopped")
    )


class ChatTraffic:
    """Base-model chats through the gateway in a loop on a thread: each one's start time,
    outcome (the HTTP status, or the transport error's name), body and end time."""

    def __init__(self, gateway: str, key: str) -> None:
        self.results: list[tuple[float, int | str, str, float]] = []
        self.stop = threading.Event()
        self.client = httpx.Client(base_url=gateway, headers=bearer(key), timeout=60, trust_env=False)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        body = {
            "model": DEFAULT_BASE_MODEL,
            "messages": [{"role": "user", "content": "Say hi."}],
            "max_tokens": 4,
        }
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                r = self.client.post("/v1/chat/completions", json=body)
                self.results.append((began, r.status_code, r.text[:300], time.monotonic()))
            except httpx.HTTPError as exc:
                self.results.append((began, type(exc).__name__, str(exc), time.monotonic()))
            self.stop.wait(0.05)

    def between(self, start: float, end: float) -> list[tuple[float, int | str, str, float]]:
        """The chats that began in [start, end)."""
        return [r for r in self.results if start <= r[0] < end]

    def overlapping(self, start: float, end: float) -> list[tuple[float, int | str, str, float]]:
        """The chats that were under way at some time in [start, end)."""
        return [r for r in self.results if r[0] < end and r[3] > start]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(90)
        self.client.close()


def problems(comp: Component) -> str:
    """The component's record and the warnings and errors in its log, for a failure message."""
    lines = Path(comp.log).read_text(errors="replace").splitlines()
    return f"{comp}\n" + "\n".join(line[:400] for line in lines if '"level": "info"' not in line)[-4000:]


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Poll observable state (the state file, the traffic's results) until ``check`` holds;
    the time it did."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return time.monotonic()


def check_inference_serves(state: PlatformState) -> None:
    """Inference as `keel up` runs it (its own Ray, local mode, the shipped model) answers over
    gRPC, and `keel chat` finds this platform's gateway and admin key and streams an answer."""
    import grpc

    from keel.common.v1 import common_pb2 as cpb
    from keel.inference.v1 import inference_pb2 as ipb
    from keel.inference.v1 import inference_pb2_grpc as ipb_grpc

    comp = state.components["inference"]
    assert component_health(comp)[0] == "SERVING"
    with grpc.insecure_channel(comp.grpc) as ch:
        stub = ipb_grpc.InferenceServiceStub(ch)
        reply = stub.Generate(
            ipb.GenerateRequest(
                messages=ipb.ChatMessages(messages=[cpb.ChatMessage(role="user", content="Say hello.")]),
                sampling=cpb.SamplingParams(max_tokens=8),
            )
        )
        assert reply.text and reply.usage.completion_tokens >= 1
        assert stub.ListModels(ipb.ListModelsRequest()).models[0].ready
    # the gateway with its semantic rails loaded, as `keel up` runs it
    assert component_health(state.components["gateway"]) == ("SERVING", "ready")
    # `keel chat` streams the answer and ends with a dim line: request id, model, tokens, finish
    chat = CliRunner().invoke(
        main, ["chat", "-m", "Say hi", "--max-tokens", "8"], env={"KEEL_DATA_DIR": state.data_dir},
        catch_exceptions=False,
    )  # fmt: skip
    assert chat.exit_code == 0, chat.output
    answer, summary = chat.output.rstrip("\n").rsplit("\n", 1)
    assert answer.strip()
    line = r"chatcmpl-[0-9a-f]+ · \S+ · \d+\+[1-8] tokens · finish (stop|length)$"
    assert re.match(line, summary), summary


def test_keel_up_restarts_killed_components_under_traffic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`keel up` with inference serves chats (gRPC, the gateway, `keel chat`), and the runner
    behaves like a cluster: SIGKILL the registry under chat traffic and it is restarted on the
    same port while base-model chats keep succeeding; SIGKILL inference and it is restarted too:
    chats fail with clear 503s only while it is down, then succeed again. Ctrl-C drains all."""
    monkeypatch.delenv("KEEL_GATEWAY_SEMANTIC_RAILS")  # the one test that runs the rails as shipped
    proc, env = keel_up(tmp_path, "--no-training", "--no-ingestion", "--no-feedback")  # what restarts need
    seen: list[str] = []
    traffic = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "press Ctrl-C" in line:
                break
        else:
            pytest.fail("keel up ended early:\n" + "".join(seen))
        # the rest of keel up's output, as it comes
        reader = threading.Thread(target=lambda: seen.extend(proc.stdout or ()), daemon=True)
        reader.start()
        state = PlatformState.load(tmp_path)
        assert state is not None
        check_inference_serves(state)
        gateway = state.components["gateway"].http
        with GatewayClient(gateway, admin_key_path(tmp_path).read_text().strip()) as gw:
            # no rate limits: the loop sends as fast as the model answers
            key = gw.create_key("acme", ["inference"], "traffic", rpm=-1, tpm=-1, concurrency=-1)["key"]
        traffic = ChatTraffic(gateway, key)
        wait_for("a first chat", lambda: any(r[1] == 200 for r in traffic.results), 120)

        def component(name: str) -> Component:
            now = PlatformState.load(tmp_path)
            assert now is not None, "the platform stopped:\n" + "".join(seen)
            return now.components[name]

        # --- the registry, killed: base-model chats need no registry ---------------------------
        registry = state.components["registry"]
        os.kill(registry.pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for("the registry's restart", lambda: component("registry").restarts >= 1, 30)
        back = wait_for("the registry serving again", lambda: component("registry").state == "running", 120)
        now = component("registry")
        # (a restart that fails, e.g. its port taken meanwhile by another process on this shared
        # machine, is retried with backoff: more than one restart is the runner doing its job)
        assert now.pid != registry.pid and now.grpc == registry.grpc, problems(now)
        assert component_health(now)[0] == "SERVING"  # on the same port
        # (a chat can take longer than the registry's downtime on 2 busy cores: count the ones
        # under way while it was down)
        during = traffic.overlapping(killed, back)
        assert during and all(r[1] == 200 for r in during), during
        assert "registry exited with -9; restarting in 1s (restart 1/5)" in "".join(seen)

        # `keel status` shows the restart
        status = subprocess.run([KEEL, "status"], env=env, capture_output=True, text=True, timeout=60)
        rows = {line.split("│")[1].strip(): line for line in status.stdout.splitlines() if "│" in line}
        assert f"{now.restarts}, last exit {now.last_exit}" in rows["registry"], status.stdout
        assert "SERVING" in rows["registry"], status.stdout

        # --- inference, killed: clear 503s while it is down, answers again after --------------
        inference = component("inference")
        os.kill(inference.pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for("the inference restart", lambda: component("inference").restarts >= 1, 30)
        back = wait_for("inference serving again", lambda: component("inference").state == "running", 600)
        assert component("inference").grpc == inference.grpc
        recovered = wait_for(
            "a chat answered after inference came back",
            lambda: any(r[1] == 200 for r in traffic.between(back, math.inf)),
            120,
        )
        failed = [r for r in traffic.between(killed, math.inf) if r[1] != 200]
        assert failed, "no chat failed while inference was down"
        assert [r for r in failed if r[1] != 503] == []  # a clear answer, never a dropped connection
        assert all("inference" in r[2] for r in failed), failed[:3]
        assert all(r[0] < recovered for r in failed)  # and only until it served again
        assert "inference exited with -9; restarting in 1s (restart 1/5)" in "".join(seen)
        wait_for("more chats after that", lambda: len(traffic.between(recovered, math.inf)) >= 3, 60)
        traffic.close()
        after = traffic.between(recovered, math.inf)
        assert [r for r in after if r[1] != 200] == []

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0
        reader.join(10)  # the output to its end
    finally:
        if traffic is not None:
            traffic.close()
        stop_keel_up(proc)
    assert not (tmp_path / STATE_FILE).exists()
    # every component drained within its grace (none needed a SIGKILL)
    assert "did not stop within" not in "".join(seen), "".join(seen)[-3000:]
    gateway_log = (tmp_path / "logs" / "gateway.log").read_text()
    assert "Application shutdown complete" in gateway_log
