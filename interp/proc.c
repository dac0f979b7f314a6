/*
 * proc.c: child processes for the exec primitive and the --sim runner.
 *
 * Lua module `mnem._proc`.  spawn() starts a program from an argument list
 * (never through a shell: callers that want one pass /bin/sh -c
 * explicitly) in its own process group, with pipes for stdin, stdout and
 * stderr.  The Lua side polls the pipes with read() and reaps the child
 * with wait(); a Process userdata that is collected while its child still
 * runs kills the whole group, so no child outlives a failed playbook.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "mnem.h"

#define PROCESS "mnem.Process"

typedef struct {
  pid_t pid;     /* 0 once reaped */
  int in_fd;     /* write end of the child's stdin, or -1 */
  int out_fd;    /* read end of the child's stdout, or -1 */
  int err_fd;    /* read end of the child's stderr, or -1 */
  int status;    /* wait status, valid once pid == 0 */
  int new_group; /* the child leads its own process group */
} Process;

extern char **environ;


static void close_fd(int *fd)
{
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}


static double now_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


/* Reaps the child without blocking; returns 1 once it has exited. */
static int reap(Process *p, int options)
{
  int status;
  pid_t r;

  if (p->pid == 0)
    return 1;
  do
    r = waitpid(p->pid, &status, options);
  while (r < 0 && errno == EINTR);
  if (r == p->pid || (r < 0 && errno == ECHILD)) {
    p->status = r == p->pid ? status : 0;
    p->pid = 0;
    return 1;
  }
  return 0;
}


static void signal_child(Process *p, int sig)
{
  if (p->pid == 0)
    return;
  if (p->new_group)
    kill(-p->pid, sig);
  else
    kill(p->pid, sig);
}


/* __gc and __close: kill a child still running, reap it, close pipes. */
static int process_release(lua_State *L)
{
  Process *p = luaL_checkudata(L, 1, PROCESS);

  if (p->pid != 0 && !reap(p, WNOHANG)) {
    signal_child(p, SIGKILL);
    reap(p, 0);
  }
  close_fd(&p->in_fd);
  close_fd(&p->out_fd);
  close_fd(&p->err_fd);
  return 0;
}


/* ---- spawn ---- */

/*
 * Builds a NULL-terminated array of strings from the array part of the
 * table at index idx.  The strings stay owned by Lua (the table is kept on
 * the stack by the caller), only the array is malloc'd.
 */
static char **string_array(lua_State *L, int idx, const char *what)
{
  lua_Integer n = luaL_len(L, idx), i;
  char **list = calloc((size_t)n + 1, sizeof *list);

  if (list == NULL)
    luaL_error(L, "out of memory");
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    if (lua_type(L, -1) != LUA_TSTRING) {
      free(list);
      luaL_error(L, "spawn: %s[%d] must be a string, got %s", what, (int)i,
                 luaL_typename(L, -1));
    }
    /* exec takes char *const[]; it never writes through these. */
    union {
      const char *constant;
      char *mutable;
    } str;
    str.constant = lua_tostring(L, -1);
    list[i - 1] = str.mutable;
    lua_pop(L, 1); /* the table still references the string */
  }
  return list;
}


/* Child side after fork: never returns. */
static void run_child(int fds[3][2], int report_fd, char **argv, char **envp,
                      const char *cwd, int new_group)
{
  int err;

  if (new_group)
    setpgid(0, 0);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  if (fds[0][0] >= 0)
    dup2(fds[0][0], 0);
  else {
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
  }
  if (fds[1][1] >= 0)
    dup2(fds[1][1], 1);
  if (fds[2][1] >= 0)
    dup2(fds[2][1], 2);
  else if (fds[2][0] == -2) /* stderr merged into stdout */
    dup2(1, 2);
  if (cwd != NULL && chdir(cwd) != 0) {
    err = errno;
    (void)!write(report_fd, &err, sizeof err);
    _exit(127);
  }
  if (envp != NULL)
    environ = envp;
  execvp(argv[0], argv);
  err = errno;
  (void)!write(report_fd, &err, sizeof err);
  _exit(127);
}


/*
 * Opens the file an output mode names: "null" is /dev/null, a path
 * starting with "/" is appended to (created with mode 0600).  Returns -2
 * for the other modes, which need no file, and -1 with errno on failure.
 */
