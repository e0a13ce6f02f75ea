#!/bin/sh
# Build vsomeip 3.7.4 (the reference SOME/IP peer for interop/) outside the repository, once.
# Idempotent: a stamp file marks a finished build; rerunning with it present does nothing.
# Needs root only to apt-get the build dependencies when they are missing (Debian 12).
set -eu

VERSION=3.7.4
HERE=$(cd "$(dirname "$0")" && pwd)
TARBALL=${VSOMEIP_TARBALL:-$HERE/../../shared/vsomeip/vsomeip-$VERSION.tar.gz}
if [ -n "${VSOMEIP_CACHE:-}" ]; then
  CACHE=$VSOMEIP_CACHE
elif [ "$(id -u)" -eq 0 ]; then
  CACHE=/var/cache/vehicle_mw/vsomeip-$VERSION
else
  CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/vehicle_mw/vsomeip-$VERSION
fi
STAMP=$CACHE/.built
EXAMPLES="notify-sample subscribe-sample request-sample response-sample"

if [ -f "$STAMP" ]; then
  echo "vsomeip $VERSION already built in $CACHE"
  exit 0
fi

# Debian 12's Boost 1.74 fails vsomeip's configure; the 1.81 -dev packages work.
PKGS="cmake g++ make libboost-system1.81-dev libboost-thread1.81-dev libboost-filesystem1.81-dev"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "need root to apt-get install:$missing" >&2; exit 1; fi
  echo "installing Debian packages:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -f "$TARBALL" ]; then echo "vsomeip tarball not found: $TARBALL (set VSOMEIP_TARBALL)" >&2; exit 1; fi
mkdir -p "$CACHE"
SRC=$CACHE/src
if [ ! -f "$SRC/CMakeLists.txt" ]; then
  rm -rf "$SRC" && mkdir -p "$SRC"
  tar -xzf "$TARBALL" -C "$SRC" --strip-components=1
fi

# GCC 12 warnings vsomeip 3.7.4 promotes to errors; subscription.cpp also trips range-loop-construct.
CXXFLAGS_EXTRA="-Wno-error=stringop-overflow -Wno-error=restrict -Wno-error=stringop-overread \
-Wno-error=array-bounds -Wno-error=maybe-uninitialized -Wno-error=range-loop-construct"
BUILD=$CACHE/build
mkdir -p "$BUILD"
cd "$BUILD"
if [ ! -f CMakeCache.txt ]; then
  cmake "$SRC" -DENABLE_SIGNAL_HANDLING=1 -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS="$CXXFLAGS_EXTRA" >"$CACHE/configure.log" 2>&1 \
    || { tail -30 "$CACHE/configure.log" >&2; exit 1; }
fi
JOBS=${JOBS:-2}
nice -n 19 make -j"$JOBS" vsomeip3 vsomeip3-sd vsomeip3-cfg >"$CACHE/build.log" 2>&1 \
  || { tail -30 "$CACHE/build.log" >&2; exit 1; }
nice -n 19 make -j"$JOBS" $EXAMPLES >>"$CACHE/build.log" 2>&1 \
  || { tail -30 "$CACHE/build.log" >&2; exit 1; }
for e in $EXAMPLES; do
  f=$(find "$BUILD/examples" -type f -name "$e" | head -1)
  [ -x "$f" ] || { echo "example $e not built" >&2; exit 1; }
done
touch "$STAMP"
echo "vsomeip $VERSION built in $CACHE"
