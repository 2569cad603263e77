/*
 * cbpidmod - run a program as a process whose pid is REM modulo MOD; for
 * t_sweeper_reuse.sh, which needs a client that claims a given client
 * entry (cb_rsv_claim starts its search at pid % CB_MAX_CLIENTS).
 *
 *   cbpidmod MOD REM PROG [ARG...]
 *
 * Forks until a child's pid is REM modulo MOD (the others exit at
 * once), writes "pid PID" to stderr, execs PROG in that child and
 * waits for it.  Exit status: the program's (128 + signal if killed);
 * 3 if no such pid came within 1,000,000 forks; 64 on usage errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long mod, rem;
	int status;
	pid_t pid;

	if (argc < 4 || (mod = atol(argv[1])) <= 0 ||
	    (rem = atol(argv[2])) < 0 || rem >= mod) {
		fprintf(stderr, "usage: cbpidmod MOD REM PROG [ARG...]\n");
		return 64;
	}
	for (long tries = 0; tries < 1000000; tries++) {
		pid = fork();
		if (pid < 0)
			return 3;
		if (pid == 0) {
			if (getpid() % mod != rem)
				_exit(0);
			execvp(argv[3], argv + 3);
			perror(argv[3]);
			_exit(127);
		}
		if (pid % mod == rem)
			break;
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		pid = -1;
	}
	if (pid < 0) {
		fprintf(stderr, "cbpidmod: no pid %ld mod %ld in 1000000 "
		    "forks\n", rem, mod);
		return 3;
	}
	fprintf(stderr, "pid %d\n", (int)pid);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 3;
	return WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status);
}
