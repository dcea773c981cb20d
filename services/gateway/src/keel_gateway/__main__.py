"""``keel-gateway serve`` runs the HTTP API; ``keel-gateway keys …`` manages API keys straight
in Redis (the bootstrap path: the first admin key cannot come from the API it unlocks)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import redis.asyncio as aioredis

from keel_common.logging import configure_logging
from keel_gateway.config import GatewaySettings
from keel_gateway.errors import ApiError
from keel_gateway.keys import KeyStore


async def _keys(settings: GatewaySettings, args: argparse.Namespace) -> int:
    client = aioredis.Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0")
    store = KeyStore(client, settings.pepper_bytes())
    try:
        if args.action == "create":
            key, token = await store.create(
                args.tenant,
                [s.strip() for s in args.scopes.split(",") if s.strip()],
                args.name,
                args.rpm,
                args.tpm,
                args.concurrency,
            )
            print(json.dumps({**key.public(), "key": token}) if args.json else token)
            if not args.json:
                print(
                    f"key id {key.id} for tenant {key.tenant}; this is the only time the key is shown",
                    file=sys.stderr,
                )
        elif args.action == "list":
            for k in await store.list(args.tenant or None):
                print(json.dumps(k.public()))
        else:
            if await store.revoke(args.key_id) is None:
                print(f"no key with id {args.key_id}", file=sys.stderr)
                return 1
            print(f"revoked {args.key_id}")
        return 0
    except ApiError as err:
        print(f"error: {err.param + ': ' if err.param else ''}{err.message}", file=sys.stderr)
        return 2
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keel-gateway", description="Keel gateway")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the HTTP API")
    keys = sub.add_parser("keys", help="manage API keys directly in Redis")
    ks = keys.add_subparsers(dest="action", required=True)
    create = ks.add_parser("create")
    create.add_argument("--tenant", required=True)
    create.add_argument("--scopes", default="inference")
    create.add_argument("--name", default="")
    create.add_argument("--rpm", type=int, default=0)
    create.add_argument("--tpm", type=int, default=0)
    create.add_argument("--concurrency", type=int, default=0)
    create.add_argument("--json", action="store_true", help="print the whole record as JSON")
    lst = ks.add_parser("list")
    lst.add_argument("--tenant", default="")
    revoke = ks.add_parser("revoke")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level, settings.log_json)
    if args.command == "keys":
        return asyncio.run(_keys(settings, args))
    import uvicorn

    uvicorn.run(
        "keel_gateway.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.http_port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
