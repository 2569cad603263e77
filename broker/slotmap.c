/*
 * slotmap.c - stable worker slots for placement (see slotmap.h).
 */
#include "slotmap.h"

#include <string.h>

#define NO_SLOT UINT32_MAX

void cb_slotmap_init(struct cb_slotmap *m)
{
	memset(m, 0, sizeof(*m));
}

static void claim(struct cb_slotmap *m, uint32_t s, const char *id)
{
	m->used[s] = true;
	memcpy(m->last[s], id, sizeof(m->last[s]));
	m->cursor = (s + 1) % CB_MAX_WORKERS;
}

/* A slot for a worker that has none (slotmap.h gives the order). */
static uint32_t take(struct cb_slotmap *m, const char *id,
    uint32_t (*inflight)(uint32_t, void *), void *arg)
{
	uint32_t s;

	for (s = 0; s < CB_MAX_WORKERS; s++)
		if (!m->used[s] && strcmp(m->last[s], id) == 0)
			goto found;
	for (uint32_t k = 0; k < CB_MAX_WORKERS; k++) {
		s = (m->cursor + k) % CB_MAX_WORKERS;
		if (!m->used[s] && (inflight == NULL || inflight(s, arg) == 0))
			goto found;
	}
	for (uint32_t k = 0; k < CB_MAX_WORKERS; k++) {
		s = (m->cursor + k) % CB_MAX_WORKERS;
		if (!m->used[s])
			goto found;
	}
	return NO_SLOT;   /* more workers than slots: cannot happen */
found:
	claim(m, s, id);
	return s;
}

void cb_slotmap_adopt(struct cb_slotmap *m, const struct cb_worker_rec *w,
    size_t n)
{
	for (size_t i = 0; i < n && m->ncur < CB_MAX_WORKERS; i++) {
		struct cb_slotmap_entry *e = &m->cur[m->ncur];

		if (w[i].slot >= CB_MAX_WORKERS || m->used[w[i].slot])
			continue;
		memcpy(e->id, w[i].id, sizeof(e->id));
		e->id[CB_WORKER_ID_MAX] = '\0';
		/* The table is sorted; a record out of order (a hostile or
		 * broken table) gets a new slot instead. */
		if (m->ncur > 0 && strcmp(m->cur[m->ncur - 1].id, e->id) >= 0)
			continue;
		e->slot = w[i].slot;
		claim(m, e->slot, e->id);
		m->ncur++;
	}
}

void cb_slotmap_assign(struct cb_slotmap *m, struct cb_worker_rec *w,
    size_t n, uint32_t slots_per_worker,
    uint32_t (*inflight)(uint32_t slot, void *arg), void *arg)
{
	size_t i = 0, j = 0;

	/* Merge the new table with the last one, both sorted by id:
	 * kept workers keep their slot, gone ones free theirs. */
	while (i < n || j < m->ncur) {
		int c = i == n ? 1 : j == m->ncur ? -1 :
		    strcmp(w[i].id, m->cur[j].id);

		if (c == 0) {
			w[i++].slot = m->cur[j++].slot;
		} else if (c < 0) {
			w[i++].slot = NO_SLOT;
		} else {
			if (m->cur[j].slot < CB_MAX_WORKERS)
				m->used[m->cur[j].slot] = false;
			j++;
		}
	}
	for (i = 0; i < n; i++) {
		if (w[i].slot == NO_SLOT)
			w[i].slot = take(m, w[i].id, inflight, arg);
		w[i].limit = w[i].max_running != 0 ? w[i].max_running :
		    slots_per_worker;
		memcpy(m->cur[i].id, w[i].id, sizeof(m->cur[i].id));
		m->cur[i].id[CB_WORKER_ID_MAX] = '\0';
		m->cur[i].slot = w[i].slot;
	}
	m->ncur = n;
}
