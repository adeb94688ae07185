"""Where the points of a sweep run.

* ``local`` (default): a ``distributed.LocalCluster`` on this machine with one
  single-threaded worker *process* per core (numba kernels hold the GIL-free work in
  one thread; processes avoid contention), ``NUMBA_NUM_THREADS=1`` and the BLAS
  thread variables set to 1 in every worker. Scheduler and dashboard bind to
  127.0.0.1: nothing listens on other interfaces.
* ``sync``: in this process, one point after another (debugging, tests, tiny sweeps).
* ``scheduler=ADDRESS``: connect to an already running cluster; its workers must see
  the store's path (a shared filesystem) and have epmsweep installed.

* ``slurm``, ``pbs``, ``sge``, ``lsf``, ``htcondor``: dask-jobqueue's cluster classes.
  Their configuration comes from the standard dask config (``~/.config/dask/jobqueue.yaml``,
  ``DASK_JOBQUEUE__...`` variables); ``--cores``, ``--memory``, ``--walltime``, ``--queue``,
  ``--account``, ``--job-extra`` override it. Each job runs ``cores`` single-threaded worker
  processes; the job prologue is the configured one (module loads, environment activation)
  followed by exports of ``NUMBA_NUM_THREADS=1`` and ``OMP_NUM_THREADS=1`` (and of the
  client's ``NUMBA_CACHE_DIR``, if set: see :func:`worker_env`).
  With a walltime (given or configured) the workers get ``--lifetime`` (walltime minus a margin) and
  ``--lifetime-stagger``: a job about to hit its walltime retires, its running point goes
  back to the scheduler and is retried, and adaptive scaling starts a replacement job.
  ``--jobs N`` keeps N jobs (adaptively, so retired jobs are replaced); ``--adapt MIN:MAX``
  scales between MIN and MAX jobs.

TLS (:func:`tls_on`): scheduler, worker and client traffic encrypted and authenticated with
certificates made for the run (``distributed.security.Security.temporary()``), so a client
without them cannot connect; on by default for batch clusters (the workers get the
certificates through files in a private directory next to the store), ``--tls`` for the
local one, ``--no-tls`` to turn it off.
New backends register a factory in ``_FACTORIES``: a context manager taking
:class:`ClusterOptions` and yielding a ``distributed`` cluster object.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from epmsweep.model import InvalidInput
from epmsweep.model.core import brief

#: Environment of every worker process: one thread per worker for numba and BLAS.
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def worker_env() -> dict[str, str]:
    """WORKER_ENV, and this process's ``NUMBA_CACHE_DIR`` when it has one, so that the workers
    load (and write) compiled kernels where the client looks for them. Without it numba keeps
    its cache next to the package's source, which every worker of one installation shares."""
    cache = os.environ.get("NUMBA_CACHE_DIR")
    return {**WORKER_ENV, **({"NUMBA_CACHE_DIR": str(Path(cache).absolute())} if cache else {})}


@dataclass(frozen=True)
class ClusterOptions:
    kind: str = "local"
    workers: int | None = None  # local: worker processes (default: one per core)
    scheduler: str | None = None  # address of an existing scheduler, e.g. tcp://10.0.0.5:8786
    dashboard: bool = True
    dashboard_address: str = "127.0.0.1:8787"
    tls: bool | None = None  # None: on for batch clusters, off for the local one (see tls_on)
    # batch systems (dask-jobqueue); None: from the dask config
    cores: int | None = None
    memory: str | None = None
    walltime: str | None = None
    queue: str | None = None
    account: str | None = None
    jobs: int | None = None
    adapt: tuple[int, int] | None = None
    job_extra: tuple[str, ...] = ()
    interface: str | None = None
    oversubscribe: bool = False  # local: allow more workers than cores
    tls_directory: str | None = None  # batch + TLS: a private directory on the shared filesystem for the certificates
    # --scheduler with TLS: this client's certificates (else those of the dask config)
    tls_ca_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def tls_on(options: ClusterOptions) -> bool:
    """Whether the cluster this sweep starts uses TLS with certificates made for it: by default
    on for batch clusters (their scheduler listens on a network other users reach: without
    TLS anyone there could run code as you), off for the local one (loopback only); an
    existing scheduler (``--scheduler``) brings its own, from its address and the dask config."""
    if options.scheduler is not None:
        return False
    return options.tls if options.tls is not None else options.kind in JOBQUEUE


