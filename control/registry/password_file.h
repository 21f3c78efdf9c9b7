/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A registry user's password, read from the file that holds it: etcd's
 * log-in (registry.etcd.password_file, the resolver's etcd_password_file,
 * syctl register --registry-password-file) and ZooKeeper's digest
 * credentials (registry.zookeeper.password_file, the same syctl option).
 */
#ifndef SY_REGISTRY_PASSWORD_FILE_H
#define SY_REGISTRY_PASSWORD_FILE_H

#include <stddef.h>

/* The content of path, trailing newlines dropped, into pw (len bytes, NUL
 * terminated; the caller wipes it with explicit_bzero when done). 0, or -1
 * with the reason in why: unreadable, empty, or longer than len - 1. */
int sy_password_file_read(const char *path, char *pw, size_t len, char *why, size_t whylen);

#endif
