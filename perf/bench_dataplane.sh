#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# bench_dataplane.sh: the cost of load balancing over bare packet I/O.
# A benchmark, not a test: it prints figures and fails only if it cannot run.
#
#   perf/bench_dataplane.sh [--build DIR] [--rounds N] [--duration S]
#                           [--flows "1 1000 1000000"] [--proto udp|tcp]
#                           [--fwd ipip|gue|l2dsr] [--workers N] [--no-huge]
#                           [--burst N]
#                           [--profile] [--skip-io] [--skip-lb] [--quick]
#                           [--keep-logs] [--pktgen DIR [--pktgen-build-only]]
#                           [--base DIR]
#
# 1. Packet I/O, A/B: sy-pktgen (core 0) sends 64-byte frames of N flows to
#    VIP 198.18.100.1 over net_memif; at the other end (core 1) either
#      A: dpdk-testpmd --forward-mode=io --port-topology=loop (bare I/O), or
#      B: sy-dataplane (one service for the VIP, --exception-tap off),
#    both one-armed: frames go back out of the port they came in on and
#    sy-pktgen counts them. With --workers N > 1 the forwarder has N
#    workers (testpmd: N forwarding lcores), each with a queue pair: it is
#    then the memif client with N queue pairs and sy-pktgen the server with
#    --queues N, spreading flows as RSS would (sy-dataplane refuses several
#    workers on a memif server port: docs/dataplane.md, "Workers and
#    queues"). Value = rx Mpps at the generator; beside it, each
#    forwarder's busy TSC cycles a frame (testpmd --record-core-cycles;
#    sy-dataplane's busy_cycles counter over rx_packets): its own core's
#    figure, which the generator's speed does not set; testpmd's tells
#    each round's memif state (~80 cycles in the fast one, ~150-200 in
#    issue 13's baseline), and the Mpps ratios are also given by state.
#    Before each round build/perf/host_state measures the forwarder's
#    core (its clock and width, its L2, the L3, DRAM: perf/host_state.h),
#    and the ratios are given by the round's host state too (quiet, or
#    shared: another thread on the core or others holding the L3 make
#    sy-dataplane's work dearer, not testpmd's); the whole host line is
#    printed at the start and the end.
#    For each flow
#    count, --rounds rounds (default 5) run A and B back to back, in
#    alternating order; every value, the medians and the per-round ratio
#    B/A are printed. With --base DIR (another build, e.g. of the commit
#    before a change), each round also runs that build's sy-dataplane (C),
#    the three in rotating order, and prints C/A and B/C of the same round:
#    a before/after that both sides measured in the same conditions.
#    With --pktgen DIR (a Pktgen-DPDK 23.03 checkout), the same A/B runs again
#    with Pktgen-DPDK as the generator (perf/pktgen/switchyard.lua), built
#    from DIR into BUILD/pktgen-dpdk-VERSION: an independent check of sy-pktgen's
#    figures. See "Pktgen-DPDK as the generator" below.
# 2. lb_process_bench: TSC cycles and ns per packet of sy_lb_process() alone,
#    then instructions per packet (perf stat if the PMU is usable, else
#    callgrind), which do not depend on the machine's noise.
#
# Needs root (hugepages, DPDK). Reserves 512 hugepages of 2 MB if fewer are
# free and mounts hugetlbfs on /dev/hugepages if nothing is mounted there
# (both undone at exit); --no-huge runs every DPDK process on plain memory
# instead (net_memif copies through its own memfd regions, so it works
# without hugepages). Every DPDK process gets its own --file-prefix and its
# memif socket a unique name in /tmp; everything is removed at exit; only the
# processes started here are stopped, by PID; every run is bounded in time.
set -u

HERE=$(dirname "$(realpath "$0")")
BUILD=$(realpath "$HERE/../build")
ROUNDS=5
DURATION=5
WARMUP=1
FLOWS="1 1000 1000000"
PROTO=udp
FWD=ipip
NOHUGE=0
PROFILE=0
SKIP_IO=0
SKIP_LB=0
KEEP=0
LB_ARGS=""
PGD_SRC=""       # --pktgen DIR: a Pktgen-DPDK checkout
BASE=""          # --base DIR: a second build whose sy-dataplane runs beside
PGD_BUILD_ONLY=0 # --pktgen-build-only
GEN=sy-pktgen    # the generator of the A/B runs: sy-pktgen or pktgen-dpdk
# testpmd's busy cycles a frame below which a round ran in memif's fast
# state (seen here: ~80 fast, ~150-200 otherwise)
FAST_STATE_CYCLES=120
WORKERS=1
SY_BURST=''     # sy-dataplane's --burst (its default, 32, if empty)

usage() {
	sed -n '4,13p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$(realpath "$2"); shift ;;
	--base) BASE=$(realpath "$2"); shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--flows) FLOWS=$2; shift ;;
	--proto) PROTO=$2; shift ;;
	--fwd) FWD=$2; shift ;;
	--workers) WORKERS=$2; shift ;;
	--burst) SY_BURST=$2; shift ;;
	--no-huge) NOHUGE=1 ;;
	--profile) PROFILE=1 ;;
	--skip-io) SKIP_IO=1 ;;
	--skip-lb) SKIP_LB=1 ;;
	--keep-logs) KEEP=1 ;;
	--quick) ROUNDS=3; DURATION=3; LB_ARGS=--quick ;;
	--pktgen) PGD_SRC=$(realpath "$2"); shift ;;
	--pktgen-build-only) PGD_BUILD_ONLY=1 ;;
	-h|--help) usage ;;
	*) echo "unknown option $1"; usage ;;
	esac
	shift
