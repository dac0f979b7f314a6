/*
 * sys.c: operating-system services for the engine.
 *
 * Lua module `mnem._sys`: clocks, interruptible sleep, SIGINT/SIGTERM
 * handling, terminal queries, environment changes, random bytes, ISO-8601
 * text of epoch seconds, and the append-only record file used by run
 * records.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "mnem.h"

#define RECORD_FILE "mnem.RecordFile"

volatile int mnem_signal_received = 0;


static double clock_seconds(clockid_t id)
{
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


/* ---- timestamps ---- */

/* Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
 * civil_from_days, as in aws/shape_value.lua). */
static void civil_from_days(long long z, long long *y, int *m, int *d)
{
  long long era, doe, yoe, doy, mp;

  z += 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = z - era * 146097;
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}


static char *put2(char *p, int n)
{
  p[0] = (char)('0' + n / 10);
  p[1] = (char)('0' + n % 10);
  return p + 2;
}


/* The number of the two digits at P, or -1 when they are not digits. */
static int digits2(const char *p)
{
  if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
    return -1;
  return (p[0] - '0') * 10 + (p[1] - '0');
}


/*
 * is_canonical_iso(text) -> boolean
 * True when TEXT is already "YYYY-MM-DDTHH:MM:SSZ" or
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" (milliseconds not all zero) with a real date
 * in years 1000 to 9999: the text aws.shape_value.to_iso would write for
 * it, so query responses' timestamps pass without being parsed.
 */
static int sys_is_canonical_iso(lua_State *L)
{
  static const char layout[] = "dddd-dd-ddTdd:dd:dd";
  static const int month_days[] = { 31, 28, 31, 30, 31, 30,
                                    31, 31, 30, 31, 30, 31 };
  size_t len, i;
  const char *s = luaL_checklstring(L, 1, &len);
  int year, month, day, ok = 1;

  if (len != 20 && len != 24) {
    lua_pushboolean(L, 0);
    return 1;
  }
  for (i = 0; i < 19 && ok; i++) {
    if (layout[i] == 'd')
      ok = s[i] >= '0' && s[i] <= '9';
    else
      ok = s[i] == layout[i];
  }
  if (ok && len == 24)
    ok = s[19] == '.' && digits2(s + 20) >= 0 && s[22] >= '0' &&
         s[22] <= '9' && memcmp(s + 20, "000", 3) != 0;
  ok = ok && s[len - 1] == 'Z' && s[0] != '0';
  if (ok) {
    year = digits2(s) * 100 + digits2(s + 2);
    month = digits2(s + 5);
    day = digits2(s + 8);
    ok = month >= 1 && month <= 12 && day >= 1 && digits2(s + 11) <= 23 &&
         digits2(s + 14) <= 59 && digits2(s + 17) <= 59;
    if (ok) {
      int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
      ok = day <= month_days[month - 1] + (month == 2 && leap);
    }
  }
  lua_pushboolean(L, ok);
  return 1;
}


/*
 * format_epoch(seconds) -> "YYYY-MM-DDTHH:MM:SS[.mmm]Z" | nil
 * Epoch seconds (integer or float) as ISO-8601 UTC with milliseconds when
 * the fraction, rounded to microseconds, has any: the text
 * aws.shape_value.to_iso writes.  Returns nil outside years 1970 to 9999
 * and for NaN, so the caller's general path handles those.
 */
static int sys_format_epoch(lua_State *L)
{
  lua_Number value = luaL_checknumber(L, 1);
  long long seconds, days, rest, micros = 0, year;
  int month, day;
  char text[32], *p = text;

  if (!(value >= 0 && value < 253402300800.0)) {
    luaL_pushfail(L);
    return 1;
  }
  if (lua_isinteger(L, 1)) {
    seconds = (long long)lua_tointeger(L, 1);
  } else {
    lua_Number whole = floor(value);
    seconds = (long long)whole;
    micros = (long long)floor((value - whole) * 1e6 + 0.5);
    if (micros >= 1000000) {
      seconds++;
      micros -= 1000000;
    }
    if (seconds >= 253402300800LL) {
      luaL_pushfail(L);
      return 1;
    }
  }
  days = seconds / 86400;
  rest = seconds % 86400;
  civil_from_days(days, &year, &month, &day);
  p = put2(p, (int)(year / 100));
  p = put2(p, (int)(year % 100));
  *p++ = '-';
  p = put2(p, month);
  *p++ = '-';
  p = put2(p, day);
  *p++ = 'T';
  p = put2(p, (int)(rest / 3600));
  *p++ = ':';
  p = put2(p, (int)(rest % 3600 / 60));
  *p++ = ':';
  p = put2(p, (int)(rest % 60));
  if (micros / 1000 != 0) {
    int millis = (int)(micros / 1000);
    *p++ = '.';
    *p++ = (char)('0' + millis / 100);
    p = put2(p, millis % 100);
  }
  *p++ = 'Z';
  lua_pushlstring(L, text, (size_t)(p - text));
  return 1;
}


