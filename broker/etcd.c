/*
 * etcd.c - the broker's etcd v3 client: JSON gateway, libcurl, json-c.
 *
 * See etcd.h for the contract.  The shape of every call: build the
 * request as a json-c object, send it (request(): failover across the
 * endpoints, the answer bounded in size), parse the answer strictly
 * (parse_answer(): one JSON object and nothing after it, etcd's error
 * object turned into an errno and a message), then pick the fields,
 * each through a checker that knows its JSON type and range.  etcd's
 * gateway leaves out every field whose value is zero, false or empty, so
 * a missing field reads as zero; a present one of the wrong type is
 * -EPROTO.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bsd/stdlib.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "etcd.h"

#define ENDPOINT_MAX		256
#define JSON_DEPTH_MAX		32
/* etcd's own limit on a lease's TTL (lease.MaxLeaseTTL). */
#define TTL_MAX			9000000000LL

struct cb_etcd {
	CURL *curl;
	struct curl_slist *headers;
	json_tokener *tok;
	struct cb_etcd_opts opts;
	size_t n;
	size_t cur;
	char *endpoint[CB_ETCD_ENDPOINTS_MAX];
	char endpoint_err[CB_ETCD_ENDPOINTS_MAX][CB_ETCD_ERRMSG_MAX];
	/* The answer being received (on_data) and its state. */
	char *buf;
	size_t len;
	size_t cap;
	bool too_big;
	bool nomem;
	char curl_err[CURL_ERROR_SIZE];
	/* Where the answer came from, for messages. */
	char url[ENDPOINT_MAX + 64];
	int64_t sent_ns;
	char err[CB_ETCD_ERRMSG_MAX];
	int64_t last_ok_ns;
	int64_t last_fail_ns;
	int last_err;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Record a failure: its message and errno.  Returns err. */
static int fail(struct cb_etcd *e, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct cb_etcd *e, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
	e->last_err = err;
	e->last_fail_ns = now_ns();
	return err;
}

/* ---- base64 (RFC 4648, standard alphabet, padded: Go's StdEncoding,
 * which etcd's gateway uses for bytes fields) ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* out holds 4 * ((len + 2) / 3) + 1 bytes. */
static void b64_encode(const unsigned char *in, size_t len, char *out)
{
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];

