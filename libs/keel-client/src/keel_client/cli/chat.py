"""`keel chat`: one question or a conversation through the gateway, streamed."""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from keel_client.cli.connect import gateway_client, gateway_options
from keel_client.cli.render import console, err, gateway_error
from keel_client.gateway import ChatResult, GatewayError


def _summary(result: ChatResult) -> str:
    usage = result.usage
    tokens = (
        f"{usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)} tokens" if usage else "tokens ?"
    )
    finish = result.finish_reason or "?"
    if finish == "content_filter":
        finish += " (cut by a guardrail)"
    parts = (escape(result.request_id), escape(result.model), tokens, f"finish {escape(finish)}")
    return f"[dim]{' · '.join(parts)}[/dim]"


@click.command()
@click.option("--model", default=None, help="default: the first base model the gateway lists")
@click.option("--system", "system_prompt", default=None, help="a system message to start with")
@click.option("-m", "--message", default=None, help="ask this once and exit (default: interactive)")
@click.option("--stream/--no-stream", default=True, show_default=True)
@click.option("--max-tokens", type=click.IntRange(min=1), default=None)
@click.option("--temperature", type=click.FloatRange(0, 2), default=None)
@gateway_options
def chat(
    model: str | None,
    system_prompt: str | None,
    message: str | None,
    stream: bool,
    max_tokens: int | None,
    temperature: float | None,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """Chat through the gateway: one question with -m, else a conversation (Ctrl-D or /exit ends it)."""
    history: list[dict[str, str]] = [{"role": "system", "content": system_prompt}] if system_prompt else []
    with gateway_client(gateway_url, api_key) as gw:
        if not model:
            listed = gw.models()
            if not listed:
                raise GatewayError("the gateway lists no models for this key; pass --model")
            model = str(listed[0]["id"])

        def turn(text: str) -> ChatResult:
            history.append({"role": "user", "content": text})
            shown: list[str] = []

            def show(piece: str) -> None:
                shown.append(piece)
                click.echo(piece, nl=False)
                sys.stdout.flush()

            try:
                result = gw.chat(
                    model,
                    history,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stream=stream,
                    on_text=show,
                )
            except BaseException:
                history.pop()  # a refused or interrupted turn is not part of the conversation
                raise
            finally:
                if shown:
                    click.echo()
            history.append({"role": "assistant", "content": result.text})
            console.print(_summary(result), highlight=False)
            return result

        if message is not None:
            turn(message)
            return
        console.print(
            f"[dim]chatting with {escape(model)} at {escape(gw.base_url)}; /exit or Ctrl-D ends[/dim]"
        )
        while True:
            try:
                line = input("> ")
            except (EOFError, KeyboardInterrupt):
                click.echo()
                return
            text = line.strip()
            if text in ("/exit", "/quit"):
                return
            if not text:
                continue
            try:
                turn(text)
            except GatewayError as exc:
                gateway_error(exc)
            except KeyboardInterrupt:
                err.print("[dim]interrupted[/dim]")
