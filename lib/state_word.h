/*
 * state_word.h - packing the state word (layout and decoders in
 * capbroker.h, CB_STATE_*).  Only the broker packs; everyone decodes.
 */
#ifndef CB_STATE_WORD_H
#define CB_STATE_WORD_H

#include <stdint.h>

#include "capbroker.h"

static inline uint64_t cb_state_pack(unsigned capacity, int source,
    unsigned flags, uint32_t generation)
{
	return (uint64_t)(capacity & 0xffffu) |
	    (uint64_t)((unsigned)source & 0xffu) << 16 |
	    (uint64_t)(flags & 0xffu) << 24 |
	    (uint64_t)generation << 32;
}

#endif /* CB_STATE_WORD_H */
