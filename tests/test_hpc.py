"""Batch clusters through dask-jobqueue, against a real single-node SLURM where one runs
(.ci/run starts it with deploy/slurm/start-single-node.sh), and TLS on a local cluster."""

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
from distributed import Client

from epmsweep.sweep import store
from epmsweep.sweep.cluster import JOBQUEUE, ClusterOptions, certificates_beside, connect, job_script
from epmsweep.sweep.runner import run_sweep
from epmsweep.sweep.spec import build_spec

CLI = [sys.executable, "-m", "epmsweep"]
SLURM = ["--cluster", "slurm", "--cores", "1", "--memory", "1GB", "--interface", "lo", "--no-progress"]


def slurm_running() -> bool:
    if shutil.which("sbatch") is None:
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=30).returncode == 0


needs_slurm = pytest.mark.skipif(not slurm_running(), reason="no SLURM controller reachable (sinfo failed); "
                                 ".ci/run starts one with deploy/slurm/start-single-node.sh")


def run(*args, cwd, timeout=300, **kw):
    return subprocess.run([*CLI, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)


def squeue_empty(timeout=30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip():
            return True
        time.sleep(0.5)
    return False


def outputs(path, names):
    ds = xr.open_zarr(path).load()
    return {n: ds[n].values.tobytes() for n in names}


@needs_slurm
def test_slurm_sweep_with_two_jobs_equals_the_local_sweep(tmp_path):
    sweep = ["run", "meanfield", "--T", "0.1:1:10", "--alpha", "0.11", "--replicas", "2", "--set", "N=50",
             "--set", "duration=20", "--seed", "4"]
    result = run(*sweep, "--out", "slurm.zarr", *SLURM, "--jobs", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert squeue_empty()
    assert run(*sweep, "--out", "local.zarr", "--workers", "2", "--no-progress", cwd=tmp_path).returncode == 0
    names = ("gamma", "gamma_err", "gamma_t", "p_sigma", "events", "sim_time")
    assert outputs(tmp_path / "slurm.zarr", names) == outputs(tmp_path / "local.zarr", names)
    assert (xr.open_zarr(tmp_path / "slurm.zarr").status == 1).sum() == 20


@needs_slurm
def test_an_installed_model_package_runs_on_slurm(tmp_path, example_plugin_site):
    env = {**os.environ, "PYTHONPATH": str(example_plugin_site)}  # sbatch passes the environment to the jobs
    result = run("run", "toy", "--x", "0:1:4", "--out", "toy.zarr", *SLURM, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    ds = xr.open_zarr(tmp_path / "toy.zarr")
    assert (ds.status == 1).all() and ds.y.values[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]


@needs_slurm
def test_scancel_of_a_worker_job_mid_sweep_loses_nothing(tmp_path):
    args = ["run", "probe", "--x", "0:1:20", "--set", "work=0.5", "--out", "s.zarr", *SLURM, "--jobs", "2"]
    proc = subprocess.Popen([*CLI, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 120
    while time.monotonic() < end:
        try:
            if (store.read_status(tmp_path / "s.zarr") == store.DONE).sum() >= 3:
                break
        except Exception:
            pass
        time.sleep(0.2)
    jobs = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split()
    assert len(jobs) == 2
    subprocess.run(["scancel", jobs[0]], check=True)
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr
    assert (store.read_status(tmp_path / "s.zarr") == store.DONE).all()
    assert squeue_empty()


@needs_slurm
def test_workers_retire_before_their_walltime_and_new_jobs_finish_the_sweep(tmp_path):
    """Walltime 12 s (SLURM rounds it up to a minute): workers retire after 7 s, before the
    16 one-second points on 2 jobs are done; new jobs are started; every point is done once
    and equals the same sweep run in this process (with work = 0: a point's seed, hence its
    results, depends only on the swept values, not on fixed parameters)."""
    sweep = ["run", "probe", "--x", "0:1:16", "--set", "work=1", "--set", "k_samples=4", "--seed", "9"]
    result = run(*sweep, "--out", "wt.zarr", *SLURM, "--jobs", "2", "--walltime", "00:00:12", cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    assert squeue_empty()
    assert len(list(tmp_path.glob("slurm-*.out"))) >= 3  # the two first jobs retired and were replaced
    ds = xr.open_zarr(tmp_path / "wt.zarr")
    assert (ds.status == 1).all()
    instant = [a if a != "work=1" else "work=0" for a in sweep]
    assert run(*instant, "--out", "local.zarr", "--cluster", "sync", "--no-progress", cwd=tmp_path).returncode == 0
    assert outputs(tmp_path / "wt.zarr", ("y", "samples")) == outputs(tmp_path / "local.zarr", ("y", "samples"))


@pytest.mark.parametrize("kind", sorted(JOBQUEUE))
def test_dry_run_job_scripts_carry_resources_and_prologue(kind, tmp_path):
    options = ["--cores", "4", "--memory", "8GB"]
    if kind != "htcondor":
        options += ["--walltime", "02:00:00", "--queue", "short", "--account", "proj"]
    result = run("run", "probe", "--x", "1", "--cluster", kind, *options, "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    script = result.stdout
    assert "export NUMBA_NUM_THREADS=1" in script and "export OMP_NUM_THREADS=1" in script
    assert "--nworkers 4" in script and "--nthreads 1" in script
    expected = {
        "slurm": ["#SBATCH -p short", "#SBATCH -A proj", "--cpus-per-task=4", "--mem=8G", "-t 02:00:00",
                  "--lifetime 6900s"],
        "pbs": ["#PBS -q short", "#PBS -A proj", "ncpus=4", "walltime=02:00:00", "--lifetime 6900s"],
        "sge": ["#$ -q short", "#$ -P proj", "h_vmem=8GB", "h_rt=02:00:00", "--lifetime 6900s"],
        "lsf": ["#BSUB -q short", '#BSUB -P "proj"', "#BSUB -n 4", "#BSUB -W 02:00", "--lifetime 6900s"],
        "htcondor": ["MY.DaskWorkerCores = 4", "MY.DaskWorkerMemory = 8000000000", "RequestDisk"],
    }[kind]
    for piece in expected:
        assert piece in script, (kind, piece)
    assert not (tmp_path / "sweep.zarr").exists()


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--cluster", "torque"], None, "cluster = 'torque' is not allowed"),
    (["--cluster", "slurm"], {"PATH": "/nonexistent"}, "'sbatch' is not on PATH"),
    (["--cluster", "slurm", "--walltime", "two hours"], None, "walltime = 'two hours' cannot be parsed"),
    (["--cluster", "slurm", "--adapt", "5:2"], None, "adapt = 5:2 is not allowed"),
])
def test_bad_cluster_input_fails_fast_with_exit_2(tmp_path, args, env, message):
    start = time.monotonic()
    result = run("run", "probe", "--x", "1", "--out", "s.zarr", *args, cwd=tmp_path, timeout=60,
                 env={**os.environ, **(env or {})})
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    assert time.monotonic() - start < 20
    assert not (tmp_path / "s.zarr").exists()


async def _connect_without_certificates(address):
    # an asynchronous client: a failed synchronous one can deadlock in distributed's loop runner;
    # closed while its loop runs, so that it is not left to close itself on a closed loop
    client = Client(address, asynchronous=True, timeout="3s")
    try:
        await client
    finally:
        await client.close()


def _refuses_clients_without_certificates(address: str) -> None:
    for attempt in (address, address.replace("tls://", "tcp://")):
        with pytest.raises((OSError, TimeoutError, ValueError, TypeError)):
            asyncio.run(_connect_without_certificates(attempt))


@needs_slurm
def test_a_slurm_cluster_uses_tls_by_default_and_refuses_clients_without_its_certificates(tmp_path, monkeypatch):
    """Before: a batch cluster's scheduler listened without TLS unless --tls: anyone reaching
    its port could run code as the sweep's owner."""
    monkeypatch.chdir(tmp_path)  # the job's output file lands in the working directory
    beside = tmp_path / "store-parent"
    beside.mkdir()
    options = ClusterOptions(kind="slurm", cores=1, memory="1GB", interface="lo", dashboard=False)
    with certificates_beside(options, beside) as with_certificates, connect(with_certificates) as client:
        address = client.scheduler.address
        assert address.startswith("tls://")
        client.wait_for_workers(1, timeout=120)
        assert client.submit(lambda: 21 * 2).result(timeout=60) == 42  # the workers got the certificates
        _refuses_clients_without_certificates(address)
        private = [p for p in beside.iterdir() if p.name.startswith(".epmsweep-tls-")]
        assert len(private) == 1 and private[0].stat().st_mode & 0o077 == 0
    assert not any(beside.iterdir())  # certificates removed with the cluster
    assert squeue_empty()


def test_batch_job_scripts_carry_tls_unless_turned_off():
    assert "--tls-ca-file" in job_script(ClusterOptions(kind="slurm", cores=1, memory="1GB"))
    assert "--tls-ca-file" not in job_script(ClusterOptions(kind="slurm", cores=1, memory="1GB", tls=False))


def test_tls_sweep_completes_and_a_client_without_certificates_is_refused(tmp_path):
    spec = build_spec("probe", {"x": "0:1:6"}, {}, {}, 1, 0, "tls")
    outcome = run_sweep(spec, tmp_path / "tls.zarr", ClusterOptions(workers=2, tls=True, dashboard=False),
                        progress=False)
    assert outcome.done == 6
    with connect(ClusterOptions(workers=1, tls=True, dashboard=False)) as client:
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        assert client.run_on_scheduler(lambda: 1) == 1  # the client with certificates works
        _refuses_clients_without_certificates(address)


def test_the_configured_prologue_walltime_and_interface_are_honoured_and_dry_run_changes_nothing(tmp_path):
    """deploy/jobqueue.yaml as shipped (DASK_CONFIG): its prologue comes first and our exports
    after it, its walltime gives --lifetime, its interface (ib0, absent here) is passed to the
    workers, and so is the client's NUMBA_CACHE_DIR; --dry-run starts no scheduler (before: a traceback for the missing ib0) and creates
    nothing (before: logs/dask in the current directory); a real run refuses the missing
    interface with exit 2."""
    config = tmp_path / "dask"
    config.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "deploy" / "jobqueue.yaml", config / "jobqueue.yaml")
    env = {**os.environ, "DASK_CONFIG": str(config), "NUMBA_CACHE_DIR": "/shared/numba cache"}
    work = tmp_path / "work"
    work.mkdir()
    for kind, lifetime in (("slurm", 8 * 3600 - 300), ("pbs", 6 * 3600 - 300)):
        result = run("run", "probe", "--x", "1", "--cluster", kind, "--dry-run", cwd=work, env=env)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines.index("module load python/3.11") < lines.index("source $HOME/venvs/epmsweep/bin/activate") \
            < lines.index("export NUMBA_NUM_THREADS=1") < lines.index("export NUMBA_CACHE_DIR='/shared/numba cache'")
        assert f"--lifetime {lifetime}s" in result.stdout and "--interface ib0" in result.stdout
        assert "--protocol tls://" in result.stdout and "--tls-ca-file RUN-CERTIFICATES/ca.pem" in result.stdout
        assert "logs/dask" in result.stdout
    assert list(work.iterdir()) == []
    real = run("run", "probe", "--x", "1", "--cluster", "slurm", "--out", "s.zarr", cwd=work, env=env, timeout=60)
    assert real.returncode == 2
    assert "interface 'ib0' (from the dask config (jobqueue.slurm.interface)) does not exist on this machine" \
        in " ".join(real.stderr.split())
    assert list(work.iterdir()) == []


def test_dry_run_needs_a_batch_cluster(tmp_path):
    result = run("run", "probe", "--x", "1", "--dry-run", cwd=tmp_path)
    assert result.returncode == 2 and "--dry-run" in result.stderr
    assert job_script(ClusterOptions(kind="slurm", cores=2, memory="2GB")).startswith("#!")


def test_a_sweep_on_an_existing_tls_scheduler_with_the_clients_certificates(tmp_path):
    """Before: --tls with --scheduler made fresh certificates and could never connect. Now the
    client's certificate files are used; without them the scheduler refuses the client and
    the sweep says so before writing anything."""
    from distributed import LocalCluster
    from distributed.security import Security

    from epmsweep.model import InvalidInput
    from epmsweep.sweep.cluster import probe_scheduler

    pem = Security.temporary()
    files = {}
    for name, text in (("ca", pem.tls_ca_file), ("cert", pem.tls_scheduler_cert), ("key", pem.tls_scheduler_key)):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(text)
    roles = {f"tls_{role}_{part}": str(files[part]) for role in ("scheduler", "worker", "client")
             for part in ("cert", "key")}
    security = Security(tls_ca_file=str(files["ca"]), require_encryption=True, **roles)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls://", host="127.0.0.1",
                      security=security, dashboard_address="127.0.0.1:0") as cl:
        options = ClusterOptions(scheduler=cl.scheduler_address, tls=True, dashboard=False,
                                 tls_ca_file=str(files["ca"]), tls_cert=str(files["cert"]), tls_key=str(files["key"]))
        spec = build_spec("probe", {"x": "0:1:4"}, {}, {}, 1, 0, "tls-scheduler")
        assert run_sweep(spec, tmp_path / "s.zarr", options, progress=False).done == 4
        with pytest.raises(InvalidInput, match=f"cannot connect to the dask scheduler at {cl.scheduler_address}"):
            probe_scheduler(ClusterOptions(scheduler=cl.scheduler_address, dashboard=False), timeout=3)
