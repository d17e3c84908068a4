"""`interleave-robot serve-generator`: serve any configured generator over HTTP (InterleaveThinker contract)."""
from __future__ import annotations

import argparse
import math
import os
import sys

from interleave_robot.config import parse_key_values
from interleave_robot.errors import ConfigError
from interleave_robot.generator_server import GeneratorServer, ServerOptions
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
    parser.add_argument("--max-connections", type=int, default=256,
                        help="open connections at most (one thread each); past it: 503 (default 256)")
    parser.add_argument("--max-concurrent", type=int, default=8,
                        help="/edit requests processed at once; others wait, then get 503 (default 8)")
    parser.add_argument("--header-timeout", type=float, default=10.0,
                        help="seconds a client has to send a request's line and headers (default 10)")
    parser.add_argument("--request-timeout", type=float, default=30.0,
                        help="seconds a client has to send a request's body, and to read the answer (default 30)")


def _request_bytes(mb: float) -> int:
    if not math.isfinite(mb) or mb <= 0 or mb > 64 * 1024:
        raise ConfigError(f"--max-request-mb must be a number in (0, 65536], got {mb}")
    return int(mb * 1024 * 1024)


def run(args: argparse.Namespace) -> int:
    generator_class = GENERATORS.resolve(args.generator)
    # getattr: plugin generators need not subclass Generator. "sim" reads simulator state no HTTP request carries.
    if getattr(generator_class, "needs_source_state", False):
        raise ConfigError(f"generator {args.generator!r} needs simulator state with each request, which the HTTP "
                          "contract cannot carry; run it in process (demo, bench) instead of serving it")
    token = None
    if args.token_env:
        token = os.environ.get(args.token_env, "")
        if not token:
            raise ConfigError(f"--token-env {args.token_env}: the variable is unset or empty")
    if args.host not in LOOPBACK and token is None:
        print(f"serve-generator: warning: binding {args.host} without --token-env: anyone who can reach it "
              "can use the generator", file=sys.stderr)
    options = ServerOptions(host=args.host, port=args.port, token=token,
                            max_request_bytes=_request_bytes(args.max_request_mb),
                            max_connections=args.max_connections, max_concurrent_requests=args.max_concurrent,
                            header_timeout_s=args.header_timeout, request_timeout_s=args.request_timeout)
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
