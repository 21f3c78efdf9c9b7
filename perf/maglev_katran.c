/* SPDX-License-Identifier: BSD-3-Clause
 * Katran's MaglevHashV2 as a peer: see perf/maglev_katran.h. */
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maglev_katran.h"

#ifndef SY_KATRAN_SHIM
#error "meson passes the path of perf/maglev_katran_shim.cpp as SY_KATRAN_SHIM"
#endif

/* What the shim needs from a checkout, relative to its top directory: the
 * sources compiled, then the headers they include (for the up-to-date check). */
static const char *const katran_sources[] = {
	"katran/lib/MaglevHashV2.cpp",
	"katran/lib/MaglevBase.cpp",
	"katran/lib/MurmurHash3.cpp",
};
static const char *const katran_headers[] = {
	"katran/lib/MaglevHashV2.h",
	"katran/lib/MaglevBase.h",
	"katran/lib/CHHelpers.h",
	"katran/lib/MurmurHash3.h",
};
#define N_SOURCES (sizeof(katran_sources) / sizeof(katran_sources[0]))
#define N_HEADERS (sizeof(katran_headers) / sizeof(katran_headers[0]))

/* out = "dir/name"; -1 if it does not fit. */
static int path_of(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* The i-th file the shim needs from a checkout: sources, then headers. */
static const char *katran_file(size_t i)
{
	return i < N_SOURCES ? katran_sources[i] : katran_headers[i - N_SOURCES];
}

/* Runs argv (no shell) and waits; 0 if it exited with status 0. */
static int run(char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* The stamp beside the shared object names the checkout it was built from. */
static int same_checkout(const char *stamp, const char *top)
{
	char line[PATH_MAX + 2] = "";
	FILE *f = fopen(stamp, "r");
	int same;

	if (!f)
		return 0;
	if (fgets(line, sizeof(line), f))
		line[strcspn(line, "\n")] = '\0';
	same = strcmp(line, top) == 0;
	fclose(f);
	return same;
}

static int up_to_date(const char *so, const char *stamp, const char *top)
{
	struct stat out, in;
	char path[PATH_MAX];

	if (stat(so, &out) || !same_checkout(stamp, top) || stat(SY_KATRAN_SHIM, &in) ||
	    in.st_mtime > out.st_mtime)
		return 0;
	for (size_t i = 0; i < N_SOURCES + N_HEADERS; i++)
		if (path_of(path, sizeof(path), top, katran_file(i)) || stat(path, &in) ||
		    in.st_mtime > out.st_mtime)
			return 0;
	return 1;
}

static int compile(const char *top, const char *outdir, const char *so, const char *stamp)
{
	char src[N_SOURCES][PATH_MAX], tmp[PATH_MAX], inc[PATH_MAX + 2];
	const char *cxx = getenv("CXX") && *getenv("CXX") ? getenv("CXX") : "g++";
	char *argv[16 + N_SOURCES];
	int a = 0;
	FILE *f;

	if (mkdir(outdir, 0755) && errno != EEXIST) {
		fprintf(stderr, "katran: cannot create %s: %s\n", outdir, strerror(errno));
		return -1;
	}
	if (path_of(tmp, sizeof(tmp), outdir, "libsy_katran_maglev.so.tmp"))
		return -1;
	snprintf(inc, sizeof(inc), "-I%s", top);
	argv[a++] = (char *)cxx;
	argv[a++] = "-O2";
	argv[a++] = "-std=c++17";
	argv[a++] = "-fPIC";
	argv[a++] = "-shared";
	argv[a++] = inc;
	argv[a++] = "-o";
	argv[a++] = tmp;
	argv[a++] = (char *)SY_KATRAN_SHIM;
	for (size_t i = 0; i < N_SOURCES; i++) {
		if (path_of(src[i], sizeof(src[i]), top, katran_sources[i]))
			return -1;
		argv[a++] = src[i];
	}
	argv[a] = NULL;
	printf("katran: compiling:");
	for (int i = 0; i < a; i++)
		printf(" %s", argv[i]);
	printf("\n");
	fflush(stdout);
	if (run(argv)) {
		fprintf(stderr, "katran: the compiler failed (see above)\n");
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, so)) {
		fprintf(stderr, "katran: rename %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	f = fopen(stamp, "w");
	if (!f || fprintf(f, "%s\n", top) < 0 || fclose(f)) {
		fprintf(stderr, "katran: cannot write %s\n", stamp);
		return -1;
	}
	return 0;
}

sy_katran_maglev_fn sy_katran_maglev_load(const char *dir)
{
	char top[PATH_MAX], self[PATH_MAX], outdir[PATH_MAX], so[PATH_MAX],
		stamp[PATH_MAX], probe[PATH_MAX];
	ssize_t len;
	void *lib;
	sy_katran_maglev_fn fn;

	if (!realpath(dir, top)) {
		fprintf(stderr, "--katran %s: %s\n", dir, strerror(errno));
		return NULL;
	}
	for (size_t i = 0; i < N_SOURCES + N_HEADERS; i++) {
		if (path_of(probe, sizeof(probe), top, katran_file(i)) || access(probe, R_OK)) {
			fprintf(stderr, "--katran %s: no %s (expected a checkout of "
				"https://github.com/facebookincubator/katran)\n", dir, probe);
			return NULL;
		}
	}
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0) {
		fprintf(stderr, "katran: /proc/self/exe: %s\n", strerror(errno));
		return NULL;
	}
	self[len] = '\0';
	if (path_of(outdir, sizeof(outdir), dirname(self), "katran-maglev") ||
	    path_of(so, sizeof(so), outdir, "libsy_katran_maglev.so") ||
	    path_of(stamp, sizeof(stamp), outdir, "checkout")) {
		fprintf(stderr, "katran: path of the build directory too long\n");
		return NULL;
	}
	if (up_to_date(so, stamp, top))
		printf("katran: using %s (built from %s)\n", so, top);
	else if (compile(top, outdir, so, stamp))
		return NULL;
	lib = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "katran: %s\n", dlerror());
		return NULL;
	}
	fn = (sy_katran_maglev_fn)dlsym(lib, "sy_katran_maglev_v2");
	if (!fn)
		fprintf(stderr, "katran: %s\n", dlerror());
	return fn;
}
