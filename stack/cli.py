"""The ``booking-engine`` command: dev, api, worker, sandbox, migrate, token, mail, check."""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import uuid
from typing import Any

from pydantic import ValidationError

from core.ports import ListenError, bind
from core.settings import DeploymentProblem, get_settings

# uvicorn's exit code for a server that did not start.
_STARTUP_FAILURE = 3


def _serve(sock: socket.socket, app: Any, **options: Any) -> None:
    """Serve ``app`` with uvicorn on a socket this process already bound (see core/ports.py)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, **options))
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    if not server.started:
        sys.exit(_STARTUP_FAILURE)


def _api(_: argparse.Namespace) -> None:
    settings = get_settings()
    # Bound before the app is built: a taken port fails at once, naming its setting.
    sock = bind(
        settings.api_host, settings.api_port, "the API", "BOOKING_API_PORT", "BOOKING_API_HOST"
    )
    from api.app import create_app
    from core.collector import settle_the_collector
    from core.logging import configure_logging

    configure_logging(settings)
    app = create_app(settings)
    # Everything imported; the pools the lifespan opens are few objects more.
    settle_the_collector(settings.gc_threshold)
    _serve(
        sock,
        app,
        loop=settings.event_loop,
        proxy_headers=True,
        # SIGTERM: stop accepting at once; requests still open after 10 s are closed.
        timeout_graceful_shutdown=10,
    )


def _worker(_: argparse.Namespace) -> None:
    from worker import main

    main()


def _sandbox(_: argparse.Namespace) -> None:
    settings = get_settings()
    sock = bind(
        settings.api_host,
        settings.sandbox_port,
        "the sandbox gateway",
        "BOOKING_SANDBOX_PORT",
        "BOOKING_API_HOST",
    )
    from core.logging import configure_logging
    from sandbox.app import create_app
    from sandbox.from_settings import sandbox_config

    configure_logging(settings)
    _serve(sock, create_app(sandbox_config(settings)), loop=settings.event_loop)


def _migrate(_: argparse.Namespace) -> None:
    from core.migrate import upgrade

    settings = get_settings()
    if settings.database_url is None:
        sys.exit("BOOKING_DATABASE_URL is not set")
    upgrade(settings.database_url)
    print("database is at the newest revision")


def _token(args: argparse.Namespace) -> None:
    from core.auth import issue_token
    from stack.devstack import dev_settings

    settings = dev_settings()
    print(issue_token(settings.require_jwt_secret(), args.sub, args.role, args.ttl))


def _mail(args: argparse.Namespace) -> None:
    import time

    from stack.mailsink import as_text, read_messages

    folder = get_settings().data_dir / "mail"
    deadline = time.monotonic() + args.wait
    while True:
        found = [
            m
            for m in read_messages(folder)
            if args.to.lower() in str(m["To"] or "").lower()
            and args.subject.lower() in str(m["Subject"] or "").lower()
        ]
        if found or time.monotonic() >= deadline:
            break
        time.sleep(0.5)  # the sink writes files; there is nothing to await
    if not found:
        sys.exit(f"no mail in {folder} to {args.to!r} about {args.subject!r}")
    print(as_text(found[-1]))


def _check(args: argparse.Namespace) -> None:
    import asyncio

    from stack.check import report, run_checks

    text, code = report(asyncio.run(run_checks(get_settings(), timeout=args.timeout)))
    print(text)
    sys.exit(code)


def _dev(_: argparse.Namespace) -> None:
    from stack.devstack import missing_dev_servers, run_dev

    missing = missing_dev_servers()
    if missing:
        sys.exit(missing)
    run_dev()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="booking-engine", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help="run the whole stack locally (Ctrl-C stops it)").set_defaults(
        run=_dev
    )
    commands.add_parser("api", help="serve the HTTP API").set_defaults(run=_api)
    commands.add_parser("worker", help="run a Temporal worker").set_defaults(run=_worker)
    commands.add_parser("migrate", help="upgrade the database schema").set_defaults(run=_migrate)
    commands.add_parser("sandbox", help="serve the sandbox payment gateway").set_defaults(
        run=_sandbox
    )
    token = commands.add_parser("token", help="print a signed JWT for local use")
    token.add_argument("--sub", type=uuid.UUID, required=True, help="customer id (a UUID)")
    token.add_argument("--role", choices=["customer", "operator"], default="customer")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.set_defaults(run=_token)
    mail = commands.add_parser(
        "mail", help="print the newest mail the dev stack's SMTP sink kept (of BOOKING_DATA_DIR)"
    )
    mail.add_argument("--to", default="", help="only mail to an address containing this")
    mail.add_argument("--subject", default="", help="only mail whose subject contains this")
    mail.add_argument("--wait", type=float, default=0, help="seconds to wait for such a mail")
    mail.set_defaults(run=_mail)
    check = commands.add_parser("check", help="test every configured connection, say what works")
    check.add_argument("--timeout", type=float, default=10, help="seconds allowed to each check")
    check.set_defaults(run=_check)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        sys.exit(settings_problem(exc))
    except (DeploymentProblem, ListenError) as exc:
        # One line that names the setting (or the server, or the port): a traceback would
        # say less.
        sys.exit(str(exc))


def settings_problem(error: ValidationError) -> str:
    """A settings error in the words of the environment: which variable, what is wrong."""
    lines = ["The settings are not valid:"]
    for problem in error.errors():
        name = "BOOKING_" + "_".join(str(part) for part in problem["loc"]).upper()
        # Never the value: it may be a secret.
        lines.append(f"  {name}: {problem['msg']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