static int open_output(const char *mode)
{
  if (strcmp(mode, "null") == 0)
    return open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (mode[0] == '/')
    return open(mode, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  return -2;
}


static int open_pipe(int fd[2])
{
  return pipe2(fd, O_CLOEXEC);
}


/*
 * spawn{ argv = {...}, env = {"K=V", ...} | nil, cwd = path | nil,
 *        stdin = boolean, stdout = "pipe"|"inherit"|"null"|"/path",
 *        stderr = "pipe"|"inherit"|"null"|"stdout"|"/path",
 *        new_group = true }
 *   -> Process | nil, message
 */
static int proc_spawn(lua_State *L)
{
  int fds[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
  int report[2] = { -1, -1 };
  char **argv = NULL, **envp = NULL;
  const char *cwd, *out_mode, *err_mode;
  int want_stdin, new_group, err = 0, i;
  Process *p;
  pid_t pid;
  ssize_t got;

  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "argv");
  luaL_argexpected(L, lua_istable(L, -1), 1, "table with an argv list");
  lua_getfield(L, 1, "env"); /* index 3 */
  lua_getfield(L, 1, "cwd");
  cwd = lua_tostring(L, -1);
  lua_getfield(L, 1, "stdin");
  want_stdin = lua_toboolean(L, -1);
  lua_getfield(L, 1, "stdout");
  out_mode = luaL_optstring(L, -1, "pipe");
  lua_getfield(L, 1, "stderr");
  err_mode = luaL_optstring(L, -1, "pipe");
  lua_getfield(L, 1, "new_group");
  new_group = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);

  if (luaL_len(L, 2) < 1)
    return luaL_error(L, "spawn: argv must name a program");

  /* The userdata owns every fd from here on, so an error cannot leak. */
  p = lua_newuserdatauv(L, sizeof *p, 0);
  p->pid = 0;
  p->in_fd = p->out_fd = p->err_fd = -1;
  p->status = 0;
  p->new_group = new_group;
  luaL_setmetatable(L, PROCESS);

  argv = string_array(L, 2, "argv");
  if (lua_istable(L, 3)) {
    envp = string_array(L, 3, "env");
  }

  if ((want_stdin && open_pipe(fds[0]) != 0) ||
      (strcmp(out_mode, "pipe") == 0 && open_pipe(fds[1]) != 0) ||
      (strcmp(err_mode, "pipe") == 0 && open_pipe(fds[2]) != 0) ||
      open_pipe(report) != 0) {
    err = errno;
    goto fail;
  }
  for (i = 1; i <= 2; i++) {
    int fd = open_output(i == 1 ? out_mode : err_mode);
    if (fd == -1) {
      err = errno;
      goto fail;
    }
    if (fd >= 0)
      fds[i][1] = fd;
  }
  if (strcmp(err_mode, "stdout") == 0)
    fds[2][0] = -2;

  pid = fork();
  if (pid < 0) {
    err = errno;
    goto fail;
  }
  if (pid == 0)
    run_child(fds, report[1], argv, envp, cwd, new_group);

  if (new_group)
    setpgid(pid, pid); /* also in the parent, so kill(-pid) works at once */
  p->pid = pid;
  close_fd(&report[1]);
  do
    got = read(report[0], &err, sizeof err);
  while (got < 0 && errno == EINTR);
  close_fd(&report[0]);
  if (got == (ssize_t)sizeof err) {
    reap(p, 0);
    goto fail;
  }
  err = 0;
  p->in_fd = fds[0][1];
  fds[0][1] = -1;
  p->out_fd = fds[1][0];
  fds[1][0] = -1;
  p->err_fd = fds[2][0] >= 0 ? fds[2][0] : -1;
  fds[2][0] = -1;

fail:
  for (i = 0; i < 3; i++) {
    if (fds[i][0] >= 0)
      close(fds[i][0]);
    if (fds[i][1] >= 0)
      close(fds[i][1]);
  }
  close_fd(&report[0]);
  close_fd(&report[1]);
  free(argv);
  free(envp);
  if (err != 0) {
    lua_rawgeti(L, 2, 1);
    lua_pushnil(L);
    lua_pushfstring(L, "cannot run %s: %s", lua_tostring(L, -2),
                    strerror(err));
    return 2;
  }
  return 1;
}


/* ---- methods ---- */

static Process *check_process(lua_State *L)
{
  return luaL_checkudata(L, 1, PROCESS);
}


/* p:pid() -> integer, or nil once reaped */
static int process_pid(lua_State *L)
{
  Process *p = check_process(L);
  if (p->pid == 0)
    lua_pushnil(L);
  else
    lua_pushinteger(L, p->pid);
  return 1;
}


/* p:write(data) -> bytes written now (non-blocking; may be partial) */
static int process_write(lua_State *L)
{
  Process *p = check_process(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  ssize_t n;

  if (p->in_fd < 0)
    return luaL_error(L, "the process's stdin is closed");
  fcntl(p->in_fd, F_SETFL, O_NONBLOCK);
  do
    n = write(p->in_fd, data, len);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN)
      n = 0;
    else if (errno == EPIPE) {
      close_fd(&p->in_fd);
      n = (ssize_t)len; /* the child stopped reading: drop the rest */
    } else
      return luaL_error(L, "writing to the process failed: %s",
                        strerror(errno));
  }
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}


