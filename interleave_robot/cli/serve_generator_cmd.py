"""`interleave-robot serve-generator`: serve any configured generator over HTTP (InterleaveThinker contract)."""
from __future__ import annotations

import argparse
import os
import sys

from interleave_robot.config import parse_key_values
from interleave_robot.errors import ConfigError
from interleave_robot.registry import GENERATORS

HELP = "serve a generator under the InterleaveThinker HTTP contract (POST /edit, GET /health)"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generator", required=True, metavar="NAME",
                        help=f"generator backend: {', '.join(GENERATORS.names())}")
    parser.add_argument("--generator-opt", action="append", default=[], metavar="KEY=VALUE",
                        help="generator option (repeatable), e.g. model=/models/flux2-klein")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (0: any free port; default 8000)")
    parser.add_argument("--token-env", default=None, metavar="VAR",
                        help="require 'Authorization: Bearer <token>', the token read from environment variable VAR")
    parser.add_argument("--max-request-mb", type=float, default=32.0, help="largest accepted request body (MiB)")


def run(args: argparse.Namespace) -> int:
    from interleave_robot.generator_server import GeneratorServer, ServerOptions

    token = None
    if args.token_env:
        token = os.environ.get(args.token_env, "")
        if not token:
            raise ConfigError(f"--token-env {args.token_env}: the variable is unset or empty")
    if args.host not in LOOPBACK and token is None:
        print(f"serve-generator: warning: binding {args.host} without --token-env: anyone who can reach it "
              "can use the generator", file=sys.stderr)
    options = ServerOptions(host=args.host, port=args.port, token=token,
                            max_request_bytes=int(args.max_request_mb * 1024 * 1024))
    generator = GENERATORS.build(args.generator, parse_key_values(args.generator_opt))
    try:
        try:
            server = GeneratorServer(generator, args.generator, options)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
        print(f"serving generator {args.generator!r} on {server.url} (POST /edit, GET /health); Ctrl-C stops",
              file=sys.stderr, flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("serve-generator: stopped", file=sys.stderr)
        finally:
            server.close()
    finally:
        generator.close()
    return 0