done
case $PROTO in udp|tcp) ;; *) echo "--proto udp|tcp"; exit 2 ;; esac
case $FWD in ipip|gue|l2dsr) ;; *) echo "--fwd ipip|gue|l2dsr"; exit 2 ;; esac
[[ $ROUNDS =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 50 ] || { echo "--rounds 1..50"; exit 2; }
[[ $DURATION =~ ^[0-9]+$ ]] && [ "$DURATION" -ge 1 ] && [ "$DURATION" -le 60 ] || { echo "--duration 1..60"; exit 2; }
[[ $WORKERS =~ ^[0-9]+$ ]] && [ "$WORKERS" -ge 1 ] && [ "$WORKERS" -le 8 ] || { echo "--workers 1..8"; exit 2; }
[ -z "$SY_BURST" ] || { [[ $SY_BURST =~ ^[0-9]+$ ]] && [ "$SY_BURST" -ge 1 ] && [ "$SY_BURST" -le 64 ]; } ||
	{ echo "--burst 1..64 (sy-dataplane's frames per receive burst)"; exit 2; }
# perf/pktgen/switchyard.lua drives one queue pair as a memif client
[ -n "$PGD_SRC" ] && [ "$WORKERS" -gt 1 ] && { echo "--pktgen runs with one worker only (perf/pktgen/switchyard.lua drives one queue pair)"; exit 2; }
for f in $FLOWS; do
	[[ $f =~ ^[0-9]+$ ]] && [ "$f" -ge 1 ] && [ "$f" -le 4000000 ] || { echo "--flows: numbers 1..4000000"; exit 2; }
done

# ---- Pktgen-DPDK as the generator (--pktgen DIR) ------------------------------
#
# Pktgen-DPDK is not packaged by Debian. It is built here from a checkout
# given by path (perf/README.md: where to get it, which tag) into
# BUILD/pktgen-dpdk-VERSION, never into the checkout or our tree. Release
# 23.03.0 builds against Debian 12's DPDK 22.11 (22.07.1 does not with GCC 12,
# 23.10.x wants DPDK 23.11's bonding names). What this block works around,
# all seen here with 23.03.0 over net_memif:
# - its lib/lua does not depend on DPDK ("rte_version.h: No such file"):
#   DPDK's include directories are passed in c_args;
# - it panics when a port cannot set its MTU ("Cannot set MTU 1500 on port 0,
#   (95)Operation not supported"), and net_memif has no MTU operation:
#   build/perf/sy_pktgen_mtu_shim.so is preloaded into Pktgen, and only there
#   (perf/pktgen/memif_mtu_shim.c);
# - besides its lcores, a thread of its own (named "pktgen": stats and
#   display) busy-polls on the CPU numbered like the main lcore. The main
#   lcore (0, asleep while the Lua script waits) and the rx/tx lcore (1)
#   both run on the generator's core, and that thread is reniced to 19 so
#   that the rx/tx lcore keeps the core (at nice 0 it halved the rate);
# - its mbuf pools take ~1.5 GB (6 pools of 24576 x 10 KB; with less it
#   panics "Cannot create mbuf pool"), more than the hugepages reserved here:
#   it runs on plain memory (--no-huge -m 2048), which memif allows;
# - its range mode builds frames once, into the 24576 mbufs of its range
#   pool, and sends those: above 24576 flows it sends 24576 distinct ones
#   (switchyard.lua says so; sy-dataplane's ct_new shows it);
# - it is interactive: perf/pktgen/switchyard.lua measures, prints the same
#   RESULT line as sy-pktgen and quits; timeout(1) bounds it all the same.
PGD_BIN=""
PGD_SHIM=""
PGD_PID=""
PGD_STOP=""

pgd_build() {
	local version out top
	top=$(realpath "$HERE/..")
	case $PGD_SRC/ in
	"$top"/*) echo "bench_dataplane.sh: --pktgen $PGD_SRC is inside this tree; clone Pktgen-DPDK elsewhere"; exit 2 ;;
	esac
	[ -f "$PGD_SRC/meson.build" ] && [ -f "$PGD_SRC/app/pktgen-main.c" ] ||
		{ echo "bench_dataplane.sh: --pktgen $PGD_SRC: not a Pktgen-DPDK checkout"; exit 2; }
	version=$(tr -cd '0-9A-Za-z._-' <"$PGD_SRC/VERSION" 2>/dev/null)
	case $version in
	23.03.*) ;;
	*) echo "pktgen-dpdk: warning: release '$version'; 23.03.0 is the one that builds against DPDK 22.11 and was tested here" ;;
	esac
	PGD_SHIM=$BUILD/perf/sy_pktgen_mtu_shim.so
	[ -f "$PGD_SHIM" ] || { echo "bench_dataplane.sh: missing $PGD_SHIM (ninja -C $BUILD)"; exit 1; }
	out=$BUILD/pktgen-dpdk-$version
	PGD_BIN=$out/app/pktgen
	# a build directory belongs to one checkout
	if [ -f "$out/build.ninja" ] && [ "$(cat "$out/sy-source" 2>/dev/null)" != "$PGD_SRC" ]; then
		rm -rf "$out"
	fi
	echo "pktgen-dpdk: $version from $PGD_SRC, built in $out (log $out.log)"
	if [ ! -f "$out/build.ninja" ]; then
		meson setup "$out" "$PGD_SRC" -Denable_lua=true -Dbuildtype=release \
			"-Dc_args=$(pkg-config --cflags-only-I libdpdk)" >"$out.log" 2>&1 ||
			{ tail -20 "$out.log"; echo "bench_dataplane.sh: meson setup of Pktgen-DPDK failed"; exit 1; }
		echo "$PGD_SRC" >"$out/sy-source"
	fi
	nice -n 5 ninja -C "$out" >>"$out.log" 2>&1 ||
		{ grep -E 'error|FAILED' "$out.log" | head -20; echo "bench_dataplane.sh: building Pktgen-DPDK failed"; exit 1; }
	[ -x "$PGD_BIN" ] || { echo "bench_dataplane.sh: no $PGD_BIN after the build"; exit 1; }
}

# pgd_start FLOWS SOCKET PREFIX LOG: Pktgen on the generator's core, the
# client of the memif at SOCKET, running perf/pktgen/switchyard.lua for
# FLOWS flows. Sets PGD_PID (timeout's) and PGD_STOP (the file that ends its
# linger, created once the forwarder has stopped).
pgd_start() {
	local flows=$1 sock=$2 prefix=$3 log=$4 vport
	vport=$([ $PROTO = udp ] && echo 53 || echo 80)
	PGD_STOP=$WORK/pktgen-stop.$RUN
	rm -f "$PGD_STOP"
	SY_PKTGEN_FLOWS=$flows SY_PKTGEN_DURATION=$DURATION SY_PKTGEN_WARMUP=$WARMUP \
	SY_PKTGEN_PROTO=$PROTO SY_PKTGEN_VPORT=$vport SY_PKTGEN_QUIT=1 \
	SY_PKTGEN_LINGER=15 SY_PKTGEN_STOP_FILE=$PGD_STOP \
		timeout -s INT -k 10 $((DURATION + WARMUP + 60)) env LD_PRELOAD="$PGD_SHIM" \
		"$PGD_BIN" --lcores "0@$GEN_CORE,1@$GEN_CORE" --no-huge -m 2048 --no-pci \
		--file-prefix "$prefix" --vdev="net_memif0,role=client,socket=$sock,socket-abstract=no" -- \
		-P -m "1.0" -f "$HERE/pktgen/switchyard.lua" </dev/null >"$log" 2>&1 &
	PGD_PID=$!
}

# pgd_demote_timer PID: renice Pktgen's busy timer thread (a thread named
# "pktgen" that is not the main thread) of the Pktgen under timeout PID.
pgd_demote_timer() {
	local pid="" t i
	for i in $(seq 200); do
		[ -n "$pid" ] || pid=$(pgrep -P "$1" -x pktgen)
		if [ -n "$pid" ]; then
			for t in /proc/"$pid"/task/*; do
				if [ "${t##*/}" != "$pid" ] && [ "$(cat "$t/comm" 2>/dev/null)" = pktgen ]; then
					renice -n 19 -p "${t##*/}" >/dev/null && return 0
				fi
			done
		fi
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	echo "--- note: Pktgen's timer thread not found in 10 s (run $RUN): it shared the generator's core at nice 0" >>"$WORK/errors"
}

