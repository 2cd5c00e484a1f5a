#!/bin/sh
# Make the Valkey .debs from a target's checked binaries, inside its builder container.
#
# Inputs (placed by valkey-release): this directory (/pkg/deb) with control/, scripts/,
# lintian-overrides/, changelog.in, the shared files in /pkg/common, the binaries in /pkg/bin,
# the license in /pkg/COPYING. The module header is read from the build tree ($BUILD_DIR/src).
# Environment: VERSION DEBVERSION DEB_ARCH CODENAME MINOR UNITDIR STRIP BUILD_DIR SOURCE_DATE_EPOCH.
# Output: the .debs in /pkg/out. Same inputs -> byte-identical .debs (fixed mtimes, owners
# root:root, dpkg-deb's sorted members, gzip -n).
set -eu
umask 022
export LC_ALL=C TZ=UTC

R=/pkg/deb
C=/pkg/common
B=/pkg/bin
W=/pkg/work
OUT=/pkg/out
rm -rf "$W" "$OUT"
mkdir -p "$W" "$OUT"

DATE=$(date -u -R -d "@$SOURCE_DATE_EPOCH")

subst() {
	sed -e "s|@VERSION@|$VERSION|g" -e "s|@DEBVERSION@|$DEBVERSION|g" -e "s|@DEB_ARCH@|$DEB_ARCH|g" \
		-e "s|@CODENAME@|$CODENAME|g" -e "s|@MINOR@|$MINOR|g" -e "s|@UNITDIR@|$UNITDIR|g" \
		-e "s|@DATE@|$DATE|g" -e "s|@SHLIBS_DEPENDS@|${SHLIBS_DEPENDS:-}|g" \
		-e "s|@INSTALLED_SIZE@|${INSTALLED_SIZE:-0}|g" "$1"
}

# A binary, stripped of debug data the way dh_strip does (the tarball keeps the unstripped file).
binary() { # pkg name
	install -D -m 0755 "$B/$2" "$W/$1/usr/bin/$2"
	"$STRIP" --remove-section=.comment --remove-section=.note --strip-unneeded "$W/$1/usr/bin/$2"
}

doc() { # pkg
	d="$W/$1/usr/share/doc/$1"
	install -d "$d"
	{ subst "$R/copyright.in"; cat /pkg/COPYING; } > "$d/copyright"
	chmod 0644 "$d/copyright"
	subst "$R/changelog.in" | gzip -9n > "$d/changelog.Debian.gz"
	chmod 0644 "$d/changelog.Debian.gz"
	if [ -f "$R/lintian-overrides/$1" ]; then
		install -D -m 0644 "$R/lintian-overrides/$1" "$W/$1/usr/share/lintian/overrides/$1"
	fi
}

# ---- valkey-tools: the real binaries (valkey-server, -sentinel and -check-aof are byte copies
# of valkey-check-rdb in a valkey build: links to it, one copy on disk).
P=valkey-tools
binary $P valkey-cli
binary $P valkey-benchmark
binary $P valkey-check-rdb
if cmp -s "$B/valkey-check-aof" "$B/valkey-check-rdb"; then
	ln -s valkey-check-rdb "$W/$P/usr/bin/valkey-check-aof"
else
	binary $P valkey-check-aof
fi
doc $P

# ---- valkey-server
P=valkey-server
install -d "$W/$P/usr/bin"
if cmp -s "$B/valkey-server" "$B/valkey-check-rdb"; then
	ln -s valkey-check-rdb "$W/$P/usr/bin/valkey-server"
else
	binary $P valkey-server
fi
install -D -m 0644 "$C/valkey.conf" "$W/$P/etc/valkey/valkey.conf"
install -D -m 0644 "$C/valkey.logrotate" "$W/$P/etc/logrotate.d/valkey-server"
install -D -m 0644 "$C/valkey-server.service" "$W/$P$UNITDIR/valkey-server.service"
doc $P

# ---- valkey-sentinel
P=valkey-sentinel
install -d "$W/$P/usr/bin"
if cmp -s "$B/valkey-sentinel" "$B/valkey-check-rdb"; then
	ln -s valkey-check-rdb "$W/$P/usr/bin/valkey-sentinel"
else
	binary $P valkey-sentinel
fi
install -D -m 0644 "$C/sentinel.conf" "$W/$P/etc/valkey/sentinel.conf"
install -D -m 0644 "$C/valkey-sentinel.service" "$W/$P$UNITDIR/valkey-sentinel.service"
doc $P

# ---- valkey-dev: the module API header from the source tree
P=valkey-dev
install -D -m 0644 "$BUILD_DIR/src/valkeymodule.h" "$W/$P/usr/include/valkeymodule.h"
doc $P

# ---- valkey-compat-redis: the redis-* names
P=valkey-compat-redis
install -d "$W/$P/usr/bin"
for n in server cli benchmark sentinel check-aof check-rdb; do
	ln -s "valkey-$n" "$W/$P/usr/bin/redis-$n"
done
doc $P

# ---- shared library dependencies of the ELF files, computed by the distro's dpkg-shlibdeps
mkdir -p "$W/src/debian"
printf 'Source: valkey\n\nPackage: valkey-tools\nArchitecture: any\n' > "$W/src/debian/control"
ELFS=$(find "$W/valkey-tools/usr/bin" -type f | sort)
SHLIBS_DEPENDS=$(cd "$W/src" && dpkg-architecture -a"$DEB_ARCH" -f -c dpkg-shlibdeps -O $ELFS 2>/dev/null \
	| sed -n 's/^shlibs:Depends=//p')
[ -n "$SHLIBS_DEPENDS" ] || { echo "dpkg-shlibdeps found no dependencies for $ELFS" >&2; exit 1; }
echo "shlibs:Depends=$SHLIBS_DEPENDS"

# ---- control files, checksums, fixed mtimes; then dpkg-deb
for P in valkey-tools valkey-server valkey-sentinel valkey-dev valkey-compat-redis; do
	D="$W/$P/DEBIAN"
	install -d -m 0755 "$D"
	for s in postinst prerm postrm; do
		if [ -f "$R/scripts/$P.$s" ]; then
			install -m 0755 "$R/scripts/$P.$s" "$D/$s"
		fi
	done
	if [ -d "$W/$P/etc" ]; then
		(cd "$W/$P" && find etc -type f | sort | sed 's|^|/|') > "$D/conffiles"
		chmod 0644 "$D/conffiles"
	fi
	(cd "$W/$P" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort | xargs -r md5sum) > "$D/md5sums"
	chmod 0644 "$D/md5sums"
	INSTALLED_SIZE=$(du -k -s --apparent-size --exclude=DEBIAN "$W/$P" | cut -f1)
	ARCH=$DEB_ARCH
	grep -q '^Architecture: all' "$R/control/$P" && ARCH=all
	subst "$R/control/$P" > "$D/control"
	chmod 0644 "$D/control"
	find "$W/$P" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	dpkg-deb --root-owner-group -Zxz --build "$W/$P" "$OUT/${P}_${DEBVERSION}_${ARCH}.deb"
done
ls -l "$OUT"
