/* A small intrusive hash table with chaining, keyed by a 64-bit hash. Entries embed a
 * struct hnode; several entries may share a hash (callers compare their own keys while
 * walking with htable_first/htable_next). Not thread safe: callers hold their own lock. */
#ifndef KRUN_DEVICES_FS_HTABLE_H
#define KRUN_DEVICES_FS_HTABLE_H

#include <stddef.h>
#include <stdint.h>

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct htable {
	struct hnode **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
};

void htable_init(struct htable *t);
/* Frees the bucket array; the entries belong to the caller. */
void htable_destroy(struct htable *t);
void htable_add(struct htable *t, struct hnode *n, uint64_t hash);
void htable_del(struct htable *t, struct hnode *n);
/* The first / next entry whose hash is `hash`, or NULL. */
struct hnode *htable_first(const struct htable *t, uint64_t hash);
struct hnode *htable_next(const struct hnode *n);
/* Removes and returns any entry (NULL when empty): used to tear a table down. */
struct hnode *htable_pop(struct htable *t);

/* Mixes a key into a well spread hash (splitmix64 finaliser). */
static inline uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

#endif
