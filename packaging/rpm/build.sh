#!/bin/sh
# Make the Valkey .rpms from a target's checked binaries, inside its builder container, with
# the distro's own rpmbuild (its elfdeps computes the ELF Requires).
#
# Inputs (placed by valkey-release): this directory (/pkg/rpm: valkey.spec.in, platforms), the
# shared files in /pkg/common, the binaries in /pkg/bin, the license in /pkg/COPYING. The module
# header is read from the build tree ($BUILD_DIR/src).
# Environment: RPMVERSION RPMRELEASE DIST RPM_ARCH UNITDIR STRIP BUILD_DIR SOURCE_DATE_EPOCH.
# Output: the .rpms in /pkg/out (flat). Same inputs -> byte-identical .rpms (spec: build time
# and mtimes from SOURCE_DATE_EPOCH, fixed build host, single-threaded xz).
set -eu
umask 022
export LC_ALL=C TZ=UTC

R=/pkg/rpm
TOP=/pkg/rpmbuild
OUT=/pkg/out
rm -rf "$TOP" "$OUT"
mkdir -p "$TOP/SPECS" "$TOP/BUILD" "$TOP/BUILDROOT" "$TOP/RPMS" "$TOP/SRPMS" "$TOP/SOURCES" "$OUT"
cp "$R/valkey.spec.in" "$TOP/SPECS/valkey.spec"

command -v rpmbuild >/dev/null || { echo "rpmbuild is not in the builder image: add the rpm package to its packages (targets.toml)" >&2; exit 1; }

# Two runs of rpmbuild: the architecture's package (--target aarch64 for a cross-compiled arm64
# target), then the noarch subpackages with --target noarch (identical from every target).
for part in arch noarch; do
cpu=$RPM_ARCH
[ "$part" = arch ] || cpu=noarch
rpmbuild -bb --target "$cpu-linux" \
	--define "valkey_part $part" \
	--define "_topdir $TOP" \
	--define "_tmppath $TOP/tmp" \
	--define "_buildrootdir $TOP/BUILDROOT" \
	--define "dist $DIST" \
	--define "valkey_version $RPMVERSION" \
	--define "valkey_release $RPMRELEASE" \
	--define "valkey_bin /pkg/bin" \
	--define "valkey_common /pkg/common" \
	--define "valkey_src $BUILD_DIR/src" \
	--define "valkey_license /pkg/COPYING" \
	--define "valkey_unitdir $UNITDIR" \
	--define "valkey_strip $STRIP" \
	--define "valkey_changelog_date $(date -u -d "@$SOURCE_DATE_EPOCH" '+%a %b %d %Y')" \
	"$TOP/SPECS/valkey.spec"
done

find "$TOP/RPMS" -type f -name '*.rpm' -exec cp {} "$OUT/" \;
ls -l "$OUT"
