"""A memo of Snakemake's workflow parser, installed in the warm launcher before its first fork.

Every run parses the Snakefile and its ``include:`` files again: Snakemake tokenizes each file and translates it
to Python (``snakemake.parser.parse``), then compiles that Python. In a forked child this was about 60 ms of a
small cache miss's ~0.5 s. The launcher parses the workflow once while warming up; with this memo installed,
its children (which inherit the memo) get the translation and the compiled code back for any file whose bytes
are unchanged. The key is the file's path and content digest with every argument that shapes the translation,
so a changed rule file is parsed again (the launcher is replaced on such a change anyway, see
:func:`webapp.launcher.workflow_stamp`). Only local files are memoized; the plain ``snakemake`` command line
never loads this module.

If Snakemake's ``parse`` no longer has the signature this was written against, nothing is installed and runs
parse as before (:func:`install` returns False).
"""
from __future__ import annotations

import builtins
import hashlib
import inspect
import logging

log = logging.getLogger(__name__)
PARSE_PARAMETERS = ("path", "workflow", "linemap", "overwrite_shellcmd", "rulecount")
_translations: dict[tuple, tuple[str, int, dict[int, int]]] = {}
_compiled: dict[tuple, object] = {}


def install() -> bool:
    """Wrap ``snakemake.workflow``'s ``parse`` and ``compile`` with the memo; False when Snakemake's parser is
    not the one this was written for (then nothing changes)."""
    import snakemake.api  # noqa: F401  (snakemake.workflow imports the api module first)
    import snakemake.parser as parser_module
    import snakemake.workflow as workflow_module
    from snakemake.sourcecache import LocalSourceFile

    original = workflow_module.parse
    if getattr(original, "memoized", False):
        return True
    if tuple(inspect.signature(original).parameters) != PARSE_PARAMETERS:
        log.warning("snakemake.parser.parse has a new signature; the warm launcher parses every run")
        return False

    def parse(path, workflow, linemap, overwrite_shellcmd=None, rulecount=0):
        if not isinstance(path, LocalSourceFile):
            return original(path, workflow, linemap, overwrite_shellcmd=overwrite_shellcmd, rulecount=rulecount)
        name = path.get_path_or_uri(secret_free=True)
        with open(name, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        key = (name, digest, overwrite_shellcmd, rulecount)
        known = _translations.get(key)
        if known is None:
            code, count = original(path, workflow, linemap, overwrite_shellcmd=overwrite_shellcmd,
                                   rulecount=rulecount)
            _translations[key] = (code, count, dict(linemap))
            return code, count
        parser_module.Shell.overwrite_cmd = overwrite_shellcmd  # the one side effect of a real parse
        code, count, lines = known
        linemap.update(lines)
        return code, count

    def compile_once(source, filename, mode, *args, **kwargs):
        if not isinstance(source, str) or args or kwargs:
            return builtins.compile(source, filename, mode, *args, **kwargs)
        key = (source, filename, mode)
        if key not in _compiled:
            _compiled[key] = builtins.compile(source, filename, mode)
        return _compiled[key]  # a code object is immutable: each run execs it into its own globals

    parse.memoized = True
    workflow_module.parse = parse
    workflow_module.compile = compile_once  # a module global shadows the builtin for workflow.include only
    return True