# The A/B runs of io_bench again, Pktgen-DPDK generating.
pgd_io_bench() {
	local b
	for b in "$SYDP" "$PUBLISH" "$TESTPMD" ${BASE:+"$SYDP_BASE" "$PUBLISH_BASE"}; do
		[ -n "$b" ] && [ -x "$b" ] || { echo "bench_dataplane.sh: missing ${b:-dpdk-testpmd} (ninja -C build; apt install dpdk)"; exit 1; }
	done
	GEN=pktgen-dpdk
	for b in $FLOWS; do
		[ "$b" -gt 24576 ] && echo "NOTE: Pktgen-DPDK 23.03 sends at most 24576 distinct flows (its range pool's prebuilt frames): the $b-flow rows below are 24576 flows"
	done
	io_bench
	GEN=sy-pktgen
}

[ $PGD_BUILD_ONLY -eq 0 ] || [ -n "$PGD_SRC" ] || { echo "--pktgen-build-only needs --pktgen DIR"; exit 2; }
if [ -n "$PGD_SRC" ]; then
	pgd_build
	[ $PGD_BUILD_ONLY -eq 1 ] && exit 0
fi

[ "$(id -u)" -eq 0 ] || { echo "bench_dataplane.sh: needs root (hugepages, DPDK)"; exit 1; }

SYDP=$BUILD/dataplane/sy-dataplane
PKTGEN=$BUILD/perf/sy-pktgen
PUBLISH=$BUILD/tests/tools/sy-publish
LBB=$BUILD/perf/lb_process_bench
TESTPMD=$(command -v dpdk-testpmd || true)
SYDP_BASE="" PUBLISH_BASE=""
FORWARDERS="testpmd sy" # run_one's names, in the order of odd rounds
TSC_HZ_SEEN= # sy-dataplane's TSC rate, from its log (run_one)
if [ -n "$BASE" ]; then
	SYDP_BASE=$BASE/dataplane/sy-dataplane
	PUBLISH_BASE=$BASE/tests/tools/sy-publish
	FORWARDERS="testpmd sy base"
fi
if [ $SKIP_IO -eq 0 ]; then
	for b in "$SYDP" "$PKTGEN" "$PUBLISH" "$TESTPMD" ${BASE:+"$SYDP_BASE" "$PUBLISH_BASE"}; do
		[ -n "$b" ] && [ -x "$b" ] || { echo "bench_dataplane.sh: missing ${b:-dpdk-testpmd} (ninja -C build; apt install dpdk)"; exit 1; }
	done
fi
if [ $SKIP_LB -eq 0 ] && [ ! -x "$LBB" ]; then
	echo "bench_dataplane.sh: missing $LBB (ninja -C build)"
	exit 1
fi

ID=$$
WORK=$(mktemp -d /tmp/sybench-XXXXXX)
REGION=/dev/shm/sybench-$ID.region
PIDS=()
PREFIXES=()
SOCKETS=()
REGIONS=()
HUGE_ORIG=""
MOUNTED=0
MADE_DIR=0
# the generator is on core 0, the forwarder on core 1; with --workers N,
# its workers on the cores after it, skipping the generator's, round robin
# over the machine's cores (several share a core when there are too few)
GEN_CORE=0
FWD_CORE=1
FWD_LCORES="" # EAL --lcores of a forwarder with N workers: 0@main,1@c1,...
WORKER_CORES=""
worker_cores() {
	local n=$(nproc) c=$FWD_CORE i=0 list=""
	while [ $i -lt "$WORKERS" ]; do
		if [ $c -ne $GEN_CORE ] || [ "$n" -eq 1 ]; then
			list="$list $c"
			i=$((i + 1))
		fi
		c=$(((c + 1) % n))
	done
	echo $list
}
WORKER_CORES=$(worker_cores)
FWD_LCORES=0@$FWD_CORE
i=1
for c in $WORKER_CORES; do
	FWD_LCORES=$FWD_LCORES,$i@$c
	i=$((i + 1))
done

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -INT "$p" 2>/dev/null
			sleep 1
			kill -KILL "$p" 2>/dev/null
		fi
	done
	for p in "${PREFIXES[@]}"; do
		rm -f /dev/hugepages/"$p"map_* 2>/dev/null
		rm -rf "/var/run/dpdk/$p"
	done
	rm -f "${SOCKETS[@]}" "${REGIONS[@]}" "$REGION"
	if [ $KEEP -eq 1 ]; then
		echo "logs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
	if [ $MOUNTED -eq 1 ]; then
		umount /dev/hugepages 2>/dev/null
		[ $MADE_DIR -eq 1 ] && rmdir /dev/hugepages 2>/dev/null
	fi
	if [ -n "$HUGE_ORIG" ]; then
		echo "$HUGE_ORIG" >/proc/sys/vm/nr_hugepages
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

median() { # numbers on stdin -> median
	sort -g | awk '{v[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) printf "%.3f", v[(NR+1)/2]; else printf "%.3f", (v[NR/2]+v[NR/2+1])/2}'
}

# split_ratios FILE T below|from: the ratios of FILE's "STATE RATIO" lines
# (one a round) whose STATE is below T, or from T on
split_ratios() {
	awk -v t="$2" -v below=$([ "$3" = below ] && echo 1 || echo 0) \
		'($1 < t) == below {print $2}' "$1"
}

# split_line FLOWS LOW HIGH FILE T: one line, the rounds' ratios in the
# state below T (named LOW) and from T (HIGH), each with its median
split_line() {
	local lo hi
	lo=$(split_ratios "$4" "$5" below)
	hi=$(split_ratios "$4" "$5" from)
	printf "%-9s %s: %-30s (median %s)  %s: %-30s (median %s)\n" "$1" "$2" "$(echo $lo)" \
		"$(grep . <<<"$lo" | median)" "$3" "$(echo $hi)" "$(grep . <<<"$hi" | median)"
}

# ---- Memory --------------------------------------------------------------

