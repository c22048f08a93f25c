#!/usr/bin/env bash
# Stop the SLURM daemons that .ci/slurm-up.sh started, by the PIDs it recorded.
#
#   .ci/slurm-down.sh                 stop slurmd, slurmctld and munged (those with a PID file)
#   .ci/slurm-down.sh slurmd ...      stop only the named ones
#
# Only a PID whose process still runs the recorded program is signalled (a PID file
# left from an earlier boot may name a recycled PID). TERM first, KILL after 10 s.
# Idempotent: a daemon that is not running is skipped.
set -euo pipefail

STATE=${SUBSETGRAD_SLURM_STATE:-/var/tmp/subsetgrad-slurm}
CONF=/etc/slurm/slurm.conf
MARKER="# written by subsetgrad .ci/slurm-up.sh"
names=("$@")

# A process that still runs (a zombie waiting for its reaper has finished).
running() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat") != Z ]]; }

((${#names[@]})) || names=(slurmd slurmctld munged)  # nodes first, authentication last

for name in "${names[@]}"; do
    pidfile="$STATE/pids/$name"
    [[ -s $pidfile ]] || continue
    pid=$(<"$pidfile")
    if [[ -r /proc/$pid/comm && $(</proc/$pid/comm) == "$name" ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            running "$pid" || break
            sleep 0.2
        done
        if running "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        echo "stopped $name $pid"
    fi
    rm -f "$pidfile"
done

# With the controller gone, remove the slurm.conf that slurm-up.sh wrote: while it names a
# dead controller, every SLURM client call (and so every `snakemake` start, whose SLURM
# plugin asks `scontrol show config` at import) waits about 10 s for it.
pid=$(cat "$STATE/pids/slurmctld" 2>/dev/null || true)
if ! { [[ -n $pid ]] && running "$pid"; } && [[ -e $CONF ]] && grep -qF "$MARKER" "$CONF"; then
    rm -f "$CONF"
    echo "removed $CONF"
fi
