/*
 * registry.c - worker registry on a liburcu cds_lfht (see registry.h).
 */
#include "registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <urcu.h>
#include <urcu/rculfhash.h>

struct worker {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	struct cb_worker_rec rec;
};

/* FNV-1a: ids are short and charset-checked; no seed needed. */
static unsigned long id_hash(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 0x100000001b3ull;
	return (unsigned long)h;
}

static int id_match(struct cds_lfht_node *node, const void *key)
{
	const struct worker *w = caa_container_of(node, struct worker, node);

	return strcmp(w->rec.id, key) == 0;
}

static void worker_free_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, struct worker, rcu));
}

int cb_registry_init(struct cb_registry *r)
{
	r->count = 0;
	r->ht = cds_lfht_new(16, 16, 0, CDS_LFHT_AUTO_RESIZE |
	    CDS_LFHT_ACCOUNTING, NULL);
	return r->ht == NULL ? -ENOMEM : 0;
}

void cb_registry_fini(struct cb_registry *r)
{
	struct cds_lfht_iter iter;
	struct worker *w;

	if (r->ht == NULL)
		return;
	rcu_read_lock();
	cds_lfht_for_each_entry(r->ht, &iter, w, node) {
		if (cds_lfht_del(r->ht, &w->node) == 0)
			call_rcu(&w->rcu, worker_free_rcu);
	}
	rcu_read_unlock();
	rcu_barrier();  /* every call_rcu above has run */
	cds_lfht_destroy(r->ht, NULL);
	r->ht = NULL;
	r->count = 0;
}

static struct worker *lookup(struct cb_registry *r, const char *id)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;

	cds_lfht_lookup(r->ht, id_hash(id), id_match, id, &iter);
	node = cds_lfht_iter_get_node(&iter);
	return node ? caa_container_of(node, struct worker, node) : NULL;
}

int cb_registry_set(struct cb_registry *r, const char *id, uint32_t state,
    uint32_t max_running)
{
	struct cds_lfht_node *old;
	struct worker *w, *cur;

	rcu_read_lock();
	cur = lookup(r, id);
	if (cur != NULL && cur->rec.state == state &&
	    cur->rec.max_running == max_running) {
		rcu_read_unlock();
		return 0;
	}
	if (cur == NULL && r->count >= CB_MAX_WORKERS) {
		rcu_read_unlock();
		return -ENOSPC;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		rcu_read_unlock();
		return -ENOMEM;
	}
	strncpy(w->rec.id, id, CB_WORKER_ID_MAX);
	w->rec.state = state;
	w->rec.max_running = max_running;
	cds_lfht_node_init(&w->node);
	old = cds_lfht_add_replace(r->ht, id_hash(id), id_match, id, &w->node);
	rcu_read_unlock();
	if (old != NULL)
		call_rcu(&caa_container_of(old, struct worker, node)->rcu,
		    worker_free_rcu);
	else
		r->count++;
	return 1;
}

int cb_registry_del(struct cb_registry *r, const char *id)
{
	struct worker *w;
	int ret = -ENOENT;

	rcu_read_lock();
	w = lookup(r, id);
	if (w != NULL && cds_lfht_del(r->ht, &w->node) == 0) {
		call_rcu(&w->rcu, worker_free_rcu);
		r->count--;
		ret = 0;
	}
	rcu_read_unlock();
	return ret;
}

static int rec_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cb_worker_rec *)a)->id,
	    ((const struct cb_worker_rec *)b)->id);
}

size_t cb_registry_snapshot(struct cb_registry *r, struct cb_worker_rec *out,
    size_t max)
{
	struct cds_lfht_iter iter;
	struct worker *w;
	size_t n = 0;

	rcu_read_lock();
	cds_lfht_for_each_entry(r->ht, &iter, w, node) {
		if (n == max)
			break;
		out[n++] = w->rec;
	}
	rcu_read_unlock();
	qsort(out, n, sizeof(*out), rec_cmp);
	return n;
}
