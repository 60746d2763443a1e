#!/usr/bin/env bash
# run-vm.sh BUILD_DIR - the soft-RoCE VM lane: real libibverbs, the real rxe
# provider and the kernel's rdma_rxe driver, inside a QEMU (TCG) VM that
# boots Debian's generic kernel. No KVM, no RDMA hardware, no network.
#
#   1. installs what it needs from Debian when missing (qemu, busybox, ...)
#   2. fetches linux-image-<ver>-amd64 once (not -cloud: it has no RDMA) and
#      keeps a slim copy (vmlinuz + the few modules) in the cache
#   3. builds an initramfs from BUILD_DIR: bin/, lib/*.so, their shared-lib
#      closure, the dlopen()ed rxe provider, libgcc_s and UCX's modules
#   4. boots; the guest creates rxe0 on a dummy netdev (loopback) and
#      rxe1/rxe2 on a veth pair (real RoCEv2 UDP packets), then runs
#      tests/vm/guest-tests.sh
# Exit 0 iff every guest test passed; the last line is "N passed, N failed".
# Each run's console log is kept in BUILD_DIR/vm-logs/.
#
# Environment:
#   KVP_VM_CACHE   kernel cache (default $HOME/.cache/kvplug-vm)
#   KVP_VM_KVER    guest kernel ABI, e.g. 6.1.0-56-amd64 (default: what
#                  linux-image-amd64 depends on, else the newest cached)
#   KVP_VM_TIMEOUT whole-VM wall clock limit in seconds (default 3000)
#   KVP_VM_SMP / KVP_VM_MEM   guest CPUs / memory (default 2 / 3G)
#   KVP_VM_MTU     netdev MTU (default 9000 -> rxe active MTU 4096)
#   KVP_VM_ONLY    space-separated guest test names to run (default: all)
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR   (a configured and built kvplug build tree)" >&2
    echo "0 passed, 1 failed"
    exit 2
fi
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${KVP_VM_CACHE:-${HOME:-/root}/.cache/kvplug-vm}
WORK=$BUILD/vm
LOGDIR=$BUILD/vm-logs
TIMEOUT=${KVP_VM_TIMEOUT:-3000}
SMP=${KVP_VM_SMP:-2}
MEM=${KVP_VM_MEM:-3G}
MTU=${KVP_VM_MTU:-9000}
ONLY=${KVP_VM_ONLY:-}
MULTIARCH=x86_64-linux-gnu
mkdir -p "$CACHE" "$WORK" "$LOGDIR"
t0=$(date +%s)
log() { echo "[run-vm $(( $(date +%s) - t0 ))s] $*"; }
die() { echo "run-vm: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

[ -x "$BUILD/bin/verbs_transport_test" ] ||
    die "$BUILD/bin/verbs_transport_test missing: build with libibverbs-dev" \
        "installed (KVP_WITH_VERBS=AUTO|ON)"

# ------------------------------------------------------------ 1. packages
PKGS="qemu-system-x86 busybox-static cpio kmod iproute2 ibverbs-providers
      ibverbs-utils binutils xz-utils gzip"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    log "installing:$missing"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        --no-install-recommends $missing
fi

# ------------------------------------------------------------ 2. guest kernel
# Modules the guest loads, with their dependencies (resolved by modprobe).
MODS="crc32_generic rdma_rxe ib_uverbs dummy veth"
kver_wanted() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/.*Depends: linux-image-\([0-9.]*-[0-9]*-amd64\)$/\1/p' |
        head -1
}
KVER=${KVP_VM_KVER:-}
if [ -z "$KVER" ]; then
    KVER=$(kver_wanted)
    if [ -z "$KVER" ]; then
        # Newest cached kernel first: no apt round trip when offline.
        KVER=$(ls -d "$CACHE"/kernel-*/ 2>/dev/null | sed 's#.*/kernel-##; s#/$##' |
               sort -V | tail -1)
    fi
    if [ -z "$KVER" ]; then
        apt-get update -qq || true
        KVER=$(kver_wanted)
    fi
