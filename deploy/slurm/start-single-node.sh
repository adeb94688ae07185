#!/usr/bin/env bash
# Start a single-node SLURM (munge, slurmctld, slurmd) on a Debian machine, as root and without
# systemd: for trying epmsweep's HPC path on a laptop, and for CI. Prints the line to eval:
#
#   eval "$(sudo deploy/slurm/start-single-node.sh)"     # exports SLURM_CONF
#   sinfo                                                 # one node, idle
#
# State, spool, logs and pid files live in $SLURM_DIR (default /tmp/epmsweep-slurm).
# Installs the Debian packages when they are missing (SLURM 22.05 on Debian 12).
set -euo pipefail
dir=${SLURM_DIR:-/tmp/epmsweep-slurm}
log() { echo "$*" >&2; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  log "installing slurmctld slurmd slurm-client munge"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >&2
fi
mkdir -p "$dir"/state "$dir"/spool "$dir"/log
host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) * 8 / 10 / 1024 ))
cat > "$dir/slurm.conf" <<CONF
ClusterName=epmsweep
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"

# munge: runs as user munge, with /run/munge owned by it
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
fi
if ! pgrep -x munged >/dev/null; then
  setsid setpriv --reuid=munge --regid=munge --clear-groups /usr/sbin/munged --foreground \
    >"$dir/log/munged.out" 2>&1 < /dev/null &
  sleep 0.5
fi
# (each daemon is backgrounded alone, with its own output, so nothing keeps this script's stdout open)
if ! pgrep -x slurmctld >/dev/null; then
  setsid slurmctld -D -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 < /dev/null &
fi
if ! pgrep -x slurmd >/dev/null; then
  setsid slurmd -D -f "$SLURM_CONF" >"$dir/log/slurmd.out" 2>&1 < /dev/null &
fi
for _ in $(seq 1 60); do
  if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    log "SLURM is up: $(sinfo -h -o '%P %D %t %C')"
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
  sleep 0.5
done
log "SLURM did not come up; logs in $dir/log"
exit 1
