/* SPDX-License-Identifier: BSD-3-Clause
 *
 * libFuzzer target: syctl's command line (control/cli/syctl.c,
 * control/cli/syctl_register.c and control/cli/syctl_fleet.c, compiled here
 * unchanged with main() renamed):
 * the global options, every command's argument checks, the request each
 * command builds, and the printers of sy-control's answers. The transport
 * is replaced: sy_http_request() (syctl_http.c, libcurl) is a stub that
 * records the request and answers with a status and body taken from the
 * input; the registry kinds' agents (syctl_register_<name>(), network
 * agents) are stubs that check their arguments, and so are syctl_top() and
 * syctl_import_ipvs().
 * Arguments run in a private temporary directory holding the files "key" (a
 * registration key) and "token" (an API token) that inputs can name.
 *
 * Input: byte 0 picks the answer's status (none = unreachable, none with
 * EACCES = permission denied on the socket, 200, 204, 400, 401, 404, 500);
 * then the arguments, each ended by a NUL, up to an empty one; the rest is
 * the answer's body (JSON or not).
 *
 * Invariants (abort on violation): the exit code is 0..5; a usage error
 * (2) never sent a request; success (0) of an API command needs a 2xx
 * answer; permission denied (4) only after an EACCES or a 401; 5 (the
 * dataplane not running) only from status, after a 2xx; a request path
 * is absolute and goes to /v1/; `register` sends only bodies that parse
 * (sy_registration_parse), and a registry kind's agent is only started
 * with a complete, in-range registration.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define main syctl_main
#include "syctl.c"
#undef main
#include "syctl_register.c"
#include "syctl_fleet.c"

#define MAX_ARGS 32
#define FZ_MAX_INPUT 8192

#define FUZZ_TARGET "fuzz_syctl_args"
#include "fuzz_check.h"

static struct {
	long status;          /* the answer's status; 0 = unreachable */
	const char *body;
	size_t len;
	int requests;         /* sent this input */
	int registers;        /* of which to the embedded registry */
	int bad_register;     /* a registration body that does not parse */
	int agents;           /* etcd/zk agents started */
	bool asked_status;    /* the last request was GET /v1/status */
	char dir[64];
	int cwd;              /* the fuzzer's working directory */
} fz;

/* ---- the transport and the agents, replaced ----------------------------- */

CURLcode curl_global_init(long flags)
{
	(void)flags;
	return CURLE_OK;
}

void curl_global_cleanup(void)
{
}

int sy_http_request(const struct sy_http_target *t, const char *method, const char *path,
		    const char *body, size_t body_len, const char *extra_header,
		    struct sy_http_reply *r)
{
	(void)t;
	(void)extra_header;
	memset(r, 0, sizeof(*r));
	fz.requests++;
	fz.asked_status = !strcmp(method, "GET") && !strcmp(path, "/v1/status");
	CHECK(!strcmp(method, "GET") || !strcmp(method, "POST") || !strcmp(method, "DELETE"),
	      "method %s", method);
	CHECK(path[0] == '/', "path '%s' is not absolute", path);
	if (!strcmp(path, "/v1/register") || !strcmp(path, "/v1/deregister")) {
		struct sy_registration reg;
		char err[256];

		fz.registers++;
		if (sy_registration_parse(body, body_len, &reg, err, sizeof(err)))
			fz.bad_register++;
		/* the agent loops until a signal: end it after this request */
		stop = 1;
	} else {
		CHECK(!strncmp(path, "/v1/", 4), "path '%s' is not the API's", path);
	}
	r->status = fz.status > 0 ? fz.status : 0;
	if (fz.status <= 0) {
		snprintf(r->error, sizeof(r->error), "fuzz: unreachable");
		r->os_errno = fz.status < 0 ? EACCES : ECONNREFUSED;
		return -1;
	}
	r->body = malloc(fz.len + 1);
	if (!r->body)
		abort();
	memcpy(r->body, fz.body, fz.len);
	r->body[fz.len] = 0;
	r->len = fz.len;
	r->json = json_loadb(r->body, r->len, 0, NULL);
	return 0;
}

