/*
 * cbnotify - a stand-in for systemd's notification socket, for
 * t_notify.sh.
 *
 *   cbnotify PATH
 *
 * Binds a Unix datagram socket at PATH (as systemd does for a service's
 * NOTIFY_SOCKET) and prints each datagram it receives as one line, the
 * newlines inside it (sd_notify packs several assignments into one
 * datagram) shown as '|'.  Line-buffered; runs until killed.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char buf[4096];
	ssize_t n;
	int fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usage: cbnotify PATH\n");
		return 64;
	}
	strcpy(sun.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		perror("cbnotify");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("listening\n");
	while ((n = recv(fd, buf, sizeof(buf) - 1, 0)) >= 0) {
		while (n > 0 && buf[n - 1] == '\n')
			n--;
		buf[n] = '\0';
		for (char *p = buf; (p = strchr(p, '\n')) != NULL;)
			*p = '|';
		printf("%s\n", buf);
	}
	perror("cbnotify: recv");
	return 1;
}
