/* SPDX-License-Identifier: BSD-3-Clause
 * A real sy-control for benchmarks; see bench_sycontrol.h. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_sycontrol.h"
#include "syctl_http.h"

#define KILL_WAIT_MS 5000

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t bench_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void bench_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t bench_pct(const uint64_t *v, size_t n, double q)
{
	size_t r;

	if (!n)
		return 0;
	r = (size_t)ceil(q * (double)n);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return v[r - 1];
}

uint32_t bench_arg_u32(const char *opt, const char *s, uint32_t lo, uint32_t hi)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v < lo || v > hi) {
		fprintf(stderr, "--%s '%s': expected %u..%u\n", opt, s, lo, hi);
		exit(2);
	}
	return (uint32_t)v;
}

void bench_default_sy_control(char *out, size_t n)
{
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (len <= 0) {
		snprintf(out, n, "build/control/sy-control");
		return;
	}
	exe[len] = 0;
	slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	if ((size_t)snprintf(out, n, "%s/../control/sy-control", exe) >= n)
		snprintf(out, n, "build/control/sy-control");
}

static uint16_t free_tcp_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint16_t port = 0;

	if (fd < 0)
		return 0;
	if (!bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Whether something listens on 127.0.0.1:port. */
static bool port_open(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool open_ = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

	if (fd >= 0)
		close(fd);
	return open_;
}

static int fail(struct bench_control *bc, const char *what, const char *why)
{
	snprintf(bc->err, sizeof(bc->err), "%s: %s", what, why);
	return -1;
}

int bench_control_init(struct bench_control *bc, const char *tag)
{
	memset(bc, 0, sizeof(*bc));
	snprintf(bc->dir, sizeof(bc->dir), "/tmp/%s-XXXXXX", tag);
	if (!mkdtemp(bc->dir)) {
		bc->dir[0] = 0;
		return fail(bc, "mkdtemp", strerror(errno));
	}
	snprintf(bc->config, sizeof(bc->config), "%s/switchyard.yaml", bc->dir);
	snprintf(bc->socket, sizeof(bc->socket), "%s/api.sock", bc->dir);
	snprintf(bc->log, sizeof(bc->log), "%s/sy-control.log", bc->dir);
	snprintf(bc->region, sizeof(bc->region), "/dev/shm/switchyard-%s-%d-%s", tag, (int)getpid(),
		 strrchr(bc->dir, '-') + 1);
	if (access(bc->region, F_OK) == 0) {
		bc->region[0] = 0; /* not ours: never remove it */
		return fail(bc, "region file", "already exists");
	}
	bc->reg_port = free_tcp_port();
	if (!bc->reg_port)
		return fail(bc, "no free TCP port on 127.0.0.1", strerror(errno));
	return 0;
}

int bench_control_secret(struct bench_control *bc, const char *name, uint8_t *key, size_t *klen,
			 char *path, size_t path_len)
{
	char hex[2 * 32 + 2];
	int fd;

	*klen = 32;
	if (getrandom(key, *klen, 0) != (ssize_t)*klen)
		return fail(bc, "getrandom", strerror(errno));
	for (size_t i = 0; i < *klen; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	hex[2 * *klen] = '\n';
	hex[2 * *klen + 1] = 0;
	snprintf(path, path_len, "%s/%s", bc->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex)) {
		if (fd >= 0)
			close(fd);
		return fail(bc, path, strerror(errno));
	}
	close(fd);
	return 0;
}

static pid_t spawn(struct bench_control *bc, const char *path, int cpu)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		char *argv[] = { (char *)path, (char *)"--config", bc->config, NULL };
		int fd;

		if (cpu >= 0) {
			cpu_set_t s;

			CPU_ZERO(&s);
			CPU_SET(cpu, &s);
			sched_setaffinity(0, sizeof(s), &s);
		}
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the bench */
		if (getppid() != parent)
			_exit(127);
		fd = open(bc->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, 0);
			close(fd);
		}
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execv(path, argv);
		_exit(127);
	}
	return pid;
}

bool bench_control_alive(struct bench_control *bc)
{
	int st;

	if (!bc->pid)
		return false;
	if (waitpid(bc->pid, &st, WNOHANG) == bc->pid) {
		fprintf(stderr, "sy-control (pid %d) exited: %s %d\n", (int)bc->pid,
			WIFEXITED(st) ? "status" : "signal",
			WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		bc->pid = 0;
		return false;
	}
	return true;
}

int bench_control_start(struct bench_control *bc, const char *sy_control, int cpu,
			unsigned timeout_ms)
{
	uint64_t t0 = bench_now_ns();

	bc->pid = spawn(bc, sy_control, cpu);
	if (bc->pid < 0) {
		bc->pid = 0;
		return fail(bc, "fork", strerror(errno));
	}
	for (;;) {
		struct sy_http_target t = { .socket = bc->socket, .base = "http://localhost",
					    .timeout_ms = 1000 };
		struct sy_http_reply r = { 0 };
		long status = 0;

		if (!bench_control_alive(bc))
			return fail(bc, sy_control, "did not start");
		if (access(bc->socket, F_OK) == 0) {
			sy_http_request(&t, "GET", "/v1/status", NULL, 0, NULL, &r);
			status = r.status;
			sy_http_reply_free(&r);
		}
		/* the registry's listener may come up after the API socket */
		if (status == 200 && port_open(bc->reg_port))
			return 0;
		if (bench_now_ns() - t0 > (uint64_t)timeout_ms * 1000000ull)
			return fail(bc, "sy-control's API socket", "did not answer in time");
		bench_sleep_ms(20);
	}
}

static bool reaped_within(pid_t pid, unsigned ms)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)ms * 1000000ull;
	int st;

	while (bench_now_ns() < deadline) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return true;
		bench_sleep_ms(10);
	}
	return false;
}

