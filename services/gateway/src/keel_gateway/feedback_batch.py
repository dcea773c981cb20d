"""Feedback submissions that arrive together go to the feedback service together.

A gateway at load receives many ``POST /v1/feedback`` at once; one ``SubmitFeedback`` call each
spends most of the feedback service's CPU on the gRPC round trip and a transaction per row. The
batcher sends whatever is waiting as one ``SubmitFeedbackBatch`` (one round trip, one
transaction) as soon as fewer than ``max_inflight`` batches are under way, and the rest when one
returns. So it adds no delay: a lone submission goes at once, as a batch of one; under load the
batches grow by themselves. Each caller still gets its own result, or its own error, after its
submission has committed (read-after-write holds)."""

from __future__ import annotations

import asyncio

import grpc

from keel.feedback.v1 import feedback_pb2 as pb
from keel_gateway.errors import ApiError, from_grpc, upstream_error
from keel_gateway.feedback_stub import FeedbackStub

Waiting = tuple[pb.SubmitFeedbackRequest, "asyncio.Future[pb.SubmitFeedbackResponse]"]


class SubmitBatcher:
    def __init__(
        self,
        stub: FeedbackStub,
        params: dict[str, str],
        timeout_s: float,
        max_batch: int = 256,
        max_inflight: int = 2,
    ) -> None:
        self.stub, self.params, self.timeout_s = stub, params, timeout_s
        self.max_batch, self.max_inflight = max_batch, max_inflight
        self._waiting: list[Waiting] = []
        self._tasks: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references

    async def submit(self, req: pb.SubmitFeedbackRequest) -> pb.SubmitFeedbackResponse:
        fut: asyncio.Future[pb.SubmitFeedbackResponse] = asyncio.get_running_loop().create_future()
        self._waiting.append((req, fut))
        self._send_waiting()
        return await fut

    def _send_waiting(self) -> None:
        while self._waiting and len(self._tasks) < self.max_inflight:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            task = asyncio.create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._send_waiting()

    async def _send(self, batch: list[Waiting]) -> None:
        live = [(req, fut) for req, fut in batch if not fut.done()]  # a caller that left is skipped
        if not live:
            return
        try:
            resp = await self.stub.SubmitFeedbackBatch(
                pb.SubmitFeedbackBatchRequest(submissions=[req for req, _ in live]), timeout=self.timeout_s
            )
        except grpc.RpcError as err:
            for _, fut in live:
                if not fut.done():
                    fut.set_exception(from_grpc(err, "feedback", self.params))
            return
        except BaseException as exc:  # never leave a caller waiting
            for _, fut in live:
                if not fut.done():
                    fut.set_exception(exc)
            raise
        for (_, fut), result in zip(live, resp.results, strict=True):
            if fut.done():
                continue
            if result.WhichOneof("result") == "submitted":
                fut.set_result(result.submitted)
            else:
                fut.set_exception(self._error(result.error))

    def _error(self, e: pb.SubmitFeedbackError) -> ApiError:
        code = getattr(grpc.StatusCode, e.code, grpc.StatusCode.UNKNOWN)
        return upstream_error(
            code, e.message, (e.field, e.message) if e.field else None, "feedback", self.params
        )
