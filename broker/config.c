/*
 * config.c - configuration file parsing (see config.h).
 */
#include "config.h"

#include <bsd/stdlib.h>
#include <bsd/string.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "etcd.h"
#include "proto.h"
#include "tier.h"

#define CONFIG_LINE_MAX 1024

static int fail(char *err, size_t errlen, const char *path, unsigned line,
    const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s:%u: %s", path, line, what);
	return -EINVAL;
}

void cb_config_defaults(struct cb_config *c)
{
	memset(c, 0, sizeof(*c));
	c->slots_per_worker = CB_DEFAULT_SLOTS_PER_WORKER;
	c->legacy_max = CB_DEFAULT_LEGACY_MAX;
	c->retry_after_ms = 100;
	c->group = (gid_t)-1;
	c->admin_group = (gid_t)-1;
	c->state_mode = 0644;
	strlcpy(c->cluster.cluster, CB_CLUSTER_DEFAULT,
	    sizeof(c->cluster.cluster));
	c->cluster.lease_ttl_s = CB_LEASE_TTL_DEFAULT;
}

void cb_config_free(struct cb_config *c)
{
	free(c->workers);
	c->workers = NULL;
	c->nworkers = 0;
	free(c->pools);
	c->pools = NULL;
	c->npools = 0;
}

static struct cb_config_pool *find_pool(struct cb_config *c,
    const char *name)
{
	for (size_t i = 0; i < c->npools; i++)
		if (strcmp(c->pools[i].req.pool, name) == 0)
			return &c->pools[i];
	return NULL;
}

/* A later line's keys over an earlier line's: as two POOL SETs would
 * leave the pool (limit= and share= replace each other; global and
 * local too; share= and local make a pool local, which drops global
 * and hold_max=). */
static void merge_pool(struct cb_ctl_req *to, const struct cb_ctl_req *from)
{
	if (from->pool_keys & (CB_POOL_SET_LIMIT | CB_POOL_SET_SHARE))
		to->pool_keys &= ~(unsigned)(CB_POOL_SET_LIMIT |
		    CB_POOL_SET_SHARE);
	if (from->pool_keys & CB_POOL_SET_GLOBAL)
		to->pool_keys &= ~(unsigned)CB_POOL_SET_LOCAL;
	if (from->pool_keys & (CB_POOL_SET_LOCAL | CB_POOL_SET_SHARE))
		to->pool_keys &= ~(unsigned)(CB_POOL_SET_GLOBAL |
		    CB_POOL_SET_HOLD_MAX);
	if (from->pool_keys & CB_POOL_SET_HOLD_MAX)
		to->hold_max_s = from->hold_max_s;
	if (from->pool_keys & CB_POOL_SET_LIMIT)
		to->limit = from->limit;
	if (from->pool_keys & CB_POOL_SET_SHARE)
		to->share = from->share;
	if (from->pool_keys & CB_POOL_SET_WINDOW)
		to->window_s = from->window_s;
	if (from->pool_keys & CB_POOL_SET_OBSERVED)
		to->observed = from->observed;
	to->pool_keys |= from->pool_keys;
}

/* Distinct pools the file names, "default" included (pool 0 exists
 * anyway, so it always takes one of the CB_MAX_POOLS). */
static size_t pools_used(const struct cb_config *c)
{
	for (size_t i = 0; i < c->npools; i++)
		if (strcmp(c->pools[i].req.pool, "default") == 0)
			return c->npools;
	return c->npools + 1;
}