void sy_http_reply_free(struct sy_http_reply *r)
{
	json_decref(r->json);
	free(r->body);
	r->json = NULL;
	r->body = NULL;
}

static void check_agent(const struct sy_registration *r)
{
	fz.agents++;
	CHECK(r->service[0] && r->port >= 1 && r->weight <= 65535 && r->ttl_s >= 2 &&
		      r->ttl_s <= 3600,
	      "agent started with service '%s' port %u weight %u ttl %u", r->service, r->port,
	      r->weight, r->ttl_s);
}

/* Every registry kind's agent (registry_kinds.h): a stub that takes the
 * URLs of its scheme (the kind's name, or "zk" for ZooKeeper) and checks
 * what syctl_register.c promises it: a complete, in-range registration
 * with its address parsed, and the access options paired. */
static int fake_agent(const char *scheme, const char *url, const struct sy_registration *r,
		      const struct syctl_registry_access *access)
{
	const char *user = access->user, *password_file = access->password_file;

	if (strncmp(url, scheme, strlen(scheme)) || strncmp(url + strlen(scheme), "://", 3))
		return SYCTL_AGENT_NOT_MINE;
	CHECK(!user == !password_file && (!user || *user),
	      "%s agent with user '%s' and password file '%s'", scheme, user ? user : "(none)",
	      password_file ? password_file : "(none)");
	CHECK(!access->cert_file == !access->key_file &&
		      (!access->cert_file || (*access->cert_file && *access->key_file)) &&
		      (!access->ca_file || *access->ca_file),
	      "%s agent with CA '%s', certificate '%s', key '%s'", scheme,
	      access->ca_file ? access->ca_file : "(none)",
	      access->cert_file ? access->cert_file : "(none)",
	      access->key_file ? access->key_file : "(none)");
	CHECK(r->family == 4 || r->family == 6, "%s agent without an address", scheme);
	check_agent(r);
	return 0;
}

#define FAKE_AGENT(ID, name, req, dir, sdesc, kdesc, a, b)                                      \
	int syctl_register_##name(const char *url, const struct sy_registration *r,             \
				  const char *addr, int once,                                   \
				  const struct syctl_registry_access *access)                   \
	{                                                                                       \
		(void)addr;                                                                     \
		(void)once;                                                                     \
		return fake_agent(strcmp(#name, "zookeeper") ? #name : "zk", url, r, access);   \
	}
SY_REGISTRY_KINDS(FAKE_AGENT, ~, ~)
#undef FAKE_AGENT

/* `top` polls and sleeps between frames, `import-ipvs` reads files or
 * stdin: both have argument parsers of their own (tested by syctl_top and
 * import_ipvs); here they are stubs, so that an input cannot block. */
int syctl_top(const struct sy_http_target *t, int json, int argc, char **argv)
{
	(void)t;
	(void)json;
	CHECK(argc >= 1 && !strcmp(argv[0], "top"), "top dispatched for '%s'", argv[0]);
	return 0;
}

/* resolve starts a resolver that reads a registry: its argument parser is
 * tested by resolve_embedded */
int syctl_resolve(int json, int argc, char **argv)
{
	(void)json;
	CHECK(argc >= 1 && !strcmp(argv[0], "resolve"), "resolve dispatched for '%s'", argv[0]);
	return 0;
}

int syctl_import_ipvs(int argc, char **argv)
{
	CHECK(argc >= 1 && !strcmp(argv[0], "import-ipvs"), "import-ipvs dispatched for '%s'",
	      argv[0]);
	return 0;
}

/* ---- the target ----------------------------------------------------------- */

static void cleanup(void)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/key", fz.dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/token", fz.dir);
	unlink(p);
	rmdir(fz.dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE *f;

	(void)argc;
	(void)argv;
	/* a working directory with a key file and a token file the inputs can name */
	char p[128];

	snprintf(fz.dir, sizeof(fz.dir), "/tmp/sy-fuzz-syctl-XXXXXX");
	fz.cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!mkdtemp(fz.dir) || fz.cwd < 0)
		abort();
	atexit(cleanup);
	snprintf(p, sizeof(p), "%s/key", fz.dir);
	f = fopen(p, "w");
	if (!f)
		abort();
	fprintf(f, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
	fclose(f);
	chmod(p, 0600);
	snprintf(p, sizeof(p), "%s/token", fz.dir);
	f = fopen(p, "w");
	if (!f)
		abort();
	fprintf(f, "fuzz-token-0123456789\n");
	fclose(f);
	/* the printers' output is not looked at; stdin is never read */
	if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "r", stdin))
		abort();
	unsetenv("SYCTL_SOCKET");
	return 0;
}