fi
[ -n "$KVER" ] || die "cannot determine the guest kernel (apt-cache depends linux-image-amd64)"
KC=$CACHE/kernel-$KVER
if [ ! -f "$KC/vmlinuz" ]; then
    log "fetching linux-image-$KVER (once; cached in $KC)"
    tmp=$(mktemp -d "$CACHE/fetch.XXXXXX")
    deb=$(ls "$CACHE"/debs/linux-image-"$KVER"_*.deb 2>/dev/null | tail -1 || true)
    if [ -z "$deb" ]; then
        (cd "$tmp" && apt-get download -q "linux-image-$KVER" 2>&1 |
             grep -v 'unsandboxed' || true)
        deb=$(ls "$tmp"/linux-image-"$KVER"_*.deb 2>/dev/null | tail -1 || true)
    fi
    [ -n "$deb" ] || { rm -rf "$tmp"; die "apt-get download linux-image-$KVER failed"; }
    dpkg-deb -x "$deb" "$tmp/x"
    grep -q '^CONFIG_RDMA_RXE=[ym]' "$tmp/x/boot/config-$KVER" ||
        { rm -rf "$tmp"; die "linux-image-$KVER lacks CONFIG_RDMA_RXE"; }
    depmod -b "$tmp/x" "$KVER"   # the .deb ships no modules.dep
    mkdir -p "$tmp/slim/lib/modules/$KVER"
    cp "$tmp/x/boot/vmlinuz-$KVER" "$tmp/slim/vmlinuz"
    cp "$tmp/x/boot/config-$KVER" "$tmp/slim/config"
    for m in $MODS; do
        modprobe -d "$tmp/x" -S "$KVER" --show-depends "$m" |
            awk '$1=="insmod"{print $2}' | while read -r ko; do
            rel=${ko#"$tmp/x/lib/modules/$KVER/"}
            out="$tmp/slim/lib/modules/$KVER/${rel%.xz}"; out=${out%.zst}
            mkdir -p "$(dirname "$out")"
            case "$ko" in
                *.xz)  xz -dc "$ko" > "$out";;
                *.zst) command -v zstd >/dev/null ||
                           die "zstd-compressed modules: apt-get install zstd"
                       zstd -qdc "$ko" > "$out";;
                *)     cp "$ko" "$out";;
            esac
        done
    done
    cp "$tmp/x/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} \
        "$tmp/slim/lib/modules/$KVER/" 2>/dev/null || true
    depmod -b "$tmp/slim" "$KVER"
    rm -rf "$KC"; mv "$tmp/slim" "$KC"; rm -rf "$tmp"
fi

# ------------------------------------------------------------ 3. initramfs
R=$WORK/root
rm -rf "$R"
mkdir -p "$R"/{usr/bin,usr/sbin,usr/lib/$MULTIARCH/libibverbs,usr/lib64} \
         "$R"/{etc/libibverbs.d,proc,sys,dev,tmp,run,root,kvp/bin,kvp/lib}
ln -s usr/bin "$R/bin"; ln -s usr/sbin "$R/sbin"
ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"
GLIB=$R/usr/lib/$MULTIARCH

