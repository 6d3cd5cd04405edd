#!/bin/sh
# Entrypoint of kindlike's mysql stand-in. The server is MariaDB (Debian's
# mariadb-server-core), which speaks the MySQL protocol; this script starts it the way
# the official mysql image starts MySQL: on first start it creates the database in
# /var/lib/mysql from these variables, then it execs the server, which stays in the
# foreground as PID 1 and logs to stderr.
#
#   MYSQL_ROOT_PASSWORD         root's password (or one of the next two)
#   MYSQL_ALLOW_EMPTY_PASSWORD  any value: root has no password
#   MYSQL_RANDOM_ROOT_PASSWORD  any value: a random one, printed to the log
#   MYSQL_ROOT_HOST             where root may connect from (default %)
#   MYSQL_DATABASE              a database to create
#   MYSQL_USER, MYSQL_PASSWORD  a user to create, with all rights on MYSQL_DATABASE
set -eu

log() {
	printf '%s [kindlike mysql stand-in] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

# `docker run mysql --flag` runs the server with that flag; any other command runs as is.
case ${1:-mysqld} in -*) set -- mysqld "$@" ;; esac
case ${1:-mysqld} in
mysqld | mariadbd) [ $# -gt 0 ] && shift ;;
*) exec "$@" ;;
esac

datadir=/var/lib/mysql

# quote makes a SQL string literal of $1.
quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")"
}

initialize() {
	password=${MYSQL_ROOT_PASSWORD:-}
	if [ -z "$password" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] && [ -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
		log "error: the database is uninitialized and no password option is set."
		log "Set one of MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD or MYSQL_RANDOM_ROOT_PASSWORD."
		exit 1
	fi
	if [ -z "$password" ] && [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
		password=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24)
		log "GENERATED ROOT PASSWORD: $password"
	fi

	log "initializing the database in $datadir ($(mariadbd --version))"
	if ! out=$(mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
		--auth-root-authentication-method=normal --skip-name-resolve 2>&1); then
		printf '%s\n' "$out" >&2
		exit 1
	fi

	# A server on a private socket only, for the accounts and database.
	socket=/run/mysqld/init.sock
	mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket="$socket" &
	pid=$!
	i=0
	until mariadb --protocol=socket --socket="$socket" -uroot -e 'SELECT 1' >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 120 ] || ! kill -0 $pid 2>/dev/null; then
			log "error: the initializing server did not start"
			exit 1
		fi
		sleep 0.25
	done

	root_host=${MYSQL_ROOT_HOST:-%}
	{
		# mariadb-install-db also made root@127.0.0.1, root@::1, root@<hostname> and
		# anonymous users, all without a password; keep root@localhost only.
		echo "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');"
		echo "DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';"
		echo "FLUSH PRIVILEGES;"
		echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(quote "$password");"
		if [ "$root_host" != localhost ]; then
			echo "CREATE USER 'root'@$(quote "$root_host") IDENTIFIED BY $(quote "$password");"
			echo "GRANT ALL ON *.* TO 'root'@$(quote "$root_host") WITH GRANT OPTION;"
		fi
		if [ -n "${MYSQL_DATABASE:-}" ]; then
			echo "CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\`;"
		fi
		if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
			echo "CREATE USER $(quote "$MYSQL_USER")@'%' IDENTIFIED BY $(quote "$MYSQL_PASSWORD");"
			if [ -n "${MYSQL_DATABASE:-}" ]; then
				echo "GRANT ALL ON \`$MYSQL_DATABASE\`.* TO $(quote "$MYSQL_USER")@'%';"
			fi
		fi
		echo "SHUTDOWN;"
	} | mariadb --protocol=socket --socket="$socket" -uroot
	wait $pid
	log "database initialized"
}

if [ ! -d "$datadir/mysql" ]; then
	mkdir -p "$datadir" /run/mysqld
	chown mysql:mysql "$datadir" /run/mysqld
	initialize
fi
exec mariadbd --user=mysql --datadir="$datadir" "$@"
