# Sourced by .ci/run (and usable by hand: `source .ci/services.sh; start_postgres DIR PORT`):
# starts the database peers of the tests on loopback, in a temporary directory.

# PostgreSQL from Debian's packages. It refuses to run as root, so as root the cluster
# belongs to the `postgres` user the package creates. Trust authentication, bound to
# 127.0.0.1 only, fsync on (the crash tests rely on what a commit means).
pg_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
    return 1
}

start_postgres() {
    local dir=$1 port=$2 bin
    bin=$(pg_bin) || { echo "error: PostgreSQL's initdb was not found" >&2; return 1; }
    mkdir -p "$dir"
    local as=()
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$dir"
        as=(setpriv --reuid=postgres --regid=postgres --init-groups)
    fi
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; return 1; }
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k $dir -c max_connections=300" start >/dev/null \
        || { cat "$dir/server.log" >&2; return 1; }
    export AGENTDECK_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

stop_postgres() {
    local dir=$1 bin
    bin=$(pg_bin) || return 0
    local as=()
    [ "$(id -u)" = 0 ] && as=(setpriv --reuid=postgres --regid=postgres --init-groups)
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# Redis from Debian's packages, on loopback, no persistence, in a temporary directory.
start_redis() {
    local dir=$1 port=$2
    command -v redis-server >/dev/null 2>&1 || { echo "error: redis-server was not found" >&2; return 1; }
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
        || { cat "$dir/redis.log" >&2; return 1; }
    local i
    for i in $(seq 100); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.05
    done
    redis-cli -p "$port" ping >/dev/null || { cat "$dir/redis.log" >&2; return 1; }
    export AGENTDECK_TEST_REDIS_URL="redis://127.0.0.1:$port"
}

stop_redis() {
    local dir=$1
    [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
}
