"""The warm launcher's parser memo (webapp/parse_memo.py): a run of an unchanged workflow gets the same rules
without a new parse, and a changed rule file is parsed again. Run in a child interpreter, as in the launcher."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from conftest import REPO

CHILD = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from webapp import parse_memo
    assert parse_memo.install()
    import snakemake.parser as parser_module
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import OutputSettings, ResourceSettings

    calls = []

    class Counted(parser_module.Snakefile):  # what snakemake's own parse opens for every file it parses
        def __init__(self, path, *args, **kwargs):
            calls.append(path.get_path_or_uri(secret_free=True))
            super().__init__(path, *args, **kwargs)

    parser_module.Snakefile = Counted

    def rules(folder):
        os.chdir(folder)
        with SnakemakeApi(OutputSettings()) as api:
            workflow = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=Path("Snakefile"),
                                    workdir=Path(folder))
            return sorted(rule.name for rule in workflow._workflow.rules)

    folder = sys.argv[1]
    first = rules(folder)
    parsed_first = len(calls)
    second = rules(folder)
    parsed_second = len(calls) - parsed_first
    with open(os.path.join(folder, "extra.smk"), "a") as handle:
        handle.write("\\nrule added:\\n    output: 'added.txt'\\n    shell: 'touch {output}'\\n")
    third = rules(folder)
    print(json.dumps({"first": first, "second": second, "third": third, "parsed_first": parsed_first,
                      "parsed_second": parsed_second, "parsed_third": calls[parsed_first:]}))
""")


def test_unchanged_files_are_not_parsed_again_and_changed_ones_are(tmp_path):
    (tmp_path / "Snakefile").write_text("include: 'extra.smk'\n\nrule main:\n    output: 'main.txt'\n"
                                        "    shell: 'touch {output}'\n")
    (tmp_path / "extra.smk").write_text("rule extra:\n    output: 'extra.txt'\n    shell: 'touch {output}'\n")
    result = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["first"] == seen["second"] == ["extra", "main"]
    assert seen["parsed_first"] == 2  # the Snakefile and its include
    assert seen["parsed_second"] == 0  # both from the memo
    assert seen["third"] == ["added", "extra", "main"]
    assert [name.rsplit("/", 1)[-1] for name in seen["parsed_third"]] == ["extra.smk"]  # only the changed file