EAL_MEM=()
setup_memory() {
	local total free
	[ -n "${MEMORY_SET_UP:-}" ] && return # once: io_bench runs once per generator
	MEMORY_SET_UP=1
	if [ $NOHUGE -eq 1 ]; then
		echo "memory: --no-huge (plain pages; memif's shared rings are memfd-backed either way)"
		return
	fi
	total=$(awk '/HugePages_Total/ {print $2}' /proc/meminfo)
	free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
	if [ "$free" -lt 384 ]; then
		HUGE_ORIG=$total
		echo $((total + 512 - free)) >/proc/sys/vm/nr_hugepages
		free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
	fi
	if ! awk '$3 == "hugetlbfs" {found=1} END {exit !found}' /proc/mounts; then
		if [ ! -d /dev/hugepages ]; then
			mkdir /dev/hugepages && MADE_DIR=1
		fi
		if mount -t hugetlbfs nodev /dev/hugepages; then
			MOUNTED=1
		fi
	fi
	if [ "$free" -lt 256 ] || ! awk '$3 == "hugetlbfs" {found=1} END {exit !found}' /proc/mounts; then
		echo "memory: cannot get hugepages ($free free, hugetlbfs mounted: $MOUNTED); using --no-huge"
		NOHUGE=1
		return
	fi
	echo "memory: 2 MB hugepages ($free free); hugepage files are unlinked as they are mapped (--huge-unlink)"
	EAL_MEM=(--huge-unlink)
}

eal_mem() { # $1 = MB for --no-huge
	if [ $NOHUGE -eq 1 ]; then
		echo "--no-huge -m $1"
	else
		echo "${EAL_MEM[*]}"
	fi
}

# ---- One measurement -----------------------------------------------------

RUN=0
# run_one testpmd|sy FLOWS: one bounded run of a forwarder and the generator.
# Sets RX and TX (Mpps at the generator, or "fail"), PERSEC (rx Mpps of each
# second) and STATS (sy-dataplane's closing counters). Logs stay in $WORK.
run_one() {
	local what=$1 flows=$2 sock prefix_f prefix_g log_f log_g fpid gpid='' ct res i st region
	RUN=$((RUN + 1))
	RX=fail TX=- PERSEC="" STATS="" QUEUES=""
	sock=/tmp/sybench-$ID-$RUN.sock
	prefix_f=sybf$ID-$RUN
	prefix_g=sybg$ID-$RUN
	log_f=$WORK/$RUN-$what-$flows.fwd.log
	log_g=$WORK/$RUN-$what-$flows.gen.log
	SOCKETS+=("$sock")
	PREFIXES+=("$prefix_f" "$prefix_g")
	rm -f "$sock"
	ct=$((flows * 2 > 262144 ? flows * 2 : 262144))
	# a fresh region per run: its counters (printed by sy-dataplane at exit)
	# then count this run only
	region=$REGION.$RUN
	REGIONS+=("$region")
	# sy: this build's sy-dataplane; base: --base's (each with its own
	# sy-publish, so that each reads a region of its own version)
	local sydp=$SYDP publish=$PUBLISH
	[ "$what" = base ] && sydp=$SYDP_BASE publish=$PUBLISH_BASE
	if [ "$what" != testpmd ] && ! "$publish" --create "$region" "$WORK/services.txt" >>"$WORK/publish.log" 2>&1; then
		echo "--- sy-publish failed (run $RUN):" >>"$WORK/errors"
		tail -3 "$WORK/publish.log" >>"$WORK/errors"
		return
	fi
	# One worker: the forwarder is the memif server, as it would be for a
	# peer on the host. N workers: the forwarder is the client with N queue
	# pairs and sy-pktgen the server with N (--queues): only a memif client
	# brings all its rings (docs/dataplane.md, "Workers and queues").
	local fwd_role=server gen_role=client gen_opts=() fwd_cpu=(-l $FWD_CORE)
	local tp_cpu=(-l $GEN_CORE,$FWD_CORE --main-lcore $GEN_CORE) tp_queues=()
	if [ "$WORKERS" -gt 1 ]; then
		fwd_role=client gen_role=server
		gen_opts=(--queues "$WORKERS" --link-timeout 30)
		fwd_cpu=(--lcores "$FWD_LCORES")
		tp_cpu=(--lcores "$FWD_LCORES" --main-lcore 0)
		tp_queues=(--rxq="$WORKERS" --txq="$WORKERS")
	fi
	local vdev_f="net_memif0,role=$fwd_role,socket=$sock,socket-abstract=no"
	local vdev_g="net_memif0,role=$gen_role,socket=$sock,socket-abstract=no"
	start_generator() {
		# The generator lingers after its result without touching the
		# port, and the forwarder is stopped first: net_memif (DPDK 22.11)
		# can crash a side that is polling when its peer disconnects.
		if [ "$GEN" = pktgen-dpdk ]; then
			pgd_start "$flows" "$sock" "$prefix_g" "$log_g"
			gpid=$PGD_PID
		else
			timeout -s INT -k 10 $((DURATION + WARMUP + 60 + 30)) "$PKTGEN" -l $GEN_CORE $(eal_mem 256) --no-pci \
				--file-prefix "$prefix_g" --vdev="$vdev_g" -- \
				--flows "$flows" --proto $PROTO --duration $DURATION --warmup $WARMUP --linger 15 \
				"${gen_opts[@]}" </dev/null >"$log_g" 2>&1 &
			gpid=$!
		fi
		PIDS+=("$gpid")
	}
	if [ "$gen_role" = server ]; then
		# the generator's port started, not only its socket there: a
		# client that connects before is refused ("ID not found") for good
		start_generator
		for i in $(seq 100); do
			grep -q "^sy-pktgen: port 0 started" "$log_g" 2>/dev/null && break
			kill -0 $gpid 2>/dev/null || break
			sleep 0.1
		done
	fi
	# The forwarder runs until stopped below (by PID), after the generator,
	# which is bounded by --duration and by timeout(1).
	# (stdbuf: line-buffered logs, so that readiness shows as it happens)
	if [ "$what" = testpmd ]; then
		stdbuf -oL -eL "$TESTPMD" "${tp_cpu[@]}" \
			$(eal_mem 512) --no-pci --file-prefix "$prefix_f" --vdev="$vdev_f" -- \
			--forward-mode=io --port-topology=loop --nb-cores="$WORKERS" "${tp_queues[@]}" \
			--total-num-mbufs=16384 --stats-period 3600 --record-core-cycles </dev/null >"$log_f" 2>&1 &
	else
		stdbuf -oL -eL "$sydp" "${fwd_cpu[@]}" $(eal_mem 768) --no-pci \
			--file-prefix "$prefix_f" --vdev="$vdev_f" -- --region "$region" \
			--exception-tap off --ct-size $ct --ct-guard-rate 0 ${SY_BURST:+--burst $SY_BURST} \
			</dev/null >"$log_f" 2>&1 &
	fi
	fpid=$!
	PIDS+=("$fpid")
	for i in $(seq 300); do
		grep -q -E "packet forwarding - ports=|sy-dataplane running" "$log_f" 2>/dev/null && break
		kill -0 $fpid 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 $fpid 2>/dev/null && grep -q -E "packet forwarding - ports=|sy-dataplane running" "$log_f"; then
		sleep 0.3
		if [ $PROFILE -eq 1 ] && [ "$what" != base ] && [ ! -e "$WORK/perf.data.$what" ] && command -v perf >/dev/null; then
			(sleep $((WARMUP + 1)); timeout 30 perf record -F 1999 -g -p $fpid -o "$WORK/perf.data.$what" \
				-- sleep $((DURATION > 3 ? 3 : DURATION)) >"$WORK/perf.log" 2>&1) &
			PIDS+=("$!")
		fi
		[ -n "$gpid" ] || start_generator
		[ "$GEN" = pktgen-dpdk ] && pgd_demote_timer "$gpid"
		while kill -0 $gpid 2>/dev/null && ! grep -q -a -E '^(sy-pktgen|switchyard): idle' "$log_g" 2>/dev/null; do
			sleep 0.2
		done
	else
		{ echo "--- $what did not start (run $RUN, $flows flows):"; tail -20 "$log_f"; } >>"$WORK/errors"
	fi
	kill -INT $fpid 2>/dev/null
	for i in $(seq 100); do
		kill -0 $fpid 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 $fpid 2>/dev/null; then
		echo "--- $what (pid $fpid) ignored SIGINT for 10 s; killed" >>"$WORK/errors"
		kill -KILL $fpid 2>/dev/null
	fi
	wait $fpid
	st=$?
	if [ $st -ne 0 ] && [ $st -ne 130 ]; then
		echo "--- note: $what exited with status $st while stopping (run $RUN; after the measurement)" >>"$WORK/errors"
	fi
	if [ -n "$gpid" ]; then
		[ "$GEN" = pktgen-dpdk ] && : >"$PGD_STOP" # its linger ends on this file
		for i in $(seq 100); do
			kill -0 $gpid 2>/dev/null || break
			sleep 0.1
		done
		kill -INT $gpid 2>/dev/null
		wait $gpid
		st=$?
		if [ $st -ne 0 ]; then
			echo "--- note: $GEN exited with status $st (run $RUN)" >>"$WORK/errors"
		fi
	fi
	wait # the profiler, if any
	rm -f "$sock" "$region"
	rm -f /dev/hugepages/"$prefix_f"map_* /dev/hugepages/"$prefix_g"map_* 2>/dev/null
	rm -rf "/var/run/dpdk/$prefix_f" "/var/run/dpdk/$prefix_g"
	[ -e "$log_g" ] || return
	res=$(grep -a '^RESULT' "$log_g" | tail -1)
	if [ -z "$res" ] || grep -q error= <<<"$res"; then
		{ echo "--- $GEN against $what (run $RUN, $flows flows) failed:"; tail -20 "$log_g"; } >>"$WORK/errors"
		return
	fi
	QUEUES=$(grep '^QUEUE ' "$log_g" | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $4}')
	RX=$(sed -n 's/.*rx_mpps=\([0-9.]*\).*/\1/p' <<<"$res")
	TX=$(sed -n 's/.*tx_mpps=\([0-9.]*\).*/\1/p' <<<"$res")
	PERSEC=$(awk '$1 == "measure" {printf "%s ", $7}' "$log_g")
	CPF=n/a
	if [ "$what" != testpmd ]; then
		# the TSC rate, the unit of the busy cycles (one machine: one rate)
		TSC_HZ=$(grep -a -o 'tsc_hz=[0-9]*' "$log_f" | tail -1 | cut -d= -f2)
		TSC_HZ=${TSC_HZ:-$TSC_HZ_SEEN}
		TSC_HZ_SEEN=$TSC_HZ
		STATS=$(grep 'msg=stats' "$log_f" | tail -1)
		# the worker's busy cycles a frame (counters busy_cycles,
		# rx_packets, from_kernel; n/a from a build without them)
		CPF=$(awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); c[kv[1]] = kv[2]}
			n = c["rx_packets"] + c["from_kernel"]
			if (n > 0 && c["busy_cycles"] != "") printf "%.1f\n", c["busy_cycles"] / n; else print "n/a"}' <<<"$STATS")
	else
		# --record-core-cycles: cycles of the polls that received frames
		CPF=$(sed -n 's/.*CPU cycles\/packet=\([0-9.]*\).*/\1/p' "$log_f" | tail -1)
		CPF=${CPF:-n/a}
	fi
}