		*out++ = b64_alphabet[v >> 18];
		*out++ = b64_alphabet[(v >> 12) & 63];
		*out++ = b64_alphabet[(v >> 6) & 63];
		*out++ = b64_alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		*out++ = b64_alphabet[v >> 18];
		*out++ = b64_alphabet[(v >> 12) & 63];
		*out++ = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

static int b64_value(char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(b64_alphabet, c);
	return p ? (int)(p - b64_alphabet) : -1;
}

/*
 * Decode in (len chars) strictly: whole quanta, padding only at the
 * end, unused bits zero.  *out is malloc'ed, NUL-terminated after
 * *outlen bytes.  Returns 0, -EPROTO or -ENOMEM.
 */
static int b64_decode(const char *in, size_t len, char **out, size_t *outlen)
{
	size_t i, o = 0, pad = 0;
	unsigned char *d;

	if (len % 4 != 0)
		return -EPROTO;
	if (len > 0 && in[len - 1] == '=')
		pad = len > 1 && in[len - 2] == '=' ? 2 : 1;
	d = malloc(len / 4 * 3 + 1);
	if (d == NULL)
		return -ENOMEM;
	for (i = 0; i < len; i += 4) {
		int v[4];
		size_t k, nv = i + 4 == len ? 4 - pad : 4;
		uint32_t w = 0;

		for (k = 0; k < 4; k++) {
			v[k] = k < nv ? b64_value(in[i + k]) : 0;
			if (v[k] < 0)
				goto bad;
			w = w << 6 | (uint32_t)v[k];
		}
		d[o++] = (unsigned char)(w >> 16);
		if (nv > 2)
			d[o++] = (unsigned char)(w >> 8);
		if (nv > 3)
			d[o++] = (unsigned char)w;
		/* The bits the padding stands for must be zero. */
		if ((nv == 2 && (w & 0xffff) != 0) ||
		    (nv == 3 && (w & 0xff) != 0))
			goto bad;
	}
	d[o] = '\0';
	*out = (char *)d;
	*outlen = o;
	return 0;
bad:
	free(d);
	return -EPROTO;
}

/* ---- building requests ---- */

static int add_bytes(json_object *o, const char *name, const void *p,
    size_t len)
{
	char *s;
	json_object *v;

	if (len > (SIZE_MAX - 8) / 4 * 3)
		return -EINVAL;
	s = malloc(4 * ((len + 2) / 3) + 1);
	if (s == NULL)
		return -ENOMEM;
	b64_encode(p, len, s);
	v = json_object_new_string(s);
	free(s);
	if (v == NULL || json_object_object_add(o, name, v) != 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

/* 64-bit numbers go as strings, as etcd's gateway writes them. */
static int add_int64(json_object *o, const char *name, int64_t v)
{
	char s[24];
	json_object *j;

	snprintf(s, sizeof(s), "%lld", (long long)v);
	j = json_object_new_string(s);
	if (j == NULL || json_object_object_add(o, name, j) != 0) {
		json_object_put(j);
		return -ENOMEM;
	}
	return 0;
}

static int add_string(json_object *o, const char *name, const char *s)
{
	json_object *j = json_object_new_string(s);

	if (j == NULL || json_object_object_add(o, name, j) != 0) {
		json_object_put(j);
		return -ENOMEM;
	}
	return 0;
}

/*
 * "key" and, for a prefix, "range_end": the key after every key that
 * starts with it (the last byte below 0xff incremented, what follows it
 * cut); "\0" when there is none (every key from key on).  An empty
 * prefix is the whole key space: key "\0", range_end "\0".
 */
static int add_key(json_object *o, const char *key, bool prefix)
{
	size_t len = strlen(key);
	char *end;
	int rc;

	if (!prefix)
		return len == 0 ? -EINVAL : add_bytes(o, "key", key, len);
	if (len == 0) {
		rc = add_bytes(o, "key", "", 1);
		return rc ? rc : add_bytes(o, "range_end", "", 1);
	}
	rc = add_bytes(o, "key", key, len);
	if (rc)
		return rc;
	end = strdup(key);
	if (end == NULL)
		return -ENOMEM;
	while (len > 0 && (unsigned char)end[len - 1] == 0xff)
		len--;
	if (len == 0) {
		rc = add_bytes(o, "range_end", "", 1);
	} else {
		end[len - 1]++;
		rc = add_bytes(o, "range_end", end, len);
	}
	free(end);
	return rc;
}

/* ---- reading answers ---- */

/* Field name of parent, of type type; NULL when absent.  *bad set when
 * present with another type. */
static json_object *field(json_object *parent, const char *name,
    json_type type, bool *bad)
{
	json_object *v;

	if (!json_object_object_get_ex(parent, name, &v) || v == NULL)
		return NULL;
	if (!json_object_is_type(v, type)) {
		*bad = true;
		return NULL;
	}
	return v;
}

/* A 64-bit number sent as a decimal string, in [min, max]; absent: 0
 * (which must be in range).  Returns 0 or -EPROTO (message set). */
static int get_int64(struct cb_etcd *e, json_object *parent,
    const char *name, long long min, long long max, int64_t *out)
{
	bool bad = false;
	json_object *v = field(parent, name, json_type_string, &bad);
	const char *s, *errstr;
	size_t len, i;
	long long n;

	if (bad)
		return fail(e, -EPROTO, "%s: \"%s\" is not a string", e->url,
		    name);
	if (v == NULL) {
		if (min > 0 || max < 0)
			return fail(e, -EPROTO, "%s: \"%s\" missing", e->url,
			    name);
		*out = 0;
		return 0;
	}
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	/* Digits only (strtonum would take spaces and a '+'). */
	for (i = s[0] == '-' ? 1 : 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			break;
	if (len == 0 || len > 20 || i != len || (s[0] == '-' && len == 1))
		return fail(e, -EPROTO, "%s: \"%s\" is not a number", e->url,
		    name);
	n = strtonum(s, min, max, &errstr);
	if (errstr != NULL)
		return fail(e, -EPROTO, "%s: \"%s\" %s: %s", e->url, name,
		    errstr, s);
	*out = n;
	return 0;
}

static int get_bool(struct cb_etcd *e, json_object *parent, const char *name,
    bool *out)
{
	bool bad = false;
	json_object *v = field(parent, name, json_type_boolean, &bad);

	if (bad)
		return fail(e, -EPROTO, "%s: \"%s\" is not a boolean", e->url,
		    name);
	*out = v != NULL && json_object_get_boolean(v);
	return 0;
}

/* A bytes field (base64); absent: empty unless required. */
static int get_bytes(struct cb_etcd *e, json_object *parent,
    const char *name, bool required, char **out, size_t *len)
{
	bool bad = false;
	json_object *v = field(parent, name, json_type_string, &bad);
	int rc;

	if (bad)
		return fail(e, -EPROTO, "%s: \"%s\" is not a string", e->url,
		    name);
	if (v == NULL && required)
		return fail(e, -EPROTO, "%s: \"%s\" missing", e->url, name);
	rc = v == NULL ? b64_decode("", 0, out, len) :
	    b64_decode(json_object_get_string(v),
	    (size_t)json_object_get_string_len(v), out, len);
	if (rc == -EPROTO)
		return fail(e, rc, "%s: \"%s\" is not base64", e->url, name);
	if (rc)
		return fail(e, rc, "out of memory");
	return 0;
}

/* The header's revision (the header may be left out). */
static int get_revision(struct cb_etcd *e, json_object *o, int64_t *rev)
{
	bool bad = false;
	json_object *h = field(o, "header", json_type_object, &bad);

	if (bad)
		return fail(e, -EPROTO, "%s: \"header\" is not an object",
		    e->url);
	*rev = 0;
	return h == NULL ? 0 : get_int64(e, h, "revision", 0, LLONG_MAX, rev);
}

/* etcd's (gRPC's) status codes, as errnos. */
static int grpc_errno(int64_t code)
{
	switch (code) {
	case 5:		/* NOT_FOUND */
		return -ENOENT;
	case 3:		/* INVALID_ARGUMENT */
	case 11:	/* OUT_OF_RANGE */
		return -EINVAL;
	case 4:		/* DEADLINE_EXCEEDED */
		return -ETIMEDOUT;
	case 7:		/* PERMISSION_DENIED */
	case 16:	/* UNAUTHENTICATED */
		return -EACCES;
	case 8:		/* RESOURCE_EXHAUSTED */
		return -ENOSPC;
	case 14:	/* UNAVAILABLE */
		return -EAGAIN;
	default:
		return -EIO;
	}
}

/*
 * etcd's error object: {"error":"...","code":N} from a unary call, or
 * {"error":{"grpc_code":N,"message":"..."}} inside a stream's answer.
 */
static int etcd_error(struct cb_etcd *e, json_object *o, long status)
{
	bool bad = false;
	json_object *err = field(o, "error", json_type_object, &bad);
	json_object *msg, *code;
	const char *text = "(no message)";
	int64_t c = -1;

	if (err != NULL) {
		o = err;
		code = field(o, "grpc_code", json_type_int, &bad);
		msg = field(o, "message", json_type_string, &bad);
	} else {
		bad = false;
		code = field(o, "code", json_type_int, &bad);
		msg = field(o, "error", json_type_string, &bad);
	}
	if (bad)
		return fail(e, -EPROTO, "%s: HTTP %ld: a malformed error",
		    e->url, status);
	if (code != NULL) {
		c = json_object_get_int64(code);
		if (c < 0 || c > 255)
			c = -1;
	}
	if (msg != NULL)
		text = json_object_get_string(msg);
	return fail(e, c < 0 ? -EIO : grpc_errno(c),
	    "%s: HTTP %ld: etcd: %.200s (code %lld)", e->url, status, text,
	    (long long)c);
}

/*
 * The answer in e->buf as one JSON object (nothing after it but white
 * space); an etcd error, or a status other than 200, is an error.
 * Returns 0 and *out (json_object_put it), or an error.
 */
static int parse_answer(struct cb_etcd *e, long status, json_object **out)
{
	enum json_tokener_error jerr;
	json_object *o;
	size_t len = e->len;
	int rc;

	while (len > 0 && isspace((unsigned char)e->buf[len - 1]))
		len--;
	if (len == 0)
		return fail(e, -EPROTO, "%s: HTTP %ld: an empty answer",
		    e->url, status);
	json_tokener_reset(e->tok);
	o = json_tokener_parse_ex(e->tok, e->buf, (int)len);
	jerr = json_tokener_get_error(e->tok);
	if (o == NULL || jerr != json_tokener_success ||
	    json_tokener_get_parse_end(e->tok) != len) {
		json_object_put(o);
		return fail(e, -EPROTO, "%s: HTTP %ld: not JSON (%s)", e->url,
		    status, jerr == json_tokener_success ?
		    "something after it" : json_tokener_error_desc(jerr));
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return fail(e, -EPROTO, "%s: HTTP %ld: not a JSON object",
		    e->url, status);
	}
	if (status != 200 || json_object_object_get_ex(o, "error", NULL)) {
		rc = etcd_error(e, o, status);
		json_object_put(o);
		return rc;
	}
	*out = o;
	return 0;
}

/* ---- the transport ---- */

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct cb_etcd *e = arg;
	size_t len = size * nmemb;

	if (len > e->opts.max_response - e->len) {
		e->too_big = true;
		return 0;	/* curl stops: CURLE_WRITE_ERROR */
	}
	if (e->len + len > e->cap) {
		size_t cap = e->cap ? e->cap : 4096;
		char *b;

		while (cap < e->len + len)
			cap *= 2;
		if (cap > e->opts.max_response)
			cap = e->opts.max_response;
		b = realloc(e->buf, cap);
		if (b == NULL) {
			e->nomem = true;
			return 0;
		}
		e->buf = b;
		e->cap = cap;
	}
	memcpy(e->buf + e->len, p, len);
	e->len += len;
	return len;
}

/* A transport failure worth another endpoint: the member was not
 * reached, or did not answer in time. */
static bool unreached(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

/*
 * Send body to endpoint i's path once.  Returns 0 and *status (an
 * answer arrived, in e->buf), 1 (unreached: endpoint_err[i] says why),
 * or an error (an answer that cannot be read: too big, or not HTTP).
 */
static int send_once(struct cb_etcd *e, size_t i, const char *path,
    const char *body, long *status)
{
	CURLcode rc;

	snprintf(e->url, sizeof(e->url), "%s%s", e->endpoint[i], path);
	e->len = 0;
	e->too_big = e->nomem = false;
	e->curl_err[0] = '\0';
	curl_easy_setopt(e->curl, CURLOPT_URL, e->url);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)strlen(body));
	e->sent_ns = now_ns();
	rc = curl_easy_perform(e->curl);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, status);
		return 0;
	}
	if (e->nomem)
		return fail(e, -ENOMEM, "%s: out of memory", e->url);
	if (e->too_big || rc == CURLE_FILESIZE_EXCEEDED)
		return fail(e, -EPROTO, "%s: an answer over %zu bytes",
		    e->url, e->opts.max_response);
	if (!unreached(rc))
		return fail(e, -EPROTO, "%s: %s", e->url, e->curl_err[0] ?
		    e->curl_err : curl_easy_strerror(rc));
	snprintf(e->endpoint_err[i], sizeof(e->endpoint_err[i]), "%.300s: %.200s",
	    e->url, e->curl_err[0] ? e->curl_err : curl_easy_strerror(rc));
	/* The last failure, though the next endpoint may answer. */
	fail(e, rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED,
	    "%s", e->endpoint_err[i]);
	return 1;
}