/* p:close_stdin() */
static int process_close_stdin(lua_State *L)
{
  close_fd(&check_process(L)->in_fd);
  return 0;
}


/* Appends whatever fd has to the buffer; closes fd at end of file. */
static void drain(lua_State *L, int *fd, const char *field)
{
  char buf[16384];
  ssize_t n;

  do
    n = read(*fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  if (n > 0) {
    lua_pushlstring(L, buf, (size_t)n);
    lua_setfield(L, -2, field);
  } else if (n == 0 || errno != EAGAIN) {
    close_fd(fd);
  }
}


/*
 * p:read(timeout) -> { stdout = chunk?, stderr = chunk?, open = boolean }
 * Waits up to timeout seconds (0 = poll) for output on either pipe and
 * returns what one read of each ready pipe got.  `open` is false once
 * both pipes reached end of file.  Returns early when SIGINT or SIGTERM
 * arrives.
 */
static int process_read(lua_State *L)
{
  Process *p = check_process(L);
  double timeout = luaL_optnumber(L, 2, 0);
  struct pollfd pfd[2];
  int nfds = 0, ms, r;

  lua_createtable(L, 0, 3);
  if (p->out_fd >= 0) {
    pfd[nfds].fd = p->out_fd;
    pfd[nfds++].events = POLLIN;
  }
  if (p->err_fd >= 0) {
    pfd[nfds].fd = p->err_fd;
    pfd[nfds++].events = POLLIN;
  }
  if (nfds > 0) {
    ms = timeout <= 0 ? 0 : (int)(timeout * 1000 + 0.5);
    r = poll(pfd, (nfds_t)nfds, ms);
    if (r > 0) {
      int i;
      for (i = 0; i < nfds; i++) {
        if (pfd[i].revents == 0)
          continue;
        if (pfd[i].fd == p->out_fd)
          drain(L, &p->out_fd, "stdout");
        else
          drain(L, &p->err_fd, "stderr");
      }
    }
  }
  lua_pushboolean(L, p->out_fd >= 0 || p->err_fd >= 0);
  lua_setfield(L, -2, "open");
  return 1;
}


/* Pushes { code = n } or { signal = n, code = 128 + n } for a status. */
static void push_status(lua_State *L, int status)
{
  lua_createtable(L, 0, 2);
  if (WIFSIGNALED(status)) {
    lua_pushinteger(L, WTERMSIG(status));
    lua_setfield(L, -2, "signal");
    lua_pushinteger(L, 128 + WTERMSIG(status));
  } else {
    lua_pushinteger(L, WEXITSTATUS(status));
  }
  lua_setfield(L, -2, "code");
}


/*
 * p:wait([timeout]) -> status table, or nil when the child is still
 * running after timeout seconds (no timeout: wait until it exits).
 */
static int process_wait(lua_State *L)
{
  Process *p = check_process(L);
  int forever = lua_isnoneornil(L, 2);
  double deadline = now_seconds() + (forever ? 0 : luaL_checknumber(L, 2));

  for (;;) {
    if (reap(p, WNOHANG)) {
      push_status(L, p->status);
      return 1;
    }
    if (!forever && now_seconds() >= deadline)
      break;
    if (mnem_signal_received && !forever)
      break;
    usleep(2000);
  }
  lua_pushnil(L);
  return 1;
}


/* p:kill([signal name or number]): signals the child's process group. */
static int process_kill(lua_State *L)
{
  Process *p = check_process(L);
  int sig = SIGTERM;

  if (lua_type(L, 2) == LUA_TNUMBER)
    sig = (int)lua_tointeger(L, 2);
  else if (lua_type(L, 2) == LUA_TSTRING) {
    const char *name = lua_tostring(L, 2);
    if (strcmp(name, "KILL") == 0 || strcmp(name, "SIGKILL") == 0)
      sig = SIGKILL;
    else if (strcmp(name, "INT") == 0 || strcmp(name, "SIGINT") == 0)
      sig = SIGINT;
    else if (strcmp(name, "TERM") != 0 && strcmp(name, "SIGTERM") != 0)
      return luaL_argerror(L, 2, "expected TERM, INT or KILL");
  }
  signal_child(p, sig);
  return 0;
}


int luaopen_mnem_proc(lua_State *L)
{
  static const luaL_Reg methods[] = { { "pid", process_pid },
                                      { "write", process_write },
                                      { "close_stdin", process_close_stdin },
                                      { "read", process_read },
                                      { "wait", process_wait },
                                      { "kill", process_kill },
                                      { "close", process_release },
                                      { NULL, NULL } };
  static const luaL_Reg functions[] = { { "spawn", proc_spawn },
                                        { NULL, NULL } };

  luaL_newmetatable(L, PROCESS);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, process_release);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, process_release);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  return 1;
}