def _security(options: ClusterOptions):
    from distributed.security import Security

    if options.scheduler is not None:  # the client's own certificates, or the dask config's (None)
        if options.tls_ca_file is None:
            return None
        return Security(tls_ca_file=options.tls_ca_file, tls_client_cert=options.tls_cert,
                        tls_client_key=options.tls_key, require_encryption=True)
    if not tls_on(options):
        return None
    return Security.temporary()


def _configured_client_certificates() -> bool:
    import dask.config

    return bool(dask.config.get("distributed.comm.tls.ca-file", None))


@contextlib.contextmanager
def certificates_beside(options: ClusterOptions, directory: str | Path) -> Iterator[ClusterOptions]:
    """``options`` with, for a batch cluster with TLS, a private (0700) directory inside
    ``directory`` (on the shared filesystem: next to the store) where the workers' copies
    of the run's certificates live while it runs; removed afterwards."""
    if options.kind not in JOBQUEUE or not tls_on(options):
        yield options
        return
    private = tempfile.mkdtemp(prefix=".epmsweep-tls-", dir=directory)
    try:
        yield replace(options, tls_directory=private)
    finally:
        shutil.rmtree(private, ignore_errors=True)


#: Where a scheduler without a dashboard serves its health routes: a free local port, not
#: dask's 8787 (which another sweep on the same machine may hold).
NO_DASHBOARD = "127.0.0.1:0"


@contextlib.contextmanager
def _local(options: ClusterOptions) -> Iterator[object]:
    from distributed import LocalCluster

    n = options.workers or available_cores()
    security = _security(options)
    # Without a dashboard the scheduler still serves its health routes over HTTP: on a free
    # port, so that a second sweep on the same machine does not collide at dask's 8787.
    quiet = {} if options.dashboard else {"scheduler_kwargs": {"dashboard_address": NO_DASHBOARD}}
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=options.dashboard_address if options.dashboard else None,
                      silence_logs=logging.ERROR, env=worker_env(), security=security,
                      protocol="tls://" if security else None, **quiet) as cluster:
        yield cluster


#: dask-jobqueue class and the command that submits a job, per backend
JOBQUEUE = {
    "slurm": ("SLURMCluster", "sbatch"),
    "pbs": ("PBSCluster", "qsub"),
    "sge": ("SGECluster", "qsub"),
    "lsf": ("LSFCluster", "bsub"),
    "htcondor": ("HTCondorCluster", "condor_submit"),
}


def walltime_seconds(text: str) -> int:
    """Seconds of a batch walltime: [D-]HH:MM:SS, HH:MM or MM (minutes)."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?", text.strip())
    if not match:
        raise InvalidInput(f"walltime = {text!r} cannot be parsed: expected [D-]HH:MM:SS, HH:MM or minutes")
    days, a, b, c = match.groups()
    if b is None:  # minutes
        seconds = int(a) * 60
    elif c is None:  # HH:MM
        seconds = int(a) * 3600 + int(b) * 60
    else:
        seconds = int(a) * 3600 + int(b) * 60 + int(c)
    seconds += int(days or 0) * 86400
    if seconds <= 0:
        raise InvalidInput(f"walltime = {text!r} must be positive")
    return seconds


def lifetime_args(walltime: str) -> list[str]:
    """Worker ``--lifetime``: retire before the batch system kills the job (margin 10% of the
    walltime, at most 5 minutes), staggered so that workers do not leave together."""
    total = walltime_seconds(walltime)
    margin = min(300, max(5, total // 10))
    stagger = min(120, max(1, total // 20))
    return ["--lifetime", f"{total - margin}s", "--lifetime-stagger", f"{stagger}s"]


#: What each batch system calls our options; None: it has no such setting.
_NATIVE = {
    "slurm": {"queue": "queue", "account": "account", "walltime": "walltime"},
    "pbs": {"queue": "queue", "account": "account", "walltime": "walltime"},
    "sge": {"queue": "queue", "account": "project", "walltime": "walltime"},
    "lsf": {"queue": "queue", "account": "project", "walltime": "walltime"},
    "htcondor": {"queue": None, "account": None, "walltime": None},
}


def configured(kind: str, key: str) -> object | None:
    """A batch system's setting in the dask config (``jobqueue.KIND.KEY``), or None."""
    import dask.config

    return dask.config.get(f"jobqueue.{kind}.{key}", None)


