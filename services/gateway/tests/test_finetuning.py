"""The OpenAI shapes of files, jobs, events and checkpoints, and how training errors map."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest
from pydantic import ValidationError

from keel.training.v1 import training_pb2 as pb
from keel_common.errors import KeelError
from keel_gateway.errors import ApiError
from keel_gateway.finetuning import _error, _event_seq, checkpoint_object, event_object, job_object
from keel_gateway.schemas import CreateFineTuningJobRequest, DpoHyperparameters
from keel_gateway.testing import ThreadedGateway


class _Err(grpc.RpcError):
    """What a failed unary call to a Keel service raises: the code, the details and, when the
    details name a field (``"field: message"``, as ``KeelError.describe`` writes them), that
    field as a BadRequest violation in the trailers (as ``KeelError.to_status`` sends it)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        field, sep, message = details.partition(": ")
        err = KeelError(message, field=field) if sep and " " not in field else KeelError(details)
        err.code = code
        self._status = err.to_status()

    def code(self) -> grpc.StatusCode:
        return self._status.code

    def details(self) -> str:
        return self._status.details

    def trailing_metadata(self) -> Any:
        return self._status.trailing_metadata


def _job(**kw: object) -> pb.Job:
    job = pb.Job(
        id="ftjob_1",
        tenant="acme",
        base_model="smollm2-135m-instruct",
        training_data=pb.TrainingData(file_id="file_1"),
        hyperparameters=pb.LoraHyperparameters(epochs=3, batch_size=8, learning_rate_multiplier=2.0, seed=4),
        **kw,  # type: ignore[arg-type]
    )
    job.created_at.seconds = 100
    return job


def test_a_queued_job_looks_like_openais() -> None:
    body = job_object(_job(status=pb.JOB_STATUS_QUEUED, suffix="s"))
    assert body["object"] == "fine_tuning.job" and body["status"] == "queued"
    assert body["model"] == "smollm2-135m-instruct" and body["training_file"] == "file_1"
    assert body["hyperparameters"] == {"n_epochs": 3, "batch_size": 8, "learning_rate_multiplier": 2.0}
    assert body["fine_tuned_model"] is None and body["finished_at"] is None and body["error"] is None
    assert body["trained_tokens"] is None and body["seed"] == 4 and body["validation_file"] is None
    assert body["organization_id"] == "acme" and body["metadata"] is None


def test_succeeded_and_failed_jobs_fill_their_fields() -> None:
    done = _job(status=pb.JOB_STATUS_SUCCEEDED, fine_tuned_model="ft:x:acme::ftjob_1")
    done.progress.trained_tokens = 1234
    done.finished_at.seconds = 200
    body = job_object(done)
    assert body["trained_tokens"] == 1234 and body["finished_at"] == 200
    assert body["fine_tuned_model"] == "ft:x:acme::ftjob_1"
    failed = _job(status=pb.JOB_STATUS_FAILED, error=pb.JobError(code="training_error", message="boom"))
    assert job_object(failed)["error"] == {"code": "training_error", "message": "boom", "param": None}


def test_events_of_each_kind() -> None:
    status = pb.JobEvent(
        job_id="j",
        sequence=3,
        status=pb.StatusChange(to_status=pb.JOB_STATUS_FAILED, message="bad"),
    )
    e = event_object(status)
    assert e["id"] == "ftevent-j-3" and e["level"] == "error" and e["data"] == {"status": "failed"}
    assert e["message"] == "Job status: failed (bad)"
    step = pb.JobEvent(
        job_id="j", sequence=4, metrics=pb.StepMetrics(step=2, total_steps=9, metrics={"loss": 1.5})
    )
    e = event_object(step)
    assert e["type"] == "metrics" and e["data"]["train_loss"] == 1.5 and e["data"]["step"] == 2
    assert e["message"] == "Step 2/9: training loss=1.5000"
    warn = pb.JobEvent(job_id="j", sequence=5, log=pb.LogLine(severity=pb.LOG_SEVERITY_WARNING, message="m"))
    assert event_object(warn)["level"] == "warn"
    ck = pb.Checkpoint(id="c", job_id="j", step=6, metrics={"loss": 0.5})
    obj = checkpoint_object(ck, _job(suffix="s"))
    assert obj["step_number"] == 6 and obj["metrics"] == {"train_loss": 0.5}
    assert obj["fine_tuned_model_checkpoint"] == "ft:smollm2-135m-instruct:acme:s:ftjob_1:ckpt-step-6"


