#!/usr/bin/env bash
# A single-node Slurm cluster on this machine (localhost), for the regression's Slurm tests
# and for trying `asicflow regress --scheduler slurm` without a cluster:
#   bash scripts/slurm_local.sh start   # installs slurm-wlm + munge (Debian) if missing, starts
#                                       # munged, slurmctld, slurmd; waits for the node to be idle
#   bash scripts/slurm_local.sh stop    # stops the three daemons
# Needs root (a munge key, daemons). State lives in $SLURM_LOCAL_DIR (default /tmp/asicflow-slurm).
set -euo pipefail
DIR=${SLURM_LOCAL_DIR:-/tmp/asicflow-slurm}
PARTITION=${SLURM_LOCAL_PARTITION:-asicflow}
CONF=$DIR/slurm.conf

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    return
  fi
  echo "slurm_local: installing Debian packages slurm-wlm munge"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_conf() {
  mkdir -p "$DIR"/{spool,state,log,munge}
  chmod 700 "$DIR/munge"
  local cpus mem
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  cat > "$CONF" <<CONF
ClusterName=asicflow
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  # Jobs are tracked without cgroups (proctrack/linuxproc, task/none), but slurmd 22.05 still
  # loads a cgroup plugin at start: v1 where the v1 hierarchy is mounted, else v2.
  if [ -d /sys/fs/cgroup/freezer ]; then plugin=cgroup/v1; else plugin=cgroup/v2; fi
  printf 'CgroupPlugin=%s\nIgnoreSystemd=yes\nConstrainCores=no\nConstrainRAMSpace=no\n' \
    "$plugin" > "$DIR/cgroup.conf"
  if [ ! -s "$DIR/munge/munge.key" ]; then
    dd if=/dev/urandom bs=1 count=1024 of="$DIR/munge/munge.key" status=none
    chmod 400 "$DIR/munge/munge.key"
  fi
}

start() {
  install
  stop >/dev/null 2>&1 || true
  write_conf
  export SLURM_CONF=$CONF
  munged --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
    --seed-file="$DIR/munge/munged.seed" --force
  # slurm talks to munge through its default socket path
  mkdir -p /run/munge
  ln -sf "$DIR/munge/munge.socket" /run/munge/munge.socket.2
  if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    echo "slurm_local: Slurm daemons are already running on this machine (not ours: $DIR);" \
      "stop them first (e.g. bash $0 stop with their SLURM_LOCAL_DIR)" >&2
    return 1
  fi
  slurmctld -f "$CONF"
  slurmd -f "$CONF"
  for _ in $(seq 1 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qx 'idle'; then
      echo "slurm_local: node localhost idle in partition $PARTITION (SLURM_CONF=$CONF)"
      return 0
    fi
    sleep 1
  done
  echo "slurm_local: the node did not become idle; logs in $DIR/log" >&2
  sinfo -N -l >&2 || true
  tail -20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
  return 1
}

stop() {
  for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/munge/munged.pid"; do
    if [ -s "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
  # daemons of this configuration whose pid file was lost
  pkill -f "slurm(ctld|d) -f $CONF" 2>/dev/null || true
  pkill -f "munged --key-file=$DIR/" 2>/dev/null || true
  rm -f /run/munge/munge.socket.2
  echo "slurm_local: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  conf) echo "$CONF" ;;
  *) echo "usage: $0 start|stop|conf" >&2; exit 2 ;;
esac
