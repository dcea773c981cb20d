"""Preference training (DPO) in the job API's core, on a real Valkey, artifact directory and
SmolLM2's real tokenizer: preference files and their per-line refusals, the method and beta
checks, which dataset formats each method takes, and starting from a fine-tuned model through
a real registry. The last test runs such a job on a worker's ``Runner`` (a tiny Llama) to a
registered version."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from keel.training.v1 import training_pb2 as pb
from keel_client.registry import RegistryClient
from keel_common.artifacts import ArtifactStore
from keel_common.errors import InvalidArgument, NotFound
from keel_common.grpc.client import channel
from keel_training.config import TrainingSettings
from keel_training.core import TrainingCore
from keel_training.core.datasets import ResolvedDataset
from keel_training.registry_client import RegistryModels
from keel_training.store import Store
from keel_training.validation import PreferencePair
from keel_training.worker.job_run import Runner

SMOL = "smollm2-135m-instruct"
TINY = "tiny-llama"
GOOD = ["kind", "clear", "honest", "helpful", "polite", "careful"]
BAD = ["rude", "vague", "wrong", "lazy", "harsh", "sloppy"]


def preference(i: int, chosen: str | None = None, rejected: str | None = None) -> dict[str, Any]:
    return {
        "input": {"messages": [{"role": "user", "content": f"Describe answer number {i}."}]},
        "preferred_output": [{"role": "assistant", "content": chosen or f"A {GOOD[i % 6]} answer."}],
        "non_preferred_output": [{"role": "assistant", "content": rejected or f"A {BAD[i % 6]} answer."}],
    }


def jsonl(rows: list[Any]) -> bytes:
    return ("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n").encode()


def pairs_file(n: int, offset: int = 0) -> bytes:
    return jsonl([preference(offset + i) for i in range(n)])


def events(store: Store, job_id: str) -> list[pb.JobEvent]:
    return store.events_after(job_id, 0, 1000)


def dpo_request(file_id: str, **kw: Any) -> pb.CreateJobRequest:
    kw.setdefault("tenant", "t1")
    kw.setdefault("base_model", SMOL)
    kw.setdefault("method", pb.TRAINING_METHOD_DPO)
    return pb.CreateJobRequest(training_data=pb.TrainingData(file_id=file_id), **kw)


# --- files ---------------------------------------------------------------------------------------
def test_a_preference_file_uploads_and_counts_its_pairs(core: TrainingCore) -> None:
    f = core.upload_file("t1", "pairs.jsonl", "fine-tune", pairs_file(12))
    assert (f.examples, f.status) == (12, "processed")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"preferred_output": [], "non_preferred_output": []}, "has no 'input' object"),
        ({**preference(0), "input": {"messages": []}}, "'input.messages' must be a non-empty list"),
        (
            {**preference(0), "input": {"messages": [{"role": "wizard", "content": "x"}]}},
            "input.messages[0].role 'wizard' is not one of system, user, assistant",
        ),
        (
            {
                **preference(0),
                "input": {
                    "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
                },
            },
            "input.messages must end with a user turn",
        ),
        (
            {**preference(0), "preferred_output": {"role": "assistant", "content": "x"}},
            "'preferred_output' must be a list of exactly one assistant message",
        ),
        (
            {
                **preference(0),
                "preferred_output": [
                    {"role": "assistant", "content": "x"},
                    {"role": "assistant", "content": "y"},
                ],
            },
            "'preferred_output' must be a list of exactly one assistant message",
        ),
        (
            {**preference(0), "non_preferred_output": [{"role": "user", "content": "x"}]},
            "non_preferred_output[0].role must be 'assistant', got 'user'",
        ),
        (
            {**preference(0), "non_preferred_output": [{"role": "assistant", "content": " "}]},
            "non_preferred_output[0] (assistant) has no content",
        ),
        (
            {k: v for k, v in preference(0).items() if k != "non_preferred_output"},
            "'non_preferred_output' must be a list of exactly one assistant message",
        ),
        (preference(0, "Same.", "Same."), "preferred_output and non_preferred_output are the same answer"),
        (
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]},
            "is a chat example, not a preference pair",
        ),
        (
            {"prompt": [{"role": "user", "content": "Hi"}], "completion": [], "label": True},
            "is a KTO example: KTO training is not supported yet; export DPO pairs instead",
        ),
    ],
)
def test_each_fault_of_a_preference_file_is_named_with_its_line(
    core: TrainingCore, row: dict[str, Any], reason: str
) -> None:
    content = jsonl([preference(i) for i in range(5)] + [row] + [preference(i) for i in range(6, 12)])
    with pytest.raises(InvalidArgument) as err:
        core.upload_file("t1", "pairs.jsonl", "fine-tune", content)
    assert err.value.field == "file"
    assert err.value.message.startswith(f"invalid training file: line 6: {reason}"), err.value.message


def test_a_file_holds_one_format_every_fault_listed(core: TrainingCore) -> None:
    chat = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
    with pytest.raises(InvalidArgument) as err:
        core.upload_file(
            "t1", "mixed.jsonl", "fine-tune", jsonl([chat, preference(1), "", chat, preference(2)])
        )
    message = err.value.message
    assert "line 2: is a preference pair, not a chat example" in message
    assert "line 5: is a preference pair" in message and "line 4" not in message


# --- creating DPO jobs ---------------------------------------------------------------------------
def test_a_dpo_job_records_its_method_and_beta(core: TrainingCore, store: Store, enqueued: list[Any]) -> None:
    f = core.upload_file("t1", "pairs.jsonl", "fine-tune", pairs_file(12))
    job = core.create_job(dpo_request(f.id, hyperparameters=pb.LoraHyperparameters(batch_size=4)))
    assert job.status == pb.JOB_STATUS_QUEUED and enqueued == [(job.id, "train.gpu")]
    assert job.method == pb.TRAINING_METHOD_DPO
    assert job.dpo.beta == pytest.approx(0.1)  # the default
    assert job.hyperparameters.epochs == 9  # auto: 12 pairs
    assert job.progress.total_steps == 27  # 12 pairs / 4 per batch, 9 epochs
    assert events(store, job.id)[1].log.message == "training file: 12 preference pairs; about 27 steps"
    # DPO's auto learning rate is a quarter of SFT's on the same model
    assert job.hyperparameters.learning_rate == pytest.approx(2e-4 * (7e9 / 134_479_872) ** 0.5 / 4)
    given = core.create_job(dpo_request(f.id, dpo=pb.DpoHyperparameters(beta=0.5)))
    assert given.dpo.beta == pytest.approx(0.5)
    # An SFT job says so, and carries no DPO settings.
    g = core.upload_file("t1", "chat.jsonl", "fine-tune", jsonl([_chat(i) for i in range(10)]))
    sft = core.create_job(
        pb.CreateJobRequest(tenant="t1", base_model=SMOL, training_data=pb.TrainingData(file_id=g.id))
    )
    assert sft.method == pb.TRAINING_METHOD_SUPERVISED and not sft.HasField("dpo")


def _chat(i: int) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": f"{i}?"}, {"role": "assistant", "content": str(i)}]}


@pytest.mark.parametrize(
    ("change", "field", "match"),
    [
        ({"method": 7}, "method", "unknown training method 7"),
        ({"dpo": pb.DpoHyperparameters(beta=-0.1)}, "dpo.beta", "must be in (0, 10]"),
        ({"dpo": pb.DpoHyperparameters(beta=10.5)}, "dpo.beta", "must be in (0, 10]"),
        ({"dpo": pb.DpoHyperparameters(beta=float("nan"))}, "dpo.beta", "must be in (0, 10]"),
        ({"base_model": "ft:nothing:t1::ftjob_x"}, "model", "unknown base model"),
    ],
)
def test_dpo_refusals_name_the_field_and_queue_nothing(
    core: TrainingCore, enqueued: list[Any], change: dict[str, Any], field: str, match: str
) -> None:
    f = core.upload_file("t1", "pairs.jsonl", "fine-tune", pairs_file(12))
    with pytest.raises(InvalidArgument, match=match.replace("(", r"\(").replace("]", r"\]")) as err:
        core.create_job(dpo_request(f.id, **change))
    assert err.value.field == field and enqueued == []


def test_each_method_refuses_the_other_methods_data_with_line_numbers(
    core: TrainingCore, enqueued: list[Any]
) -> None:
    chat = core.upload_file("t1", "chat.jsonl", "fine-tune", jsonl([_chat(i) for i in range(10)]))
    with pytest.raises(InvalidArgument) as err:
        core.create_job(dpo_request(chat.id))
    assert err.value.field == "training_file"
    assert err.value.message.startswith(
        "invalid training file: line 1: is a chat example, not a preference pair"
    )
    assert "line 10: is a chat example" in err.value.message
    pairs = core.upload_file("t1", "pairs.jsonl", "fine-tune", pairs_file(12))
    with pytest.raises(InvalidArgument) as err:
        core.create_job(dpo_request(pairs.id, method=pb.TRAINING_METHOD_SUPERVISED))
    assert err.value.field == "training_file"
    assert "line 1: is a preference pair, not a chat example (preference pairs train with method dpo)" in (
        err.value.message
    )
    with pytest.raises(InvalidArgument) as err:  # a validation file of the wrong kind, too
        core.create_job(dpo_request(pairs.id, validation_data=pb.TrainingData(file_id=chat.id)))
    assert err.value.field == "validation_file"
    assert enqueued == []


def test_pairs_are_truncated_as_trained_and_a_pair_left_without_a_difference_is_refused(
    core: TrainingCore, store: Store, tok: Any
) -> None:
    long_prompt = "Please consider the following at length. " * 20
    rows = [preference(i) for i in range(11)]
    rows[3]["input"]["messages"][0]["content"] = long_prompt
    f = core.upload_file("t1", "pairs.jsonl", "fine-tune", jsonl(rows))
    job = core.create_job(dpo_request(f.id, hyperparameters=pb.LoraHyperparameters(max_seq_len=64)))
    assert job.truncated_examples == 1
    warnings = [e.log.message for e in events(store, job.id) if e.log.severity == pb.LOG_SEVERITY_WARNING]
    assert warnings == ["1 preference pair(s) exceed max_seq_len=64 tokens and will be truncated"]
    # Two answers that differ only beyond what max_seq_len leaves of them: nothing to prefer.
    same_start = "The same opening words, over and over, " * 8
    rows[7] = preference(7, same_start + "then good.", same_start + "then bad.")
    g = core.upload_file("t1", "pairs2.jsonl", "fine-tune", jsonl(rows))
    with pytest.raises(InvalidArgument) as err:
        core.create_job(dpo_request(g.id, hyperparameters=pb.LoraHyperparameters(max_seq_len=64)))
    assert err.value.field == "training_file"
    assert err.value.message.startswith(
        "line 8: preferred_output and non_preferred_output are the same within max_seq_len=64 tokens"
    )
    assert core.create_job(dpo_request(g.id)).status == pb.JOB_STATUS_QUEUED  # at 1024 they differ


# --- dataset versions by format ------------------------------------------------------------------
class Versions:
    """Dataset versions as ingestion resolves them (its own tests cover the real service): each
    format's rows in the real artifact store."""

    def __init__(self, artifacts: ArtifactStore) -> None:
        self.artifacts = artifacts
        self.versions: dict[str, ResolvedDataset] = {}

    def add(self, ds: str, fmt: str, n_train: int, n_val: int) -> None:
        def put(name: str, rows: list[Any]) -> str:
            return self.artifacts.put_bytes(f"datasets/{ds}/1/{name}", jsonl(rows)).uri if rows else ""

        make: Callable[[int], Any] = preference if fmt == "preference" else _chat
        if fmt == "kto":
            make = lambda i: {"prompt": [{"role": "user", "content": "Hi"}], "completion": [], "label": True}  # noqa: E731
        train, val = (
            put("train.jsonl", [make(i) for i in range(n_train)]),
            put("validation.jsonl", [make(100 + i) for i in range(n_val)]),
        )
        self.versions[ds] = ResolvedDataset(ds, 1, fmt, "READY", train, val)

    def resolve(self, dataset_id: str, version: int, tenant: str, field: str) -> ResolvedDataset:
        if dataset_id not in self.versions:
            raise NotFound("no such dataset", field=field)
        return self.versions[dataset_id]