/* now() -> seconds since the epoch, with sub-second precision */
static int sys_now(lua_State *L)
{
  lua_pushnumber(L, clock_seconds(CLOCK_REALTIME));
  return 1;
}


/* monotonic() -> seconds on a clock that never jumps */
static int sys_monotonic(lua_State *L)
{
  lua_pushnumber(L, clock_seconds(CLOCK_MONOTONIC));
  return 1;
}


/*
 * sleep(seconds) -> true, or false when SIGINT or SIGTERM arrived first.
 * Sleeps in slices of at most 50 ms so a signal is noticed promptly even
 * when the handler was installed with SA_RESTART.
 */
static int sys_sleep(lua_State *L)
{
  double seconds = luaL_checknumber(L, 1);
  double deadline = clock_seconds(CLOCK_MONOTONIC) + seconds;

  for (;;) {
    double left = deadline - clock_seconds(CLOCK_MONOTONIC);
    struct timespec ts;

    if (mnem_signal_received) {
      lua_pushboolean(L, 0);
      return 1;
    }
    if (left <= 0)
      break;
    if (left > 0.05)
      left = 0.05;
    ts.tv_sec = (time_t)left;
    ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
  }
  lua_pushboolean(L, 1);
  return 1;
}


static void on_signal(int signo)
{
  mnem_signal_received = signo;
}


/* trap_signals(): routes SIGINT and SIGTERM to a flag read by signal(). */
static int sys_trap_signals(lua_State *L)
{
  struct sigaction sa;

  (void)L;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  return 0;
}


/* signal() -> "SIGINT" | "SIGTERM" | nil: the signal received, if any */
static int sys_signal(lua_State *L)
{
  switch (mnem_signal_received) {
  case 0:
    lua_pushnil(L);
    break;
  case SIGINT:
    lua_pushliteral(L, "SIGINT");
    break;
  case SIGTERM:
    lua_pushliteral(L, "SIGTERM");
    break;
  default:
    lua_pushfstring(L, "signal %d", mnem_signal_received);
  }
  return 1;
}


/* clear_signal(): forgets a received signal, e.g. before rollbacks run. */
static int sys_clear_signal(lua_State *L)
{
  (void)L;
  mnem_signal_received = 0;
  return 0;
}


/* isatty(fd) -> boolean */
static int sys_isatty(lua_State *L)
{
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}


/* terminal_width(fd) -> columns, or nil when fd is not a terminal */
static int sys_terminal_width(lua_State *L)
{
  struct winsize ws;

  if (ioctl((int)luaL_checkinteger(L, 1), TIOCGWINSZ, &ws) == 0 &&
      ws.ws_col > 0)
    lua_pushinteger(L, ws.ws_col);
  else
    lua_pushnil(L);
  return 1;
}


/* setenv(name, value | nil): sets or removes a process environment entry */
static int sys_setenv(lua_State *L)
{
  const char *name = luaL_checkstring(L, 1);
  int rc;

  if (lua_isnoneornil(L, 2))
    rc = unsetenv(name);
  else
    rc = setenv(name, luaL_checkstring(L, 2), 1);
  if (rc != 0)
    return luaL_error(L, "setenv %s failed: %s", name, strerror(errno));
  return 0;
}


