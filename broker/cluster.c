/*
 * cluster.c - global pools' shares leased from etcd (cluster.h).
 */
#include "cluster.h"

#include <string.h>

#include "broker.h"

void cb_cluster_init(struct cb_cluster *c)
{
	memset(c, 0, sizeof(*c));
	c->wake_fd = -1;
}

int cb_cluster_start(struct cb_broker *b)
{
	(void)b;
	return 0;
}

void cb_cluster_kick(struct cb_broker *b)
{
	(void)b;
}

void cb_cluster_stop(struct cb_broker *b)
{
	(void)b;
}
