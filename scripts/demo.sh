#!/bin/bash
# The demo command. Installs the packages and builds everything. The full
# end-to-end demo (namespaces, backends registering with the embedded
# registry, curl through the VIP) arrives with the control plane (issue 4);
# until then it shows the Maglev distribution of a sample service.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
echo
echo "Switchyard is built. The end-to-end demo arrives with the control plane (sy-control);"
echo "meanwhile, Maglev table build times and lookup rates on this machine:"
echo
./build/perf/maglev_bench --quick
