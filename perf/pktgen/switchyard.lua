-- SPDX-License-Identifier: BSD-3-Clause
--
-- Pktgen-DPDK Lua script: 64-byte UDP (or TCP) frames to a Switchyard VIP
-- from N distinct flows, sent for a bounded time; prints tx and rx Mpps per
-- second, the average over the measured seconds and one machine-readable
-- line per flow count, the same rows as build/perf/sy-pktgen:
--
--   RESULT tx_mpps=... rx_mpps=... flows=N proto=udp seconds=...
--
-- Tested with Pktgen-DPDK 23.03.0 built against DPDK 22.11 (see
-- perf/README.md). perf/bench_dataplane.sh --pktgen DIR runs it over
-- net_memif against dpdk-testpmd and sy-dataplane. On a real NIC (core 0 =
-- Pktgen's main lcore, core 1 receives and transmits on port 0):
--
--   SY_PKTGEN_DST_MAC=<load balancer MAC> SY_PKTGEN_FLOWS="1 1000 1000000" \
--     pktgen -l 0-1 -n 4 -a <PCI of port 0> -- -P -m "1.0" -f perf/pktgen/switchyard.lua
--
-- Settings, from the environment (defaults in brackets):
--   SY_PKTGEN_FLOWS     flow counts to run, one run each ["1 1000 1000000"]
--   SY_PKTGEN_DURATION  measured seconds per run, 0 = only set up the flows of
--                       the first count and return to the prompt [10]
--   SY_PKTGEN_WARMUP    seconds sent before measuring (flows get tracked) [1]
--   SY_PKTGEN_DST_MAC   the load balancer port's MAC [02:00:00:00:00:02]
--   SY_PKTGEN_VIP       [198.18.100.1]   SY_PKTGEN_VPORT [53 for udp, 80 for tcp]
--   SY_PKTGEN_PROTO     udp or tcp [udp]  SY_PKTGEN_SIZE frame bytes with FCS [64]
--   SY_PKTGEN_PORT      Pktgen port number [0]
--   SY_PKTGEN_BURST     packets per transmit burst [64]
--   SY_PKTGEN_QUIT      1 = quit Pktgen when done (for scripts) [0]
--   SY_PKTGEN_LINGER    with QUIT: before quitting, print "switchyard: idle"
--                       and wait up to this many seconds [0] for
--   SY_PKTGEN_STOP_FILE to exist: the driver stops the load balancer first
--                       (net_memif in DPDK 22.11 can crash the side that
--                       stops second while the other is in rx/tx)
--
-- Flows, as sy-pktgen numbers them: source addresses from 198.18.0.0 and
-- source ports from 1024. Pktgen's range mode steps every field once per
-- packet, so A addresses and P ports give lcm(A, P) distinct flows; N flows
-- are laid out as A x P = N with A and P coprime (1000 = 1000 x 1,
-- 1000000 = 15625 x 64), each flow recurring every N packets, as sy-pktgen's
-- round robin does.
--
-- A limit of Pktgen 23.03: range mode builds its frames once, into the
-- mbufs of its range pool (pktgen.info.maxMbufsPerPort = 24576, a
-- compile-time size, one pool per tx queue), and then sends those frames in
-- turn. With one tx queue at most 24576 distinct flows go out: above that,
-- the first 24576 flows of the layout. (Measured: 1,000,000 flows into a
-- pcap port gave 24576 distinct flows, every one of them in each 24576
-- consecutive frames; 1000 flows gave all 1000 in each 1000 frames.) The
-- script says so and prints distinct_flows= in its RESULT line.
--
-- The load balancer is one-armed and sends to its backends' MACs: on a real
-- NIC, to count its output here, publish backends whose MAC is this port's
-- (shown by Pktgen), e.g. with build/tests/tools/sy-publish:
--   service bench udp 198.18.100.1 53 ipip m=65537 seed=7 src4=198.18.0.1
--   backend bench 198.18.1.1 53 <generator port MAC> 1
-- and run sy-dataplane with --exception-tap off. Only RFC 2544 benchmarking
-- addresses are used (198.18.0.0/15).

local function env(name, default)
	local v = os.getenv(name)
	if v == nil or v == "" then
		return default
	end
	return v
end

local function out(fmt, ...)
	io.write(string.format(fmt, ...))
	io.flush()
end

local port     = env("SY_PKTGEN_PORT", "0")
local pid      = tonumber(port)
local proto    = env("SY_PKTGEN_PROTO", "udp")
local dst_mac  = env("SY_PKTGEN_DST_MAC", "02:00:00:00:00:02")
local vip      = env("SY_PKTGEN_VIP", "198.18.100.1")
local vport    = tonumber(env("SY_PKTGEN_VPORT", proto == "tcp" and "80" or "53"))
local size     = tonumber(env("SY_PKTGEN_SIZE", "64"))
local duration = tonumber(env("SY_PKTGEN_DURATION", "10"))
local warmup   = tonumber(env("SY_PKTGEN_WARMUP", "1"))
local quit     = env("SY_PKTGEN_QUIT", "0") == "1"
local linger   = tonumber(env("SY_PKTGEN_LINGER", "0"))
local stop_file = env("SY_PKTGEN_STOP_FILE", nil)
local src_base = 0xc6120000 -- 198.18.0.0, sy-pktgen's --src-ip
local sport0   = 1024       -- sy-pktgen's --sport

local function fail(msg)
	out("switchyard.lua: %s\n", msg)
	out("RESULT tx_mpps=0 rx_mpps=0 flows=0 proto=%s seconds=0 error=%s\n", proto,
	    (msg:gsub("[^%w]+", "_")))
	error(msg, 0)
end

local function ip4(v)
	return string.format("%d.%d.%d.%d", (v >> 24) & 255, (v >> 16) & 255, (v >> 8) & 255, v & 255)
end

local function gcd(a, b)
	while b ~= 0 do
		a, b = b, a % b
	end
	return a
end

-- N flows as A addresses x P ports, A and P coprime, A <= 65536 (the /16
-- of sy-pktgen's sources), the fewest ports that do it.
local function layout(n)
	if n <= 65536 then
		return n, 1
	end
	for p = 2, 65535 - sport0 + 1 do
		local a = n // p
		if a * p == n and a <= 65536 and gcd(a, p) == 1 then
			return a, p
		end
		if a < 1 then
			break
		end
	end
	return nil
end

-- Wall clock with sub-millisecond resolution (Lua's os.time has seconds):
-- a fork per call, made between samples, never inside the packet path.
local function now()
	local f = io.popen("date +%s.%N")
	local s = f:read("l")
	f:close()
	return tonumber(s)
end

-- Pktgen's port counters (packets since start-up). Its timer thread copies
-- them from the port (rte_eth_stats_get) once a second, so a change marks
-- a fresh copy; next_refresh waits for one and returns it with its time.
local function port_counts()
	local st = pktgen.portStats(port, "port")[pid]
	return st.opackets, st.ipackets
end

local function next_refresh(timeout_ms)
	local tx0, rx0 = port_counts()
	for _ = 1, timeout_ms // 5 do
		pktgen.delay(5)
		local tx, rx = port_counts()
		if tx ~= tx0 or rx ~= rx0 then
			local t = now()
			pktgen.delay(1) -- the copy is not atomic: read it again once it is done
			tx, rx = port_counts()
			return t, tx, rx
		end
	end
	fail("port counters not refreshed for " .. timeout_ms .. " ms (is traffic flowing?)")
end

local function link_up(timeout_s)
	local t0 = now()
	repeat
		local s = pktgen.linkState(port)[pid]
		if s and s:find("UP") then
			return now() - t0, s
		end
		pktgen.delay(100)
	until now() - t0 > timeout_s
	return nil
end

local function setup(a, p)
	pktgen.stop(port)
	pktgen.set_type(port, "ipv4")
	pktgen.set_proto(port, proto)
	pktgen.set(port, "size", size)
	pktgen.set(port, "rate", 100)
	pktgen.set(port, "count", 0)
	pktgen.set(port, "burst", tonumber(env("SY_PKTGEN_BURST", "64")))
	pktgen.set_mac(port, "dst", dst_mac)
	pktgen.set_ipaddr(port, "dst", vip)
	pktgen.set_ipaddr(port, "src", ip4(src_base) .. "/16")

	pktgen.range.ip_proto(port, proto)
	for _, what in ipairs({ "start", "min", "max" }) do
		pktgen.range.pkt_size(port, what, size)
		pktgen.range.dst_mac(port, what, dst_mac)
		pktgen.range.dst_ip(port, what, vip)
		pktgen.range.dst_port(port, what, vport)
	end
	pktgen.range.pkt_size(port, "inc", 0)
	pktgen.range.dst_mac(port, "inc", "00:00:00:00:00:00")
	pktgen.range.dst_ip(port, "inc", "0.0.0.0")
	pktgen.range.dst_port(port, "inc", 0)

	pktgen.range.src_ip(port, "start", ip4(src_base))
	pktgen.range.src_ip(port, "min", ip4(src_base))
	pktgen.range.src_ip(port, "max", ip4(src_base + a - 1))
	pktgen.range.src_ip(port, "inc", a > 1 and "0.0.0.1" or "0.0.0.0")
	pktgen.range.src_port(port, "start", sport0)
	pktgen.range.src_port(port, "min", sport0)
	pktgen.range.src_port(port, "max", sport0 + p - 1)
	pktgen.range.src_port(port, "inc", p > 1 and 1 or 0)
	pktgen.set_range(port, "on")
end

-- One bounded run: warm-up, then `duration` one-second samples.
local function run(n)
	local a, p = layout(n)
	if a == nil then
		fail(string.format("%d flows cannot be laid out as coprime address x port counts", n))
	end
	setup(a, p)
	local frames = pktgen.info.maxMbufsPerPort
	local distinct = math.min(n, frames)
	out("switchyard: %d flow(s) = %d addresses %s-%s x %d source ports %d-%d -> %s:%d/%s, %d-byte frames to %s\n",
	    n, a, ip4(src_base), ip4(src_base + a - 1), p, sport0, sport0 + p - 1, vip, vport, proto,
	    size, dst_mac)
	if distinct < n then
		out("switchyard: NOTE: Pktgen's range mode sends the %d frames it built into its range pool:"
		    .. " %d distinct flows, not %d\n", frames, distinct, n)
	end
	if duration == 0 then
		out("switchyard: flows set up; \"start %s\" sends, \"stop %s\" stops\n", port, port)
		return
	end

	pktgen.start(port)
	pktgen.delay(warmup * 1000)
	local t0, tx0, rx0 = next_refresh(3000)
	local t_prev, tx_prev, rx_prev = t0, tx0, rx0
	for s = 1, duration do
		local t, tx, rx = next_refresh(3000)
		local dt = t - t_prev
		out("  measure %3ds  tx %8.3f Mpps  rx %8.3f Mpps\n", s,
		    (tx - tx_prev) / dt / 1e6, (rx - rx_prev) / dt / 1e6)
		t_prev, tx_prev, rx_prev = t, tx, rx
	end
	pktgen.stop(port)
	local secs = t_prev - t0
	local tx_mpps = (tx_prev - tx0) / secs / 1e6
	local rx_mpps = (rx_prev - rx0) / secs / 1e6
	pktgen.delay(1500) -- a refresh after the stop: what was still in flight
	local _, rx_end = port_counts()
	out("switchyard: average over %.2f s: tx %.3f Mpps, rx %.3f Mpps (rx/tx %.3f); %d pkts back after the measured seconds\n",
	    secs, tx_mpps, rx_mpps, tx_mpps > 0 and rx_mpps / tx_mpps or 0, rx_end - rx_prev)
	out("RESULT tx_mpps=%.3f rx_mpps=%.3f flows=%d proto=%s seconds=%.2f distinct_flows=%d\n",
	    tx_mpps, rx_mpps, n, proto, secs, distinct)
end

local function main()
	pktgen.screen("off")
	local waited = link_up(10)
	if waited == nil then
		fail("link_down")
	end
	out("switchyard: port %s link up after %.2f s; warmup %d s, then %d s measured per flow count\n",
	    port, waited, warmup, duration)
	for f in env("SY_PKTGEN_FLOWS", "1 1000 1000000"):gmatch("%d+") do
		run(tonumber(f))
		if duration == 0 then
			break
		end
	end
	out("switchyard: done\n")
end

-- Errors end the run too when it is scripted (SY_PKTGEN_QUIT=1): Pktgen
-- would otherwise wait at its prompt.
local ok, err = pcall(main)
if not ok then
	out("switchyard.lua: failed: %s\n", tostring(err))
end
if quit then
	pktgen.stop(port)
	if linger > 0 then
		out("switchyard: idle, waiting up to %d s for %s\n", linger, stop_file or "the time")
		for _ = 1, linger * 20 do
			local f = stop_file and io.open(stop_file, "r")
			if f then
				f:close()
				break
			end
			pktgen.delay(50)
		end
	end
	pktgen.quit()
end