# ---- Part 1: packet I/O, A/B ---------------------------------------------

io_bench() {
	local svc=$WORK/services.txt f r what tp sy ratio vport drops l3
	vport=$([ $PROTO = udp ] && echo 53 || echo 80)
	case $FWD in
	ipip) echo "service bench $PROTO 198.18.100.1 $vport ipip m=65537 seed=7 src4=198.18.0.1" ;;
	gue) echo "service bench $PROTO 198.18.100.1 $vport gue m=65537 seed=7 gue_port=6080 src4=198.18.0.1" ;;
	l2dsr) echo "service bench $PROTO 198.18.100.1 $vport l2dsr m=65537 seed=7" ;;
	esac >"$svc"
	{
		echo "backend bench 198.18.1.1 $vport 02:00:00:00:01:01 1"
		echo "backend bench 198.18.1.2 $vport 02:00:00:00:01:02 1"
		echo "backend bench 198.18.1.3 $vport 02:00:00:00:01:03 2"
	} >>"$svc"
	"$PUBLISH" --create "$REGION" "$svc" >"$WORK/publish.log" 2>&1 || {
		cat "$WORK/publish.log"
		echo "bench_dataplane.sh: cannot publish the service"
		exit 1
	}
	setup_memory
	echo
	if [ "$WORKERS" -eq 1 ]; then
		echo "== Packet I/O: $GEN (core $GEN_CORE) <-> net_memif <-> forwarder (core $FWD_CORE), 64-byte $PROTO frames to 198.18.100.1:$vport"
		echo "   A = dpdk-testpmd --forward-mode=io --port-topology=loop (bare I/O)"
	else
		echo "== Packet I/O: sy-pktgen (core $GEN_CORE, memif server, --queues $WORKERS) <-> net_memif <-> forwarder (memif client, $WORKERS workers on cores $(tr ' ' ',' <<<"$WORKER_CORES")), 64-byte $PROTO frames to 198.18.100.1:$vport"
		echo "   A = dpdk-testpmd --forward-mode=io --port-topology=loop --nb-cores=$WORKERS --rxq=$WORKERS --txq=$WORKERS (bare I/O)"
		[ "$(wc -w <<<"$WORKER_CORES")" -gt "$(tr ' ' '\n' <<<"$WORKER_CORES" | sort -u | wc -l)" ] &&
			echo "   NOTE: fewer free cores than workers: workers share cores, so this shows that $WORKERS workers work, not how they scale"
	fi
	echo "   B = sy-dataplane --exception-tap off --ct-guard-rate 0 (every new flow inserted) --ct-size max(262144, 2 x flows)$([ "$WORKERS" -gt 1 ] && echo " per worker"); service: $(head -1 "$svc"), 3 backends"
	[ -n "$BASE" ] && echo "   C (\"base\") = the same, $SYDP_BASE"
	echo "   value = Mpps received back at the generator over $DURATION s, after ${WARMUP} s of warm-up; $ROUNDS rounds, $([ -n "$BASE" ] && echo "A, B and C in rotating order" || echo "A and B alternating in order")"
	echo "   NOTE: this machine is noisy and memif throughput flips between a fast and a ~3x slower state, even in the"
	echo "   middle of a run (see the per-second values). That is why rounds interleave A and B, why every value is"
	echo "   printed, and why the per-round ratio (A and B measured seconds apart) and medians are the figures to read."
	for f in $FLOWS; do
		echo
		echo "-- $f flow(s)"
		: >"$WORK/tp.$f"
		: >"$WORK/sy.$f"
		: >"$WORK/ratio.$f"
		: >"$WORK/testpmd.$f.sec"
		: >"$WORK/sy.$f.sec"
		: >"$WORK/base.$f"
		: >"$WORK/ratio_base.$f"
		: >"$WORK/sy_base.$f"
		: >"$WORK/base.$f.sec"
		: >"$WORK/cpf_testpmd.$f"
		: >"$WORK/cpf_sy.$f"
		: >"$WORK/cpf_base.$f"
		: >"$WORK/cpf_ratio.$f"
		: >"$WORK/state.$f"
		: >"$WORK/l3.$f"
		: >"$WORK/hoststate.$f"
		for r in $(seq "$ROUNDS"); do
			# the host's state for this round, on the forwarder's core
			# (perf/host_state.h): its L3 comes and goes within minutes
			host_round "round$r"
			[ -n "$L3" ] && echo "$L3" >>"$WORK/l3.$f"
			tp=fail
			sy=fail
			base=fail
			cpf_tp=n/a
			cpf_sy=n/a
			# the forwarders rotate: round r starts r - 1 places on
			# (two alternate, as before)
			for what in $(awk -v r="$r" '{for (i = 0; i < NF; i++) printf "%s ", $((i + r - 1) % NF + 1)}' <<<"$FORWARDERS"); do
				# (the shell's own job messages, e.g. a forwarder crashing
				# on exit, go to a log; run_one notes them in the errors)
				run_one $what "$f" 2>>"$WORK/shell.log"
				printf "   round %d %-8s rx %8s Mpps  tx %8s Mpps  rx per second: %s\n" "$r" "$what" "$RX" "$TX" "$PERSEC"
				echo "      forwarder's busy cycles a frame: $CPF"
				if [ "$CPF" != n/a ]; then
					echo "$CPF" >>"$WORK/cpf_$what.$f"
					[ "$RX" != fail ] && echo "$RX $CPF" >>"$WORK/load_$what.$f"
					[ "$what" = testpmd ] && cpf_tp=$CPF
					[ "$what" = sy ] && cpf_sy=$CPF
				fi
				[ "$WORKERS" -gt 1 ] && [ -n "$QUEUES" ] && echo "      frames sent per queue (every phase): $QUEUES"
				if [ "$RX" != fail ]; then
					tr ' ' '\n' <<<"$PERSEC" | grep . >>"$WORK/$what.$f.sec"
				fi
				if [ "$what" != testpmd ]; then
					if [ "$what" = sy ]; then
						sy=$RX
					else
						base=$RX
					fi
					if [ -n "$STATS" ]; then
						echo "      sy-dataplane: $(grep -o -E '(forwarded|ct_hits|ct_new|ct_evictions)=[0-9]+' <<<"$STATS" | tr '\n' ' ')"
						drops=$(grep -o -E 'drop_[a-z_]+=[1-9][0-9]*' <<<"$STATS" | tr '\n' ' ')
						[ -n "$drops" ] && echo "      drops: $drops"
					fi
				else
					tp=$RX
				fi
			done
			[ "$tp" != fail ] && echo "$tp" >>"$WORK/tp.$f"
			[ "$sy" != fail ] && echo "$sy" >>"$WORK/sy.$f"
			[ "$base" != fail ] && echo "$base" >>"$WORK/base.$f"
			if [ "$tp" != fail ] && [ "$sy" != fail ] && awk "BEGIN {exit !($tp > 0)}"; then
				ratio=$(awk "BEGIN {printf \"%.3f\", $sy / $tp}")
				echo "$ratio" >>"$WORK/ratio.$f"
				# the round's memif state, by testpmd's own cost
				[ "$cpf_tp" != n/a ] && echo "$cpf_tp $ratio" >>"$WORK/state.$f"
				[ -n "$SHARED" ] && echo "$SHARED $ratio" >>"$WORK/hoststate.$f"
				echo "   round $r ratio sy/testpmd = $ratio"
			fi
			if [ "$cpf_tp" != n/a ] && [ "$cpf_sy" != n/a ] && awk "BEGIN {exit !($cpf_sy > 0)}"; then
				ratio=$(awk "BEGIN {printf \"%.3f\", $cpf_tp / $cpf_sy}")
				echo "$ratio" >>"$WORK/cpf_ratio.$f"
				echo "   round $r busy cycles a frame, testpmd/sy = $ratio"
			fi
			if [ -n "$BASE" ] && [ "$tp" != fail ] && [ "$base" != fail ] && awk "BEGIN {exit !($tp > 0 && $base > 0)}"; then
				ratio=$(awk "BEGIN {printf \"%.3f\", $base / $tp}")
				echo "$ratio" >>"$WORK/ratio_base.$f"
				echo "   round $r ratio base/testpmd = $ratio"
				if [ "$sy" != fail ]; then
					ratio=$(awk "BEGIN {printf \"%.3f\", $sy / $base}")
					echo "$ratio" >>"$WORK/sy_base.$f"
					echo "   round $r ratio sy/base = $ratio"
				fi
			fi
		done
	done
	echo
	echo "== Summary: rx Mpps at the generator; ratio = sy-dataplane / testpmd of the same round"
	printf "%-9s %-8s %-52s | %s\n" flows "" "every round" median
	for f in $FLOWS; do
		printf "%-9s %-8s %-52s | %s\n" "$f" testpmd "$(tr '\n' ' ' <"$WORK/tp.$f")" "$(median <"$WORK/tp.$f")"
		printf "%-9s %-8s %-52s | %s\n" "" sy "$(tr '\n' ' ' <"$WORK/sy.$f")" "$(median <"$WORK/sy.$f")"
		printf "%-9s %-8s %-52s | %s\n" "" ratio "$(tr '\n' ' ' <"$WORK/ratio.$f")" "$(median <"$WORK/ratio.$f")"
		if [ -n "$BASE" ]; then
			printf "%-9s %-8s %-52s | %s\n" "" base "$(tr '\n' ' ' <"$WORK/base.$f")" "$(median <"$WORK/base.$f")"
			printf "%-9s %-8s %-52s | %s\n" "" "base/tp" "$(tr '\n' ' ' <"$WORK/ratio_base.$f")" "$(median <"$WORK/ratio_base.$f")"
			printf "%-9s %-8s %-52s | %s\n" "" "sy/base" "$(tr '\n' ' ' <"$WORK/sy_base.$f")" "$(median <"$WORK/sy_base.$f")"
		fi
	done
	echo
	echo "   The forwarder's busy cycles a frame (TSC cycles of its polls that received frames / frames: testpmd"
	echo "   --record-core-cycles, sy-dataplane's busy_cycles counter), its own core's figure; ratio = testpmd / sy"
	echo "   of the same round (the sense of the Mpps ratio: the share of sy's cycles that bare I/O needs):"
	for f in $FLOWS; do
		printf "%-9s %-8s %-52s | %s\n" "$f" testpmd "$(tr '\n' ' ' <"$WORK/cpf_testpmd.$f")" "$(median <"$WORK/cpf_testpmd.$f")"
		printf "%-9s %-8s %-52s | %s\n" "" sy "$(tr '\n' ' ' <"$WORK/cpf_sy.$f")" "$(median <"$WORK/cpf_sy.$f")"
		[ -s "$WORK/cpf_base.$f" ] &&
			printf "%-9s %-8s %-52s | %s\n" "" base "$(tr '\n' ' ' <"$WORK/cpf_base.$f")" "$(median <"$WORK/cpf_base.$f")"
		printf "%-9s %-8s %-52s | %s\n" "" ratio "$(tr '\n' ' ' <"$WORK/cpf_ratio.$f")" "$(median <"$WORK/cpf_ratio.$f")"
	done
	if [ -n "${TSC_HZ_SEEN:-}" ]; then
		echo
		echo "   The forwarder's load: busy cycles a frame x frames a second / the TSC rate ($TSC_HZ_SEEN Hz). Near 1"
		echo "   the forwarder set the round's rate; well below (~0.5 for testpmd in memif's fast state) the generator"
		echo "   did, and the Mpps ratio compares sy-dataplane with the generator's limit rather than with testpmd:"
		for f in $FLOWS; do
			local who first=1
			for who in testpmd sy base; do
				[ -s "$WORK/load_$who.$f" ] || continue
				awk -v hz="$TSC_HZ_SEEN" '{printf "%.2f\n", $1 * 1e6 * $2 / hz}' "$WORK/load_$who.$f" >"$WORK/loadv_$who.$f"
				printf "%-9s %-8s %-52s | %s\n" "$([ $first = 1 ] && echo "$f")" "$who" \
					"$(tr '\n' ' ' <"$WORK/loadv_$who.$f")" "$(median <"$WORK/loadv_$who.$f")"
				first=0
			done
		done
	fi
	echo
	echo "   The Mpps ratio by the round's memif state, told by testpmd's busy cycles a frame: below $FAST_STATE_CYCLES"
	echo "   the fast state (bare I/O about twice as fast; sy-dataplane's cost falls by less, its packet path"
	echo "   staying what it is), from $FAST_STATE_CYCLES the state of issue 13's baseline (testpmd ~12.4 Mpps,"
	echo "   80 ns = ~168 cycles a frame):"
	for f in $FLOWS; do
		split_line "$f" fast "baseline's" "$WORK/state.$f" $FAST_STATE_CYCLES
	done
	echo
	echo "   The Mpps ratio by the host's state in the round (perf/host_state.h, measured on the forwarder's"
	echo "   core before the round: quiet = the core's whole width and the L3 this guest's; shared = another"
	echo "   thread on the core or others holding the L3, which make sy-dataplane's work dearer, not testpmd's);"
	echo "   the rounds' 4 MB chases (TSC cycles a line: ~40 with the L3 ours, 100-300 held by others):"
	for f in $FLOWS; do
		printf "%-9s 4 MB chase: %s\n" "$f" "$(tr '\n' ' ' <"$WORK/l3.$f")"
		split_line "" "quiet" "shared" "$WORK/hoststate.$f" 1
	done
	echo
	echo "   Best second of all rounds (each side in its least disturbed state; the fast memif state):"
	for f in $FLOWS; do
		local bt bs
		bt=$(sort -g "$WORK/testpmd.$f.sec" | tail -1)
		bs=$(sort -g "$WORK/sy.$f.sec" | tail -1)
		printf "%-9s testpmd %s  sy %s  ratio %s\n" "$f" "${bt:-n/a}" "${bs:-n/a}" \
			"$( [ -n "$bt" ] && [ -n "$bs" ] && awk "BEGIN {printf \"%.3f\", $bs / $bt}" || echo n/a)"
		if [ -n "$BASE" ]; then
			bs=$(sort -g "$WORK/base.$f.sec" | tail -1)
			printf "%-9s testpmd %s  base %s  ratio %s\n" "" "${bt:-n/a}" "${bs:-n/a}" \
				"$( [ -n "$bt" ] && [ -n "$bs" ] && awk "BEGIN {printf \"%.3f\", $bs / $bt}" || echo n/a)"
		fi
	done
	for f in $FLOWS; do
		echo "SUMMARY generator=$GEN flows=$f testpmd_median=$(median <"$WORK/tp.$f") sy_median=$(median <"$WORK/sy.$f") ratio_median=$(median <"$WORK/ratio.$f") rounds=$(wc -l <"$WORK/ratio.$f") testpmd_best_s=$(sort -g "$WORK/testpmd.$f.sec" | tail -1) sy_best_s=$(sort -g "$WORK/sy.$f.sec" | tail -1) workers=$WORKERS$([ -n "$BASE" ] && echo " base_median=$(median <"$WORK/base.$f") base_ratio_median=$(median <"$WORK/ratio_base.$f") sy_over_base_median=$(median <"$WORK/sy_base.$f")") testpmd_cycles_frame=$(median <"$WORK/cpf_testpmd.$f") sy_cycles_frame=$(median <"$WORK/cpf_sy.$f") cycles_ratio_median=$(median <"$WORK/cpf_ratio.$f") chase4mb_median=$(median <"$WORK/l3.$f") ratio_quiet_median=$(split_ratios "$WORK/hoststate.$f" 1 below | median) ratio_shared_median=$(split_ratios "$WORK/hoststate.$f" 1 from | median)$([ -s "$WORK/loadv_sy.$f" ] && echo " testpmd_load=$(median <"$WORK/loadv_testpmd.$f") sy_load=$(median <"$WORK/loadv_sy.$f")")"
	done
	if [ -s "$WORK/errors" ]; then
		echo
		echo "== Failed runs"
		cat "$WORK/errors"
		mv "$WORK/errors" "$WORK/errors.$GEN"
	fi
	# both forwarders profiled: the share of the PMD (the same driver
	# code) times each one's cycles a frame compares their I/O costs
	local what
	for what in sy testpmd; do
		[ -s "$WORK/perf.data.$what" ] || continue
		echo
		echo "== Profile of $what (its first run, of $(echo "$FLOWS" | awk '{print $1}') flow(s); perf record, cpu-clock sampling if there is no PMU)"
		perf report -i "$WORK/perf.data.$what" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -6
		perf report -i "$WORK/perf.data.$what" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -20
		mv "$WORK/perf.data.$what" "$WORK/perf.data.$what.$GEN"
	done
}