/* Arguments that could make syctl open something that blocks (a FIFO, a
 * terminal) are not worth fuzzing. */
static bool safe_arg(const char *a)
{
	return !strstr(a, "/dev") && !strstr(a, "/proc") && !strstr(a, "/sys") &&
	       !strstr(a, "/run") && !strstr(a, "..");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* -1: no answer, the socket's permissions (EACCES) */
	static const long statuses[] = { 200, 0, 400, 404, 500, 401, 204, -1 };
	static char buf[FZ_MAX_INPUT + 1];
	char *argv[MAX_ARGS + 2];
	int argc = 0, rc;
	size_t off = 1;
	struct sigaction old_term, old_int, old_pipe;
	bool api_cmd;

	if (size < 1 || size > FZ_MAX_INPUT)
		return -1;
	memcpy(buf, data, size);
	buf[size] = 0;
	fz.status = statuses[data[0] & 7];
	argv[argc++] = "syctl";
	while (off < size && argc <= MAX_ARGS) {
		size_t n = strlen(buf + off);

		if (n == 0) { /* the empty argument ends the list */
			off++;
			break;
		}
		if (!safe_arg(buf + off))
			return -1;
		argv[argc++] = buf + off;
		off += n + 1;
	}
	argv[argc] = NULL;
	fz.body = off < size ? buf + off : "";
	fz.len = off < size ? size - off : 0;
	fz.requests = fz.registers = fz.bad_register = fz.agents = 0;
	fz.asked_status = false;
	stop = 0;
	optind = 0; /* a full getopt reset (glibc) */

	sigaction(SIGTERM, NULL, &old_term);
	sigaction(SIGINT, NULL, &old_int);
	sigaction(SIGPIPE, NULL, &old_pipe);
	if (chdir(fz.dir)) /* where "key" and "token" are */
		abort();
	rc = syctl_main(argc, argv);
	if (fchdir(fz.cwd))
		abort();
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);

	CHECK(rc >= 0 && rc <= 5, "exit code %d", rc);
	if (rc == SYCTL_NOT_SERVING)
		CHECK(fz.asked_status && fz.requests == 1 && fz.status >= 200 && fz.status < 300,
		      "exit 5 without a 2xx answer to GET /v1/status (status %ld)", fz.status);
	if (rc == SYCTL_DENIED)
		CHECK(fz.status == -1 || fz.status == 401, "permission denied with status %ld",
		      fz.status);
	if (rc == SYCTL_USAGE)
		CHECK(fz.requests == 0, "a usage error after %d request(s)", fz.requests);
	CHECK(fz.bad_register == 0, "register sent a body that does not parse");
	api_cmd = fz.requests > 0 && fz.registers == 0;
	if (rc == 0 && api_cmd)
		CHECK(fz.status >= 200 && fz.status < 300, "success with status %ld", fz.status);
	return 0;
}
