/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A worker's memory of first fragments: see frag_table.h.
 */
#include <string.h>

#include <switchyard/jhash.h>

#include "frag_table.h"

_Static_assert(sizeof(struct sy_frag_key) % 4 == 0, "hashed as words");
_Static_assert((SY_FRAG_SETS & (SY_FRAG_SETS - 1)) == 0, "a mask picks the set");

uint32_t sy_frag_table_set_of(const struct sy_frag_key *key)
{
	return sy_jhash_words((const uint32_t *)key, sizeof(*key) / 4, 0) & (SY_FRAG_SETS - 1);
}

static inline struct sy_frag_entry *set_of(const struct sy_frag_table *t,
					   const struct sy_frag_key *key)
{
	return (struct sy_frag_entry *)&t->e[sy_frag_table_set_of(key) * SY_FRAG_WAYS];
}

static inline uint32_t timeout_ms(const struct sy_frag_table *t)
{
	return t->timeout_ms ? t->timeout_ms : SY_FRAG_TIMEOUT_MS_DEFAULT;
}

/* Live: expires within (now, now + timeout]. Any other distance is an
 * expired entry, also one left so long that the 32-bit tick came round. */
static inline int live(const struct sy_frag_table *t, const struct sy_frag_entry *e,
		       uint32_t now)
{
	return e->expires && e->expires - now - 1 < timeout_ms(t);
}

int sy_frag_table_lookup(const struct sy_frag_table *t, const struct sy_frag_key *key,
			 uint32_t now, struct sy_frag_ports *ports)
{
	const struct sy_frag_entry *s = set_of(t, key);

	for (uint32_t i = 0; i < SY_FRAG_WAYS; i++)
		if (live(t, &s[i], now) && !memcmp(&s[i].key, key, sizeof(*key))) {
			*ports = s[i].ports;
			return 1;
		}
	return 0;
}

void sy_frag_table_insert(struct sy_frag_table *t, const struct sy_frag_key *key,
			  struct sy_frag_ports ports, uint32_t now)
{
	struct sy_frag_entry *s = set_of(t, key), *victim = NULL;
	uint32_t exp = now + timeout_ms(t);

	for (uint32_t i = 0; i < SY_FRAG_WAYS; i++) {
		struct sy_frag_entry *e = &s[i];

		if (!live(t, e, now)) {
			if (!victim || live(t, victim, now))
				victim = e;
			continue;
		}
		if (!memcmp(&e->key, key, sizeof(*key))) {
			victim = e;
			break;
		}
		if (!victim || (live(t, victim, now) && e->expires - now < victim->expires - now))
			victim = e;
	}
	victim->key = *key;
	victim->ports = ports;
	victim->expires = exp ? exp : 1;
}