def test_event_cursors_must_belong_to_the_job() -> None:
    assert _event_seq("j", "ftevent-j-12", "after") == 12
    assert _event_seq("j", None, "after") is None
    for bad in ("ftevent-k-12", "ftevent-j-x", "12"):
        with pytest.raises(ApiError) as err:
            _event_seq("j", bad, "after")
        assert err.value.status == 400 and err.value.param == "after"


@pytest.mark.parametrize(
    ("code", "details", "status", "param", "kind"),
    [
        (
            grpc.StatusCode.INVALID_ARGUMENT,
            "hyperparameters.epochs: must be between",
            400,
            "hyperparameters.n_epochs",
            "invalid_value",
        ),
        (
            grpc.StatusCode.INVALID_ARGUMENT,
            "file: invalid training file: line 2: x",
            400,
            "file",
            "invalid_training_file",
        ),
        (grpc.StatusCode.INVALID_ARGUMENT, "model: unknown base model", 400, "model", "invalid_value"),
        (grpc.StatusCode.NOT_FOUND, "job_id: no fine-tuning job", 404, None, "not_found"),
        (grpc.StatusCode.UNAVAILABLE, "connect failed", 503, None, "upstream_unavailable"),
    ],
)
def test_training_errors_map_to_openai_params(
    code: grpc.StatusCode, details: str, status: int, param: str | None, kind: str
) -> None:
    err = _error(_Err(code, details), "create")
    assert (err.status, err.param, err.code) == (status, param, kind)


def test_cancelling_a_finished_job_is_a_bad_request() -> None:
    err = _error(_Err(grpc.StatusCode.FAILED_PRECONDITION, "job_id: job x is already succeeded"), "state")
    assert err.status == 400


def test_hyperparameters_refuse_unknown_keys_and_method_wins() -> None:
    with pytest.raises(ValidationError) as err:
        CreateFineTuningJobRequest.model_validate(
            {"model": "m", "training_file": "f", "hyperparameters": {"n_epoch": 3}}
        )
    assert err.value.errors()[0]["loc"] == ("hyperparameters", "n_epoch")
    req = CreateFineTuningJobRequest.model_validate(
        {
            "model": "m",
            "training_file": "f",
            "hyperparameters": {"n_epochs": 1},
            "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 7, "lora_r": 4}}},
        }
    )
    hp = req.effective_hyperparameters()
    assert hp.n_epochs == 7 and hp.lora_r == 4
    assert (
        CreateFineTuningJobRequest.model_validate(
            {"model": "m", "training_file": "f", "hyperparameters": {"n_epochs": "auto"}}
        )
        .effective_hyperparameters()
        .n_epochs
        == "auto"
    )


def test_integer_hyperparameters_beyond_int32_are_a_validation_error() -> None:
    with pytest.raises(ValidationError) as err:
        CreateFineTuningJobRequest.model_validate(
            {"model": "m", "training_file": "f", "hyperparameters": {"n_epochs": 10**10}}
        )
    assert err.value.errors()[0]["loc"][:2] == ("hyperparameters", "n_epochs")


def test_a_retry_during_creation_is_a_conflict_to_retry() -> None:
    err = _error(_Err(grpc.StatusCode.ABORTED, "idempotency_key: still creating job x; retry"), "create")
    assert (err.status, err.code) == (409, "conflict") and err.message == "still creating job x; retry"


# --- preference training (DPO) -------------------------------------------------------------------
def test_a_dpo_job_shows_its_method_and_beta_as_openai_does() -> None:
    beta = pb.DpoHyperparameters(beta=0.25)
    body = job_object(_job(status=pb.JOB_STATUS_QUEUED, method=pb.TRAINING_METHOD_DPO, dpo=beta))
    hp = {"n_epochs": 3, "batch_size": 8, "learning_rate_multiplier": 2.0}
    assert body["method"] == {"type": "dpo", "dpo": {"hyperparameters": {**hp, "beta": 0.25}}}
    assert body["hyperparameters"] == hp
    sft = job_object(_job(method=pb.TRAINING_METHOD_SUPERVISED))
    assert sft["method"] == {"type": "supervised", "supervised": {"hyperparameters": hp}}
    # A job from before methods existed is supervised.
    assert job_object(_job())["method"]["type"] == "supervised"
    # On top of a fine-tuned model: "model" is what was asked for, the base is Keel's extra.
    start = pb.StartingAdapter(model="ft:smollm2-135m-instruct:acme:sft:ftjob_0", ref="acme-ft/1")
    on_top = job_object(_job(method=pb.TRAINING_METHOD_DPO, starting_adapter=start))
    assert on_top["model"] == "ft:smollm2-135m-instruct:acme:sft:ftjob_0"
    assert on_top["keel"]["base_model"] == "smollm2-135m-instruct"
    assert on_top["keel"]["starting_version"] == "acme-ft/1"
    assert job_object(_job())["keel"]["starting_version"] is None