def walltime_of(options: ClusterOptions) -> str | None:
    """The jobs' walltime: ``--walltime``, else the dask config's (None: no limit known)."""
    if _NATIVE[options.kind]["walltime"] is None:
        return None
    walltime = options.walltime or configured(options.kind, "walltime")
    return str(walltime) if walltime else None


def interface_of(options: ClusterOptions) -> str | None:
    """The network interface scheduler and workers use: ``--interface``, else the dask config's."""
    interface = options.interface or configured(options.kind, "interface")
    return str(interface) if interface else None


def _prologue(kind: str) -> list[str]:
    """The configured job prologue (module loads, environment activation), then our exports."""
    lines = [str(line) for line in configured(kind, "job-script-prologue") or []]
    exports = [f"export {k}={shlex.quote(v)}" for k, v in worker_env().items()]
    return [*lines, *(line for line in exports if line not in lines)]


def _jobqueue_kwargs(options: ClusterOptions) -> dict:
    kwargs: dict = {"job_script_prologue": _prologue(options.kind), "silence_logs": logging.ERROR}
    for name in ("cores", "memory", "interface"):
        value = getattr(options, name)
        if value is not None:
            kwargs[name] = value
    for name, native in _NATIVE[options.kind].items():
        value = getattr(options, name)
        if value is None:
            continue
        if native is None:
            raise InvalidInput(f"--{name} is not a setting of {options.kind} jobs; use --job-extra or the dask config")
        kwargs[native] = value
    if options.kind == "htcondor" and options.memory is not None:
        kwargs["disk"] = options.memory  # HTCondor jobs must request disk; as much as memory
    if options.kind == "sge" and options.memory is not None:
        kwargs["resource_spec"] = f"h_vmem={options.memory}"  # cores: a site-specific -pe via --job-extra
    if options.cores is not None:
        kwargs["processes"] = options.cores  # single-threaded worker processes
    if options.job_extra:
        kwargs["job_extra_directives"] = list(options.job_extra)
    walltime = walltime_of(options)
    if walltime:
        configured_args = [str(a) for a in configured(options.kind, "worker-extra-args") or []]
        kwargs["worker_extra_args"] = [*configured_args, *lifetime_args(walltime)]
    kwargs["scheduler_options"] = ({"dashboard_address": options.dashboard_address} if options.dashboard
                                   else {"dashboard": False, "dashboard_address": NO_DASHBOARD})
    security = _security(options)
    if security is not None:
        kwargs["security"] = security
        kwargs["protocol"] = "tls://"
        kwargs["shared_temp_directory"] = options.tls_directory
    return kwargs


def make_jobqueue_cluster(options: ClusterOptions):
    """The dask-jobqueue cluster object of ``options`` (not scaled yet)."""
    import dask_jobqueue

    class_name, _ = JOBQUEUE[options.kind]
    try:
        return getattr(dask_jobqueue, class_name)(**_jobqueue_kwargs(options))
    except ValueError as err:  # e.g. cores/memory neither given nor configured
        raise InvalidInput(f"cluster {options.kind}: {err}") from None


#: Stand-ins in a ``--dry-run`` script for what exists only once a run starts.
DRY_RUN_SCHEDULER = "tcp://SCHEDULER-ADDRESS:8786"
DRY_RUN_CERTIFICATES = "RUN-CERTIFICATES"  # the run's private directory of TLS files


