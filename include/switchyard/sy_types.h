/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Fixed-width types and a few attributes for headers that are shared by
 * userspace C (control plane, dataplane, tests) and BPF programs built with
 * `clang -target bpf`, where no libc headers are available.
 */
#ifndef SWITCHYARD_SY_TYPES_H
#define SWITCHYARD_SY_TYPES_H

#if defined(__bpf__)
#include <linux/types.h>
typedef __u8 uint8_t;
typedef __u16 uint16_t;
typedef __u32 uint32_t;
typedef __u64 uint64_t;
typedef __s32 int32_t;
typedef __s64 int64_t;
#ifndef NULL
#define NULL ((void *)0)
#endif
#else
#include <stdint.h>
#include <stddef.h>
#endif

#define __sy_always_inline inline __attribute__((always_inline))

/* Every Switchyard host and its BPF program read multi-byte packet fields as
 * little-endian words (x86_64, aarch64 and BPF on them). The flow hash and the
 * Maglev identities depend on that, so refuse to build elsewhere rather than
 * silently hashing differently from the rest of the fleet. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "Switchyard's flow hash is defined for little-endian hosts only"
#endif

#endif