/*
 * POST req to path, starting with the endpoint that answered last and
 * moving on while endpoints are unreached.  Returns 0 and *out (the
 * answer, a JSON object without an etcd error), or an error.
 */
static int request(struct cb_etcd *e, const char *path, json_object *req,
    json_object **out)
{
	const char *body = json_object_to_json_string_ext(req,
	    JSON_C_TO_STRING_PLAIN);
	size_t k, i = e->cur;
	long status = 0;
	int rc = 1;
	char *p;

	if (body == NULL)
		return fail(e, -ENOMEM, "out of memory");
	for (k = 0; k < e->n; k++) {
		i = (e->cur + k) % e->n;
		rc = send_once(e, i, path, body, &status);
		if (rc <= 0)
			break;
	}
	if (rc == 1) {
		/* Every endpoint unreached: say what each said. */
		rc = e->last_err;
		p = e->err;
		p += snprintf(p, sizeof(e->err), "no etcd endpoint answered");
		for (k = 0; k < e->n && p < e->err + sizeof(e->err) - 1; k++)
			p += snprintf(p, (size_t)(e->err + sizeof(e->err) - p),
			    "; %s", e->endpoint_err[k]);
		e->last_fail_ns = now_ns();
		return rc;
	}
	/* It answered (or sent what curl could not read as HTTP): the
	 * next request starts here. */
	e->cur = i;
	if (rc < 0)
		return rc;
	e->last_ok_ns = now_ns();
	return parse_answer(e, status, out);
}

