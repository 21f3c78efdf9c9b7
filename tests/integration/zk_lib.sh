# ZooKeeper for integration tests (source after netns_lib.sh): a standalone
# ZooKeeper 3.8 server (Debian package `zookeeper`, run with the JVM
# directly — never the system service of `zookeeperd`) listening on one
# loopback port only, admin server off, its data in a directory of the test.
# The server can be stopped and started again on the same data directory
# (sessions and their ephemeral znodes survive a restart, as in production).
#
#   zk_available            the server jar, java and the C CLI are installed
#   zk_free_port            an unused loopback TCP port
#   zk_start DIR PORT       start (or restart) a server; waits until it serves
#   zk_stop / zk_kill       SIGTERM / SIGKILL the server started last, by PID
#   zk_cli PORT CMD         one command of the C CLI (cli_mt), e.g. "ls /"
#   zk_serving PORT         the server answers and serves requests
#
# tickTime is 500 ms so that sessions may be as short as 1 s (the server
# negotiates session timeouts within [minSessionTimeout, maxSessionTimeout]).

ZK_JAR=${ZK_JAR:-/usr/share/java/zookeeper.jar}
ZK_CLI_BIN=${ZK_CLI_BIN:-/usr/lib/zookeeper/bin/cli_mt}
ZK_PID=

zk_available() {
	command -v java >/dev/null && [ -f "$ZK_JAR" ] && [ -x "$ZK_CLI_BIN" ]
}

zk_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# "srvr" (a four-letter word, whitelisted below) answers "Mode: standalone"
# only once the server serves requests.
zk_serving() {
	local out
	out=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && echo srvr >&3 && cat <&3" 2>/dev/null)
	[[ $out == *"Mode: standalone"* ]]
}

zk_start() {
	local dir=$1 port=$2
	mkdir -p "$dir/data"
	cat >"$dir/zoo.cfg" <<EOF
tickTime=500
minSessionTimeout=1000
maxSessionTimeout=60000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,mntr
maxClientCnxns=0
EOF
	# no log4j binding on the class path: the server logs nothing (slf4j NOP)
	java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		-Dzookeeper.admin.enableServer=false -Dzookeeper.jmx.log4j.disable=true \
		-cp "$ZK_JAR" org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
		>>"$dir/server.out" 2>&1 &
	ZK_PID=$!
	SY_PIDS+=("$ZK_PID")
	sy_wait 30 zk_serving "$port" || { echo "zk_lib: ZooKeeper did not start on 127.0.0.1:$port"; cat "$dir/server.out"; return 1; }
}

zk_stop() {
	[ -n "$ZK_PID" ] || return 0
	kill "$ZK_PID" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$ZK_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$ZK_PID" 2>/dev/null
	wait "$ZK_PID" 2>/dev/null
	ZK_PID=
}

zk_kill() {
	[ -n "$ZK_PID" ] || return 0
	kill -9 "$ZK_PID" 2>/dev/null
	wait "$ZK_PID" 2>/dev/null
	ZK_PID=
}

zk_cli() {
	local port=$1
	shift
	timeout 10 "$ZK_CLI_BIN" -h "127.0.0.1:$port" -c "$*" 2>&1
}
