#!/bin/bash
# Runs inside the qemu guest as its first process, on the host's root (read-only, under a tmpfs
# overlay). test/kernel/run.ts puts this script and guest.env in the results share, /run/tsbpf, and
# reads back output.log and status from there. It mounts what a BPF test needs, runs the command, and
# powers off: qemu's own exit status says nothing about the command, the status file does.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C.UTF-8
. /run/tsbpf/guest.env

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
# /tmp stays the overlay's: a checkout may live there (CI clones into one), and the overlay is writable.
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security
# The guest kernel's modules where modprobe looks (tests load veth, sch_ingress, cls_bpf), and its
# config where tools look for it (Debian kernels have no /proc/config.gz).
mkdir -p "/lib/modules/$(uname -r)" && mount --bind "$TSBPF_MODULES" "/lib/modules/$(uname -r)"
cp "$TSBPF_CONFIG" "/boot/config-$(uname -r)" 2>/dev/null
ip link set lo up
ulimit -l unlimited
echo 0 > /proc/sys/kernel/printk_ratelimit 2>/dev/null

cd "$TSBPF_CWD" || { echo 127 > /run/tsbpf/status; poweroff -f; }
echo "tsbpf-guest: $(uname -r), $(nproc) CPUs; running: $TSBPF_CMD"
# The output goes to the console (the host shows it as it comes) and to the log the host parses.
bash -c "$TSBPF_CMD" 2>&1 | tee /run/tsbpf/output.log
echo "${PIPESTATUS[0]}" > /run/tsbpf/status
sync
poweroff -f