is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; }
copy_lib() {  # a shared object, dereferenced, into the guest's libdir
    local so=$1 base; base=$(basename "$so")
    case "$base" in
        ld-linux-x86-64.so.2) cp -L "$so" "$R/usr/lib64/$base"; return;;
    esac
    [ -e "$GLIB/$base" ] || cp -L "$so" "$GLIB/$base"
}
copy_deps() {  # DT_NEEDED closure as resolved on the host (build libs first)
    LD_LIBRARY_PATH=$BUILD/lib ldd "$1" 2>/dev/null |
        awk '/=> \//{print $3} /^[ \t]*\/lib64\/ld-linux/{print $1}' |
        while read -r so; do
            case "$so" in "$BUILD"/*) continue;; esac   # ships in /kvp/lib
            copy_lib "$so"
        done
}
copy_tool() { local b; b=$(command -v "$1") || return 0
    cp -L "$b" "$R/usr/bin/$(basename "$b")"; copy_deps "$b"; }

cp /bin/busybox "$R/usr/bin/busybox"
for t in ip rdma ibv_devices ibv_devinfo; do copy_tool "$t"; done
# The project: every binary and shared object of the build (debug info off:
# the image is smaller and unpacks faster).
for f in "$BUILD"/bin/*; do
    [ -f "$f" ] && is_elf "$f" || continue
    strip --strip-debug -o "$R/kvp/bin/$(basename "$f")" "$f"
done
for f in "$BUILD"/lib/*.so "$BUILD"/lib/*.so.*; do
    [ -f "$f" ] || continue
    strip --strip-debug -o "$R/kvp/lib/$(basename "$f")" "$f"
done
for f in "$R"/kvp/bin/* "$R"/kvp/lib/*; do [ -f "$f" ] && copy_deps "$f"; done
# dlopen()ed, so ldd cannot see them: the rxe verbs provider and its driver
# file, libgcc_s (glibc unwinds pthread_exit with it), UCX's transports.
cp -L /usr/lib/$MULTIARCH/libibverbs/librxe-rdmav*.so "$GLIB/libibverbs/"
for p in "$GLIB"/libibverbs/*.so; do copy_deps "$p"; done
cp /etc/libibverbs.d/rxe.driver "$R/etc/libibverbs.d/"
copy_lib "$(readlink -f /lib/$MULTIARCH/libgcc_s.so.1)"
if ls "$GLIB"/libucp.so* >/dev/null 2>&1 && [ -d /usr/lib/$MULTIARCH/ucx ]; then
    mkdir -p "$GLIB/ucx"
    for m in /usr/lib/$MULTIARCH/ucx/*.so.0; do
        cp -L "$m" "$GLIB/ucx/"; copy_deps "$m"
    done
fi
# The conformance suite's committed vectors (read from a fixed guest path).
if [ -d "$ROOT/conformance/vectors" ]; then
    mkdir -p "$R/kvp/share/conformance"
    cp -a "$ROOT/conformance/vectors" "$R/kvp/share/conformance/"
fi
cp "$HERE/guest-tests.sh" "$R/kvp/guest-tests.sh"
chmod +x "$R/kvp/guest-tests.sh"
for a in $(/bin/busybox --list); do
    [ -e "$R/usr/bin/$a" ] || ln -s busybox "$R/usr/bin/$a"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$R/etc/hosts"
cp -a "$KC/lib/modules" "$R/usr/lib/"
depmod -b "$R" "$KVER"
printf 'MTU=%s\nONLY="%s"\n' "$MTU" "$ONLY" > "$R/etc/kvp-vm.conf"

cat > "$R/init" <<'INIT'
#!/bin/sh
# PID 1 of the VM: devices, then the project's guest tests, then power off.
export PATH=/usr/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev; mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /dev/shm; mount -t tmpfs tmpfs /dev/shm   # UCX posix shared memory
ulimit -l unlimited   # ibv_reg_mr pins memory
. /etc/kvp-vm.conf
say() { echo "[guest $(cut -d' ' -f1 /proc/uptime)s] $*"; }
say "booted kernel $(uname -r), $(nproc) cpus"
# Debian's static busybox sh prefers its own applets; iproute2 has veth.
IP=/usr/bin/ip
setup_failed=0
step() { desc=$1; shift; "$@" || { setup_failed=$((setup_failed + 1));
         echo "RESULT FAIL setup: $desc"; }; }
# rdma_rxe gets crc32 through the crypto API at run time: load it first.
modprobe crc32_generic
for m in ib_core ib_uverbs rdma_rxe; do step "modprobe $m" modprobe $m; done
sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
# veth drops ACKs under RDMA READ bursts with the default backlog.
sysctl -qw net.core.netdev_max_backlog=20000
$IP link set lo up
modprobe dummy numdummies=0
step "dummy netdev" $IP link add kvpdummy0 type dummy
$IP link set kvpdummy0 mtu "$MTU" up
step "rxe0 on kvpdummy0" rdma link add rxe0 type rxe netdev kvpdummy0
modprobe veth
step "veth pair" $IP link add kvpveth0 type veth peer name kvpveth1
$IP link set kvpveth0 mtu "$MTU" up; $IP link set kvpveth1 mtu "$MTU" up
step "rxe1 on kvpveth0" rdma link add rxe1 type rxe netdev kvpveth0
step "rxe2 on kvpveth1" rdma link add rxe2 type rxe netdev kvpveth1
sleep 1   # ib_core fills the GID tables from a work item
rdma link show
say "devices ready (setup failures: $setup_failed)"
cd /tmp
KVP_SETUP_FAILED=$setup_failed KVP_ONLY="$ONLY" /kvp/guest-tests.sh
echo "KVP_VM_EXIT $?"
dmesg | grep -iE 'rxe|rdma|ib_core|crc32' | grep -v 'speed is unknown' | tail -15
sync
poweroff -f
INIT
chmod +x "$R/init"
(cd "$R" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 > "$WORK/initrd.gz"
log "initramfs $(du -h "$WORK/initrd.gz" | cut -f1), kernel $KVER"

# ------------------------------------------------------------ 4. boot
CONSOLE=$LOGDIR/console-$(date +%Y%m%d-%H%M%S).log
log "booting QEMU (TCG, smp $SMP, mem $MEM, limit ${TIMEOUT}s); log $CONSOLE"
set +e
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 -machine q35 \
    -accel tcg,thread=multi -cpu max -smp "$SMP" -m "$MEM" -no-reboot \
    -display none -monitor none -serial stdio -nic none \
    -kernel "$KC/vmlinuz" -initrd "$WORK/initrd.gz" \
    -append "console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off" \
    < /dev/null 2>&1 | sed -u 's/\r$//' | tee "$CONSOLE"
qrc=${PIPESTATUS[0]}
set -e
ln -sf "$(basename "$CONSOLE")" "$LOGDIR/console-latest.log"
log "QEMU exited rc=$qrc"
summary=$(grep -a '^GUEST_SUMMARY ' "$CONSOLE" | tail -1 || true)
vexit=$(grep -a '^KVP_VM_EXIT ' "$CONSOLE" | tail -1 | cut -d' ' -f2 || true)
if [ -z "$summary" ]; then
    echo "run-vm: no summary from the guest (crashed or timed out after ${TIMEOUT}s); see $CONSOLE"
    echo "0 passed, 1 failed"
    exit 1
fi
counts=${summary#GUEST_SUMMARY }
echo "vm guest exit ${vexit:-?}, qemu rc $qrc; log: $CONSOLE"
echo "$counts"
case "$counts" in *" 0 failed"*) ;; *) exit 1;; esac
[ "$vexit" = 0 ] && [ "$qrc" = 0 ]