/* ---- opening ---- */

static int add_endpoint(struct cb_etcd *e, const char *s, size_t len,
    char *err, size_t errlen)
{
	size_t k;

	while (len > 0 && s[len - 1] == '/')
		len--;
	if (e->n == CB_ETCD_ENDPOINTS_MAX) {
		snprintf(err, errlen, "more than %d endpoints",
		    CB_ETCD_ENDPOINTS_MAX);
		return -EINVAL;
	}
	for (k = 0; k < len; k++)
		if (!isgraph((unsigned char)s[k]))
			break;
	if (len >= ENDPOINT_MAX || k != len ||
	    (!(len > 7 && strncmp(s, "http://", 7) == 0) &&
	    !(len > 8 && strncmp(s, "https://", 8) == 0))) {
		snprintf(err, errlen, "endpoint '%.*s': expected "
		    "http://HOST:PORT or https://HOST:PORT",
		    (int)(len < 64 ? len : 64), s);
		return -EINVAL;
	}
	e->endpoint[e->n] = strndup(s, len);
	if (e->endpoint[e->n] == NULL)
		return -ENOMEM;
	e->n++;
	return 0;
}

static int parse_endpoints(struct cb_etcd *e, const char *list, char *err,
    size_t errlen)
{
	const char *p = list, *comma;
	int rc;

	for (;;) {
		comma = strchr(p, ',');
		rc = add_endpoint(e, p, comma ? (size_t)(comma - p) :
		    strlen(p), err, errlen);
		if (rc)
			return rc;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

static int setup_curl(struct cb_etcd *e)
{
	CURL *c = e->curl;

	e->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (e->headers == NULL)
		return -ENOMEM;
	/* No "Expect: 100-continue" round trip before a large body. */
	if (curl_slist_append(e->headers, "Expect:") == NULL)
		return -ENOMEM;
	if (curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, e->headers) ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    e->opts.connect_timeout_ms) ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, e->opts.timeout_ms) ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data) ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, e) ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, e->curl_err) ||
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)e->opts.max_response) ||
	    /* Never a proxy from the environment's http_proxy. */
	    curl_easy_setopt(c, CURLOPT_PROXY, "") ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https"))
		return -EINVAL;
	return 0;
}

