/* A small intrusive hash table with chaining, keyed by a 64-bit hash (htable.h). */
#include "devices/fs/htable.h"
#include "util/util.h"

#define HTABLE_MIN_BUCKETS 64

void htable_init(struct htable *t)
{
	t->nbuckets = HTABLE_MIN_BUCKETS;
	t->buckets = xzalloc(t->nbuckets * sizeof(*t->buckets));
	t->count = 0;
}

void htable_destroy(struct htable *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = t->count = 0;
}

static struct hnode **bucket(const struct htable *t, uint64_t hash)
{
	return &t->buckets[hash & (t->nbuckets - 1)];
}

/* Doubles the bucket array when the table is as full as it is wide. */
static void grow(struct htable *t)
{
	struct hnode **old = t->buckets;
	size_t nold = t->nbuckets;

	t->nbuckets = nold * 2;
	t->buckets = xzalloc(t->nbuckets * sizeof(*t->buckets));
	for (size_t i = 0; i < nold; i++) {
		struct hnode *n = old[i];
		while (n) {
			struct hnode *next = n->next;
			struct hnode **b = bucket(t, n->hash);
			n->next = *b;
			*b = n;
			n = next;
		}
	}
	free(old);
}

void htable_add(struct htable *t, struct hnode *n, uint64_t hash)
{
	if (t->count >= t->nbuckets)
		grow(t);
	struct hnode **b = bucket(t, hash);
	n->hash = hash;
	n->next = *b;
	*b = n;
	t->count++;
}

void htable_del(struct htable *t, struct hnode *n)
{
	for (struct hnode **p = bucket(t, n->hash); *p; p = &(*p)->next) {
		if (*p == n) {
			*p = n->next;
			n->next = NULL;
			t->count--;
			return;
		}
	}
}

struct hnode *htable_first(const struct htable *t, uint64_t hash)
{
	struct hnode *n = *bucket(t, hash);
	while (n && n->hash != hash)
		n = n->next;
	return n;
}

struct hnode *htable_next(const struct hnode *n)
{
	uint64_t hash = n->hash;
	for (n = n->next; n && n->hash != hash; n = n->next)
		;
	return (struct hnode *)n;
}

struct hnode *htable_pop(struct htable *t)
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		if (t->buckets[i]) {
			struct hnode *n = t->buckets[i];
			htable_del(t, n);
			return n;
		}
	}
	return NULL;
}