void bench_control_stop(struct bench_control *bc, unsigned grace_ms)
{
	if (!bc->pid)
		return;
	kill(bc->pid, SIGTERM);
	if (!reaped_within(bc->pid, grace_ms)) {
		fprintf(stderr, "sy-control (pid %d) did not stop within %u ms: SIGKILL\n",
			(int)bc->pid, grace_ms);
		kill(bc->pid, SIGKILL);
		reaped_within(bc->pid, KILL_WAIT_MS);
	}
	bc->pid = 0;
}

void bench_control_log_tail(const struct bench_control *bc, int lines)
{
	char line[512];
	long n = 0, skip;
	FILE *f;

	if (!bc->log[0] || !(f = fopen(bc->log, "r")))
		return;
	while (fgets(line, sizeof(line), f))
		n++;
	skip = n > lines ? n - lines : 0;
	rewind(f);
	fprintf(stderr, "--- last lines of sy-control's log ---\n");
	for (long i = 0; fgets(line, sizeof(line), f); i++)
		if (i >= skip)
			fputs(line, stderr);
	fclose(f);
}

void bench_control_remove(struct bench_control *bc)
{
	DIR *d;

	bench_control_stop(bc, KILL_WAIT_MS);
	if (bc->region[0])
		unlink(bc->region);
	if (bc->dir[0] && (d = opendir(bc->dir))) {
		struct dirent *e;
		char p[PATH_MAX];

		/* only the files the bench and sy-control wrote: no subdirectories */
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
			    (size_t)snprintf(p, sizeof(p), "%s/%s", bc->dir, e->d_name) < sizeof(p))
				unlink(p);
		closedir(d);
		rmdir(bc->dir);
	}
	bc->dir[0] = bc->region[0] = 0;
}

/* ---- signed registrations -------------------------------------------------- */

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
	struct bench_reg_client *cl = arg;
	size_t add = size * n, room = sizeof(cl->resp) - 1 - cl->rlen;

	memcpy(cl->resp + cl->rlen, p, add < room ? add : room);
	cl->rlen += add < room ? add : room;
	cl->resp[cl->rlen] = 0;
	return add;
}

int bench_reg_init(struct bench_reg_client *cl, uint16_t port, unsigned timeout_ms)
{
	memset(cl, 0, sizeof(*cl));
	cl->c = curl_easy_init();
	if (!cl->c) {
		snprintf(cl->err, sizeof(cl->err), "cannot initialise libcurl");
		return -1;
	}
	snprintf(cl->url_reg, sizeof(cl->url_reg), "http://127.0.0.1:%u/v1/register", port);
	snprintf(cl->url_dereg, sizeof(cl->url_dereg), "http://127.0.0.1:%u/v1/deregister", port);
	curl_easy_setopt(cl->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cl->c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(cl->c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(cl->c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(cl->c, CURLOPT_WRITEDATA, cl);
	curl_easy_setopt(cl->c, CURLOPT_ERRORBUFFER, cl->err);
	curl_easy_setopt(cl->c, CURLOPT_POST, 1L);
	return 0;
}

void bench_reg_free(struct bench_reg_client *cl)
{
	curl_slist_free_all(cl->hdr);
	if (cl->c)
		curl_easy_cleanup(cl->c);
	memset(cl, 0, sizeof(*cl));
}

int bench_reg_prepare(struct bench_reg_client *cl, bool reg, const char *service,
		      const uint8_t *key, size_t klen, uint32_t addr_host, uint16_t port)
{
	struct sy_registration r = { .family = SY_AF_INET, .port = port, .weight = 1 };
	char sig[SY_SIG_HEX_LEN + 1], h[128];

	snprintf(r.service, sizeof(r.service), "%s", service);
	r.addr[0] = htonl(addr_host);
	r.timestamp_ms = bench_wall_ms();
	if (sy_registration_build(&r, key, klen, cl->body, sizeof(cl->body), sig)) {
		snprintf(cl->err, sizeof(cl->err), "cannot build a registration for %s", service);
		return -1;
	}
	snprintf(h, sizeof(h), "X-Switchyard-Signature: %s", sig);
	curl_slist_free_all(cl->hdr);
	cl->hdr = curl_slist_append(NULL, "Content-Type: application/json");
	cl->hdr = curl_slist_append(cl->hdr, "Expect:");
	cl->hdr = curl_slist_append(cl->hdr, h);
	if (!cl->hdr) {
		snprintf(cl->err, sizeof(cl->err), "out of memory");
		return -1;
	}
	curl_easy_setopt(cl->c, CURLOPT_URL, reg ? cl->url_reg : cl->url_dereg);
	curl_easy_setopt(cl->c, CURLOPT_HTTPHEADER, cl->hdr);
	curl_easy_setopt(cl->c, CURLOPT_POSTFIELDS, cl->body);
	curl_easy_setopt(cl->c, CURLOPT_POSTFIELDSIZE, (long)strlen(cl->body));
	cl->rlen = 0;
	cl->resp[0] = 0;
	cl->err[0] = 0;
	return 0;
}

long bench_reg_send(struct bench_reg_client *cl)
{
	long status = 0;
	CURLcode rc = curl_easy_perform(cl->c);

	if (rc != CURLE_OK) {
		if (!cl->err[0])
			snprintf(cl->err, sizeof(cl->err), "%s", curl_easy_strerror(rc));
		return 0;
	}
	curl_easy_getinfo(cl->c, CURLINFO_RESPONSE_CODE, &status);
	return status;
}
