-- SPDX-License-Identifier: BSD-3-Clause
--
-- Pktgen-DPDK Lua script: 64-byte UDP to a Switchyard VIP from 1, 1000 or
-- ~1M flows, a timed run per profile, tx and rx Mpps printed at the end.
-- For real NICs (Pktgen 22.x / 23.x Lua API); perf/bench_dataplane.sh does
-- the same over net_memif with build/perf/sy-pktgen and needs no Pktgen.
--
-- Run (generator host; core 0 = Pktgen's main lcore, core 1 receives and
-- core 2 transmits on port 0):
--
--   pktgen -l 0-2 -n 4 -a <PCI of port 0> -- -P -m "[1:2].0" -f perf/pktgen/switchyard.lua
--
-- or, from the Pktgen prompt:  load perf/pktgen/switchyard.lua
--
-- Edit the settings below first: lb_mac is the load balancer port's MAC.
-- The load balancer is one-armed and sends to its backends' MACs: to count
-- its output here, publish a service whose backend MACs are this
-- generator's port MAC, e.g. with build/tests/tools/sy-publish:
--   service bench udp 198.18.100.1 53 ipip m=65537 seed=7 src4=198.18.0.1
--   backend bench 198.18.1.1 53 <generator port MAC> 1
--   backend bench 198.18.1.2 53 <generator port MAC> 1
-- Only RFC 2544 benchmarking addresses are used (198.18.0.0/15).
--
-- In range mode every field steps once per packet, so the number of
-- distinct flows is the least common multiple of the address and port
-- counts: 65521 (a prime) addresses x 16 ports = 1,048,336 flows.

package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;../?.lua"
require "Pktgen"

local unpack = table.unpack or unpack -- Lua 5.3/5.4 or LuaJIT

local port     = "0"
local lb_mac   = "02:00:00:00:00:aa"  -- the load balancer port (edit)
local vip      = "198.18.100.1"
local vip_port = 53
local size     = 64                   -- frame size with FCS
local duration = 10000                -- ms of traffic per profile
local settle   = 2000                 -- ms before reading counters

-- name, first/last source address, address step, first/last source port, port step
local profiles = {
	{ "1 flow",       "198.18.0.1", "198.18.0.1",     "0.0.0.0", 1024, 1024, 0 },
	{ "1000 flows",   "198.18.0.1", "198.18.3.232",   "0.0.0.1", 1024, 1024, 0 },
	{ "~1M flows",    "198.18.0.1", "198.18.255.241", "0.0.0.1", 1024, 1039, 1 },
}

local function setup_common()
	pktgen.stop(port)
	pktgen.set_type(port, "ipv4")
	pktgen.set_proto(port, "udp")
	pktgen.set(port, "size", size)
	pktgen.set(port, "rate", 100)
	pktgen.set(port, "count", 0)
	pktgen.set(port, "burst", 64)
	pktgen.set_mac(port, "dst", lb_mac)
	pktgen.set_ipaddr(port, "dst", vip)
	pktgen.set_ipaddr(port, "src", "198.18.0.1/16")

	pktgen.range.ip_proto(port, "udp")
	pktgen.range.pkt_size(port, "start", size)
	pktgen.range.pkt_size(port, "min", size)
	pktgen.range.pkt_size(port, "max", size)
	pktgen.range.pkt_size(port, "inc", 0)
	pktgen.range.dst_mac(port, "start", lb_mac)
	pktgen.range.dst_mac(port, "min", lb_mac)
	pktgen.range.dst_mac(port, "max", lb_mac)
	pktgen.range.dst_mac(port, "inc", "00:00:00:00:00:00")
	pktgen.range.dst_ip(port, "start", vip)
	pktgen.range.dst_ip(port, "min", vip)
	pktgen.range.dst_ip(port, "max", vip)
	pktgen.range.dst_ip(port, "inc", "0.0.0.0")
	pktgen.range.dst_port(port, "start", vip_port)
	pktgen.range.dst_port(port, "min", vip_port)
	pktgen.range.dst_port(port, "max", vip_port)
	pktgen.range.dst_port(port, "inc", 0)
end

local function run_profile(p)
	local name, ip_min, ip_max, ip_inc, sp_min, sp_max, sp_inc = unpack(p)

	pktgen.range.src_ip(port, "start", ip_min)
	pktgen.range.src_ip(port, "min", ip_min)
	pktgen.range.src_ip(port, "max", ip_max)
	pktgen.range.src_ip(port, "inc", ip_inc)
	pktgen.range.src_port(port, "start", sp_min)
	pktgen.range.src_port(port, "min", sp_min)
	pktgen.range.src_port(port, "max", sp_max)
	pktgen.range.src_port(port, "inc", sp_inc)
	pktgen.set_range(port, "on")

	pktgen.clr()
	pktgen.delay(500)
	pktgen.start(port)
	pktgen.delay(duration)
	pktgen.stop(port)
	pktgen.delay(settle)

	local st = pktgen.portStats(port, "port")[tonumber(port)]
	local secs = math.floor(duration / 1000)
	printf("switchyard %-11s tx %8.3f Mpps  rx %8.3f Mpps  (tx %d rx %d packets in %d s)\n",
	       name, st.opackets / secs / 1e6, st.ipackets / secs / 1e6,
	       st.opackets, st.ipackets, secs)
end

setup_common()
for _, p in ipairs(profiles) do
	run_profile(p)
end
printf("switchyard: done (rx counts only what the load balancer sent back to this port)\n")