def job_script(options: ClusterOptions) -> str:
    """The batch script one worker job would run (``--dry-run``), made without starting a
    scheduler, making certificates or creating any directory (dask-jobqueue creates the log
    directory when it builds a job: removed again if it did not exist). The scheduler's address
    and the TLS files appear as DRY_RUN_SCHEDULER and files in DRY_RUN_CERTIFICATES."""
    import dask_jobqueue
    from distributed.security import Security

    kwargs = _jobqueue_kwargs(replace(options, tls=False, dashboard=False))
    for cluster_only in ("silence_logs", "scheduler_options", "shared_temp_directory", "interface"):
        kwargs.pop(cluster_only, None)
    if tls_on(options):
        kwargs["protocol"] = "tls://"
        kwargs["security"] = Security(tls_ca_file=f"{DRY_RUN_CERTIFICATES}/ca.pem",
                                      tls_worker_cert=f"{DRY_RUN_CERTIFICATES}/worker-cert.pem",
                                      tls_worker_key=f"{DRY_RUN_CERTIFICATES}/worker-key.pem", require_encryption=True)
    job_class = getattr(dask_jobqueue, JOBQUEUE[options.kind][0]).job_cls
    try:
        with _removing_new_directories(configured(options.kind, "log-directory")):
            job = job_class(DRY_RUN_SCHEDULER, name="dry-run", interface=interface_of(options), **kwargs)
    except ValueError as err:  # e.g. cores/memory neither given nor configured
        raise InvalidInput(f"cluster {options.kind}: {err}") from None
    return job.job_script()


@contextlib.contextmanager
def _removing_new_directories(path: object) -> Iterator[None]:
    """Remove afterwards the (empty) directories on the way to ``path`` that did not exist before."""
    if not path:
        yield
        return
    target = Path(str(path)).absolute()
    new = [p for p in (target, *target.parents) if not p.exists()]
    try:
        yield
    finally:
        for directory in new:  # deepest first
            with contextlib.suppress(OSError):
                directory.rmdir()


def _drop_certificate_files(cluster: object) -> None:
    """Delete the workers' copies of a TLS cluster's certificates now. dask-jobqueue keeps them
    as temporary files referenced from the cluster object (``_job_<key>``), deleted whenever
    that object is garbage collected, which may be after their directory is gone."""
    for name in ("_job_ca_file", "_job_cert", "_job_key"):  # the worker roles' TLS files
        handle = vars(cluster).pop(name, None)
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()


def check_submission(kind: str) -> None:
    """Fail fast when the batch system cannot take jobs: dask-jobqueue would only log the
    failed submission and wait for workers forever."""
    _, submit = JOBQUEUE[kind]
    if shutil.which(submit) is None:
        raise InvalidInput(f"cluster {kind}: the submit command '{submit}' is not on PATH; is this a {kind} login node?")
    if kind == "slurm":
        probe = subprocess.run(["sinfo", "-h", "-o", "%a"], capture_output=True, text=True, timeout=30)
        if probe.returncode != 0:
            raise InvalidInput(f"cluster slurm: sinfo cannot reach the controller: {probe.stderr.strip()} "
                               "(is SLURM_CONF set?)")


@contextlib.contextmanager
def _jobqueue(options: ClusterOptions) -> Iterator[object]:
    cluster = make_jobqueue_cluster(options)
    try:
        if options.adapt is not None:
            cluster.adapt(minimum_jobs=options.adapt[0], maximum_jobs=options.adapt[1])
        elif walltime_of(options):  # adaptive, so that jobs retiring at their walltime are replaced
            n = options.jobs or 1
            cluster.adapt(minimum_jobs=n, maximum_jobs=n)
        else:
            cluster.scale(jobs=options.jobs or 1)
        yield cluster
    finally:
        with contextlib.suppress(AssertionError):  # close() after a failed submission asserts
            cluster.close()
        _drop_certificate_files(cluster)


_FACTORIES: dict[str, Callable[[ClusterOptions], contextlib.AbstractContextManager]] = {
    "local": _local, **{kind: _jobqueue for kind in JOBQUEUE}}