# ---- Part 2: the packet path alone -----------------------------------------

lb_bench() {
	local m k out ir reset n
	echo
	echo "== lb_process_bench: sy_lb_process() alone (no packet I/O), pinned to core $FWD_CORE"
	taskset -c $FWD_CORE "$LBB" $LB_ARGS | grep -v '^ROW'
	echo
	if perf stat -e instructions -x, true 2>&1 | grep -q '^[0-9]'; then
		echo "== Instructions per packet (perf stat -e instructions: difference of two runs, 2M - 1M packets)"
		for m in ipip l2dsr; do
			for k in est new; do
				local a b
				a=$(perf stat -e instructions -x, "$LBB" --mode $m --flows 1000 --kind $k --runs 1 --packets 1000000 2>&1 >/dev/null | awk -F, '/instructions/ {print $1}')
				b=$(perf stat -e instructions -x, "$LBB" --mode $m --flows 1000 --kind $k --runs 1 --packets 2000000 2>&1 >/dev/null | awk -F, '/instructions/ {print $1}')
				# each run also does a reset-only pass of the same length
				printf "   %-6s %-4s 1000 flows: %s instructions per packet (process + 2 x reset)\n" $m $k \
					"$(awk "BEGIN {printf \"%.0f\", ($b - $a) / 1000000}")"
			done
		done
	elif command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
		echo "== Instructions per packet (callgrind; perf stat has no instruction counter here). 1000 flows, 100000 packets."
		echo "   Counted inside the timed loops only: process = sy_bench_lb_loop - sy_bench_reset_loop (the frame reset)."
		echo "   Build: $(python3 -c 'import json,sys; o={x["name"]:x["value"] for x in json.load(open(sys.argv[1]))}; print("buildtype=%s optimization=%s b_ndebug=%s" % (o["buildtype"], o["optimization"], o["b_ndebug"]))' "$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null)"
		for m in ipip gue l2dsr; do
			for k in est new; do
				out=$WORK/cg.$m.$k
				n=100000
				valgrind --tool=callgrind --callgrind-out-file="$out" \
					--toggle-collect=sy_bench_lb_loop --toggle-collect=sy_bench_reset_loop \
					"$LBB" --mode $m --flows 1000 --kind $k --runs 1 --packets $n >/dev/null 2>&1
				ir=$(callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk '/:sy_bench_lb_loop / {gsub(",", "", $1); print $1; exit}')
				reset=$(callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk '/:sy_bench_reset_loop / {gsub(",", "", $1); print $1; exit}')
				printf "   %-6s %-4s %6.0f instructions/packet (process+reset %.0f, reset %.0f)\n" $m $k \
					"$(awk "BEGIN {print (${ir:-0} - ${reset:-0}) / $n}")" \
					"$(awk "BEGIN {print ${ir:-0} / $n}")" "$(awk "BEGIN {print ${reset:-0} / $n}")"
				if [ $m = ipip ] && [ $k = est ]; then
					cp "$out" "$WORK/cg.keep"
				fi
			done
		done
		echo
		echo "   Where the instructions go (ipip, est; exclusive Ir per packet, top functions):"
		callgrind_annotate "$WORK/cg.keep" 2>/dev/null | awk -v n=100000 '
			/file:function/ {go=1; next}
			go && /^ *[0-9,]+ / {v=$1; gsub(",", "", v); if (v/n < 1) exit;
				f=$0; sub(/^ *[0-9,]+ +\([^)]*\) +/, "", f); sub(/ \[.*\]$/, "", f); sub(/^.*\.\.\//, "", f);
				printf "     %6.1f  %s\n", v/n, f; if (++c == 14) exit}'
	else
		echo "== Instructions per packet: neither perf stat (instructions) nor valgrind available; skipped"
	fi
}

