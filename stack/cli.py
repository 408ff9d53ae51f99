"""The ``booking-engine`` command: dev, api, worker, sandbox, migrate, token, mail, check."""

from __future__ import annotations

import argparse
import sys
import uuid

from pydantic import ValidationError

from core.settings import DeploymentProblem, get_settings


def _api(_: argparse.Namespace) -> None:
    import uvicorn

    from api.app import create_app
    from core.collector import settle_the_collector
    from core.logging import configure_logging

    settings = get_settings()
    configure_logging(settings)
    app = create_app(settings)
    # Everything imported; the pools the lifespan opens are few objects more.
    settle_the_collector(settings.gc_threshold)
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        loop=settings.event_loop,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        # SIGTERM: stop accepting at once; requests still open after 10 s are closed.
        timeout_graceful_shutdown=10,
    )


def _worker(_: argparse.Namespace) -> None:
    from worker import main

    main()


def _sandbox(_: argparse.Namespace) -> None:
    import uvicorn

    from core.logging import configure_logging
    from sandbox.app import create_app
    from sandbox.from_settings import sandbox_config

    settings = get_settings()
    configure_logging(settings)
    uvicorn.run(
        create_app(sandbox_config(settings)),
        host=settings.api_host,
        port=settings.sandbox_port,
        loop=settings.event_loop,
        log_config=None,
        access_log=False,
    )


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
    from stack.devstack import run_dev

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
    except DeploymentProblem as exc:
        # One line that names the setting (or the server): a traceback would say less.
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