def _body(method: Any) -> dict[str, Any]:
    return {"model": "m", "training_file": "file-1", "method": method}


def _dpo(**hp: Any) -> dict[str, Any]:
    return {"type": "dpo", "dpo": {"hyperparameters": hp}}


BETA = ("method", "dpo", "hyperparameters", "beta")


def test_the_method_parameter_takes_dpo_with_beta_and_the_usual_knobs() -> None:
    dpo = _dpo(beta=0.2, n_epochs=2, learning_rate_multiplier=0.5)
    hp = CreateFineTuningJobRequest.model_validate(_body(dpo)).effective_hyperparameters()
    assert isinstance(hp, DpoHyperparameters)
    assert (hp.beta, hp.n_epochs, hp.learning_rate_multiplier) == (0.2, 2, 0.5)
    auto = CreateFineTuningJobRequest.model_validate(_body(_dpo(beta="auto"))).effective_hyperparameters()
    assert isinstance(auto, DpoHyperparameters) and auto.beta == "auto"
    # DPO without a dpo block takes the top-level hyperparameters, beta at its default.
    top_level = {**_body({"type": "dpo"}), "hyperparameters": {"n_epochs": 4}}
    hp = CreateFineTuningJobRequest.model_validate(top_level).effective_hyperparameters()
    assert isinstance(hp, DpoHyperparameters) and hp.n_epochs == 4 and hp.beta is None


@pytest.mark.parametrize(
    ("method", "loc"),
    [
        ({"type": "reinforcement"}, ("method", "type")),
        (_dpo(beta=0), BETA),
        (_dpo(beta=-1), BETA),
        (_dpo(beta=11), BETA),
        (_dpo(beta=float("inf")), BETA),
        (_dpo(beta="big"), BETA),
        (_dpo(beta=True), BETA),
        (_dpo(betta=0.1), ("method", "dpo", "hyperparameters", "betta")),
        (
            {"type": "supervised", "supervised": {"hyperparameters": {"beta": 0.1}}},
            ("method", "supervised", "hyperparameters", "beta"),
        ),
        ({"type": "supervised", "dpo": {"hyperparameters": {"beta": 0.1}}}, ("method",)),
    ],
)
def test_bad_methods_and_betas_are_validation_errors_at_their_field(
    method: Any, loc: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as err:
        CreateFineTuningJobRequest.model_validate(_body(method))
    assert err.value.errors()[0]["loc"] == loc


def _create(gw: ThreadedGateway, token: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{gw.url}/v1/fine_tuning/jobs", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_method_and_beta_errors_through_the_gateway_name_the_parameter(
    make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    """A real gateway on a socket; the training API is unreachable, so a request that passes the
    gateway's checks ends in a 503 and a refused one never leaves it."""
    gw = make_gateway()
    token = key("acme", "training")
    for method, param in [
        ({"type": "reinforcement"}, "method.type"),
        (_dpo(beta=0), "method.dpo.hyperparameters.beta"),
        (_dpo(beta=50), "method.dpo.hyperparameters.beta"),
        ({"type": "dpo", "supervised": {}}, "method"),
    ]:
        r = _create(gw, token, _body(method))
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert (error["param"], error["code"]) == (param, "invalid_value"), error
    ok = _create(gw, token, _body(_dpo(beta=0.3)))
    assert ok.status_code == 503, ok.text


@pytest.mark.parametrize(
    ("details", "param", "kind"),
    [
        ("dpo.beta: must be in (0, 10], got 12", "method.dpo.hyperparameters.beta", "invalid_value"),
        ("method: unknown training method 7; supervised or dpo", "method.type", "invalid_value"),
        (
            "training_file: invalid training file: line 3: is a chat example, not a preference pair",
            "training_file",
            "invalid_training_file",
        ),
        (
            "model: unknown base model 'ft:x'; fine-tunable: m, or a fine-tuned model",
            "model",
            "invalid_value",
        ),
    ],
)
def test_dpo_refusals_of_the_training_service_map_to_openai_params(
    details: str, param: str, kind: str
) -> None:
    err = _error(_Err(grpc.StatusCode.INVALID_ARGUMENT, details), "create")
    assert (err.status, err.param, err.code) == (400, param, kind)
    assert err.message == details.partition(": ")[2]
