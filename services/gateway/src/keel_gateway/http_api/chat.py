"""``/v1/chat/completions`` and ``/v1/completions``: JSON or SSE over ``core.Gateway``, and the
OpenAI bodies and chunks built from a finished (or streaming) ``Call``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from keel_gateway.call import Call
from keel_gateway.core import Gateway
from keel_gateway.http_api.bodies import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChunkChoice,
    Completion,
    CompletionChoice,
    CompletionChunk,
    KeelInfo,
    Usage,
)
from keel_gateway.http_api.deps import GatewayDep, InferenceKey
from keel_gateway.http_api.sse import sse_line, sse_response
from keel_gateway.schemas import ChatCompletionRequest, CompletionRequest

router = APIRouter(tags=["openai"])

ChunkFormat = Callable[[Call, str, "str | None"], BaseModel]
BodyFormat = Callable[[Call], BaseModel]


@router.post("/v1/chat/completions", responses={200: {"model": ChatCompletion}})
async def chat_completions(
    req: ChatCompletionRequest,
    request: Request,
    key: InferenceKey,
    gw: GatewayDep,
) -> Response:
    return await _run(request, gw, gw.open_chat(key, req), chat_chunk, chat_body)


@router.post("/v1/completions", responses={200: {"model": Completion}})
async def completions(
    req: CompletionRequest,
    request: Request,
    key: InferenceKey,
    gw: GatewayDep,
) -> Response:
    return await _run(request, gw, gw.open_completion(key, req), completion_chunk, completion_body)


async def _run(request: Request, gw: Gateway, call: Call, chunk: ChunkFormat, body: BodyFormat) -> Response:
    request.state.request_id = call.request_id  # the error handler puts it on error responses
    await gw.admit(call)
    if not call.stream:
        await gw.complete(call)
        return JSONResponse(body(call).model_dump(), headers=call.headers())
    pieces = await gw.stream(call)
    return sse_response(stream_events(call, pieces, chunk), call.headers())


async def stream_events(call: Call, pieces: AsyncIterator[str], chunk: ChunkFormat) -> AsyncIterator[str]:
    """The role chunk, one chunk per piece, the finish chunk, the usage chunk when asked for,
    then ``[DONE]``."""

    def event(text: str, finish: str | None) -> str:
        # With include_usage, every chunk but the last carries "usage": null (as OpenAI's do).
        data: dict[str, Any] = chunk(call, text, finish).model_dump()
        return sse_line(data | ({"usage": None} if call.include_usage else {}))

    yield event("", None)
    async for piece in pieces:
        yield event(piece, None)
    yield event("", call.finish)
    if call.include_usage:
        last = chunk(call, "", None).model_dump() | {"choices": [], "usage": usage(call).model_dump()}
        yield sse_line(last)
    yield sse_line("[DONE]")


def usage(call: Call) -> Usage:
    u = call.usage
    return Usage(
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        total_tokens=u.total_tokens or u.prompt_tokens + u.completion_tokens,
    )


def keel_info(call: Call) -> KeelInfo:
    return KeelInfo(
        request_id=call.request_id,
        model=call.route.served if call.route is not None else "",
        guardrails=[v.public() for v in call.verdicts],
    )


def chat_chunk(c: Call, text: str, finish: str | None) -> ChatCompletionChunk:
    # The first chunk announces the role; the last carries only the finish reason.
    if finish is not None:
        delta = {"content": text} if text else {}
    else:
        delta = {"content": text} if text else {"role": "assistant", "content": ""}
    return ChatCompletionChunk(
        id=c.request_id,
        created=c.created,
        model=c.requested_model,
        choices=[ChunkChoice(delta=delta, finish_reason=finish)],
    )


def chat_body(c: Call) -> ChatCompletion:
    return ChatCompletion(
        id=c.request_id,
        created=c.created,
        model=c.requested_model,
        choices=[ChatChoice(message=AssistantMessage(content=c.completion), finish_reason=c.finish)],
        usage=usage(c),
        keel=keel_info(c),
    )


def completion_chunk(c: Call, text: str, finish: str | None) -> CompletionChunk:
    return CompletionChunk(
        id=c.request_id,
        created=c.created,
        model=c.requested_model,
        choices=[CompletionChoice(text=text, finish_reason=finish)],
    )


def completion_body(c: Call) -> Completion:
    return Completion(
        id=c.request_id,
        created=c.created,
        model=c.requested_model,
        choices=[CompletionChoice(text=c.completion, finish_reason=c.finish)],
        usage=usage(c),
        keel=keel_info(c),
    )
