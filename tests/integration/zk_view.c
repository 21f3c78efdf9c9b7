/* SPDX-License-Identifier: BSD-3-Clause
 *
 * ZooKeeper's own view of a service for test_resolve_zk.sh, through the C
 * client's raw calls (not control/registry/zk_client.c, the code under test):
 *
 *   zk_view HOST:PORT PATH
 *
 * prints the revision the resolver should reach, the zxid of the latest
 * change (the znode's pzxid, or a child's mzxid if later), then the
 * children, one a line. Exit 1 if ZooKeeper cannot be read within 5 s.
 */
#define THREADED 1
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include <zookeeper/zookeeper.h>

int main(int argc, char **argv)
{
	struct String_vector sv = { 0, NULL };
	struct Stat st;
	int64_t rev;
	zhandle_t *zh;
	int rc = ZCONNECTIONLOSS;

	if (argc != 3) {
		fprintf(stderr, "usage: zk_view HOST:PORT PATH\n");
		return 2;
	}
	zoo_set_debug_level(0);
	zh = zookeeper_init(argv[1], NULL, 5000, NULL, NULL, 0);
	for (int i = 0; zh && i < 100 && zoo_state(zh) != ZOO_CONNECTED_STATE; i++)
		usleep(50000);
	if (zh && zoo_state(zh) == ZOO_CONNECTED_STATE)
		rc = zoo_get_children2(zh, argv[2], 0, &sv, &st);
	if (rc != ZOK) {
		fprintf(stderr, "zk_view: %s: %s\n", argv[2], zerror(rc));
		if (zh)
			zookeeper_close(zh);
		return 1;
	}
	rev = st.pzxid;
	for (int i = 0; i < sv.count; i++) {
		char path[1024];
		struct Stat cs;

		snprintf(path, sizeof(path), "%s/%s", argv[2], sv.data[i]);
		if (zoo_exists(zh, path, 0, &cs) == ZOK && cs.mzxid > rev)
			rev = cs.mzxid;
	}
	printf("%" PRId64 "\n", rev);
	for (int i = 0; i < sv.count; i++)
		printf("%s\n", sv.data[i]);
	deallocate_String_vector(&sv);
	zookeeper_close(zh);
	return 0;
}