int cb_etcd_open(struct cb_etcd **out, const char *endpoints,
    const struct cb_etcd_opts *opts, char *err, size_t errlen)
{
	struct cb_etcd *e;
	int rc;

	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init failed");
		return -ENOMEM;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	if (opts != NULL)
		e->opts = *opts;
	if (e->opts.connect_timeout_ms <= 0)
		e->opts.connect_timeout_ms = 1000;
	if (e->opts.timeout_ms <= 0)
		e->opts.timeout_ms = 2000;
	if (e->opts.max_response == 0)
		e->opts.max_response = 4 << 20;
	rc = -EINVAL;
	/* json-c takes an int length. */
	if (e->opts.max_response > INT_MAX / 2) {
		snprintf(err, errlen, "max_response over %d bytes", INT_MAX / 2);
		goto out;
	}
	rc = parse_endpoints(e, endpoints, err, errlen);
	if (rc)
		goto out;
	rc = -ENOMEM;
	e->curl = curl_easy_init();
	e->tok = json_tokener_new_ex(JSON_DEPTH_MAX);
	if (e->curl == NULL || e->tok == NULL)
		goto out;
	json_tokener_set_flags(e->tok, JSON_TOKENER_STRICT);
	rc = setup_curl(e);
	if (rc == -EINVAL)
		snprintf(err, errlen, "libcurl %s refused an option",
		    curl_version());
	if (rc)
		goto out;
	*out = e;
	return 0;
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	cb_etcd_close(e);
	return rc;
}

void cb_etcd_close(struct cb_etcd *e)
{
	size_t i;

	if (e == NULL)
		return;
	if (e->curl != NULL)
		curl_easy_cleanup(e->curl);
	curl_slist_free_all(e->headers);
	if (e->tok != NULL)
		json_tokener_free(e->tok);
	for (i = 0; i < e->n; i++)
		free(e->endpoint[i]);
	free(e->buf);
	free(e);
}

const char *cb_etcd_error(const struct cb_etcd *e)
{
	return e->err;
}

void cb_etcd_status(const struct cb_etcd *e, struct cb_etcd_status *st)
{
	st->nendpoints = e->n;
	st->current = e->cur;
	st->last_ok_ns = e->last_ok_ns;
	st->last_fail_ns = e->last_fail_ns;
	st->last_err = e->last_err;
}

const char *cb_etcd_endpoint(const struct cb_etcd *e, size_t i)
{
	return i < e->n ? e->endpoint[i] : NULL;
}

const char *cb_etcd_endpoint_error(const struct cb_etcd *e, size_t i)
{
	return i < e->n ? e->endpoint_err[i] : NULL;
}

/* ---- leases ---- */

/* A request {"ID": id} (and TTL when ttl >= 0) to path. */
static int lease_call(struct cb_etcd *e, const char *path, int64_t id,
    int64_t ttl, json_object **ans)
{
	json_object *req = json_object_new_object();
	int rc;

	if (req == NULL)
		return fail(e, -ENOMEM, "out of memory");
	rc = add_int64(req, "ID", id);
	if (rc == 0 && ttl >= 0)
		rc = add_int64(req, "TTL", ttl);
	rc = rc ? fail(e, rc, "out of memory") : request(e, path, req, ans);
	json_object_put(req);
	return rc;
}

/* ID and TTL of a lease answer; ttl_min -1: timetolive's "gone". */
static int lease_fields(struct cb_etcd *e, json_object *o, long long ttl_min,
    struct cb_etcd_lease *l)
{
	int rc = get_int64(e, o, "ID", 0, LLONG_MAX, &l->id);

	if (rc == 0)
		rc = get_int64(e, o, "TTL", ttl_min, TTL_MAX, &l->ttl);
	l->sent_ns = e->sent_ns;
	return rc;
}

int cb_etcd_lease_grant(struct cb_etcd *e, int64_t ttl, struct cb_etcd_lease *l)
{
	json_object *ans;
	int rc;

	if (ttl <= 0 || ttl > TTL_MAX)
		return fail(e, -EINVAL, "lease TTL %lld out of range",
		    (long long)ttl);
	rc = lease_call(e, "/v3/lease/grant", 0, ttl, &ans);
	if (rc)
		return rc;
	rc = lease_fields(e, ans, 0, l);
	if (rc == 0 && (l->id == 0 || l->ttl == 0))
		rc = fail(e, -EPROTO, "%s: a grant without an ID or a TTL",
		    e->url);
	json_object_put(ans);
	return rc;
}

