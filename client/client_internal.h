/*
 * client_internal.h - libcapbroker internals for capbroker's own tools
 * (capdump, tests), which link the static library.  Not installed, not
 * exported from the shared library (libcapbroker.map).
 */
#ifndef CB_CLIENT_INTERNAL_H
#define CB_CLIENT_INTERNAL_H

#include "capbroker.h"

/* The validated state segment mapping (PROT_READ). */
const void *cb_client_state(const cb_client *c);
/* The validated slots segment mapping (PROT_READ with CB_OPEN_RDONLY). */
const void *cb_client_slots(const cb_client *c);

#endif /* CB_CLIENT_INTERNAL_H */
