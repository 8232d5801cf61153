/*
 * filter.c - message filters (see filter.h). filter_build() copies every
 * value and name into one allocation, so the caller's struct may go;
 * filter_pass() decodes the record's extension area once with ext_parse(),
 * which bounds every length by the area, and compares. Key-equal terms
 * compare the stored 32-bit hash before the bytes.
 */
#include "filter.h"

#include <stdlib.h>
#include <string.h>

#include "ext.h"
#include "internal.h"

/* Bytes the term's value and name take in the copy; -SHMQ_EFILTER if out of range. */
static int64_t term_bytes(const struct shmq_filter_term *t)
{
	size_t name_len = t->name ? strnlen(t->name, EXT_HEADER_NAME_MAX + 1) : 0;

	switch (t->kind) {
	case SHMQ_FILTER_KEY_EQ:
	case SHMQ_FILTER_KEY_PREFIX:
		if (!t->value || !t->value_len || t->value_len > EXT_KEY_MAX)
			return -SHMQ_EFILTER;
		return t->value_len;
	case SHMQ_FILTER_KEY_HASH:
		if (!t->buckets || t->buckets > (1u << 31) || t->lo > t->hi || t->hi >= t->buckets)
			return -SHMQ_EFILTER;
		return 0;
	case SHMQ_FILTER_HEADER_EQ:
		if ((!t->value && t->value_len) || t->value_len > EXT_HEADER_VALUE_MAX)
			return -SHMQ_EFILTER;
		/* fall through */
	case SHMQ_FILTER_HEADER_HAS:
		if (!name_len || name_len > EXT_HEADER_NAME_MAX)
			return -SHMQ_EFILTER;
		return (int64_t)name_len + 1 +
		       (t->kind == SHMQ_FILTER_HEADER_EQ ? t->value_len : 0);
	case SHMQ_FILTER_CONTENT_TYPE:
		if (!t->value || !t->value_len || t->value_len > EXT_CONTENT_TYPE_MAX)
			return -SHMQ_EFILTER;
		return t->value_len;
	default:
		return -SHMQ_EFILTER;
	}
}

/* Copy term t into out, its bytes at *at. */
static void term_copy(struct filter_term *out, const struct shmq_filter_term *t, uint8_t **at)
{
	*out =
	    (struct filter_term){.kind = t->kind, .buckets = t->buckets, .lo = t->lo, .hi = t->hi};
	if (t->kind == SHMQ_FILTER_HEADER_EQ || t->kind == SHMQ_FILTER_HEADER_HAS) {
		out->name_len = (uint32_t)strlen(t->name);
		memcpy(*at, t->name, out->name_len + 1);
		out->name = (const char *)*at;
		*at += out->name_len + 1;
	}
	if (t->kind == SHMQ_FILTER_KEY_HASH || t->kind == SHMQ_FILTER_HEADER_HAS)
		return;
	out->len = t->value_len;
	if (out->len)
		memcpy(*at, t->value, out->len);
	out->value = *at;
	*at += out->len;
	if (t->kind == SHMQ_FILTER_KEY_EQ)
		out->hash = ext_hash(t->value, t->value_len);
}

int filter_build(const struct shmq_filter *in, struct filter **out)
{
	struct filter *f;
	uint8_t *at;
	int64_t total = 0, n;

	if (!in || !in->terms || !in->nterms || in->nterms > SHMQ_FILTER_MAX_TERMS ||
	    in->match > SHMQ_FILTER_ANY)
		return -SHMQ_EFILTER;
	for (uint32_t i = 0; i < in->nterms; i++) {
		n = term_bytes(&in->terms[i]);
		if (n < 0)
			return (int)n;
		total += n;
	}
	f = calloc(1, sizeof(*f) + (size_t)total);
	if (!f)
		return -SHMQ_ENOMEM;
	f->n = in->nterms;
	f->match = in->match;
	at = f->bytes;
	for (uint32_t i = 0; i < in->nterms; i++)
		term_copy(&f->t[i], &in->terms[i], &at);
	*out = f;
	return 0;
}

/* The copy's pointers point into its own bytes: rebase them. */
struct filter *filter_dup(const struct filter *f)
{
	struct filter *d;
	size_t total = 0;

	if (!f)
		return NULL;
	for (uint32_t i = 0; i < f->n; i++)
		total += f->t[i].len + (f->t[i].name ? f->t[i].name_len + 1 : 0);
	d = malloc(sizeof(*d) + total);
	if (!d)
		return NULL;
	memcpy(d, f, sizeof(*d) + total);
	for (uint32_t i = 0; i < f->n; i++) {
		if (f->t[i].value)
			d->t[i].value = d->bytes + (f->t[i].value - f->bytes);
		if (f->t[i].name)
			d->t[i].name =
			    (const char *)d->bytes + (f->t[i].name - (const char *)f->bytes);
	}
	return d;
}

void filter_free(struct filter *f)
{
	free(f);
}

static bool bytes_eq(const void *a, uint32_t alen, const void *b, uint32_t blen)
{
	return alen == blen && (!alen || !memcmp(a, b, alen));
}

static bool term_pass(const struct filter_term *t, const struct ext_view *v)
{
	struct ext_kv kv;
	bool key = v->present & EXT_KEY;

	switch (t->kind) {
	case SHMQ_FILTER_KEY_EQ:
		return key && v->key_hash == t->hash &&
		       bytes_eq(v->key, v->key_len, t->value, t->len);
	case SHMQ_FILTER_KEY_PREFIX:
		return key && v->key_len >= t->len && !memcmp(v->key, t->value, t->len);
	case SHMQ_FILTER_KEY_HASH:
		return key && v->key_hash % t->buckets >= t->lo &&
		       v->key_hash % t->buckets <= t->hi;
	case SHMQ_FILTER_HEADER_EQ:
		return (v->present & EXT_HEADERS) &&
		       !ext_header_find(v, t->name, t->name_len, &kv) &&
		       bytes_eq(kv.value, kv.value_len, t->value, t->len);
	case SHMQ_FILTER_HEADER_HAS:
		return (v->present & EXT_HEADERS) && !ext_header_find(v, t->name, t->name_len, &kv);
	default: /* SHMQ_FILTER_CONTENT_TYPE */
		return (v->present & EXT_CONTENT_TYPE) &&
		       bytes_eq(v->content_type, v->content_type_len, t->value, t->len);
	}
}

bool filter_pass(const struct filter *f, const void *ext, uint32_t ext_bytes)
{
	struct ext_view v = {0};
	bool any = f->match == SHMQ_FILTER_ANY;

	if (ext_bytes && (!ext || ext_parse(ext, ext_bytes, &v)))
		return false;
	for (uint32_t i = 0; i < f->n; i++)
		if (term_pass(&f->t[i], &v) == any)
			return any;
	return !any;
}