def test_dataset_formats_each_method_takes(
    settings: TrainingSettings, store: Store, artifacts: ArtifactStore, enqueued: Any, shared_tokenizers: Any
) -> None:
    versions = Versions(artifacts)
    versions.add("ds_chat", "chat", 12, 3)
    versions.add("ds_qa", "qa_closed_book", 12, 0)
    versions.add("ds_pref", "preference", 12, 4)
    versions.add("ds_kto", "kto", 12, 0)
    core = TrainingCore(settings, store, artifacts, enqueued, versions)
    core.tokenizers = shared_tokenizers

    def create(ref: str, method: int) -> pb.Job:
        return core.create_job(
            pb.CreateJobRequest(
                tenant="t1", base_model=SMOL, method=method,  # type: ignore[arg-type]
                training_data=pb.TrainingData(dataset=pb.DatasetRef(dataset_id=ref, version=1)),
            )
        )  # fmt: skip

    sft, dpo = pb.TRAINING_METHOD_SUPERVISED, pb.TRAINING_METHOD_DPO
    # SFT takes imported chat rows as it takes the QA formats.
    chat_job = create("ds_chat", sft)
    assert chat_job.validation_file_uri == versions.versions["ds_chat"].validation_uri
    assert create("ds_qa", pb.TRAINING_METHOD_UNSPECIFIED).status == pb.JOB_STATUS_QUEUED
    # DPO takes preference versions, with their validation split.
    pref_job = create("ds_pref", dpo)
    assert pref_job.method == dpo
    assert (
        "training file: 12 preference pairs, validation file: 4" in events(store, pref_job.id)[1].log.message
    )
    for ref, method, message in [
        ("ds_pref", sft, "holds preference pairs; train on it with method dpo"),
        ("ds_chat", dpo, "holds chat examples, not preference pairs"),
        ("ds_qa", dpo, "holds qa_closed_book examples, not preference pairs"),
        ("ds_kto", sft, "KTO training is not supported yet; export DPO pairs instead"),
        ("ds_kto", dpo, "KTO training is not supported yet; export DPO pairs instead"),
    ]:
        with pytest.raises(InvalidArgument) as err:
            create(ref, method)
        assert err.value.field == "training_file" and message in err.value.message, err.value.message


