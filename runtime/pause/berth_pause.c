/* berth-pause: the process that holds a task's shared namespaces.
 *
 * It runs as pid 1 of the task's PID namespace, so it must reap the
 * processes the kernel reparents to it (a container's orphans), and it must
 * live exactly as long as the task: if it exits, the kernel kills every
 * process in the namespace. It sleeps in pause() and exits 0 on SIGTERM or
 * SIGINT. Linked statically: its root filesystem holds nothing else. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int signo) {
  (void)signo;
  _exit(0);
}

static void on_child(int signo) {
  (void)signo;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

int main(void) {
  struct sigaction stop;
  memset(&stop, 0, sizeof stop);
  stop.sa_handler = on_stop;
  sigemptyset(&stop.sa_mask);
  struct sigaction child;
  memset(&child, 0, sizeof child);
  child.sa_handler = on_child;
  sigemptyset(&child.sa_mask);
  child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  if (sigaction(SIGTERM, &stop, NULL) != 0 || sigaction(SIGINT, &stop, NULL) != 0 ||
      sigaction(SIGCHLD, &child, NULL) != 0) {
    return 1;
  }
  for (;;) pause();
  return 0;
}
