#!/usr/bin/env bash
# Builds kindlike's own images and the offline stand-ins for the public images the
# tutorials name, through the local Docker engine, without any registry.
#
#   images/build.sh images    kindlike/pause and kindlike/simple-service, from source
#   images/build.sh offline   the stand-ins (busybox:1.31, debian, centos:7, nginx, mysql,
#                             kubeguide/tomcat-app:v1, quay.io/openshiftlabs/simple-service)
#   images/build.sh clean     remove the build directory and every image built here
#
# A stand-in is built only for a name:tag the engine lacks, and never replaces an
# image that is not a kindlike stand-in (a real image someone pulled or loaded). A
# stand-in whose recipe changed is rebuilt. Downloads and root filesystems are cached
# in the build directory (_output/images, or $KINDLIKE_IMAGES_BUILD), so a second cold
# build is quick and a run with every image present takes seconds.
#
# Root filesystems come from Debian: debootstrap (minbase) for the Debian-based
# stand-ins, Debian's busybox package for busybox. Building them needs root (chroot).
set -euo pipefail
shopt -s inherit_errexit nullglob

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${KINDLIKE_IMAGES_BUILD:-$ROOT/_output/images}
GO=${GO:-go}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# The classic builder: FROM names a local image and nothing is ever pulled.
export DOCKER_BUILDKIT=0

# constant prints a string constant of package images, so the Go code (the node
# agent's images.PauseImage) and the built tags cannot drift apart.
constant() {
	local v
	v=$(sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$ROOT/images/images.go")
	[[ -n $v ]] || die "no constant $1 in images/images.go"
	echo "$v"
}

die() {
	echo "images: $*" >&2
	exit 1
}

say() { printf '%s\n' "$*"; }

# The long steps (debootstrap, apt, docker build) write their output to a log under
# $BUILD/logs, named in STEP_LOG while they run; on_error shows its end when a step
# fails. (errtrace carries the trap into functions and command substitutions.)
STEP_LOG=
on_error() {
	[[ -n $STEP_LOG && -f $STEP_LOG ]] || return 0
	echo "images: failed; the last lines of $STEP_LOG:" >&2
	tail -n 30 "$STEP_LOG" >&2
	STEP_LOG=
}

# ---------------------------------------------------------------------------------
# Docker

docker_ok() {
	docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
		die "cannot reach the Docker daemon (docker version failed): start it, or set DOCKER_HOST"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

image_label() { docker image inspect --format "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null; }

# wanted REF KEY says whether REF must be (re)built: it is missing, or it is a stand-in
# of an older recipe. It never answers yes for an image that is not a stand-in.
wanted() {
	local ref=$1 key=$2
	image_exists "$ref" || return 0
	if [[ $(image_label "$ref" kindlike.stand-in) != true ]]; then
		say "• $ref: present and not a stand-in, kept"
		return 1
	fi
	if [[ $(image_label "$ref" kindlike.stand-in.recipe) == "$key" ]]; then
		say "• $ref: stand-in up to date"
		return 1
	fi
	say "• $ref: stand-in of an older recipe, rebuilding"
	return 0
}

# docker_build REF CONTEXT [docker build flags...] builds quietly, with the whole
# output kept in the build directory and shown when the build fails.
docker_build() {
	local ref=$1 ctx=$2
	shift 2
	STEP_LOG="$BUILD/logs/${ref//[\/:]/_}.log"
	mkdir -p "$BUILD/logs"
	docker build --rm --force-rm -t "$ref" "$@" "$ctx" >"$STEP_LOG" 2>&1
	STEP_LOG=
}

# ---------------------------------------------------------------------------------
# kindlike's own images

go_binary() { # OUT PACKAGE
	CGO_ENABLED=0 "$GO" build -trimpath -buildvcs=false -ldflags '-s -w' -o "$1" "$2"
}

own_image() { # NAME REF DESCRIPTION
	local name=$1 ref=$2 description=$3 ctx="$BUILD/ctx/$1" start=$SECONDS
	mkdir -p "$ctx"
	cp "$ROOT/images/$name/Dockerfile" "$ctx/Dockerfile"
	go_binary "$ctx/$name" "./images/$name"
	docker_build "$ref" "$ctx" \
		--label "kindlike.image=$name" \
		--label "org.opencontainers.image.title=$name" \
		--label "org.opencontainers.image.version=${ref##*:}" \
		--label "org.opencontainers.image.description=$description" \
		--label "org.opencontainers.image.source=https://github.com/kindlike/kindlike/tree/main/images/$name"
	say "✓ $ref ($((SECONDS - start))s)"
}

build_own_images() {
	own_image pause "$(constant PauseImage)" \
		"kindlike's pod sandbox: holds a pod's namespaces, reaps zombies, exits 0 on SIGTERM"
	own_image simple-service "$(constant SimpleServiceImage)" \
		"kindlike's demo web app, answering like quay.io/openshiftlabs/simple-service:0.5.0 on port 9876"
}

# ---------------------------------------------------------------------------------
# Root filesystems, cached as tarballs under $BUILD/rootfs, named by recipe

hash_of() { sha256sum | cut -c1-16; }

# recipe_files DIR prints the files of a recipe directory with their contents.
recipe_files() {
	local f
	for f in $(cd "$ROOT/images/offline/$1" && find . -type f | LC_ALL=C sort); do
		echo "== $f $(stat -c %a "$ROOT/images/offline/$1/$f")"
		cat "$ROOT/images/offline/$1/$f"
	done
}

# rootfs_key KIND: the recipe of a root filesystem: its build function, its files, and
# for a Debian-derived one, the base's recipe.
rootfs_key() {
	local kind=$1
	{
		declare -f "rootfs_$kind"
		case $kind in
		busybox) declare -f host_deb ;;
		debian) declare -f chroot_run copy_new clean_rootfs ;;
		*) declare -f apt_install chroot_run copy_new clean_rootfs ;;
		esac
		echo "$SUITE $MIRROR $SECURITY_MIRROR"
		[[ ! -d $ROOT/images/offline/$kind ]] || recipe_files "$kind"
		[[ $kind == debian || $kind == busybox ]] || rootfs_key debian
	} | hash_of
}

