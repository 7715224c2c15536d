#!/usr/bin/env bash
# Builds holepunch when needed and runs it with the arguments given.
#   ./run.sh demo                 rendezvous + built-in STUN + two workers on loopback (Ctrl-C stops all)
#   ./run.sh rendezvous           the rendezvous service (env: PORT, STUN_UDP_PORT, ...)
#   ./run.sh worker               a worker (env: RENDEZVOUS_SERVICE_URL, ...)
#   ./run.sh --java-home          prints the JDK 25 this script and the Makefile use
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Major version of the JDK at $1, or nothing when it is not a JDK.
jdk_major() {
  [ -x "$1/bin/javac" ] && [ -x "$1/bin/java" ] || return 0
  local v=""
  if [ -r "$1/release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release")
  fi
  if [ -z "$v" ]; then
    v=$("$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  fi
  echo "$v"
}

# A JDK of version 25 or newer: JAVA_HOME first, then the standard JVM folder.
find_jdk() {
  local seen=""
  if [ -n "${JAVA_HOME:-}" ]; then
    local m; m=$(jdk_major "$JAVA_HOME")
    if [ -n "$m" ] && [ "$m" -ge 25 ]; then echo "$JAVA_HOME"; return 0; fi
    seen="JAVA_HOME=$JAVA_HOME is ${m:+JDK $m}${m:-not a JDK}; "
  fi
  local d best="" bestm=0
  for d in /usr/lib/jvm/*; do
    [ -d "$d" ] && [ ! -L "$d" ] || continue
    local m; m=$(jdk_major "$d")
    if [ -n "$m" ] && [ "$m" -ge 25 ] && { [ "$m" -eq 25 ] || [ "$bestm" -ne 25 ]; }; then
      best=$d; bestm=$m
    fi
  done
  if [ -n "$best" ]; then echo "$best"; return 0; fi
  echo "holepunch needs a JDK 25: ${seen}none found under /usr/lib/jvm. Install one (for example Debian/Adoptium's temurin-25-jdk) or set JAVA_HOME to it." >&2
  return 1
}

if [ "${1:-}" = "--java-home" ]; then find_jdk; exit $?; fi

jdk=$(find_jdk)
# make builds the jar and its AOT cache when a source changed. It costs ~50 ms of every start, so
# it is started only when a source or the Makefile is newer than the last time it ran from here.
checked="$here/build/run-checked.stamp"
if [ ! -f "$checked" ] || [ ! -f "$here/build/holepunch.aot" ] || [ ! -f "$here/build/holepunch-worker.aot" ] || [ ! -f "$here/build/holepunch.jar" ] \
   || [ ! -f "$here/build/jvm.options" ] || [ ! -f "$here/build/worker-jvm.options" ] \
   || [ -n "$(find "$here/src" "$here/Makefile" -newer "$checked" -print -quit)" ]; then
  make -s -C "$here" JAVA_HOME="$jdk" build/holepunch.jar build/holepunch.aot build/holepunch-worker.aot >&2
  touch "$checked"
fi
# The tuned JVM settings live in the Makefile (JVM_OPTIONS), which writes them to build/jvm.options;
# HOLEPUNCH_JAVA_OPTS replaces them.
if [ -n "${HOLEPUNCH_JAVA_OPTS+set}" ]; then
  # shellcheck disable=SC2086
  exec "$jdk/bin/java" $HOLEPUNCH_JAVA_OPTS -jar "$here/build/holepunch.jar" "$@"
fi
# The AOT cache that make recorded for this jar and these settings (see the Makefile); a worker (and the demo,
# whose workers carry traffic) keeps the JIT's second tier for its cipher (WORKER_JVM_OPTIONS).
if [ "${1:-}" = "worker" ] || [ "${1:-}" = "demo" ]; then
  exec "$jdk/bin/java" "@$here/build/worker-jvm.options" -XX:AOTCache="$here/build/holepunch-worker.aot" -jar "$here/build/holepunch.jar" "$@"
fi
exec "$jdk/bin/java" "@$here/build/jvm.options" -XX:AOTCache="$here/build/holepunch.aot" -jar "$here/build/holepunch.jar" "$@"
