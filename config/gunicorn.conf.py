"""gunicorn settings for trackprep's web workers (README, "Production")::

    gunicorn -c config/gunicorn.conf.py --workers 4 --threads 4 --bind 127.0.0.1:8000 \
        'webapp.app:create_app()'

gunicorn refuses a request line or a header field over its limits itself, with an HTML page (414/431/400)
that never reaches the app. Its limits are raised above the app's own (:mod:`webapp.edge`), so the app
answers those requests in API.md's JSON shape; gunicorn still answers for what lies beyond them (README).

Metrics (``GET /metrics``): every worker counts into ``$TRACKPREP_DATA_DIR/metrics`` (prometheus_client's
multiprocess mode, :mod:`webapp.metrics`). The master points the workers there and clears what dead processes
left at start; a worker that exits is marked dead.
"""
from webapp.startup import exit_unless_usable
from webapp.edge import MAX_HEADER_BYTES, MAX_URL_BYTES

# a request line is method + " " + URL + " HTTP/1.1": gunicorn's largest finite limit (0 would read a
# request line of any length into memory), above MAX_URL_BYTES + the longest method and the version
limit_request_line = 8190
# one header field alone larger than all the headers the app reads still reaches the app (431 in JSON);
# gunicorn buffers at most limit_request_fields (100) x this per request
limit_request_field_size = 2 * MAX_HEADER_BYTES

if MAX_URL_BYTES + len("OPTIONS  HTTP/1.1") > limit_request_line:
    raise ValueError("webapp.edge.MAX_URL_BYTES does not fit in gunicorn's request line limit")


def on_starting(_server) -> None:
    """Master, before the workers fork: refuse to start, with one line and exit status 2, when a TRACKPREP_*
    setting cannot work; then set PROMETHEUS_MULTIPROC_DIR for the workers and clear dead processes' files."""
    from webapp import metrics, settings

    exit_unless_usable()
    metrics.prepare(settings.load().data_dir, clear=True)


def child_exit(_server, worker) -> None:
    """Master, after a worker exited: its live gauges leave the sum (its counters stay counted)."""
    from webapp import metrics

    metrics.process_dead(worker.pid)