KINDS = ("local", "sync", *JOBQUEUE)


def validate(options: ClusterOptions) -> None:
    """Refuse impossible cluster options before anything is written (within seconds)."""
    if options.kind not in KINDS:
        raise InvalidInput(f"cluster = {options.kind!r} is not allowed: expected one of {', '.join(KINDS)}")
    if options.workers is not None and options.workers < 1:
        raise InvalidInput(f"workers = {options.workers} is not allowed: expected an integer >= 1")
    if options.workers is not None and options.workers > available_cores() and not options.oversubscribe:
        raise InvalidInput(f"workers = {options.workers} is more than the {available_cores()} cores of this machine: "
                           "each worker runs one single-threaded point, so the extra ones only share cores and "
                           "memory; pass --oversubscribe to run them anyway")
    if options.scheduler is not None and options.kind == "sync":
        raise InvalidInput("--scheduler and --cluster sync exclude each other")
    if options.scheduler is not None:
        scheduler_address(options.scheduler)
        if options.tls and options.tls_ca_file is None and not _configured_client_certificates():
            raise InvalidInput("--tls with --scheduler needs the certificates of that scheduler's cluster: give "
                               "--tls-ca-file, --tls-cert and --tls-key, or set distributed.comm.tls.ca-file, "
                               ".client.cert and .client.key in the dask config")
    given = {"--tls-ca-file": options.tls_ca_file, "--tls-cert": options.tls_cert, "--tls-key": options.tls_key}
    if any(given.values()):
        if options.scheduler is None:
            raise InvalidInput("--tls-ca-file, --tls-cert and --tls-key are for --scheduler; a cluster this sweep "
                               "starts makes its own certificates")
        for option, value in given.items():
            if value is None or not Path(value).is_file():
                raise InvalidInput(f"{option} {brief(value)}: not a readable file (give all three of --tls-ca-file, "
                                   "--tls-cert, --tls-key)")
    if options.dashboard:
        listen_address("--dashboard-address", options.dashboard_address)
    if options.adapt is not None:
        lo, hi = options.adapt
        if lo < 0 or hi < 1 or lo > hi:
            raise InvalidInput(f"adapt = {lo}:{hi} is not allowed: expected MIN:MAX with 0 <= MIN <= MAX, MAX >= 1")
    if options.jobs is not None and options.jobs < 1:
        raise InvalidInput(f"jobs = {options.jobs} is not allowed: expected an integer >= 1")
    if options.walltime is not None:
        walltime_seconds(options.walltime)
    batch_only = [k for k in ("cores", "memory", "walltime", "queue", "account", "jobs", "adapt")
                  if getattr(options, k) is not None]
    if options.kind not in JOBQUEUE and batch_only:
        raise InvalidInput(f"--{batch_only[0]} applies to batch clusters ({', '.join(JOBQUEUE)}), "
                           f"not to --cluster {options.kind}")
    if options.kind in JOBQUEUE and options.scheduler is None:
        check_interface(options)
        check_submission(options.kind)


def check_interface(options: ClusterOptions) -> None:
    """The scheduler runs on this machine and listens on the jobs' interface: it must exist here
    (dask would fail with a traceback after the store is claimed)."""
    import psutil

    interface = interface_of(options)
    if interface is None:
        return
    present = sorted(psutil.net_if_addrs())
    if interface not in present:
        source = "--interface" if options.interface else f"the dask config (jobqueue.{options.kind}.interface)"
        raise InvalidInput(f"interface {interface!r} (from {source}) does not exist on this machine, where the "
                           f"scheduler runs; its interfaces: {', '.join(present)}; give --interface with one the "
                           "compute nodes share with this one")


