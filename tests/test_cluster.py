"""The dispatcher finds the SLURM runs a job's Snakemake started from its log (the real scancel is exercised
by the `slurm` tier's killed-Snakemake case)."""
from __future__ import annotations

from webapp import cluster


def test_run_ids_of_every_attempt_are_found_once_each_in_order(tmp_path):
    (tmp_path / "snakemake.log").write_text(
        "# attempt 1: python -m snakemake ...\n"
        "Using profile config/profiles/slurm-single-node for setting default command line arguments.\n"
        "SLURM run ID: trackprep_0b1c2d3e-aaaa-bbbb-cccc-000000000001\n"
        "SLURM run ID: trackprep_0b1c2d3e-aaaa-bbbb-cccc-000000000001\n"
        "# attempt 2: python -m snakemake ...\n"
        "SLURM run ID: trackprep_0b1c2d3e-aaaa-bbbb-cccc-000000000002\n")
    assert cluster.slurm_run_ids(str(tmp_path)) == ["trackprep_0b1c2d3e-aaaa-bbbb-cccc-000000000001",
                                                    "trackprep_0b1c2d3e-aaaa-bbbb-cccc-000000000002"]


def test_a_local_run_has_nothing_to_cancel(tmp_path):
    (tmp_path / "snakemake.log").write_text("Building DAG of jobs...\nlocalrule fetch_source:\n")
    assert cluster.slurm_run_ids(str(tmp_path)) == []
    assert cluster.cancel_cluster_jobs(str(tmp_path)) == []
    assert cluster.cancel_cluster_jobs(str(tmp_path / "never-started")) == []