# Other processes competing for the cores make every figure here lower and
# noisier: say who they were.
show_load() {
	echo "load ($1): $(cut -d' ' -f1-3 /proc/loadavg); busiest other processes (%CPU since start, command):"
	ps -eo pid=,ppid=,pcpu=,args= --sort=-pcpu | awk -v me=$$ '$1 != me && $2 != me && $3 >= 5 {
		printf "   %5s%%  ", $3; for (i = 4; i <= NF && i < 9; i++) printf "%s ", $i; print ""; if (++n == 4) exit}'
	# and the host's state on the forwarder's core: its clock and what a
	# line of memory costs (perf/host_state.h), which move the ratios
	if [ -x "$BUILD/perf/host_state" ]; then
		taskset -c $FWD_CORE "$BUILD/perf/host_state" --when "$1"
	else
		echo "host ($1): not measured ($BUILD/perf/host_state missing: ninja -C $BUILD)"
	fi
}

# A round's host: one host_state round on the forwarder's core, its HOST
# line printed; L3 = its 4 MB chase, SHARED = 0 if quiet, 1 if shared
# (perf/host_state.h), both empty if not measured.
host_round() {
	local line
	L3= SHARED=
	[ -x "$BUILD/perf/host_state" ] || return 0
	line=$(taskset -c $FWD_CORE "$BUILD/perf/host_state" --rounds 1 --when "$1" | grep '^HOST ')
	echo "   $line"
	L3=$(sed -n 's/.* chase4mb=\([0-9.]*\).*/\1/p' <<<"$line")
	case $line in
	*state=quiet*) SHARED=0 ;;
	*state=shared*) SHARED=1 ;;
	esac
}

echo "bench_dataplane.sh: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ //'), build $BUILD"
show_load start
[ $SKIP_IO -eq 0 ] && io_bench
[ -n "$PGD_SRC" ] && pgd_io_bench
[ $SKIP_LB -eq 0 ] && lb_bench
echo
show_load end
exit 0