def worker_memory(options: ClusterOptions) -> tuple[float, str] | None:
    """The memory one worker has, in bytes, and where the figure comes from; None where it
    cannot be known before connecting (an existing scheduler, a batch job without memory)."""
    import dask.config
    from dask.utils import format_bytes, parse_bytes
    from distributed.system import MEMORY_LIMIT  # physical memory, or the cgroup's limit

    if options.scheduler is not None:
        return None
    if options.kind == "sync":
        return MEMORY_LIMIT, f"this machine's {format_bytes(MEMORY_LIMIT)}"
    if options.kind == "local":
        n = options.workers or available_cores()
        return MEMORY_LIMIT / n, f"this machine's {format_bytes(MEMORY_LIMIT)} shared by {n} workers"
    memory = options.memory or dask.config.get(f"jobqueue.{options.kind}.memory", None)
    cores = options.cores or dask.config.get(f"jobqueue.{options.kind}.cores", None)
    if not memory or not cores:
        return None
    try:
        return parse_bytes(memory) / int(cores), f"a job's {memory} shared by its {cores} workers"
    except (ValueError, TypeError):
        raise InvalidInput(f"memory = {memory!r} is not allowed: expected an amount such as 16GB") from None


_ADDRESS = re.compile(r"(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]*):(?P<port>\d{1,5})")
#: Protocols a dask scheduler address may use here.
SCHEDULER_SCHEMES = ("tcp", "tls")


def scheduler_address(text: str) -> str:
    """A dask scheduler address, ``tcp://HOST:PORT`` or ``tls://HOST:PORT`` (``HOST:PORT``
    means tcp; ``inproc://...``: a cluster in this process), checked for its form only."""
    if text.strip().startswith("inproc://"):
        return text.strip()
    match = _ADDRESS.fullmatch(text.strip())
    scheme = match and (match["scheme"] or "tcp")
    if not match or not match["host"] or scheme not in SCHEDULER_SCHEMES or not 0 < int(match["port"]) < 65536:
        raise InvalidInput(f"--scheduler {brief(text)} is not a dask scheduler address: expected tcp://HOST:PORT "
                           "(or tls://HOST:PORT), e.g. tcp://10.0.0.5:8786")
    return f"{scheme}://{match['host']}:{match['port']}"


def listen_address(option: str, text: str) -> str:
    """``HOST:PORT`` or ``:PORT`` to listen on (port 0: any free one)."""
    match = _ADDRESS.fullmatch(text.strip())
    if not match or match["scheme"] or not 0 <= int(match["port"]) < 65536:
        raise InvalidInput(f"{option} {brief(text)} is not allowed: expected HOST:PORT or :PORT, e.g. 127.0.0.1:8787")
    return text.strip()


def probe_scheduler(options: ClusterOptions, timeout: float = 5.0) -> None:
    """Connect to ``options.scheduler`` once, within ``timeout`` seconds, before anything is
    written; InvalidInput naming the address and what happened otherwise. (dask's own
    connect can wait forever when something other than a scheduler listens there.)"""
    from distributed import Client

    address = scheduler_address(options.scheduler)
    result: dict = {}

    def attempt() -> None:
        try:
            with Client(address, timeout=timeout, security=_security(options), set_as_default=False):
                result["ok"] = True
        except Exception as err:  # reported below, in the caller's thread
            result["error"] = err

    thread = threading.Thread(target=attempt, name="probe-scheduler", daemon=True)
    thread.start()
    thread.join(timeout + 2)
    if "ok" in result:
        return
    what = (f"{type(result['error']).__name__}: {result['error']}" if "error" in result else
            f"something answered but no dask scheduler within {timeout:g} s")
    raise InvalidInput(f"cannot connect to the dask scheduler at {address} ({what}); check that it runs and that "
                       "the address is right")


@contextlib.contextmanager
def connect(options: ClusterOptions) -> Iterator[object | None]:
    """A ``distributed.Client`` for the chosen cluster, or None for ``sync``."""
    validate(options)
    if options.kind == "sync" and options.scheduler is None:
        yield None
        return
    from distributed import Client

    if options.scheduler is not None:
        with Client(scheduler_address(options.scheduler), security=_security(options)) as client:
            yield client
        return
    with _FACTORIES[options.kind](options) as cluster, Client(cluster, security=cluster.security) as client:
        yield client