/* "pool NAME k=v ..." is the control protocol's POOL SET: one parser. */
static int add_pool(struct cb_config *c, const char *args, const char *path,
    unsigned line, char *err, size_t errlen)
{
	char req[CB_PROTO_LINE_MAX], why[CB_PROTO_LINE_MAX];
	struct cb_config_pool *p;
	struct cb_ctl_req r;
	int n;

	n = snprintf(req, sizeof(req), "POOL SET %s", args);
	if (n < 0 || (size_t)n >= sizeof(req))
		return fail(err, errlen, path, line, "pool line too long");
	if (cb_ctl_parse(req, &r, why, sizeof(why)) < 0 ||
	    r.verb != CB_CTL_POOL_SET)
		return fail(err, errlen, path, line, "pool: %s", why);
	if (strcmp(r.pool, "default") == 0 &&
	    (r.pool_keys & (CB_POOL_SET_LIMIT | CB_POOL_SET_SHARE |
	    CB_POOL_SET_GLOBAL | CB_POOL_SET_LOCAL | CB_POOL_SET_HOLD_MAX)))
		return fail(err, errlen, path, line, "pool default follows "
		    "the capacity: only window= and observed= apply");
	p = find_pool(c, r.pool);
	if (p != NULL)
		merge_pool(&p->req, &r);
	/* hold_max= where the pool is not global (yet): refused here, at
	 * the line that says it. */
	if ((r.pool_keys & CB_POOL_SET_HOLD_MAX) &&
	    !((p != NULL ? p->req.pool_keys : r.pool_keys) &
	    CB_POOL_SET_GLOBAL))
		return fail(err, errlen, path, line, "pool %s: hold_max= "
		    "applies to global pools only (add global)", r.pool);
	if (p != NULL)
		return 0;
	if (strcmp(r.pool, "default") != 0 && pools_used(c) >= CB_MAX_POOLS)
		return fail(err, errlen, path, line, "pool %s: more than %d "
		    "pools (default included)", r.pool, CB_MAX_POOLS);
	p = reallocarray(c->pools, c->npools + 1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	c->pools = p;
	c->pools[c->npools].req = r;
	c->pools[c->npools].line = line;
	c->npools++;
	return 0;
}

/* After the last line: a pool but "default" needs a limit or a share on
 * one of its lines, a global one a limit (the cluster's) and etcd =;
 * the error names its first line. */
static int check_pools(const struct cb_config *c, const char *path,
    char *err, size_t errlen)
{
	for (size_t i = 0; i < c->npools; i++) {
		const struct cb_config_pool *p = &c->pools[i];
		unsigned k = p->req.pool_keys;

		if ((k & CB_POOL_SET_GLOBAL) && !(k & CB_POOL_SET_LIMIT))
			return fail(err, errlen, path, p->line, "pool %s is "
			    "global: needs limit= (the cluster's), not "
			    "share=", p->req.pool);
		if (strcmp(p->req.pool, "default") != 0 &&
		    !(k & (CB_POOL_SET_LIMIT | CB_POOL_SET_SHARE)))
			return fail(err, errlen, path, p->line, "pool %s: "
			    "needs limit= or share=", p->req.pool);
		if ((k & CB_POOL_SET_GLOBAL) && c->cluster.etcd[0] == '\0')
			return fail(err, errlen, path, p->line, "pool %s is "
			    "global: needs etcd = ENDPOINTS", p->req.pool);
	}
	return 0;
}

int cb_config_name_valid(const char *name, size_t max)
{
	size_t len = strlen(name);

	return len >= 1 && len <= max &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == len;
}

/*
 * One etcd endpoint, s (len bytes): http:// or https://, then HOST (a
 * name or IPv4 address of A-Z a-z 0-9 . -, not starting with . or -;
 * or [IPv6]), then :PORT (1..65535), then at most a '/'.  Returns NULL,
 * or what is wrong.
 */
static const char *endpoint_invalid(const char *s, size_t len)
{
	char port[8];
	const char *errstr, *h, *end = s + len, *colon;
	size_t hl;

	if (len > 0 && end[-1] == '/')
		end--;
	if (len > 7 && strncmp(s, "http://", 7) == 0)
		h = s + 7;
	else if (len > 8 && strncmp(s, "https://", 8) == 0)
		h = s + 8;
	else
		return "not http:// or https://";
	if (*h == '[') {
		colon = memchr(h, ']', (size_t)(end - h));
		if (colon == NULL || colon - h < 3 ||
		    strspn(h + 1, "0123456789abcdefABCDEF:.") !=
		    (size_t)(colon - h - 1))
			return "bad [IPv6] address";
		colon++;
	} else {
		for (colon = h; colon < end && *colon != ':'; colon++)
			if (!isalnum((unsigned char)*colon) &&
			    *colon != '.' && *colon != '-')
				return "bad host (A-Z a-z 0-9 . -)";
		hl = (size_t)(colon - h);
		if (hl == 0 || hl > 253 || *h == '.' || *h == '-')
			return "bad host (A-Z a-z 0-9 . -)";
	}
	if (colon >= end || *colon != ':')
		return "no :PORT";
	if ((size_t)(end - colon - 1) >= sizeof(port))
		return "bad port (1..65535)";
	memcpy(port, colon + 1, (size_t)(end - colon - 1));
	port[end - colon - 1] = '\0';
	strtonum(port, 1, 65535, &errstr);
	if (errstr != NULL || port[0] == '+' || port[0] == '0')
		return "bad port (1..65535)";
	return NULL;
}

/* etcd = URL[,URL...]: each checked, stored comma-separated without
 * the blanks around them. */
static int set_etcd(struct cb_config *c, const char *val, const char *path,
    unsigned line, char *err, size_t errlen)
{
	char list[CB_ETCD_CONF_MAX] = "";
	const char *p = val, *comma, *why;
	size_t len, n = 0;

	for (;;) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		while (len > 0 && isspace((unsigned char)*p)) {
			p++;
			len--;
		}
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (++n > CB_ETCD_ENDPOINTS_MAX)
			return fail(err, errlen, path, line, "etcd: more "
			    "than %d endpoints", CB_ETCD_ENDPOINTS_MAX);
		why = endpoint_invalid(p, len);
		if (why != NULL)
			return fail(err, errlen, path, line, "etcd: endpoint "
			    "'%.*s': %s; expected http://HOST:PORT or "
			    "https://HOST:PORT", (int)(len < 64 ? len : 64),
			    p, why);
		if ((n > 1 && strlcat(list, ",", sizeof(list)) >=
		    sizeof(list)) || strlen(list) + len >= sizeof(list))
			return fail(err, errlen, path, line, "etcd: longer "
			    "than %d bytes", CB_ETCD_CONF_MAX - 1);
		strncat(list, p, len);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	strlcpy(c->cluster.etcd, list, sizeof(c->cluster.etcd));
	c->etcd_line = line;
	return 0;
}

/* etcd, cluster, host, lease_ttl: the cluster's settings (cluster.h). */
static int set_cluster(struct cb_config *c, const char *key,
    const char *val, const char *path, unsigned line, char *err,
    size_t errlen)
{
	const char *errstr;
	long long v;

	if (strcmp(key, "etcd") == 0)
		return set_etcd(c, val, path, line, err, errlen);
	if (strcmp(key, "lease_ttl") == 0) {
		v = strtonum(val, CB_LEASE_TTL_MIN, CB_LEASE_TTL_MAX, &errstr);
		if (errstr != NULL)
			return fail(err, errlen, path, line, "lease_ttl "
			    "'%.32s' is %s (%u..%u seconds)", val, errstr,
			    CB_LEASE_TTL_MIN, CB_LEASE_TTL_MAX);
		c->cluster.lease_ttl_s = (uint32_t)v;
		return 0;
	}
	if (!cb_config_name_valid(val, strcmp(key, "host") == 0 ?
	    CB_HOST_NAME_MAX : CB_CLUSTER_NAME_MAX))
		return fail(err, errlen, path, line, "%s '%.64s' is not a "
		    "valid name (1..%d of A-Z a-z 0-9 . _ -)", key, val,
		    strcmp(key, "host") == 0 ? CB_HOST_NAME_MAX :
		    CB_CLUSTER_NAME_MAX);
	if (strcmp(key, "host") == 0)
		strlcpy(c->cluster.host, val, sizeof(c->cluster.host));
	else
		strlcpy(c->cluster.cluster, val, sizeof(c->cluster.cluster));
	return 0;
}

int cb_config_default_host(struct cb_config *c, const char *sysname,
    const char *path, char *err, size_t errlen)
{
	if (cb_config_name_valid(sysname, CB_HOST_NAME_MAX)) {
		strlcpy(c->cluster.host, sysname, sizeof(c->cluster.host));
		return 0;
	}
	if (c->cluster.etcd[0] == '\0')
		return 0;
	return fail(err, errlen, path, c->etcd_line, "etcd: this host's "
	    "name '%.64s' (gethostname) is not a valid cluster host name "
	    "(1..%d of A-Z a-z 0-9 . _ -): set host = NAME", sysname,
	    CB_HOST_NAME_MAX);
}

const char *cb_config_cluster_diff(const struct cb_cluster_conf *a,
    const struct cb_cluster_conf *b)
{
	if (strcmp(a->etcd, b->etcd) != 0)
		return "etcd";
	if (strcmp(a->cluster, b->cluster) != 0)
		return "cluster";
	if (strcmp(a->host, b->host) != 0)
		return "host";
	if (a->lease_ttl_s != b->lease_ttl_s)
		return "lease_ttl";
	return NULL;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int add_worker(struct cb_config *c, char *args, const char *path,
    unsigned line, char *err, size_t errlen)
{
	char *save = NULL, *id, *state, *max, *extra;
	struct cb_config_worker *w, nw = { 0 };
	const char *errstr;

	id = strtok_r(args, " \t", &save);
	state = strtok_r(NULL, " \t", &save);
	max = strtok_r(NULL, " \t", &save);
	extra = strtok_r(NULL, " \t", &save);
	if (id == NULL || state == NULL || extra != NULL)
		return fail(err, errlen, path, line,
		    "usage: worker ID STATE [MAX_RUNNING]");
	if (!cb_worker_id_valid(id))
		return fail(err, errlen, path, line, "bad worker id '%.64s'",
		    id);
	nw.state = cb_worker_state_parse(state);
	if (nw.state == 0)
		return fail(err, errlen, path, line, "bad worker state '%.32s' "
		    "(ready, not_ready or draining)", state);
	if (max != NULL) {
		nw.max_running = (uint32_t)strtonum(max, 0, CB_CAPACITY_MAX,
		    &errstr);
		if (errstr != NULL)
			return fail(err, errlen, path, line, "max_running "
			    "'%.32s' is %s (0..%u)", max, errstr,
			    CB_CAPACITY_MAX);
	}
	/* Named again: the later line wins, in the first one's place. */
	for (size_t i = 0; i < c->nworkers; i++)
		if (strcmp(c->workers[i].id, id) == 0) {
			c->workers[i].state = nw.state;
			c->workers[i].max_running = nw.max_running;
			return 0;
		}
	if (c->nworkers >= CB_MAX_WORKERS)
		return fail(err, errlen, path, line, "more than %d workers",
		    CB_MAX_WORKERS);
	w = reallocarray(c->workers, c->nworkers + 1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	c->workers = w;
	strlcpy(nw.id, id, sizeof(nw.id));
	nw.line = line;
	c->workers[c->nworkers++] = nw;
	return 0;
}

/* group, admin_group, state_mode: the settings that are not counts. */
static int set_access(struct cb_config *c, const char *key, const char *val,
    const char *path, unsigned line, char *err, size_t errlen)
{
	struct group *g;

	if (strcmp(key, "state_mode") == 0) {
		if (strcmp(val, "0644") != 0 && strcmp(val, "0640") != 0)
			return fail(err, errlen, path, line, "state_mode "
			    "'%.16s' is neither 0644 nor 0640", val);
		c->state_mode = val[3] == '4' ? 0644 : 0640;
		return 0;
	}
	g = getgrnam(val);
	if (g == NULL)
		return fail(err, errlen, path, line, "%s: no group '%.64s'",
		    key, val);
	if (strcmp(key, "group") == 0)
		c->group = g->gr_gid;
	else
		c->admin_group = g->gr_gid;
	return 0;
}

static int set_number(struct cb_config *c, const char *key, const char *val,
    const char *path, unsigned line, char *err, size_t errlen)
{
	const char *errstr;
	long long v;

	if (strcmp(key, "override") == 0) {
		/* Any integer parses: out of range is ignored and counted,
		 * whatever its size; only a non-number is an error. */
		v = strtonum(val, LLONG_MIN, LLONG_MAX, &errstr);
		if (errstr != NULL)
			return fail(err, errlen, path, line, "override '%.32s' "
			    "is %s", val, errstr);
		if (!cb_tier_override_valid(v)) {
			/* Ignored, never clamped: the caller warns. */
			c->override_rejected = v;
			c->override_rejects++;
			return 0;
		}
		c->override = (uint32_t)v;
		c->override_set = true;
		return 0;
	}
	v = strtonum(val, 1, CB_CAPACITY_MAX, &errstr);
	if (errstr != NULL)
		return fail(err, errlen, path, line, "%s '%.32s' is %s "
		    "(1..%u)", key, val, errstr, CB_CAPACITY_MAX);
	if (strcmp(key, "slots_per_worker") == 0)
		c->slots_per_worker = (uint32_t)v;
	else if (strcmp(key, "legacy_max_concurrent_requests") == 0)
		c->legacy_max = (uint32_t)v;
	else if (strcmp(key, "retry_after_ms") == 0)
		c->retry_after_ms = (uint32_t)v;
	else
		return fail(err, errlen, path, line, "unknown setting "
		    "'%.64s'", key);
	return 0;
}

static int parse_line(struct cb_config *c, char *s, const char *path,
    unsigned line, char *err, size_t errlen)
{
	char *eq, *hash = strchr(s, '#');

	if (hash != NULL)
		*hash = '\0';
	s = trim(s);
	if (*s == '\0')
		return 0;
	if (strncmp(s, "worker", 6) == 0 && (s[6] == ' ' || s[6] == '\t'))
		return add_worker(c, s + 7, path, line, err, errlen);
	if (strncmp(s, "pool", 4) == 0 && (s[4] == ' ' || s[4] == '\t'))
		return add_pool(c, s + 5, path, line, err, errlen);
	eq = strchr(s, '=');
	if (eq == NULL)
		return fail(err, errlen, path, line, "expected 'key = value' "
		    "or 'worker ...'");
	*eq = '\0';
	s = trim(s);
	if (strcmp(s, "group") == 0 || strcmp(s, "admin_group") == 0 ||
	    strcmp(s, "state_mode") == 0)
		return set_access(c, s, trim(eq + 1), path, line, err, errlen);
	if (strcmp(s, "etcd") == 0 || strcmp(s, "cluster") == 0 ||
	    strcmp(s, "host") == 0 || strcmp(s, "lease_ttl") == 0)
		return set_cluster(c, s, trim(eq + 1), path, line, err,
		    errlen);
	return set_number(c, s, trim(eq + 1), path, line, err, errlen);
}

/* No host = line: gethostname()'s, if it is a valid name. */
static int system_host(struct cb_config *c, const char *path, char *err,
    size_t errlen)
{
	char name[256];

	if (gethostname(name, sizeof(name)) < 0)
		name[0] = '\0';
	name[sizeof(name) - 1] = '\0';
	return cb_config_default_host(c, name, path, err, errlen);
}

int cb_config_parse(struct cb_config *c, FILE *f, const char *path,
    char *err, size_t errlen)
{
	char buf[CONFIG_LINE_MAX];
	unsigned line = 0;
	int r;

	while (fgets(buf, sizeof(buf), f) != NULL) {
		line++;
		if (strchr(buf, '\n') == NULL && !feof(f))
			return fail(err, errlen, path, line, "line longer "
			    "than %d bytes", CONFIG_LINE_MAX - 2);
		buf[strcspn(buf, "\r\n")] = '\0';
		r = parse_line(c, buf, path, line, err, errlen);
		if (r < 0)
			return r;
	}
	if (ferror(f))
		return fail(err, errlen, path, line + 1, "read error: %s",
		    strerror(errno));
	r = check_pools(c, path, err, errlen);
	if (r == 0 && c->cluster.host[0] == '\0')
		r = system_host(c, path, err, errlen);
	return r;
}

int cb_config_load(struct cb_config *c, const char *path, char *err,
    size_t errlen)
{
	struct stat st;
	FILE *f;
	int r;

	cb_config_defaults(c);
	if (path == NULL)
		return 0;
	f = fopen(path, "re");
	if (f == NULL) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		/* fopen() takes a directory; the first read would fail. */
		snprintf(err, errlen, "%s: is a directory", path);
		fclose(f);
		return -EISDIR;
	}
	c->path = path;
	r = cb_config_parse(c, f, path, err, errlen);
	fclose(f);
	if (r < 0)
		cb_config_free(c);
	return r;
}

static int print_pool(const struct cb_config_pool *p, FILE *f)
{
	const struct cb_ctl_req *r = &p->req;

	fprintf(f, "pool %s", r->pool);
	if (r->pool_keys & CB_POOL_SET_LIMIT)
		fprintf(f, " limit=%u", r->limit);
	if (r->pool_keys & CB_POOL_SET_SHARE)
		fprintf(f, " share=%u", r->share);
	if (r->pool_keys & CB_POOL_SET_WINDOW)
		fprintf(f, " window=%u", r->window_s);
	if (r->pool_keys & CB_POOL_SET_OBSERVED)
		fprintf(f, " observed=%u", r->observed);
	if (r->pool_keys & CB_POOL_SET_GLOBAL)
		fprintf(f, " global");
	if (r->pool_keys & CB_POOL_SET_LOCAL)
		fprintf(f, " local");
	if (r->pool_keys & CB_POOL_SET_HOLD_MAX)
		fprintf(f, " hold_max=%u", r->hold_max_s);
	return fputc('\n', f) == EOF ? -EIO : 0;
}

static void print_group(const char *key, gid_t gid, FILE *f)
{
	struct group *g;

	if (gid == (gid_t)-1) {
		fprintf(f, "# %s: not set\n", key);
		return;
	}
	g = getgrgid(gid);
	if (g != NULL)
		fprintf(f, "%s = %s\n", key, g->gr_name);
	else    /* parsed from a name moments ago: the group went away */
		fprintf(f, "# %s: gid %u has no name now\n", key,
		    (unsigned)gid);
}

/* etcd first: the pools that need it come after it anyway. */
static void print_cluster(const struct cb_cluster_conf *cc, FILE *f)
{
	if (cc->etcd[0] != '\0')
		fprintf(f, "etcd = %s\n", cc->etcd);
	else
		fprintf(f, "# etcd: not set (no cluster, no global pool)\n");
	fprintf(f, "cluster = %s\n", cc->cluster);
	if (cc->host[0] != '\0')
		fprintf(f, "host = %s\n", cc->host);
	else
		fprintf(f, "# host: not set (gethostname() gives no valid "
		    "name)\n");
	fprintf(f, "lease_ttl = %u\n", cc->lease_ttl_s);
}

int cb_config_print(const struct cb_config *c, FILE *f)
{
	fprintf(f, "slots_per_worker = %u\n", c->slots_per_worker);
	fprintf(f, "legacy_max_concurrent_requests = %u\n", c->legacy_max);
	if (c->override_set)
		fprintf(f, "override = %u\n", c->override);
	else
		fprintf(f, "# override: not set (a running override stays)\n");
	fprintf(f, "retry_after_ms = %u\n", c->retry_after_ms);
	print_group("group", c->group, f);
	print_group("admin_group", c->admin_group, f);
	fprintf(f, "state_mode = 0%o\n", c->state_mode);
	print_cluster(&c->cluster, f);
	for (size_t i = 0; i < c->npools; i++)
		print_pool(&c->pools[i], f);
	for (size_t i = 0; i < c->nworkers; i++) {
		const struct cb_config_worker *w = &c->workers[i];

		fprintf(f, "worker %s %s %u\n", w->id,
		    cb_worker_state_name(w->state), w->max_running);
	}
	if (fflush(f) == EOF || ferror(f))
		return -(errno ? errno : EIO);
	return 0;
}

/*
 * The last reload's outcome.  Main thread only (config.h): plain
 * fields, no ordering to argue.
 */
static struct {
	const char *path;
	uint64_t when_ns;           /* CLOCK_REALTIME; 0: no SIGHUP yet */
	bool failed, changed;
	char error[512];
} last_reload;

void cb_reload_init(const char *path)
{
	memset(&last_reload, 0, sizeof(last_reload));
	last_reload.path = path;
}

void cb_reload_note(const char *error, bool changed)
{
	last_reload.when_ns = cb_realtime_ns();
	last_reload.failed = error != NULL;
	last_reload.changed = changed;
	strlcpy(last_reload.error, error != NULL ? error : "",
	    sizeof(last_reload.error));
}

void cb_reload_status(unsigned i, char *buf, size_t len)
{
	char when[32];

	if (len == 0)
		return;
	if (i == 0) {
		snprintf(buf, len, "config %s", last_reload.path != NULL ?
		    last_reload.path : "-");
	} else if (i == 1) {
		cb_utc_stamp(last_reload.when_ns, when, sizeof(when));
		snprintf(buf, len, "reload_time %s", when);
	} else if (last_reload.when_ns == 0) {
		snprintf(buf, len, "reload_result none");
	} else if (last_reload.failed) {
		snprintf(buf, len, "reload_result error %s",
		    last_reload.error);
	} else {
		snprintf(buf, len, "reload_result ok%s",
		    last_reload.changed ? "" : " unchanged");
	}
	/* One line each: a path or a message cannot add lines. */
	for (char *p = buf; *p != '\0'; p++)
		if (iscntrl((unsigned char)*p))
			*p = '?';
}
