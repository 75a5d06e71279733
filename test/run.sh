#!/usr/bin/env bash
# `npm test` entry point: makes sure the BPF toolchain and kernel mounts are there, builds dist/,
# then runs every test file in its own process (test/runner.ts). Extra args are passed to the runner.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log_dir=test/.build
mkdir -p "$log_dir"
is_root=0
[ "$(id -u)" = 0 ] && is_root=1

# --- toolchain ---------------------------------------------------------------------------------
missing=()
command -v clang-16 >/dev/null 2>&1 || missing+=(clang-16)
command -v llvm-objcopy-16 >/dev/null 2>&1 || missing+=(llvm-16)
command -v bpftool >/dev/null 2>&1 || missing+=(bpftool)
[ -f /usr/include/bpf/libbpf.h ] || missing+=(libbpf-dev)
[ -f /usr/include/linux/bpf.h ] || missing+=(linux-libc-dev)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
[ -f /usr/include/x86_64-linux-gnu/sys/sdt.h ] || [ -f /usr/include/sys/sdt.h ] || missing+=(systemtap-sdt-dev)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$is_root" = 1 ] && command -v apt-get >/dev/null 2>&1; then
    echo "run.sh: installing missing tools (${missing[*]}); log in $log_dir/apt.log"
    apt_log="$log_dir/apt.log"
    if ! { apt-get update -q &&
           DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
             clang-16 llvm-16 libbpf-dev bpftool linux-libc-dev gcc iproute2 systemtap-sdt-dev; } >"$apt_log" 2>&1; then
      echo "run.sh: apt-get failed; last lines of $apt_log:" >&2
      tail -n 30 "$apt_log" >&2
      exit 1
    fi
  else
    echo "run.sh: warning: missing ${missing[*]} (not root or no apt-get); tests needing them will fail" >&2
  fi
fi

# --- kernel filesystems ------------------------------------------------------------------------
if [ "$is_root" = 1 ]; then
  if ! mountpoint -q /sys/fs/bpf 2>/dev/null; then
    mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf 2>/dev/null ||
      echo "run.sh: warning: could not mount bpffs at /sys/fs/bpf" >&2
  fi
  if [ -d /sys/kernel/tracing ] && ! mountpoint -q /sys/kernel/tracing 2>/dev/null; then
    mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null ||
      echo "run.sh: warning: could not mount tracefs at /sys/kernel/tracing" >&2
  fi
fi

# --- build and run ------------------------------------------------------------------------------
npm run --silent build
exec npx tsx test/runner.ts "$@"
