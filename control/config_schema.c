/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The configuration schema of config_schema.h as data, and a configuration
 * made of every key's example (docs/config-reference.md shows it; the test
 * config_schema loads it).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config_schema.h"

const struct sy_config_section_doc sy_config_sections[] = {
#define SY_SEC(id, path, desc) { path, desc },
	SY_CONFIG_SECTIONS(SY_SEC)
#undef SY_SEC
};
const size_t sy_config_n_sections = sizeof(sy_config_sections) / sizeof(sy_config_sections[0]);

#define SY_ROW(sec, key, type, def, range, example, desc) \
	{ sec, key, SY_CT_##type, def, range, example, desc },
#define SY_SEC(id, path, desc) SY_CONFIG_KEYS_##id(SY_ROW, path)
const struct sy_config_key_doc sy_config_keys[] = { SY_CONFIG_SECTIONS(SY_SEC) };
#undef SY_SEC
#undef SY_ROW
const size_t sy_config_n_keys = sizeof(sy_config_keys) / sizeof(sy_config_keys[0]);

const char *sy_config_type_name(enum sy_config_type t)
{
	switch (t) {
	case SY_CT_STRING:
		return "string";
	case SY_CT_NAME:
		return "name";
	case SY_CT_PATH:
		return "path";
	case SY_CT_INT:
		return "integer";
	case SY_CT_BOOL:
		return "boolean";
	case SY_CT_FRACTION:
		return "number";
	case SY_CT_ENUM:
		return "one of";
	case SY_CT_ADDR:
		return "address";
	case SY_CT_HOSTPORT:
		return "address:port";
	case SY_CT_VIP_PORT:
		return "port or `all`";
	case SY_CT_TABLE_SIZE:
		return "integer (prime)";
	case SY_CT_MAC:
		return "MAC address";
	case SY_CT_PREFIX_LIST:
		return "list of prefixes";
	case SY_CT_URL_LIST:
		return "list of URLs";
	case SY_CT_NAME_LIST:
		return "list of names";
	case SY_CT_MAP:
		return "mapping";
	case SY_CT_MAP_LIST:
		return "list of mappings";
	}
	return "?";
}

const char *sy_config_child_section(const struct sy_config_key_doc *k)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s%s%s%s", k->section, *k->section ? "." : "", k->key,
		 k->type == SY_CT_MAP_LIST ? "[]" : "");
	return buf;
}

static bool is(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* The keys of section at indentation ind; the first line of a sequence item
 * starts with "- " at ind - 2. */
static void emit_section(FILE *out, const char *section, int ind, bool item,
			 const struct sy_config_example_edit *e)
{
	bool first = true;

	for (size_t i = 0; i < sy_config_n_keys; i++) {
		const struct sy_config_key_doc *k = &sy_config_keys[i];
		const char *value = k->example;
		char child[256];

		if (strcmp(k->section, section))
			continue;
		if (is(e->section, section) && is(e->key, k->key)) {
			if (!e->value)
				continue;
			value = e->value;
		} else if (!strcmp(value, SY_CONFIG_NO_EXAMPLE)) {
			continue;
		}
		fprintf(out, "%*s%s%s:", item && first ? ind - 2 : ind, "", item && first ? "- " : "",
			k->key);
		first = false;
		if (value != k->example || (k->type != SY_CT_MAP && k->type != SY_CT_MAP_LIST)) {
			fprintf(out, " %s\n", value);
			continue;
		}
		snprintf(child, sizeof(child), "%s", sy_config_child_section(k));
		fprintf(out, "\n");
		if (k->type == SY_CT_MAP)
			emit_section(out, child, ind + 2, false, e);
		else
			emit_section(out, child, ind + 4, true, e);
	}
	if (is(e->extra_section, section)) {
		fprintf(out, "%*s%s%s: %s\n", item && first ? ind - 2 : ind, "",
			item && first ? "- " : "", e->extra_key,
			e->extra_value ? e->extra_value : "1");
	}
}

void sy_config_example_yaml(FILE *out, const struct sy_config_example_edit *edit)
{
	static const struct sy_config_example_edit none;

	emit_section(out, "", 0, false, edit ? edit : &none);
}
