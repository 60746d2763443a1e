#!/bin/bash
# Runs the conformance suite against a separate kvplug-server process on
# 127.0.0.1 (scripts/with_server.sh starts it on an ephemeral port, waits
# for its listening line, stops it): SUITE --plugin PLUGIN --config
# "servers=127.0.0.1:PORT;CONFIG" [suite args...]. Exit 77 (ctest SKIP)
# only when the server binary does not exist. KVP_EXPECT_CARRIER=rings|tcp
# also checks in the server's log that every connection moved onto the
# same-host rings (rings) or none did (tcp).
# Usage: run_with_server.sh SERVER SUITE PLUGIN CONFIG [suite args...]
set -u
server=$1 suite=$2 plugin=$3 config=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2016 # expanded by the inner shell, after the start
exec "$here/../../scripts/with_server.sh" "$server" \
    "${KVP_EXPECT_CARRIER:-any}" "$config" \
    sh -c 'suite=$1 plugin=$2; shift 2
exec "$suite" --plugin "$plugin" --config "$KVP_SERVER_CONFIG" "$@"' \
    sh "$suite" "$plugin" "$@"
