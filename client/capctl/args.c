/*
 * args.c - capctl's usage errors, a command's help, and the option and
 * operand checks every command shares.
 *
 * A bad argument exits 64 naming the flag or operand and its range,
 * with a pointer to the command's --help; nothing has been sent then.
 */
#include <bsd/stdlib.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capctl.h"
#include "proto.h"

/* ---- usage errors and help ---------------------------------------- */

/* "capctl: WHAT" and the --help hint for topic (NULL: capctl's). */
void usage_error(const char *topic, const char *fmt, ...)
{
	va_list ap;

	fputs("capctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'capctl %s%s--help' for more information.\n",
	    topic != NULL ? topic : "", topic != NULL ? " " : "");
	exit(EXIT_USAGE);
}

/* getopt_long() said '?' or ':' (opterr is 0: the words are ours). */
void option_error(const char *topic, int ch, char **argv)
{
	if (ch == ':')
		usage_error(topic, "option '%s' needs an argument",
		    argv[optind - 1]);
	if (optopt != 0)
		usage_error(topic, "unknown option '-%c'", optopt);
	usage_error(topic, "unknown option '%s'", argv[optind - 1]);
}

/* text's '\n'-ended lines, each indented (empty lines stay empty). */
void print_indented(FILE *f, const char *text, int indent)
{
	const char *nl;

	for (; *text != '\0'; text = nl + (*nl == '\n')) {
		nl = text + strcspn(text, "\n");
		if (nl > text)
			fprintf(f, "%*s%.*s", indent, "", (int)(nl - text),
			    text);
		fputc('\n', f);
	}
}

/* "worker set ID --state STATE ..." */
void print_cmd_words(FILE *f, const struct ctl_cmd *c)
{
	fprintf(f, "%s%s%s%s%s", c->group, c->sub != NULL ? " " : "",
	    c->sub != NULL ? c->sub : "", c->args[0] != '\0' ? " " : "",
	    c->args);
}

/* One command's help: its synopsis and its text. */
void help_cmd(FILE *f, const struct ctl_cmd *c)
{
	fputs("usage: capctl [-n NAME] ", f);
	print_cmd_words(f, c);
	fputs("\n\n", f);
	print_indented(f, c->help, 2);
	fputs("\nSee 'capctl --help' for -n, the environment and the exit "
	    "status.\n", f);
}

/* ---- options and operands ------------------------------------------ */

/*
 * getopt_long() for a command (argv[0] is the command's last word;
 * main() reset optind): -h prints the command's help and exits 0, an
 * unknown option or a missing argument is a usage error.
 */
int cmd_getopt(struct ctl *ctl, int argc, char **argv,
    const char *shortopts, const struct option *longopts)
{
	int ch;

	opterr = 0;
	ch = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (ch == 'h') {
		help_cmd(stdout, ctl->cmd);
		exit(0);
	}
	if (ch == '?' || ch == ':')
		option_error(ctl->topic, ch, argv);
	return ch;
}

/* For commands with no options but -h: returns the first operand. */
int cmd_no_options(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};

	while (cmd_getopt(ctl, argc, argv, ":h", opts) != -1)
		;
	return optind;
}

/* Exactly want operands from argv[first]; what names the first. */
void cmd_operands(struct ctl *ctl, int argc, char **argv, int first,
    int want, const char *what)
{
	if (argc - first < want)
		usage_error(ctl->topic, "missing %s", what);
	if (argc - first > want)
		usage_error(ctl->topic, "unexpected argument '%s'",
		    argv[first + want]);
}

/* A pool name from the command line, checked before it is used. */
const char *cmd_pool_name(struct ctl *ctl, const char *name)
{
	if (!cb_pool_name_valid(name))
		usage_error(ctl->topic, "bad pool name '%.80s': 1-%d of "
		    "A-Z a-z 0-9 . _ -", name, CB_POOL_NAME_MAX);
	return name;
}

/* An integer option argument in min..max; a usage error names it (and
 * the command's help, once there is a command). */
long long opt_number(struct ctl *ctl, const char *opt,
    const char *arg, long long min, long long max)
{
	const char *errstr;
	long long v;

	v = strtonum(arg, min, max, &errstr);
	if (errstr != NULL)
		usage_error(ctl->topic[0] != '\0' ? ctl->topic : NULL,
		    "%s '%.32s' is %s (%lld..%lld)", opt, arg, errstr, min,
		    max);
	return v;
}