# rootfs_tar KIND prints the path of KIND's root filesystem tarball, building it first
# unless the cache has it.
rootfs_tar() {
	local kind=$1 key tar work start=$SECONDS
	key=$(rootfs_key "$kind")
	tar="$BUILD/rootfs/$kind-$key.tar"
	if [[ -f $tar ]]; then
		echo "$tar"
		return
	fi
	mkdir -p "$BUILD/rootfs" "$BUILD/work" "$BUILD/logs"
	work="$BUILD/work/$kind"
	remove_tree "$work"
	STEP_LOG="$BUILD/logs/rootfs-$kind.log"
	say "… $kind root filesystem (log: $STEP_LOG)" >&2
	"rootfs_$kind" "$work" >"$STEP_LOG" 2>&1
	STEP_LOG=
	tar --numeric-owner --one-file-system -C "$work" -cf "$tar.tmp" .
	mv "$tar.tmp" "$tar"
	remove_tree "$work"
	# Older recipes' tarballs are of no further use.
	find "$BUILD/rootfs" -name "$kind-*.tar" ! -name "$kind-$key.tar" -delete
	say "✓ $kind root filesystem ($((SECONDS - start))s)" >&2
	echo "$tar"
}

# remove_tree DIR removes DIR once nothing is mounted below it: a build that died in a
# chroot may have left /proc mounted there, and rm would walk into it.
remove_tree() {
	local dir=$1 m
	[[ -e $dir ]] || return 0
	dir=$(realpath "$dir")
	for m in $(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r); do
		umount -l "$m" || die "cannot unmount $m; remove $dir by hand"
	done
	rm -rf --one-file-system "$dir"
}

need_root() {
	[[ $(id -u) == 0 ]] || die "building the $1 stand-in needs root (debootstrap, chroot): run as root"
}

need_debootstrap() {
	command -v debootstrap >/dev/null && return
	say "… installing debootstrap (apt-get)" >&2
	apt-get install -y -q debootstrap >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get install -y -q debootstrap >/dev/null; } ||
		die "cannot install debootstrap with apt-get"
}

# chroot_run DIR COMMAND... runs COMMAND in the Debian root filesystem DIR with the
# network and apt's caches of the build directory: apt's package lists and downloaded
# .debs are copied in (hard links where possible) and what it fetched is kept.
chroot_run() {
	local dir=$1
	shift
	local lists="$BUILD/cache/apt-lists" debs="$BUILD/cache/debs"
	mkdir -p "$lists" "$debs"
	cp /etc/resolv.conf "$dir/etc/resolv.conf"
	# Packages' maintainer scripts must not start services in the chroot.
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 755 "$dir/usr/sbin/policy-rc.d"
	cp -a "$lists/." "$dir/var/lib/apt/lists/"
	copy_new "$debs" "$dir/var/cache/apt/archives"
	chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"
	rm -rf "$lists"
	mkdir -p "$lists"
	cp -a "$dir/var/lib/apt/lists/." "$lists/"
	copy_new "$dir/var/cache/apt/archives" "$debs"
}

