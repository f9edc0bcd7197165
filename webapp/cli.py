"""The ``trackprep`` command: ``serve`` (embedded), ``worker`` (production dispatcher), ``register MANIFEST``
(sources from a manifest TSV)."""
from __future__ import annotations

import argparse
import logging
import signal
import sys

from . import metrics, settings as settings_module
from .db import open_store
from .dispatcher import Dispatcher
from .errors import Conflict, Invalid

log = logging.getLogger("trackprep")


def _stop_on_sigterm() -> None:
    def _handler(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _handler)


def _send_buffering() -> dict[str, int]:
    """Let waitress send a whole small response in one go from its I/O thread.

    waitress 3 defaults ``send_bytes`` to 1: the worker thread flushes its socket after every write (headers,
    then each body block), contending for the GIL and the channel lock with the I/O thread. Buffering up to
    256 KiB first measured +35-60 % requests/s for 64 KiB ranges (bench/serve.py). The setting is deprecated
    upstream, so it is passed only while waitress still has it.
    """
    from waitress.adjustments import Adjustments

    return {"send_bytes": 256 * 1024} if hasattr(Adjustments, "send_bytes") else {}


def serve(args: argparse.Namespace) -> int:
    """waitress + the dispatcher in-process + embedded SQLite; the sample files registered at start."""
    from .app import CORS_HEADERS, create_app
    from .edge import waitress_server
    from .sources import register_samples

    settings = settings_module.load()
    metrics.prepare(settings.data_dir, clear=True)  # one process: what earlier runs counted starts again
    register_samples(open_store(settings.db_path), settings)
    app = create_app({"TRACKPREP_SETTINGS": settings})
    dispatcher = Dispatcher(settings)
    dispatcher.start()
    _stop_on_sigterm()
    try:
        # waitress' default of 100 open connections stalls a herd of clients polling a job: connections past
        # the limit wait unaccepted while idle keep-alive ones hold their places (seen with 100+ pollers).
        # Its own limits sit above the app's (webapp/edge.py) so the app answers oversized requests in JSON;
        # a body over TRACKPREP_MAX_UPLOAD_BYTES is refused by waitress before it is read (waitress' own
        # default, 1 GiB, was below the documented 2 GiB).
        server = waitress_server(app, CORS_HEADERS, host=args.host, port=args.port, threads=args.threads,
                                 ident="trackprep", connection_limit=args.connection_limit,
                                 channel_timeout=30, clear_untrusted_proxy_headers=True,
                                 max_request_body_size=settings.max_upload_bytes + 1, **_send_buffering())
        server.print_listen("Serving on http://{}:{}")
        server.run()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        dispatcher.shutdown()
    return 0


def worker(_args: argparse.Namespace) -> int:
    """The production dispatcher: one per deployment, next to the gunicorn web workers."""
    settings = settings_module.load()
    metrics.prepare(settings.data_dir)  # next to gunicorn's workers, into their folder (their master clears it)
    dispatcher = Dispatcher(settings)

    def _handler(signum, _frame):
        # end the loop between passes, never in the middle of launching a run
        log.info("signal %s: stopping", signum)
        dispatcher.stop_soon()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    try:
        dispatcher.recover()
        dispatcher.loop()
    finally:
        dispatcher.shutdown()
    return 0


def register(args: argparse.Namespace) -> int:
    """Register every row of a manifest TSV; exit status 1 when any row is refused."""
    from .sources import read_manifest, register as register_source, validate

    settings = settings_module.load()
    db = open_store(settings.db_path)
    failed = 0
    for row in read_manifest(args.manifest):
        try:
            record, created = register_source(db, validate(row, settings))
        except (Invalid, Conflict) as err:
            failed += 1
            print(f"refused {row.get('id') or row.get('access_url')}: {err.detail}", file=sys.stderr)
            continue
        print(f"{'registered' if created else 'unchanged'} {record['id']}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``trackprep`` console script."""
    parser = argparse.ArgumentParser(prog="trackprep", description="trackprep control plane")
    commands = parser.add_subparsers(dest="command", required=True)
    p_serve = commands.add_parser("serve", help="run the embedded service (waitress + in-process dispatcher)")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8000)
    p_serve.add_argument("--threads", type=int, default=16, help="waitress worker threads (default 16)")
    p_serve.add_argument("--connection-limit", type=int, default=1000,
                         help="open client connections waitress accepts at once (default 1000)")
    p_serve.set_defaults(func=serve)
    commands.add_parser("worker", help="run the dispatcher alone (production, next to gunicorn)") \
        .set_defaults(func=worker)
    p_register = commands.add_parser("register", help="register the sources of a manifest TSV")
    p_register.add_argument("manifest")
    p_register.set_defaults(func=register)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except settings_module.SettingsError as err:
        print(f"trackprep: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
