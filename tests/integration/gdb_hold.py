# gdb -batch -nx -x gdb_hold.py, with SY_PID, SY_READY and SY_HOLD (and
# optionally SY_BREAK) in the environment: attach to process SY_PID in
# non-stop mode, stop the first thread that enters function SY_BREAK
# (default rte_pktmbuf_copy: pdump's copy of a frame for a capture,
# test_capture.sh; sy_ct_sweep: a worker between two rounds' bursts,
# test_memif_peer_leaves.sh) and hold it there SY_HOLD seconds while the
# other threads run on; then detach. Touches SY_READY once every thread
# runs and the breakpoint is in.
import os
import time

import gdb

pid, ready, hold = int(os.environ["SY_PID"]), os.environ["SY_READY"], float(os.environ["SY_HOLD"])
other_stops = []
gdb.events.stop.connect(
    lambda ev: other_stops.append(ev) if not isinstance(ev, gdb.BreakpointEvent) else None)
for c in ("set pagination off", "set confirm off", "set non-stop on", "attach %d" % pid):
    gdb.execute(c)
bp = gdb.Breakpoint(os.environ.get("SY_BREAK", "rte_pktmbuf_copy"))
# In non-stop mode every thread but the first reports the attach's stop on
# its own, later, and stays stopped until resumed: a thread held so would
# be, say, the one answering dpdk-dumpcap. Resume until each has reported.
others = len(gdb.selected_inferior().threads()) - 1
gdb.execute("continue -a")
t0 = time.time()
while len(other_stops) < others and time.time() - t0 < 20:
    gdb.execute("continue -a")
open(ready, "w").close()
while not bp.hit_count and time.time() - t0 < 40:
    gdb.execute("continue -a")
if not bp.hit_count:
    print("never hit")
    gdb.execute("detach")
    raise SystemExit(1)
print("held at %.3f s (%d threads resumed first)" % (time.time() - t0, len(other_stops)), flush=True)
time.sleep(hold)
bp.delete()
let_go = time.time()  # before the detach, which lets the thread go
gdb.execute("detach")
print("let go at %.3f s (epoch %.3f)" % (let_go - t0, let_go), flush=True)
