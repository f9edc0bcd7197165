"""The README's htslib examples, run as written (host and port aside), one after another in one directory,
against the samples `trackprep serve` registers by default (the ones shipped in webapp/samples/)."""
from __future__ import annotations

import re
import subprocess

from conftest import REPO

CLIENTS = ("alias_url() {", "samtools view ", "tabix ", "bcftools view ")


def readme_service_examples() -> list[str]:
    """The lines of the README service section's first bash block that define or run an htslib client."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## The service"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.startswith(CLIENTS)]


def test_readme_htslib_examples_work_one_after_another_in_one_directory(service_factory, tmp_path):
    svc = service_factory(TRACKPREP_SAMPLES="").start()  # empty = the documented default
    for source_id in ("pybedtools_x.bam", "htslib_index.vcf"):
        assert svc.fetch(f"/index/{source_id}").status_code == 200
    lines = readme_service_examples()
    definition = next(line for line in lines if line.startswith("alias_url"))
    commands = [line for line in lines if line is not definition]
    assert len(commands) == 3, lines
    workdir = tmp_path / "client"
    workdir.mkdir()
    for command in commands:
        script = f"set -e\n{definition}\n{command}\n".replace("localhost:8000", f"127.0.0.1:{svc.port}")
        result = subprocess.run(["bash", "-c", script], cwd=workdir, capture_output=True, text=True,
                                errors="surrogateescape", timeout=120)
        assert result.returncode == 0, (command, result.stderr)
        assert len(result.stdout.splitlines()) == 3, (command, result.stdout, result.stderr)
    # each source's index is kept under its own name in the one directory
    assert len(list(workdir.iterdir())) == 2