# copy_new FROM TO puts the .debs of FROM that TO lacks into TO, as hard links when
# both are on one file system.
copy_new() {
	local f
	for f in "$1"/*.deb; do
		[[ -e $2/${f##*/} ]] || ln "$f" "$2/" 2>/dev/null || cp "$f" "$2/"
	done
}

# clean_rootfs DIR drops what an image should not carry: apt's caches, the build's
# resolv.conf and hostname (the engine supplies both), logs of the build.
clean_rootfs() {
	local dir=$1
	rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin \
		"$dir"/var/log/apt/* "$dir"/var/log/dpkg.log "$dir"/var/log/alternatives.log "$dir"/var/log/bootstrap.log \
		"$dir"/tmp/* "$dir"/etc/resolv.conf "$dir"/etc/hostname "$dir"/usr/sbin/policy-rc.d
	mkdir -p "$dir/var/lib/apt/lists/partial"
}

# apt_install DIR PACKAGES... installs into a copy of the Debian root filesystem.
apt_install() {
	local dir=$1 base
	shift
	base=$(rootfs_tar debian)
	mkdir -p "$dir"
	tar --numeric-owner -C "$dir" -xf "$base"
	chroot_run "$dir" sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $*"
}

rootfs_debian() {
	local dir=$1
	need_root debian
	need_debootstrap
	mkdir -p "$BUILD/cache/debs"
	debootstrap --variant=minbase --cache-dir="$BUILD/cache/debs" "$SUITE" "$dir" "$MIRROR"
	rm -f "$dir/etc/apt/sources.list"
	cat >"$dir/etc/apt/sources.list.d/debian.sources" <<-EOF
		Types: deb
		URIs: $MIRROR
		Suites: $SUITE $SUITE-updates
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb
		URIs: $SECURITY_MIRROR
		Suites: $SUITE-security
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	chroot_run "$dir" sh -c 'apt-get update -q && apt-get upgrade -y -q'
	clean_rootfs "$dir"
}

rootfs_centos() {
	local dir=$1
	need_root centos
	apt_install "$dir" curl procps
	clean_rootfs "$dir"
}

rootfs_nginx() {
	local dir=$1 src=$ROOT/images/offline/nginx
	need_root nginx
	apt_install "$dir" nginx
	rm -f "$dir"/etc/nginx/sites-enabled/*
	install -m 644 "$src/nginx.conf" "$dir/etc/nginx/nginx.conf"
	install -m 644 "$src/default.conf" "$dir/etc/nginx/conf.d/default.conf"
	rm -rf "$dir/usr/share/nginx/html"
	install -d -m 755 "$dir/usr/share/nginx/html"
	install -m 644 "$src/index.html" "$src/50x.html" "$dir/usr/share/nginx/html/"
	# Logs to the container's output, as the official image does.
	mkdir -p "$dir/var/log/nginx"
	ln -sf /dev/stdout "$dir/var/log/nginx/access.log"
	ln -sf /dev/stderr "$dir/var/log/nginx/error.log"
	clean_rootfs "$dir"
}

rootfs_mysql() {
	local dir=$1 src=$ROOT/images/offline/mysql
	need_root mysql
	apt_install "$dir" mariadb-server-core mariadb-client-core
	chroot "$dir" groupadd --system mysql
	chroot "$dir" useradd --system --gid mysql --home-dir /var/lib/mysql --no-create-home --shell /usr/sbin/nologin mysql
	install -m 755 "$src/docker-entrypoint.sh" "$dir/usr/local/bin/docker-entrypoint.sh"
	install -m 644 "$src/kindlike.cnf" "$dir/etc/mysql/mariadb.conf.d/90-kindlike.cnf"
	install -d -m 755 -o 0 -g 0 "$dir/var/lib/mysql" "$dir/run/mysqld"
	clean_rootfs "$dir"
}

# busybox: Debian's busybox with the C library files it links, its applets as links in
# /bin (as in the official image), our nslookup (see images/offline/busybox/nslookup),
# and the few files of /etc a shell and name lookups want.
#
# Not busybox-static: that build's shell runs its own applets ahead of $PATH, so
# `sh -c 'until nslookup myservice ...'` would bypass our nslookup.
rootfs_busybox() {
	local dir=$1 src=$ROOT/images/offline/busybox extract=$BUILD/work/busybox-debs deb applet lib
	need_root busybox
	remove_tree "$extract"
	for deb in busybox libc6; do
		deb=$(host_deb "$deb")
		dpkg-deb -x "$deb" "$extract"
	done
	install -d -m 755 "$dir/bin" "$dir/etc" "$dir/home" "$dir/lib/x86_64-linux-gnu" "$dir/lib64" \
		"$dir/usr/bin" "$dir/usr/sbin" "$dir/var/spool/mail" "$dir/var/www"
	install -d -m 700 "$dir/root"
	install -d -m 1777 "$dir/tmp"
	install -m 755 "$extract/bin/busybox" "$dir/bin/busybox"
	for lib in ld-linux-x86-64.so.2 libc.so.6 libresolv.so.2; do
		cp -a "$extract/lib/x86_64-linux-gnu/$lib" "$dir/lib/x86_64-linux-gnu/$lib"
	done
	ln -s /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$dir/lib64/ld-linux-x86-64.so.2"
	for applet in $(chroot "$dir" /bin/busybox --list); do
		[[ $applet == busybox ]] || ln -s busybox "$dir/bin/$applet"
	done
	rm -f "$dir/bin/nslookup"
	install -m 755 "$src/nslookup" "$dir/bin/nslookup"
	install -m 644 "$src/passwd" "$src/group" "$src/nsswitch.conf" "$dir/etc/"
	remove_tree "$extract"
}

# host_deb PACKAGE prints the path of a Debian package downloaded with the host's apt
# (the host runs the same Debian release), unless the cache has it.
host_deb() {
	local debs=$BUILD/cache/debs found
	mkdir -p "$debs"
	found=("$debs/$1"_*.deb)
	if ((${#found[@]} == 0)); then
		(cd "$debs" && { apt-get download -q "$1" >/dev/null 2>&1 ||
			{ apt-get update -q >/dev/null && apt-get download -q "$1" >/dev/null; }; }) ||
			die "cannot download $1 with apt-get"
		found=("$debs/$1"_*.deb)
	fi
	((${#found[@]} > 0)) || die "apt-get download $1 left no package in $debs"
	echo "${found[-1]}"
}

# ---------------------------------------------------------------------------------
# Stand-ins

# Dockerfiles of the stand-ins, by kind. The root filesystem arrives as rootfs.tar.
dockerfile() {
	case $1 in
	busybox) printf '%s\n' 'FROM scratch' 'ADD rootfs.tar /' \
		'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'CMD ["sh"]' ;;
	debian) printf '%s\n' 'FROM scratch' 'ADD rootfs.tar /' \
		'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'CMD ["bash"]' ;;
	centos) printf '%s\n' 'FROM scratch' 'ADD rootfs.tar /' \
		'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'CMD ["/bin/bash"]' ;;
	nginx) printf '%s\n' 'FROM scratch' 'ADD rootfs.tar /' \
		'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		'EXPOSE 80' 'STOPSIGNAL SIGQUIT' 'CMD ["nginx", "-g", "daemon off;"]' ;;
	mysql) printf '%s\n' 'FROM scratch' 'ADD rootfs.tar /' \
		'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		'VOLUME /var/lib/mysql' 'EXPOSE 3306' \
		'ENTRYPOINT ["docker-entrypoint.sh"]' 'CMD ["mysqld"]' ;;
	tomcat-app) printf '%s\n' 'FROM scratch' 'COPY tomcat-app /tomcat-app' 'EXPOSE 8080' \
		'ENTRYPOINT ["/tomcat-app"]' ;;
	simple-service) printf '%s\n' "FROM $(constant SimpleServiceImage)" ;;
	esac
}

# standin_key KIND DESCRIPTION: what a stand-in is built from.
standin_key() {
	local kind=$1 description=$2
	{
		echo "$description"
		dockerfile "$kind"
		case $kind in
		simple-service) docker image inspect --format '{{.Id}}' "$(constant SimpleServiceImage)" ;;
		tomcat-app) sha256sum "$BUILD/ctx/tomcat-app/tomcat-app" | cut -d' ' -f1 ;;
		*) rootfs_key "$kind" ;;
		esac
	} | hash_of
}

# standin REF KIND DESCRIPTION builds the stand-in REF unless the engine has REF.
standin() {
	local ref=$1 kind=$2 description="kindlike stand-in for $1, built offline: $3" key ctx tar start=$SECONDS
	key=$(standin_key "$kind" "$description")
	wanted "$ref" "$key" || return 0
	ctx="$BUILD/ctx/standin-$kind"
	rm -rf "$ctx"
	mkdir -p "$ctx"
	dockerfile "$kind" >"$ctx/Dockerfile"
	case $kind in
	simple-service) ;;
	tomcat-app) ln "$BUILD/ctx/tomcat-app/tomcat-app" "$ctx/tomcat-app" ;;
	*)
		tar=$(rootfs_tar "$kind")
		ln "$tar" "$ctx/rootfs.tar"
		;;
	esac
	docker_build "$ref" "$ctx" \
		--label "kindlike.stand-in=true" \
		--label "kindlike.stand-in.recipe=$key" \
		--label "org.opencontainers.image.description=$description"
	rm -rf "$ctx"
	say "✓ $ref: stand-in built ($((SECONDS - start))s)"
}

build_standins() {
	local nginx="Debian bookworm's nginx package configured like the official image (site in /usr/share/nginx/html, port 80, logs to stdout/stderr, daemon off); not the nginx release the tag names"
	if ! image_exists "$(constant SimpleServiceImage)" || [[ ! -f $BUILD/ctx/simple-service/simple-service ]]; then
		die "build kindlike's images first (make images)"
	fi
	# The textbook's web app, from images/tomcat-app (a Go build is reproducible, so
	# an unchanged source keeps the stand-in's recipe).
	mkdir -p "$BUILD/ctx/tomcat-app"
	go_binary "$BUILD/ctx/tomcat-app/tomcat-app" ./images/tomcat-app
	standin busybox:1.31 busybox "BusyBox 1.35 from Debian bookworm's busybox package with its C library, applets linked in /bin; nslookup tries the resolv.conf search list one name at a time, so it fails only when the name resolves nowhere; not BusyBox 1.31"
	standin debian:latest debian "Debian bookworm, minbase (debootstrap)"
	standin centos:7 centos "NOT CentOS: Debian bookworm minbase with bash, coreutils, curl and procps, for the tutorials' shell container (no yum, no rpm)"
	standin nginx:latest nginx "$nginx"
	standin nginx:1.14.2 nginx "$nginx"
	standin nginx:1.19 nginx "$nginx"
	standin mysql:latest mysql "NOT MySQL: MariaDB 10.11 (Debian bookworm's mariadb-server-core), which speaks the MySQL protocol on port 3306; the entrypoint honours MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD, MYSQL_RANDOM_ROOT_PASSWORD, MYSQL_ROOT_HOST, MYSQL_DATABASE, MYSQL_USER and MYSQL_PASSWORD"
	standin kubeguide/tomcat-app:v1 tomcat-app "NOT Tomcat: kindlike's own web app (Go) doing what the book's JSP demo does on port 8080: reads MYSQL_SERVICE_HOST and MYSQL_SERVICE_PORT, creates HPE_APP.T_USERS with the book's rows as root/123456, lists them at /demo/ and adds one from a form"
	standin quay.io/openshiftlabs/simple-service:0.5.0 simple-service "kindlike's simple-service (Go), answering like the original on port 9876: /endpoint0, /health, /info, /env, plus /health/fail and /health/ok"
	# Stand-ins replaced by newer recipes, unless a container still uses them.
	docker image prune -f --filter label=kindlike.stand-in=true >/dev/null
}

clean() {
	local ref
	remove_tree "$BUILD"
	for ref in $(docker image ls --format '{{.Repository}}:{{.Tag}}' --filter label=kindlike.stand-in=true) \
		$(docker image ls --format '{{.Repository}}:{{.Tag}}' --filter label=kindlike.image=pause) \
		$(docker image ls --format '{{.Repository}}:{{.Tag}}' --filter label=kindlike.image=simple-service); do
		[[ $ref != *'<none>'* ]] || continue
		if docker image rm "$ref" >/dev/null; then
			say "✗ $ref removed"
		fi
	done
	docker image prune -f --filter label=kindlike.stand-in=true >/dev/null
}

main() {
	local start=$SECONDS
	case ${1:-} in
	images | offline | clean) ;;
	*) die "usage: images/build.sh images|offline|clean" ;;
	esac
	cd "$ROOT"
	docker_ok
	mkdir -p "$BUILD"
	set -E
	trap on_error ERR
	# One build at a time per build directory: they share the caches and work trees.
	exec 9>"$BUILD/.lock"
	flock 9
	case $1 in
	images) build_own_images ;;
	offline) build_standins ;;
	clean) clean ;;
	esac
	say "images: $1 done in $((SECONDS - start))s"
}

# Sourced (as the tests do), it only defines its functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
