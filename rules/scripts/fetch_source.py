#!/usr/bin/env python3
"""Copy or download one source into the cache and verify its md5 before it becomes visible.

Local paths are copied only from inside the allowed roots (after resolving symlinks); http(s) and drs://
sources are fetched only from allowed hosts, and every redirect hop is checked against that list too. The
bytes are written to a temporary name beside the output, hashed while they stream, and renamed into place only
when the md5 matches. Standard library only, so the rule starts in milliseconds.

Exit status 1 with a one-line reason on stderr on every refusal or failure.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import sys
import tempfile
from urllib.parse import quote, unquote, urlsplit

# the repository root (two folders up), for the magic-number table the service checks registrations with and
# the host policy it registers sources under
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from webapp import magic  # noqa: E402  (standard library only, like this script)
from webapp.core.policy import host_allowed  # noqa: E402  (standard library only)

CHUNK = 1 << 20
FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int), clone a whole file's extents


class FetchError(Exception):
    """A refusal or failure, with the sentence the job log shows."""


def _open(url: str, allowed: list[str], timeout: int, headers: dict[str, str] | None = None):
    # imported here: urllib.request brings http.client, ssl and email (about 30 ms), which a local copy (every
    # source of the embedded service) does not need; a small cache miss is a few hundred milliseconds in all
    import urllib.error
    import urllib.request

    class CheckedRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            if urlsplit(newurl).scheme not in ("http", "https") or not host_allowed(newurl, allowed):
                raise FetchError(f"redirect to {newurl} refused: its host is not in allowed_hosts")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    if urlsplit(url).scheme not in ("http", "https"):
        raise FetchError(f"{url}: only http and https URLs can be downloaded")
    if not host_allowed(url, allowed):
        raise FetchError(f"{url}: host not in allowed_hosts ({', '.join(allowed) or 'none configured'}); "
                         "add it to allowed_hosts (TRACKPREP_ALLOWED_HOSTS) to fetch from it")
    opener = urllib.request.build_opener(CheckedRedirects())
    request = urllib.request.Request(url, headers={"User-Agent": "trackprep-fetch", **(headers or {})})
    try:
        return opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        raise FetchError(f"{url}: server answered HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise FetchError(f"{url}: cannot connect ({err.reason})") from None


def resolve_drs(url: str, allowed: list[str], scheme: str,
                timeout: int) -> tuple[str, dict[str, str], str | None]:
    """Resolve drs://host/object_id through the GA4GH DRS v1 API:
    (download URL, headers, DRS md5 if given)."""
    parts = urlsplit(url)
    object_id = parts.path.lstrip("/")
    if not parts.netloc or not object_id:
        raise FetchError(f"{url}: a DRS URL must look like drs://host/object_id")
    base = f"{scheme}://{parts.netloc}/ga4gh/drs/v1/objects/{quote(object_id, safe='')}"
    with _open(base, allowed, timeout) as response:
        obj = json.load(response)
    drs_md5 = next((c.get("checksum", "").lower() for c in obj.get("checksums", [])
                    if c.get("type") == "md5"), None)
    methods = obj.get("access_methods") or []
    for method in methods:
        if method.get("type") not in ("https", "http"):
            continue
        access = method.get("access_url")
        if not access and method.get("access_id"):
            with _open(f"{base}/access/{quote(method['access_id'], safe='')}", allowed, timeout) as response:
                access = json.load(response)
        if access and access.get("url"):
            headers = dict(h.split(":", 1) for h in access.get("headers", []) if ":" in h)
            return access["url"], {k.strip(): v.strip() for k, v in headers.items()}, drs_md5
    raise FetchError(f"{url}: the DRS object offers no http(s) access method "
                     f"(types: {', '.join(m.get('type', '?') for m in methods) or 'none'})")


def local_path(url: str, roots: list[str]) -> str:
    """The real path of a local source, refused unless it lies inside one of the roots."""
    path = urlsplit(url).path if url.startswith("file://") else url
    real = os.path.realpath(path)
    for root in roots:
        real_root = os.path.realpath(root)
        if os.path.commonpath([real, real_root]) == real_root:
            if not os.path.isfile(real):
                raise FetchError(f"{path}: no such file")
            return real
    raise FetchError(f"{path}: local path outside the allowed source roots "
                     f"({', '.join(roots) or 'none configured'}); "
                     "move the file into a root or add its folder")


def copy_hashing(reader, writer, label: str) -> str:
    """Copy a stream, returning its md5; progress goes to the log every 256 MiB."""
    digest = hashlib.md5()
    copied = 0
    while chunk := reader.read(CHUNK):
        digest.update(chunk)
        writer.write(chunk)
        copied += len(chunk)
        if copied % (256 * CHUNK) < CHUNK:
            print(f"{label}: {copied >> 20} MiB", file=sys.stderr)
    print(f"{label}: {copied} bytes", file=sys.stderr)
    return digest.hexdigest()


def copy_local(reader, writer, label: str) -> str:
    """Copy a local source into the cache, returning the md5 of the copy's bytes.

    Where the filesystem can (XFS with reflink, btrfs, bcachefs, ...), the copy is a reflink (``FICLONE``): it
    shares the source's blocks until either side is written, so it costs no space, and a later in-place change of
    the source cannot reach it (copy on write). The md5 is then read back from the clone itself, so what is
    published is exactly what was verified. A hard link is never used: it is the same inode, so rewriting the
    source in place would change a cache file already verified and served as immutable. Elsewhere (ext4, tmpfs,
    across filesystems) it is a plain copy, hashed as it streams.
    """
    try:
        fcntl.ioctl(writer.fileno(), FICLONE, reader.fileno())
    except OSError:
        return copy_hashing(reader, writer, label)
    digest = hashlib.md5()
    size = 0
    with open(writer.fileno(), "rb", closefd=False) as clone:
        while chunk := clone.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    print(f"{label}: {size} bytes (reflink)", file=sys.stderr)
    return digest.hexdigest()


def check_format(path: str, fmt: str, url: str) -> None:
    """Refuse bytes that are not what their format says (bigWig, bigBed, CSV, TSV: :mod:`webapp.magic`)."""
    parts = urlsplit(url)
    name = os.path.basename(unquote(parts.path if parts.scheme else url).rstrip("/"))
    reason = magic.check_file(path, fmt, name.lower().endswith((".gz", ".bgz")))
    if reason is not None:
        raise FetchError(f"{url}: {reason}")


def fetch(args: argparse.Namespace) -> None:
    """Fetch the source into a temporary file, verify it and publish it at args.out."""
    expected = args.md5.lower() if args.md5 else None
    scheme = urlsplit(args.url).scheme.lower()
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".fetch-", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as writer:
            if scheme in ("http", "https"):
                with _open(args.url, args.allowed_host, args.timeout) as response:
                    actual = copy_hashing(response, writer, args.url)
            elif scheme == "drs":
                url, headers, drs_md5 = resolve_drs(args.url, args.allowed_host, args.drs_scheme,
                                                    args.timeout)
                if drs_md5 and expected and drs_md5 != expected:
                    raise FetchError(f"{args.url}: the DRS server declares md5 {drs_md5}, "
                                     f"the manifest {expected}; register the source with the right md5")
                with _open(url, args.allowed_host, args.timeout, headers) as response:
                    actual = copy_hashing(response, writer, args.url)
            elif scheme in ("", "file"):
                with open(local_path(args.url, args.source_root), "rb") as reader:
                    actual = copy_local(reader, writer, args.url)
            else:
                raise FetchError(f"{args.url}: unsupported scheme {scheme!r} "
                                 "(use https, http, drs or a local path)")
        if expected is not None and actual != expected:
            raise FetchError(f"md5 mismatch for {args.url}: expected {expected}, got {actual}; "
                             "the file changed upstream or the md5 is wrong: correct the manifest row; "
                             "in the service, remove the source (DELETE /files/{id}, with the token) and "
                             "register it again with the right md5, or register it under a new id")
        if args.format:
            check_format(tmp, args.format, args.url)
        os.chmod(tmp, 0o644)
        os.replace(tmp, args.out)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--md5", help="the declared md5, checked before the file is published")
    parser.add_argument("--unverified", action="store_true",
                        help="publish without an md5 check (the caller checks the file otherwise, "
                             "e.g. an index with a real query)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--format", help="the registered format: bigwig, bigbed, csv and tsv sources must "
                                         "start with their format's bytes (checked before publishing)")
    parser.add_argument("--source-root", action="append", default=[])
    parser.add_argument("--allowed-host", action="append", default=[])
    parser.add_argument("--drs-scheme", default="https", choices=["https", "http"])
    parser.add_argument("--timeout", type=int, default=300)
    args = parser.parse_args(argv)
    if not args.md5 and not args.unverified:
        parser.error("--md5 is required (or --unverified, when the caller checks the file another way)")
    try:
        fetch(args)
    except FetchError as err:
        print(f"fetch_source: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"fetch_source: {args.url}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