/*
 * The gateway streams keepalives: one request, one {"result": {...}}.
 * A lease that is gone answers with a TTL of 0 (left out).
 */
int cb_etcd_lease_keepalive(struct cb_etcd *e, int64_t id,
    struct cb_etcd_lease *l)
{
	json_object *ans, *res;
	bool bad = false;
	int rc;

	rc = lease_call(e, "/v3/lease/keepalive", id, -1, &ans);
	if (rc)
		return rc;
	res = field(ans, "result", json_type_object, &bad);
	if (res == NULL)
		rc = fail(e, -EPROTO, "%s: no \"result\" object", e->url);
	else
		rc = lease_fields(e, res, 0, l);
	if (rc == 0 && l->id != id)
		rc = fail(e, -EPROTO, "%s: the answer is for lease %lld",
		    e->url, (long long)l->id);
	if (rc == 0 && l->ttl == 0)
		rc = fail(e, -ENOENT, "%s: lease %lld not found", e->url,
		    (long long)id);
	json_object_put(ans);
	return rc;
}

int cb_etcd_lease_revoke(struct cb_etcd *e, int64_t id)
{
	json_object *ans;
	int rc = lease_call(e, "/v3/lease/revoke", id, -1, &ans);

	if (rc == 0)
		json_object_put(ans);
	return rc;
}

/* A lease that is gone answers with a TTL of -1. */
int cb_etcd_lease_timetolive(struct cb_etcd *e, int64_t id,
    struct cb_etcd_lease *l)
{
	json_object *ans;
	int rc = lease_call(e, "/v3/lease/timetolive", id, -1, &ans);

	if (rc)
		return rc;
	rc = lease_fields(e, ans, -1, l);
	if (rc == 0 && l->ttl < 0)
		rc = fail(e, -ENOENT, "%s: lease %lld not found", e->url,
		    (long long)id);
	json_object_put(ans);
	return rc;
}

/* ---- keys ---- */

