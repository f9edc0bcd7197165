"""The ``trackprep`` command: ``serve`` (embedded), ``worker`` (production dispatcher), ``register MANIFEST``
(sources from a manifest TSV), ``sources list|show|delete``, ``gc [--dry-run]`` (cache limit and result TTL)."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time

from . import metrics, settings as settings_module, startup
from .db import open_store
from .dispatcher import Dispatcher
from .core.errors import Conflict, Invalid
from .layout import FORMATS
from .source_admin import STATES

log = logging.getLogger("trackprep")
PROGRESS_FROM = 100  # manifests of at least this many rows show a progress bar


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
    startup.check(settings)
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
        # default, 1 GiB, was below the documented 2 GiB). Its I/O thread reads request bodies 8 KiB per
        # recv() by default: 256 KiB takes a 200 MB SSR upload about 0.2 s sooner (bench/README.md).
        server = waitress_server(app, CORS_HEADERS, host=args.host, port=args.port, threads=args.threads,
                                 ident="trackprep", connection_limit=args.connection_limit,
                                 channel_timeout=30, clear_untrusted_proxy_headers=True,
                                 max_request_body_size=settings.max_upload_bytes + 1, recv_bytes=256 * 1024,
                                 **_send_buffering())
        server.print_listen("Serving on http://{}:{}")
        server.run()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        dispatcher.shutdown()
    return 0


def worker(_args: argparse.Namespace) -> int:
    """The production dispatcher, next to the gunicorn web workers (one or more per deployment: a worker that
    dies hands its running jobs to the others, see webapp/workers.py)."""
    settings = settings_module.load()
    startup.check(settings)
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


class Progress:
    """A one-line progress bar on stderr when it is a terminal (else a line every ``every`` items)."""

    def __init__(self, total: int, label: str, every: int = 1000):
        self.total, self.label, self.every, self.done = total, label, every, 0
        self.tty = sys.stderr.isatty()
        self._last = 0.0

    def step(self) -> None:
        """Count one item; redraw at most 10 times a second."""
        self.done += 1
        now = time.monotonic()
        if self.tty and (now - self._last > 0.1 or self.done == self.total):
            self._last = now
            width = 30
            filled = width * self.done // max(self.total, 1)
            sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}")
            sys.stderr.flush()
        elif not self.tty and (self.done % self.every == 0 or self.done == self.total):
            print(f"{self.label}: {self.done}/{self.total}", file=sys.stderr)

    def close(self) -> None:
        """End the bar's line."""
        if self.tty and self.done:
            sys.stderr.write("\n")


def register(args: argparse.Namespace) -> int:
    """Register every row of a manifest TSV; exit status 1 when any row is refused. A large manifest shows a
    progress bar on stderr; ``--quiet`` prints only the refused rows and the totals."""
    from .core.source import read_manifest
    from .sources import register as register_source, validate

    try:
        rows = read_manifest(args.manifest)
    except Invalid as err:
        print(f"trackprep: {err.detail}", file=sys.stderr)
        return 1
    settings = settings_module.load()
    db = open_store(settings.db_path)
    # sources that name a reference come after the others, so a manifest may list them in any order
    rows = sorted(rows, key=lambda row: bool(row.get("reference")))
    progress = Progress(len(rows), "registering") if len(rows) >= PROGRESS_FROM else None
    counts = {"registered": 0, "unchanged": 0, "refused": 0}
    for row in rows:
        try:
            record, created = register_source(db, validate(row, settings))
        except (Invalid, Conflict) as err:
            counts["refused"] += 1
            if progress is not None and progress.tty:
                sys.stderr.write("\n")
            print(f"refused {row.get('id') or row.get('access_url')}: {err.detail}", file=sys.stderr)
        else:
            counts["registered" if created else "unchanged"] += 1
            if not args.quiet:
                print(f"{'registered' if created else 'unchanged'} {record['id']}")
        if progress is not None:
            progress.step()
    if progress is not None:
        progress.close()
    print(", ".join(f"{count} {name}" for name, count in counts.items()), file=sys.stderr)
    return 1 if counts["refused"] else 0


def sources_command(args: argparse.Namespace) -> int:
    """``trackprep sources list|show|delete``: the registered sources, as ``GET /files`` and ``DELETE
    /files/{id}`` see them (the command runs with the operator's rights: restricted sources included)."""
    from . import source_admin, sources

    settings = settings_module.load()
    db = open_store(settings.db_path)
    if args.action == "list":
        print("\t".join(("id", "format", "access", "state", "md5", "access_url")))
        for source in sources.listing(db, fmt=args.format, access=args.access, prefix=args.prefix):
            state = source_admin.artifact_state(settings, db, source)
            if args.state is None or state == args.state:
                print("\t".join((source["id"], source["format"], source["access"], state, source["md5"],
                                 source["access_url"])))
        return 0
    source = sources.get(db, args.id)
    if source is None:
        print(f"trackprep: no source with id {args.id!r}", file=sys.stderr)
        return 1
    if args.action == "show":
        active = source_admin.active_job(settings, db, source)
        shown = {**source, "state": source_admin.artifact_state(settings, db, source),
                 "active_job": active.id if active else None}
        print(json.dumps(shown, indent=2))
        return 0
    try:
        removed = source_admin.delete(settings, db, source)
    except Conflict as err:
        print(f"trackprep: {err.detail}", file=sys.stderr)
        return 1
    print(f"deleted {args.id}")
    for path in removed:
        print(f"removed {path}")
    return 0


def gc(args: argparse.Namespace) -> int:
    """Evict down to the cache limit and expire old jobs now, as the dispatcher does; print what it frees (with
    ``--dry-run``, what it would free, removing nothing)."""
    from . import cache_gc

    settings = settings_module.load()
    metrics.prepare(settings.data_dir)  # evictions count into the service's metrics
    report = cache_gc.collect(settings, open_store(settings.db_path), dry_run=args.dry_run)
    print(cache_gc.format_report(settings, report))
    return 0


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
    p_register.add_argument("--quiet", action="store_true", help="print only refused rows and the totals")
    p_register.set_defaults(func=register)
    p_sources = commands.add_parser("sources", help="list, show or delete registered sources")
    actions = p_sources.add_subparsers(dest="action", required=True)
    p_list = actions.add_parser("list", help="the sources in id order, as TSV (restricted ones too)")
    p_list.add_argument("--format", choices=sorted(FORMATS))
    p_list.add_argument("--access", choices=("public", "restricted"))
    p_list.add_argument("--state", choices=STATES)
    p_list.add_argument("--prefix", help="ids starting with this")
    actions.add_parser("show", help="one source's record, state and active job as JSON").add_argument("id")
    actions.add_parser("delete", help="remove a source and its cached files no other id shares") \
        .add_argument("id")
    p_sources.set_defaults(func=sources_command)
    p_gc = commands.add_parser("gc", help="evict least recently served cache items past TRACKPREP_CACHE_MAX_BYTES "
                                          "and expire jobs past TRACKPREP_RESULT_TTL_DAYS, now")
    p_gc.add_argument("--dry-run", action="store_true", help="print what would be removed; remove nothing")
    p_gc.set_defaults(func=gc)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except settings_module.SettingsError as err:
        print(f"trackprep: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
