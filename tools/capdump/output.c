/*
 * output.c - -o FILE: each dump replaces FILE whole.
 *
 * A reader of FILE (the node_exporter's textfile collector, a script)
 * must never see half a dump, nor an old one that looks current: the
 * dump is written to a temporary file in FILE's directory and renamed
 * over FILE, and when the instance cannot be attached at all FILE is
 * still replaced, by a dump that says so (capbroker_broker_up 0).  The
 * printers write to stdout; while a dump is being written, stdout is
 * the temporary file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "capdump.h"

static void output_abandon(struct output *out)
{
	fflush(stdout);
	clearerr(stdout);
	if (out->saved >= 0) {
		dup2(out->saved, STDOUT_FILENO);
		close(out->saved);
		out->saved = -1;
	}
	unlink(out->tmp);
}

int output_begin(struct output *out, const char *path)
{
	int fd;

	out->path = path;
	out->saved = -1;
	if ((size_t)snprintf(out->tmp, sizeof(out->tmp), "%s.tmp.XXXXXX",
	    path) >= sizeof(out->tmp)) {
		fprintf(stderr, "capdump: %s: name too long\n", path);
		return EX_CANTCREAT;
	}
	if ((fd = mkstemp(out->tmp)) < 0) {
		fprintf(stderr, "capdump: creating %s: %s\n", out->tmp,
		    strerror(errno));
		return EX_CANTCREAT;
	}
	/* mkstemp() makes it 0600; a collector runs as another user. */
	if (fchmod(fd, 0644) < 0 || fflush(stdout) == EOF ||
	    (out->saved = dup(STDOUT_FILENO)) < 0 ||
	    dup2(fd, STDOUT_FILENO) < 0) {
		fprintf(stderr, "capdump: %s: %s\n", out->tmp,
		    strerror(errno));
		close(fd);
		output_abandon(out);
		return EX_CANTCREAT;
	}
	close(fd);
	return 0;
}

int output_commit(struct output *out)
{
	int e = 0;

	if (fflush(stdout) == EOF || ferror(stdout))
		e = errno != 0 ? errno : EIO;
	else if (fsync(STDOUT_FILENO) < 0)
		e = errno;
	if (e != 0) {
		fprintf(stderr, "capdump: writing %s: %s\n", out->tmp,
		    strerror(e));
		output_abandon(out);
		return EX_IOERR;
	}
	dup2(out->saved, STDOUT_FILENO);
	close(out->saved);
	out->saved = -1;
	if (rename(out->tmp, out->path) < 0) {
		fprintf(stderr, "capdump: renaming %s to %s: %s\n", out->tmp,
		    out->path, strerror(errno));
		unlink(out->tmp);
		return EX_IOERR;
	}
	return 0;
}