void cb_etcd_range_free(struct cb_etcd_range *r)
{
	size_t i;

	for (i = 0; i < r->nkvs; i++) {
		free(r->kvs[i].key);
		free(r->kvs[i].value);
	}
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

static int parse_kv(struct cb_etcd *e, json_object *o, struct cb_etcd_kv *kv)
{
	int rc;

	if (!json_object_is_type(o, json_type_object))
		return fail(e, -EPROTO, "%s: a kv that is not an object",
		    e->url);
	rc = get_bytes(e, o, "key", true, &kv->key, &kv->key_len);
	if (rc == 0)
		rc = get_bytes(e, o, "value", false, &kv->value,
		    &kv->value_len);
	if (rc == 0)
		rc = get_int64(e, o, "create_revision", 0, LLONG_MAX,
		    &kv->create_revision);
	if (rc == 0)
		rc = get_int64(e, o, "mod_revision", 0, LLONG_MAX,
		    &kv->mod_revision);
	if (rc == 0)
		rc = get_int64(e, o, "version", 0, LLONG_MAX, &kv->version);
	if (rc == 0)
		rc = get_int64(e, o, "lease", 0, LLONG_MAX, &kv->lease);
	return rc;
}

/* A RangeResponse.  On error *r is empty. */
static int parse_range(struct cb_etcd *e, json_object *o,
    struct cb_etcd_range *r)
{
	bool bad = false;
	json_object *kvs = field(o, "kvs", json_type_array, &bad);
	size_t i, n;
	int rc;

	memset(r, 0, sizeof(*r));
	if (bad)
		return fail(e, -EPROTO, "%s: \"kvs\" is not an array", e->url);
	rc = get_revision(e, o, &r->revision);
	if (rc == 0)
		rc = get_bool(e, o, "more", &r->more);
	n = kvs ? json_object_array_length(kvs) : 0;
	if (rc == 0 && n > 0) {
		r->kvs = calloc(n, sizeof(*r->kvs));
		if (r->kvs == NULL)
			rc = fail(e, -ENOMEM, "out of memory");
	}
	for (i = 0; rc == 0 && i < n; i++) {
		/* Counted as it fills, so range_free frees what is there. */
		r->nkvs++;
		rc = parse_kv(e, json_object_array_get_idx(kvs, i), &r->kvs[i]);
	}
	if (rc)
		cb_etcd_range_free(r);
	return rc;
}

static int kv_call(struct cb_etcd *e, const char *path, json_object *req,
    int rc, json_object **ans)
{
	if (rc == 0)
		rc = request(e, path, req, ans);
	else if (rc == -EINVAL)
		rc = fail(e, rc, "an empty key");
	else
		rc = fail(e, rc, "out of memory");
	json_object_put(req);
	return rc;
}

int cb_etcd_put(struct cb_etcd *e, const char *key, const void *value,
    size_t len, int64_t lease, int64_t *revision)
{
	json_object *req = json_object_new_object(), *ans;
	int64_t rev;
	int rc = req ? add_key(req, key, false) : -ENOMEM;

	if (rc == 0)
		rc = add_bytes(req, "value", value, len);
	if (rc == 0 && lease != 0)
		rc = add_int64(req, "lease", lease);
	rc = kv_call(e, "/v3/kv/put", req, rc, &ans);
	if (rc)
		return rc;
	rc = get_revision(e, ans, &rev);
	if (rc == 0 && revision != NULL)
		*revision = rev;
	json_object_put(ans);
	return rc;
}

static int range_call(struct cb_etcd *e, const char *key, bool prefix,
    struct cb_etcd_range *r)
{
	json_object *req = json_object_new_object(), *ans;
	int rc = req ? add_key(req, key, prefix) : -ENOMEM;

	memset(r, 0, sizeof(*r));
	rc = kv_call(e, "/v3/kv/range", req, rc, &ans);
	if (rc)
		return rc;
	rc = parse_range(e, ans, r);
	json_object_put(ans);
	return rc;
}

int cb_etcd_get(struct cb_etcd *e, const char *key, struct cb_etcd_range *r)
{
	return range_call(e, key, false, r);
}

int cb_etcd_range(struct cb_etcd *e, const char *prefix,
    struct cb_etcd_range *r)
{
	return range_call(e, prefix, true, r);
}

int cb_etcd_delete(struct cb_etcd *e, const char *key, int64_t *deleted)
{
	json_object *req = json_object_new_object(), *ans;
	int64_t n;
	int rc = req ? add_key(req, key, false) : -ENOMEM;

	rc = kv_call(e, "/v3/kv/deleterange", req, rc, &ans);
	if (rc)
		return rc;
	rc = get_int64(e, ans, "deleted", 0, LLONG_MAX, &n);
	if (rc == 0 && deleted != NULL)
		*deleted = n;
	json_object_put(ans);
	return rc;
}

/* ---- transactions ---- */

static const char *const target_name[] = {
	[CB_ETCD_CREATE] = "CREATE", [CB_ETCD_MOD] = "MOD",
	[CB_ETCD_VERSION] = "VERSION", [CB_ETCD_VALUE] = "VALUE",
	[CB_ETCD_LEASE] = "LEASE",
};
static const char *const target_field[] = {
	[CB_ETCD_CREATE] = "create_revision", [CB_ETCD_MOD] = "mod_revision",
	[CB_ETCD_VERSION] = "version", [CB_ETCD_VALUE] = "value",
	[CB_ETCD_LEASE] = "lease",
};
static const char *const cmp_name[] = {
	[CB_ETCD_EQ] = "EQUAL", [CB_ETCD_NE] = "NOT_EQUAL",
	[CB_ETCD_LT] = "LESS", [CB_ETCD_GT] = "GREATER",
};

static int build_compare(json_object *arr, const struct cb_etcd_compare *c)
{
	json_object *o;
	int rc;

	if ((unsigned)c->target > CB_ETCD_LEASE || (unsigned)c->cmp > CB_ETCD_GT)
		return -EINVAL;
	o = json_object_new_object();
	if (o == NULL || json_object_array_add(arr, o) != 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	rc = add_key(o, c->key, c->prefix);
	if (rc == 0)
		rc = add_string(o, "target", target_name[c->target]);
	if (rc == 0)
		rc = add_string(o, "result", cmp_name[c->cmp]);
	if (rc == 0)
		rc = c->target == CB_ETCD_VALUE ?
		    add_bytes(o, "value", c->value, c->value_len) :
		    add_int64(o, target_field[c->target], c->number);
	return rc;
}

static int build_op(json_object *arr, const struct cb_etcd_op *op)
{
	static const char *const name[] = {
		[CB_ETCD_OP_PUT] = "request_put",
		[CB_ETCD_OP_DELETE] = "request_delete_range",
		[CB_ETCD_OP_RANGE] = "request_range",
	};
	json_object *wrap, *o;
	int rc;

	if ((unsigned)op->kind > CB_ETCD_OP_RANGE ||
	    (op->kind == CB_ETCD_OP_PUT && op->prefix))
		return -EINVAL;
	wrap = json_object_new_object();
	o = json_object_new_object();
	if (wrap == NULL || o == NULL || json_object_array_add(arr, wrap)) {
		json_object_put(wrap);
		json_object_put(o);
		return -ENOMEM;
	}
	if (json_object_object_add(wrap, name[op->kind], o) != 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	rc = add_key(o, op->key, op->prefix);
	if (rc == 0 && op->kind == CB_ETCD_OP_PUT)
		rc = add_bytes(o, "value", op->value, op->value_len);
	if (rc == 0 && op->kind == CB_ETCD_OP_PUT && op->lease != 0)
		rc = add_int64(o, "lease", op->lease);
	return rc;
}

/* An array name of n items built by fn into req. */
static int build_list(json_object *req, const char *name, const void *items,
    size_t n, size_t size, int (*fn)(json_object *, const void *))
{
	json_object *arr;
	size_t i;
	int rc = 0;

	if (n == 0)
		return 0;
	if (n > CB_ETCD_TXN_OPS_MAX)
		return -EINVAL;
	arr = json_object_new_array();
	if (arr == NULL || json_object_object_add(req, name, arr) != 0) {
		json_object_put(arr);
		return -ENOMEM;
	}
	for (i = 0; rc == 0 && i < n; i++)
		rc = fn(arr, (const char *)items + i * size);
	return rc;
}

static int build_compare_any(json_object *arr, const void *c)
{
	return build_compare(arr, c);
}

static int build_op_any(json_object *arr, const void *op)
{
	return build_op(arr, op);
}

void cb_etcd_txn_result_free(struct cb_etcd_txn_result *t)
{
	size_t i;

	for (i = 0; i < t->nresults; i++)
		cb_etcd_range_free(&t->results[i].range);
	free(t->results);
	memset(t, 0, sizeof(*t));
}

/* One ResponseOp, which must answer op. */
static int parse_op_result(struct cb_etcd *e, json_object *o,
    const struct cb_etcd_op *op, struct cb_etcd_op_result *r)
{
	static const char *const name[] = {
		[CB_ETCD_OP_PUT] = "response_put",
		[CB_ETCD_OP_DELETE] = "response_delete_range",
		[CB_ETCD_OP_RANGE] = "response_range",
	};
	bool bad = false;
	json_object *inner;

	r->kind = op->kind;
	if (!json_object_is_type(o, json_type_object) ||
	    json_object_object_length(o) != 1 ||
	    (inner = field(o, name[op->kind], json_type_object, &bad)) == NULL)
		return fail(e, -EPROTO, "%s: a txn response that is not a %s",
		    e->url, name[op->kind]);
	if (op->kind == CB_ETCD_OP_DELETE)
		return get_int64(e, inner, "deleted", 0, LLONG_MAX,
		    &r->deleted);
	if (op->kind == CB_ETCD_OP_RANGE)
		return parse_range(e, inner, &r->range);
	return 0;
}

static int parse_txn(struct cb_etcd *e, json_object *o,
    const struct cb_etcd_txn *txn, struct cb_etcd_txn_result *res)
{
	bool bad = false;
	json_object *arr = field(o, "responses", json_type_array, &bad);
	const struct cb_etcd_op *ops;
	size_t i, n;
	int rc;

	if (bad)
		return fail(e, -EPROTO, "%s: \"responses\" is not an array",
		    e->url);
	rc = get_bool(e, o, "succeeded", &res->succeeded);
	if (rc == 0)
		rc = get_revision(e, o, &res->revision);
	if (rc)
		return rc;
	ops = res->succeeded ? txn->success : txn->failure;
	n = res->succeeded ? txn->nsuccess : txn->nfailure;
	if ((arr ? json_object_array_length(arr) : 0) != n)
		return fail(e, -EPROTO, "%s: %zu txn responses for %zu ops",
		    e->url, arr ? json_object_array_length(arr) : 0, n);
	if (n == 0)
		return 0;
	res->results = calloc(n, sizeof(*res->results));
	if (res->results == NULL)
		return fail(e, -ENOMEM, "out of memory");
	for (i = 0; rc == 0 && i < n; i++) {
		res->nresults++;
		rc = parse_op_result(e, json_object_array_get_idx(arr, i),
		    &ops[i], &res->results[i]);
	}
	return rc;
}

int cb_etcd_txn_run(struct cb_etcd *e, const struct cb_etcd_txn *txn,
    struct cb_etcd_txn_result *res)
{
	json_object *req = json_object_new_object(), *ans;
	int rc = req ? 0 : -ENOMEM;

	memset(res, 0, sizeof(*res));
	if (rc == 0)
		rc = build_list(req, "compare", txn->compare, txn->ncompare,
		    sizeof(*txn->compare), build_compare_any);
	if (rc == 0)
		rc = build_list(req, "success", txn->success, txn->nsuccess,
		    sizeof(*txn->success), build_op_any);
	if (rc == 0)
		rc = build_list(req, "failure", txn->failure, txn->nfailure,
		    sizeof(*txn->failure), build_op_any);
	if (rc == -EINVAL) {
		json_object_put(req);
		return fail(e, rc, "a txn with an empty key, an unknown "
		    "compare or op, or over %d of them", CB_ETCD_TXN_OPS_MAX);
	}
	rc = kv_call(e, "/v3/kv/txn", req, rc, &ans);
	if (rc)
		return rc;
	rc = parse_txn(e, ans, txn, res);
	if (rc)
		cb_etcd_txn_result_free(res);
	json_object_put(ans);
	return rc;
}
