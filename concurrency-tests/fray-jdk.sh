#!/usr/bin/env bash
# Links the JDK 25 that Fray runs tests on, with Fray's instrumentation applied, from a JDK's run-time image
# (JEP 493: Temurin 25 ships no jmods, which Fray's own Maven goal needs). Skipped when already linked.
# Usage: fray-jdk.sh JDK25_HOME OUTPUT FRAY_VERSION JLINK_CLASSPATH
set -euo pipefail
jdk="${JDK25_HOME:-$1}" out="$2" version="$3" cp="$4"
if [ "$(cat "$out/fray-version" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
if [ ! -x "$jdk/bin/jlink" ]; then
  echo "fray-jdk.sh: no JDK 25 at $jdk (set JDK25_HOME or -Dfray.jdk=DIR)" >&2
  exit 1
fi
agent=$(tr ':' '\n' <<<"$cp" | grep fray-instrumentation-jdk)
# every module of the image except the linker's own, which a run-time-image link cannot copy
mods=$("$jdk/bin/java" --list-modules | sed 's/@.*//' | grep -v -e '^jdk.jlink$' -e '^jdk.jpackage$' | paste -sd, -)
rm -rf "$out"
mkdir -p "$(dirname "$out")"
"$jdk/bin/jlink" "-J-javaagent:$agent" "-J--module-path=$cp" "-J--add-modules=org.pastalab.fray.instrumentation.jdk" \
  "-J--class-path=$cp" --output="$out" --add-modules="$mods" --release-info add:IMPLEMENTOR=Fray \
  --fray-instrumentation 2>&1 | grep -v -e 'incubator modules' -e 'Start fray plugin' || true
[ -x "$out/bin/java" ] || { echo "fray-jdk.sh: jlink failed" >&2; exit 1; }
printf '%s' "$version" > "$out/fray-version"
