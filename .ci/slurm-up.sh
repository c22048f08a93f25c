#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this machine, for the end-to-end test of
# profiles/slurm (tests/test_slurm.py runs this script from a session fixture).
#
#   .ci/slurm-up.sh              install (apt), configure and start munged, slurmctld, slurmd
#   .ci/slurm-down.sh [NAME...]  stop the daemons this script started, by their PIDs
#
# Idempotent: a cluster that already answers `srun hostname` is left alone, and a daemon
# whose PID file (under $SUBSETGRAD_SLURM_STATE/pids) points at a live process is not
# started twice. Each daemon started by THIS call is printed as a line `started NAME PID`.
#
# Needs root and Debian's apt-get (packages slurmctld, slurmd, slurm-client, munge; SLURM
# 22.05 on Debian 12). There is no systemd here, so the daemons run in the foreground
# flavour (-D / --foreground) under setsid, detached from the caller's terminal and pipes.
#
# Exit status: 0 the cluster runs jobs; 77 it cannot be set up on this machine (not root,
# no apt-get, the packages do not install, a slurm.conf not written by this script): the
# reason is on stderr and the test skips; anything else: a real failure (logs on stderr).
set -euo pipefail

STATE=${SUBSETGRAD_SLURM_STATE:-/var/tmp/subsetgrad-slurm}
CONF=/etc/slurm/slurm.conf
MARKER="# written by subsetgrad .ci/slurm-up.sh"
PACKAGES=(slurmctld slurmd slurm-client munge)

say() { echo "slurm-up: $*" >&2; }
cannot() { say "cannot set up SLURM here: $*"; exit 77; }

cluster_answers() {
    command -v srun >/dev/null 2>&1 \
        && timeout 10 scontrol ping 2>/dev/null | grep -q UP \
        && timeout 30 srun --quiet --time=1 hostname >/dev/null 2>&1
}

# A PID file that points at a live process of the expected program.
alive() {  # alive NAME
    local pidfile="$STATE/pids/$1" pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ -r /proc/$pid/comm && $(</proc/$pid/comm) == "$1" ]] \
        && [[ $(awk '{print $3}' "/proc/$pid/stat") != Z ]]  # a zombie has finished
}

# Run a daemon in the foreground, detached (new session, no inherited pipes), record its PID.
start_daemon() {  # start_daemon NAME COMMAND...
    local name=$1; shift
    if alive "$name"; then
        say "$name already runs (PID $(<"$STATE/pids/$name"))"
        return
    fi
    setsid "$@" </dev/null >>"$STATE/$name.out" 2>&1 &
    echo $! >"$STATE/pids/$name"
    echo "started $name $!"
}

if cluster_answers; then
    say "a SLURM cluster already answers srun; nothing to start"
    exit 0
fi

[[ $(id -u) == 0 ]] || cannot "this needs root (to install packages and run slurmd), running as $(id -un)"

missing=()
for program in slurmctld slurmd srun squeue munged; do
    command -v "$program" >/dev/null 2>&1 || missing+=("$program")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null 2>&1 || cannot "${missing[*]} missing and apt-get is unavailable"
    say "installing ${PACKAGES[*]} with apt-get (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || cannot "apt-get update failed (no package registry reachable?)"
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >&2 \
        || cannot "apt-get install ${PACKAGES[*]} failed"
fi

if [[ -e $CONF ]] && ! grep -qF "$MARKER" "$CONF"; then
    cannot "$CONF exists and was not written by this script; not touching a site's SLURM"
fi

host=$(hostname -s)
cpus=$(nproc)
total_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
real_mb=$((total_mb * 9 / 10))  # a little under the total, or slurmd marks the node invalid
mkdir -p "$STATE/pids" "$STATE/ctld" "$STATE/slurmd" /etc/slurm

# MinJobAge: finished jobs stay visible to squeue for 10 minutes. There is no accounting
# daemon (slurmdbd), so Snakemake's executor learns a job's end state from squeue only.
conf_text="$MARKER
# a single-node test cluster for tests/test_slurm.py; .ci/slurm-down.sh stops it
ClusterName=subsetgrad
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=600
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mb State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
if [[ ! -e $CONF || $(<"$CONF") != "$conf_text" ]]; then
    printf '%s\n' "$conf_text" >"$CONF"
    say "wrote $CONF (node $host: $cpus CPUs, RealMemory=$real_mb MB)"
fi

# munge: the key comes with the package; make one if it did not.
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    # setpriv execs munged as the munge user, so the recorded PID is munged's own.
    start_daemon munged setpriv --reuid=munge --regid=munge --init-groups munged --foreground
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.2
    done
    munge -n | unmunge >/dev/null || { tail -n 20 "$STATE/munged.out" >&2; exit 1; }
fi

start_daemon slurmctld slurmctld -D -c
for _ in $(seq 100); do
    scontrol ping 2>/dev/null | grep -q UP && break
    sleep 0.2
done
start_daemon slurmd slurmd -D -N "$host"

# The node registers within seconds; a node left DOWN by an earlier run is resumed.
for _ in $(seq 60); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    case $state in
        idle* | mixed* | allocated*) break ;;
        down* | drain*) scontrol update NodeName="$host" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.5
done

if cluster_answers; then
    say "SLURM is up: $(sinfo -h -o '%P %D %c %m %T' | head -n 1)"
    exit 0
fi
say "SLURM did not come up; node state: ${state:-unknown}"
for log in slurmctld.log slurmd.log munged.out slurmctld.out slurmd.out; do
    [[ -s $STATE/$log ]] && { echo "--- $STATE/$log" >&2; tail -n 15 "$STATE/$log" >&2; }
done
exit 1
