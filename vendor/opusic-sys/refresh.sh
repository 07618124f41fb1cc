#!/usr/bin/env bash
# Refreshes the vendored bindings and libopus sources from an unpacked
# opusic-sys crate: ./refresh.sh ~/.cargo/registry/src/*/opusic-sys-X.Y.Z
set -euo pipefail
src=${1:?usage: $0 <unpacked opusic-sys crate>}
here=$(cd "$(dirname "$0")" && pwd)
[[ -f $src/opus/celt_sources.mk ]] || { echo "$src has no opus/celt_sources.mk" >&2; exit 1; }
rm -rf "$here/opus" && mkdir -p "$here/opus/celt" "$here/opus/silk/float" "$here/opus/src"
cp "$src/src/lib.rs" "$src/src/wrapper.h" "$here/src/"
cp "$src/LICENSE" "$here/"
cd "$src/opus"
cp -r COPYING AUTHORS package_version celt_sources.mk silk_sources.mk opus_sources.mk include "$here/opus/"
cp celt/*.c celt/*.h "$here/opus/celt/"
cp silk/*.c silk/*.h "$here/opus/silk/"
cp silk/float/*.c silk/float/*.h "$here/opus/silk/float/"
cp src/*.c src/*.h "$here/opus/src/"
# Demo and comparison programs are not part of the library.
rm -f "$here"/opus/celt/opus_custom_demo.c "$here"/opus/src/*demo*.c \
  "$here"/opus/src/opus_compare.c "$here"/opus/src/qext_compare.c
echo "vendored $(cat "$here/opus/package_version")"
