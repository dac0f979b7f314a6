/*
 * spawn.c: runs one command and writes its wall time and rusage.
 *
 *   spawn RESULT_FILE COMMAND [ARGS...]
 *
 * bench/run.py starts every measured client through this helper instead of
 * forking Python itself.  On Linux, execve keeps the peak RSS of the
 * address space it replaces (the forked parent's copy) in the process's
 * ru_maxrss, so a child forked from the Python driver would report at least
 * the driver's own ~10 MB.  Forked from this small helper, the inherited
 * part is the helper's few hundred KiB, which the driver measures by
 * running /bin/true.
 *
 * RESULT_FILE receives one line: "wall_seconds user_seconds system_seconds
 * maxrss_kib exit_status"; exit_status is 128 + N for a child killed by
 * signal N.  The helper's exit status is 0 when it could measure, else 127.
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timeval tv)
{
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}


int main(int argc, char **argv)
{
  struct timespec start, end;
  struct rusage usage;
  int status, code;
  pid_t pid;
  FILE *out;

  if (argc < 3) {
    fputs("usage: spawn RESULT_FILE COMMAND [ARGS...]\n", stderr);
    return 127;
  }
  clock_gettime(CLOCK_MONOTONIC, &start);
  pid = fork();
  if (pid < 0) {
    perror("spawn: fork");
    return 127;
  }
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    perror("spawn: execvp");
    _exit(127);
  }
  if (wait4(pid, &status, 0, &usage) < 0) {
    perror("spawn: wait4");
    return 127;
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  out = fopen(argv[1], "w");
  if (out == NULL) {
    perror("spawn: cannot open the result file");
    return 127;
  }
  fprintf(out, "%.6f %.6f %.6f %ld %d\n",
          (double)(end.tv_sec - start.tv_sec) +
              (double)(end.tv_nsec - start.tv_nsec) / 1e9,
          seconds(usage.ru_utime), seconds(usage.ru_stime), usage.ru_maxrss,
          code);
  return fclose(out) == 0 ? 0 : 127;
}