# --- starting from a fine-tuned model, through a real registry ----------------------------------
@pytest.fixture
def registry(
    registry_factory: Callable[..., Any], tmp_path: Path, tiny_dir: Path
) -> Iterator[dict[str, Any]]:
    """A registry where t1 owns "t1-ft-tiny-llama" version 1, a random LoRA adapter of the tiny
    Llama tagged as a fine-tuned model, and t2 owns one of its own; both stores share a root."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    reg = registry_factory(None)
    target = f"127.0.0.1:{reg.grpc_port}"
    torch.manual_seed(3)
    sft = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_dir),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    sft.save_pretrained(tmp_path / "sft")
    names = {}
    with RegistryClient(target, actor="test") as rc:
        for tenant in ("t1", "t2"):
            model = f"{tenant}-ft-{TINY}"
            rc.create_model(model, tenant=tenant)
            ref = rc.upload_dir(model, tmp_path / "sft")
            tag = f"ft:{TINY}:{tenant}:sft:ftjob_{tenant}"
            rc.create_version(model, TINY, artifact_uri=ref.uri, artifact_sha256=ref.sha256, tags=[tag])
            names[tenant] = tag
        rc.create_model("t1-pending", tenant="t1")
        rc.create_version("t1-pending", TINY)  # PENDING: no artifact
        rc.create_model("t1-other-base", tenant="t1")
        ref = rc.upload_dir("t1-other-base", tmp_path / "sft")
        rc.create_version("t1-other-base", "llama-70b", artifact_uri=ref.uri, artifact_sha256=ref.sha256)
    ch = channel(target)
    yield {"target": target, "models": RegistryModels(ch), "ft": names, "root": tmp_path / "artifacts"}
    ch.close()


@pytest.fixture
def on_registry(
    registry: dict[str, Any], settings: TrainingSettings, store: Store, enqueued: Any, shared_tokenizers: Any
) -> TrainingCore:
    s = settings.model_copy(
        update={"artifact_root": str(registry["root"]), "registry_target": registry["target"]}
    )
    c = TrainingCore(s, store, ArtifactStore(str(registry["root"])), enqueued, models=registry["models"])
    c.tokenizers = shared_tokenizers
    return c


def test_a_job_may_start_from_a_fine_tuned_model_of_its_tenant(
    on_registry: TrainingCore, registry: dict[str, Any], store: Store
) -> None:
    core = on_registry
    f = core.upload_file("t1", "pairs.jsonl", "fine-tune", pairs_file(12))
    for name, ref in [(registry["ft"]["t1"], f"t1-ft-{TINY}/1"), (f"t1-ft-{TINY}/1", f"t1-ft-{TINY}/1")]:
        job = core.create_job(dpo_request(f.id, base_model=name))
        assert job.base_model == TINY  # the base model under it: what inference serves
        start = job.starting_adapter
        assert (start.model, start.ref) == (name, ref) and start.artifact_uri and start.artifact_sha256
        assert job.fine_tuned_model == "" and job.output_model == f"t1-ft-{TINY}"
        assert f"starting from {name} ({ref})" in events(store, job.id)[1].log.message
    for name, match in [
        (registry["ft"]["t2"], "unknown base model"),  # another tenant's looks unknown
        (f"t2-ft-{TINY}/1", "unknown base model"),
        ("no-such-model/3", "unknown base model"),
        ("t1-pending/1", "is not a READY adapter"),
        ("t1-other-base/1", "built on 'llama-70b', which is not fine-tunable here"),
    ]:
        with pytest.raises(InvalidArgument, match=match) as err:
            core.create_job(dpo_request(f.id, base_model=name))
        assert err.value.field == "model"


def test_dpo_on_a_fine_tuned_model_runs_and_registers_one_stacked_adapter(
    on_registry: TrainingCore, registry: dict[str, Any], store: Store, tmp_path: Path
) -> None:
    """The worker's run without Celery (tests/integration runs it under a real worker): it merges
    the starting adapter, trains DPO with evaluation, registers the stacked adapter once."""
    core = on_registry
    f = core.upload_file("t1", "pairs.jsonl", "fine-tune", pairs_file(12))
    val = core.upload_file("t1", "val.jsonl", "fine-tune", pairs_file(10, 50))
    job = core.create_job(
        dpo_request(
            f.id,
            base_model=registry["ft"]["t1"],
            suffix="dpo",
            validation_data=pb.TrainingData(file_id=val.id),
            dpo=pb.DpoHyperparameters(beta=0.25),
            hyperparameters=pb.LoraHyperparameters(batch_size=6, epochs=1, dropout=0.0, max_seq_len=128),
        )
    )
    settings = core.settings.model_copy(update={"torch_threads": 1})
    assert Runner(settings, store, core.artifacts).run(job.id) == "succeeded"
    done = store.get_job(job.id)
    assert done.status == pb.JOB_STATUS_SUCCEEDED, done.status_message
    assert done.fine_tuned_model == f"ft:{TINY}:t1:dpo:{job.id}"
    evs = store.events_after(job.id, 0, 1000)
    steps = [e.metrics for e in evs if e.WhichOneof("event") == "metrics" and not e.metrics.eval]
    (ev,) = [e.metrics for e in evs if e.WhichOneof("event") == "metrics" and e.metrics.eval]
    assert [s.step for s in steps] == [1, 2]
    assert set(steps[0].metrics) >= {"loss", "preference_accuracy", "reward_margin"}
    assert set(ev.metrics) >= {"eval_loss", "eval_preference_accuracy", "eval_reward_margin"}
    logs = [e.log.message for e in evs if e.WhichOneof("event") == "log"]
    assert any(f"on top of t1-ft-{TINY}/1" in m for m in logs), logs
    with RegistryClient(registry["target"]) as rc:
        (version,) = rc.list_versions(tag=done.fine_tuned_model)
    assert version.params["method"] == "dpo" and version.params["dpo_beta"] == "0.25"
    assert version.params["starting_model"] == registry["ft"]["t1"]
    assert version.lineage.parent_version == f"t1-ft-{TINY}/1"
    assert version.metrics["eval_preference_accuracy"] == pytest.approx(
        ev.metrics["eval_preference_accuracy"]
    )
    assert version.base_model == TINY
    adapter = ArtifactStore(str(registry["root"])).materialize(version.artifact_uri, tmp_path / "got")
    config = json.loads((adapter / "adapter_config.json").read_text())
    # the starting adapter's q/k/v/o and the new one's default, every linear layer
    linear = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert config["r"] == 4 + 8 and config["target_modules"] == linear


def test_preference_pairs_round_trip_through_the_file_store(core: TrainingCore) -> None:
    f = core.upload_file("t1", "pairs.jsonl", "fine-tune", pairs_file(10))
    (first, *_) = core.files.load_examples(f.uri, "training_file", "preference")
    assert first == PreferencePair(
        [{"role": "user", "content": "Describe answer number 0."}], "A kind answer.", "A rude answer.", 1
    )
