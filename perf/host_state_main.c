/* SPDX-License-Identifier: BSD-3-Clause
 *
 * host_state [--when LABEL] [--rounds R]: the host line of host_state.h, for
 * a script's run (perf/bench_dataplane.sh prints it at its start and end).
 * Run it pinned where the figures it goes with run (taskset -c N).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_state.h"

static int usage(void)
{
	fprintf(stderr, "usage: host_state [--when LABEL] [--rounds R (1..9)]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "when", required_argument, NULL, 'w' },
		{ "rounds", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *when = "now";
	struct sy_host_state h;
	long rounds = 3;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			when = optarg;
			/* one word: the HOST line is key=value pairs */
			if (!*when || strpbrk(when, " \t\n="))
				return fprintf(stderr, "host_state: --when takes one word, not \"%s\"\n",
					       when), 2;
			break;
		case 'r':
			rounds = strtol(optarg, &end, 10);
			if (*end || rounds < 1 || rounds > 9)
				return usage();
			break;
		default:
			return usage();
		}
	}
	if (optind != argc)
		return usage();
	if (sy_host_state_measure(&h, (int)rounds)) {
		fprintf(stderr, "host_state: out of memory for its tables (133 MB)\n");
		return 1;
	}
	sy_host_state_print(stdout, when, &h);
	return 0;
}