/* environ() -> array of "NAME=value" strings of this process */
static int sys_environ(lua_State *L)
{
  extern char **environ;
  lua_Integer n = 0;
  char **entry;

  lua_newtable(L);
  for (entry = environ; entry != NULL && *entry != NULL; entry++) {
    lua_pushstring(L, *entry);
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}


/* getuid() -> the real user id of this process */
static int sys_getuid(lua_State *L)
{
  lua_pushinteger(L, (lua_Integer)getuid());
  return 1;
}


/* getpid() -> integer */
static int sys_getpid(lua_State *L)
{
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}


/* random_bytes(n) -> string of n bytes from the kernel's CSPRNG */
static int sys_random_bytes(lua_State *L)
{
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_Buffer b;
  char *p;
  size_t got = 0;

  luaL_argcheck(L, n >= 0 && n <= 4096, 1, "must be between 0 and 4096");
  p = luaL_buffinitsize(L, &b, (size_t)n);
  while (got < (size_t)n) {
    ssize_t r = getrandom(p + got, (size_t)n - got, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return luaL_error(L, "getrandom failed: %s", strerror(errno));
    }
    got += (size_t)r;
  }
  luaL_pushresultsize(&b, (size_t)n);
  return 1;
}


/* mkdir_p(path [, mode]) -> true | nil, message */
static int sys_mkdir_p(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  mode_t mode = (mode_t)luaL_optinteger(L, 2, 0700);
  char buf[PATH_MAX];
  size_t len = strlen(path), i;

  if (len == 0 || len >= sizeof buf)
    return luaL_argerror(L, 1, "empty or too long");
  memcpy(buf, path, len + 1);
  for (i = 1; i <= len; i++) {
    if (buf[i] != '/' && buf[i] != '\0')
      continue;
    buf[i] = '\0';
    if (mkdir(buf, mode) != 0 && errno != EEXIST) {
      lua_pushnil(L);
      lua_pushfstring(L, "cannot create folder %s: %s", buf, strerror(errno));
      return 2;
    }
    buf[i] = path[i];
  }
  lua_pushboolean(L, 1);
  return 1;
}


/* list_dir(path) -> array of entry names (no "." or "..") | nil, message */
static int sys_list_dir(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  DIR *dir = opendir(path);
  struct dirent *entry;
  lua_Integer n = 0;

  if (dir == NULL) {
    lua_pushnil(L);
    lua_pushfstring(L, "cannot read folder %s: %s", path, strerror(errno));
    return 2;
  }
  lua_newtable(L);
  while ((entry = readdir(dir)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
      continue;
    lua_pushstring(L, entry->d_name);
    lua_rawseti(L, -2, ++n);
  }
  closedir(dir);
  return 1;
}


/* stat(path) -> { type = "file"|"dir"|"other", size, mtime, mode } | nil */
static int sys_stat(lua_State *L)
{
  struct stat st;

  if (stat(luaL_checkstring(L, 1), &st) != 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, 0, 4);
  lua_pushstring(L, S_ISREG(st.st_mode)   ? "file"
                    : S_ISDIR(st.st_mode) ? "dir"
                                          : "other");
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_setfield(L, -2, "size");
  lua_pushnumber(L, (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9);
  lua_setfield(L, -2, "mtime");
  lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
  lua_setfield(L, -2, "mode");
  return 1;
}


/* realpath(path) -> absolute path | nil, message */
static int sys_realpath(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  char *resolved = realpath(path, NULL);

  if (resolved == NULL) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, strerror(errno));
    return 2;
  }
  lua_pushstring(L, resolved);
  free(resolved);
  return 1;
}


/* ---- the record file: append-only, mode 0600, fsync on demand ---- */

typedef struct {
  int fd; /* -1 once closed */
} RecordFile;


static RecordFile *check_record(lua_State *L)
{
  RecordFile *rf = luaL_checkudata(L, 1, RECORD_FILE);
  if (rf->fd < 0)
    luaL_error(L, "attempt to use a closed record file");
  return rf;
}


/* open_record(path) -> RecordFile | nil, message.  Creates with 0600. */
static int sys_open_record(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  RecordFile *rf = lua_newuserdatauv(L, sizeof *rf, 0);

  rf->fd = -1;
  luaL_setmetatable(L, RECORD_FILE);
  rf->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (rf->fd < 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "cannot open %s: %s", path, strerror(errno));
    return 2;
  }
  fchmod(rf->fd, 0600);
  return 1;
}


/* record:write(data): appends all of data with one write(2) when possible */
static int record_write(lua_State *L)
{
  RecordFile *rf = check_record(L);
  size_t len, done = 0;
  const char *data = luaL_checklstring(L, 2, &len);

  while (done < len) {
    ssize_t n = write(rf->fd, data + done, len - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return luaL_error(L, "writing the run record failed: %s",
                        strerror(errno));
    }
    done += (size_t)n;
  }
  return 0;
}


/* record:sync(): flushes the file to disk */
static int record_sync(lua_State *L)
{
  RecordFile *rf = check_record(L);
  if (fsync(rf->fd) != 0 && errno != EINVAL)
    return luaL_error(L, "fsync of the run record failed: %s",
                      strerror(errno));
  return 0;
}


/* record:close(), also __gc and __close: idempotent */
static int record_close(lua_State *L)
{
  RecordFile *rf = luaL_checkudata(L, 1, RECORD_FILE);
  if (rf->fd >= 0) {
    fsync(rf->fd);
    close(rf->fd);
    rf->fd = -1;
  }
  return 0;
}


int luaopen_mnem_sys(lua_State *L)
{
  static const luaL_Reg record_methods[] = { { "write", record_write },
                                             { "sync", record_sync },
                                             { "close", record_close },
                                             { NULL, NULL } };
  static const luaL_Reg functions[] = {
    { "now", sys_now },
    { "format_epoch", sys_format_epoch },
    { "is_canonical_iso", sys_is_canonical_iso },
    { "monotonic", sys_monotonic },
    { "sleep", sys_sleep },
    { "trap_signals", sys_trap_signals },
    { "signal", sys_signal },
    { "clear_signal", sys_clear_signal },
    { "isatty", sys_isatty },
    { "terminal_width", sys_terminal_width },
    { "setenv", sys_setenv },
    { "environ", sys_environ },
    { "getpid", sys_getpid },
    { "getuid", sys_getuid },
    { "random_bytes", sys_random_bytes },
    { "mkdir_p", sys_mkdir_p },
    { "list_dir", sys_list_dir },
    { "stat", sys_stat },
    { "realpath", sys_realpath },
    { "open_record", sys_open_record },
    { NULL, NULL }
  };

  luaL_newmetatable(L, RECORD_FILE);
  luaL_newlib(L, record_methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, record_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, record_close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  return 1;
}
