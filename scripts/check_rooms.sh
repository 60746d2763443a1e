#!/usr/bin/env bash
# check_rooms.sh [ROOT] - the dependency rule of DESIGN §1 and
# docs/architecture.md, checked on the #include "..." lines: each folder may
# include only its own headers and those of the rooms listed for it below.
# Prints every include that breaks the rule (file, header, the room it is
# in) and exits 1; exits 0 and prints a summary when there is none.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

# room -> the other rooms it may include
declare -A may=(
    [common]="abi/include"
    [proto]="abi/include common"
    [server]="abi/include common proto transports/include discovery/include"
    # the plugin embeds the server: server.h is the one header it uses
    [plugin]="abi/include common proto transports/include discovery/include
              server"
    [transports/include]="abi/include common"
    [transports/ucx]="common transports/include"
    [transports/verbs]="common transports/include"
    [discovery/include]="abi/include common"
    [discovery/etcd]="common discovery/include"
)

declare -A home
while read -r h; do
    home[$(basename "$h")]=$(dirname "$h")
done < <(find abi common proto server plugin transports discovery \
    -name '*.h' -not -path '*/tools/*' 2>/dev/null)

bad=0 n=0
for room in "${!may[@]}"; do
    [ -d "$room" ] || continue
    while read -r src; do
        while read -r inc; do
            n=$((n + 1))
            case "$inc" in kvplug/*) where=abi/include ;;
            *) where=${home[$(basename "$inc")]:-} ;; esac
            [ -z "$where" ] && continue # a system or generated header
            [ "$where" = "$(dirname "$src")" ] && continue
            case "$where" in abi/include/*) where=abi/include ;; esac
            ok=0
            for r in ${may[$room]}; do [ "$where" = "$r" ] && ok=1; done
            if [ $ok = 0 ]; then
                echo "check_rooms: $src includes \"$inc\" from $where/;" \
                    "$room/ may include only:" ${may[$room]} >&2
                bad=1
            fi
        done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$src")
    done < <(find "$room" -maxdepth 1 -name '*.[ch]')
done
if [ $bad = 0 ]; then
    echo "check_rooms: $n includes, every one within the rooms of DESIGN §1"
fi
exit $bad
