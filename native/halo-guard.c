/*
 * halo-guard: the fencing guard of a `process` resource. Runs one command in a new process group
 * and kills that group when the node's fence deadline passes. Native so that a (re)start costs a
 * fork and an exec, not the boot of a runtime.
 *
 *   halo-guard STATE_DIR FENCE_FILE STOP_TIMEOUT_MS EPOCH ROLE CWD -- FILE [ARG...]
 *
 * CWD "" keeps the guard's own directory. The command gets the guard's environment unchanged.
 * The contract the agent relies on (src/resources/process/agent.ts):
 *  - The command runs in a new process group whose id is its pid.
 *  - STATE_DIR/pid.json ({guardPid, guardStartTime, pid, pgid, startTime, epoch, role, startedAt})
 *    appears atomically once the command runs; STATE_DIR/exit.json says how the run ended
 *    ({reason: exited|stopped, code, signal, at} | {reason: fenced, at, detail} |
 *    {reason: spawn-failed, error, at}).
 *  - Every FENCE_POLL_MS the fence file (one decimal CLOCK_MONOTONIC millisecond) is read; missing,
 *    unreadable or past: the whole group is SIGKILLed at once, exit.json says fenced, exit.
 *  - When the command exits by itself, what is left of its group is SIGKILLed.
 *  - SIGTERM: SIGTERM and SIGCONT to the group, SIGKILL after STOP_TIMEOUT_MS. SIGTERM is blocked
 *    from the first instruction, so one sent before the command exists is taken, not fatal.
 *    SIGHUP and SIGINT are ignored: only the agent stops a guard.
 *  - The service never outlives its guard: a leash process, forked into the command's group, gets
 *    SIGUSR1 from the kernel when the guard dies (PR_SET_PDEATHSIG, which a SIGKILLed guard
 *    triggers too) and then SIGKILLs the group. If the leash dies while the command runs, the
 *    guard fences the group itself. Killing either of the two ends the service at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FENCE_POLL_MS 20
#define REAP_WAIT_MS 2000

static const char *state_dir;
static const char *fence_file;

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logf_(const char *fmt, ...) {
  char iso[64];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(iso + n, sizeof iso - n, ".%03ldZ", ts.tv_nsec / 1000000);
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dprintf(2, "[halo-guard %d] %s %s\n", (int)getpid(), iso, msg);
}

/* JSON string literal of s into out (always terminated; truncated to fit). */
static void json_str(char *out, size_t cap, const char *s) {
  size_t o = 0;
  if (cap < 3) return;
  out[o++] = '"';
  for (; *s != '\0' && o + 8 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c < 0x20) {
      o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
    } else {
      out[o++] = (char)c;
    }
  }
  out[o++] = '"';
  out[o] = '\0';
}

/* Replace STATE_DIR/name with data: tmp file, fsync, rename. */
static int write_atomic(const char *name, const char *data) {
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/%s", state_dir, name);
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  size_t len = strlen(data), done = 0;
  while (done < len) {
    ssize_t w = write(fd, data + done, len - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      close(fd);
      unlink(tmp);
      return -1;
    }
    done += (size_t)w;
  }
  fsync(fd);
  close(fd);
  return rename(tmp, path);
}

static void write_exit(const char *json) {
  if (write_atomic("exit.json", json) != 0) logf_("could not write exit record: %s", strerror(errno));
}

static void exit_fenced(const char *detail) {
  char d[1200], rec[1400];
  json_str(d, sizeof d, detail);
  snprintf(rec, sizeof rec, "{\"reason\":\"fenced\",\"at\":%lld,\"detail\":%s}", wall_ms(), d);
  write_exit(rec);
}

static void write_spawn_failed(const char *error) {
  char e[700], rec[900];
  json_str(e, sizeof e, error);
  snprintf(rec, sizeof rec, "{\"reason\":\"spawn-failed\",\"error\":%s,\"at\":%lld}", e, wall_ms());
  write_exit(rec);
}

static void signal_name(int sig, char *out, size_t cap) {
  const char *abbrev = sigabbrev_np(sig);
  if (abbrev != NULL) snprintf(out, cap, "\"SIG%s\"", abbrev);
  else snprintf(out, cap, "\"%d\"", sig);
}

/* How a waitpid status ended, as the exit record's code and signal fields. */
static void write_ended(const char *reason, int status) {
  char code[32] = "null", sig[48] = "null", rec[256];
  if (WIFEXITED(status)) snprintf(code, sizeof code, "%d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status)) signal_name(WTERMSIG(status), sig, sizeof sig);
  snprintf(rec, sizeof rec, "{\"reason\":\"%s\",\"code\":%s,\"signal\":%s,\"at\":%lld}", reason, code, sig, wall_ms());
  write_exit(rec);
}

/* Field 22 of /proc/<pid>/stat (start time in clock ticks), "" when unreadable. */
static void start_time(pid_t pid, char *out, size_t cap) {
  char path[64], buf[1024];
  out[0] = '\0';
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (p == NULL) return;
  p += 2; /* field 3 */
  for (int field = 3; field < 22 && p != NULL; field++) {
    p = strchr(p, ' ');
    if (p != NULL) p++;
  }
  if (p == NULL) return;
  size_t len = strcspn(p, " ");
  if (len >= cap) return;
  memcpy(out, p, len);
  out[len] = '\0';
}

/* NULL while the fence allows running, otherwise why not (static buffer). */
static const char *fence_violation(void) {
  static char why[1200];
  char buf[64];
  int fd = open(fence_file, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
  if (fd >= 0) close(fd);
  long long deadline = -1;
  if (n > 0) {
    buf[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    while (*end == '\n' || *end == ' ' || *end == '\r' || *end == '\t') end++;
    if (errno == 0 && end != buf && *end == '\0' && v >= 0 && buf[0] >= '0' && buf[0] <= '9') deadline = v;
  }
  if (deadline < 0) {
    snprintf(why, sizeof why, "fence file %s missing or unreadable", fence_file);
    return why;
  }
  long long now = mono_ms();
  if (now > deadline) {
    snprintf(why, sizeof why, "fence deadline passed %lld ms ago", now - deadline);
    return why;
  }
  return NULL;
}

static pid_t pgid;

static void kill_group(int sig) {
  if (kill(-pgid, sig) != 0 && errno != ESRCH) logf_("kill %s group %d: %s", sigabbrev_np(sig), (int)pgid, strerror(errno));
}

/* The leash: in the command's group, waits for the guard's death (or its SIGKILL of the group). */
static void run_leash(pid_t guard, pid_t group) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, NULL);
  signal(SIGTERM, SIG_IGN); /* a stop's SIGTERM to the group is the command's to act on */
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  if (prctl(PR_SET_PDEATHSIG, SIGUSR1) != 0 || getppid() != guard) {
    /* The guard is already gone (or the leash cannot watch it): the service must not run unguarded. */
    kill(-group, SIGKILL);
    _exit(1);
  }
  if (setpgid(0, group) != 0) _exit(0); /* the command's group is gone already: nothing to hold */
  int sig;
  sigwait(&set, &sig);
  kill(-group, SIGKILL);
  _exit(0);
}

static void usage(void) {
  dprintf(2, "usage: halo-guard STATE_DIR FENCE_FILE STOP_TIMEOUT_MS EPOCH ROLE CWD -- FILE [ARG...]\n");
  exit(2);
}

static long long parse_int(const char *s, long long min) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min) usage();
  return v;
}

int main(int argc, char **argv) {
  /* Before anything else: SIGTERM and SIGCHLD are taken by sigtimedwait below, never by default action. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, NULL);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);

  if (argc < 9 || strcmp(argv[7], "--") != 0) usage();
  state_dir = argv[1];
  fence_file = argv[2];
  long long stop_timeout = parse_int(argv[3], 0);
  long long epoch = parse_int(argv[4], -(1LL << 53));
  const char *role = argv[5];
  const char *cwd = argv[6];
  char **cmd = argv + 8;

  char exit_path[4096];
  snprintf(exit_path, sizeof exit_path, "%s/exit.json", state_dir);
  unlink(exit_path);

  const char *early = fence_violation();
  if (early != NULL) {
    logf_("not starting: %s", early);
    char detail[1300];
    snprintf(detail, sizeof detail, "not started: %s", early);
    exit_fenced(detail);
    return 3;
  }

  /* The command: a new group led by itself; an exec failure comes back through a close-on-exec pipe. */
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) {
    logf_("pipe: %s", strerror(errno));
    return 1;
  }
  pid_t guard = getpid();
  pid_t child = fork();
  if (child < 0) {
    write_spawn_failed(strerror(errno));
    return 1;
  }
  if (child == 0) {
    setpgid(0, 0);
    signal(SIGHUP, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (cwd[0] != '\0' && chdir(cwd) != 0) {
      int e[2] = {1, errno};
      (void)!write(errpipe[1], e, sizeof e);
      _exit(127);
    }
    execvp(cmd[0], cmd);
    int e[2] = {0, errno};
    (void)!write(errpipe[1], e, sizeof e);
    _exit(127);
  }
  setpgid(child, child); /* also here: whichever of the two runs first, the group exists before it is used */
  pgid = child;
  close(errpipe[1]);
  int failed[2] = {0, 0}; /* {1 for chdir, 0 for exec; errno} */
  ssize_t got;
  do got = read(errpipe[0], failed, sizeof failed);
  while (got < 0 && errno == EINTR);
  close(errpipe[0]);
  if (got == (ssize_t)sizeof failed) {
    int child_errno = failed[1];
    waitpid(child, NULL, 0);
    const char *code = child_errno == ENOENT ? "ENOENT" : child_errno == EACCES ? "EACCES" : child_errno == ENOTDIR ? "ENOTDIR" : "error";
    char msg[600];
    snprintf(msg, sizeof msg, "%s: %s %s (%s)", code, failed[0] == 1 ? "chdir" : "spawn", failed[0] == 1 ? cwd : cmd[0], strerror(child_errno));
    logf_("could not start: %s", msg);
    write_spawn_failed(msg);
    return 1;
  }

  pid_t leash = fork();
  if (leash == 0) run_leash(guard, child);
  if (leash < 0) {
    logf_("could not start the leash (%s): the command is not started", strerror(errno));
    kill_group(SIGKILL);
    waitpid(child, NULL, 0);
    exit_fenced("the guard could not start its leash");
    return 1;
  }

  char gstart[64], cstart[64], role_json[600], rec[1200];
  start_time(guard, gstart, sizeof gstart);
  start_time(child, cstart, sizeof cstart);
  json_str(role_json, sizeof role_json, role);
  snprintf(rec, sizeof rec,
           "{\"guardPid\":%d,\"guardStartTime\":\"%s\",\"pid\":%d,\"pgid\":%d,\"startTime\":\"%s\",\"epoch\":%lld,\"role\":%s,\"startedAt\":%lld}",
           (int)guard, gstart, (int)child, (int)child, cstart, epoch, role_json, wall_ms());
  if (write_atomic("pid.json", rec) != 0) {
    logf_("could not write pid record (%s): stopping the command", strerror(errno));
    kill_group(SIGKILL);
    waitpid(child, NULL, 0);
    waitpid(leash, NULL, 0);
    exit_fenced("the guard could not record the command");
    return 1;
  }

  int stopping = 0;
  long long kill_at = -1;
  for (;;) {
    struct timespec tick = {0, FENCE_POLL_MS * 1000000L};
    siginfo_t info;
    int sig = sigtimedwait(&set, &info, &tick);
    if (sig == SIGTERM && !stopping) {
      stopping = 1;
      kill_group(SIGTERM);
      /* A stopped (SIGSTOP) process would not act on SIGTERM until continued. */
      kill_group(SIGCONT);
      kill_at = mono_ms() + stop_timeout;
    }
    /* Reap whatever ended: the command ends the run; the leash ending first fences it. */
    int status;
    pid_t done;
    while ((done = waitpid(-1, &status, WNOHANG)) > 0) {
      if (done == child) {
        /* Whatever the command left behind in its group (the leash too) goes with it. */
        kill_group(SIGKILL);
        write_ended(stopping ? "stopped" : "exited", status);
        waitpid(leash, NULL, 0);
        return 0;
      }
      if (done == leash) {
        kill_group(SIGKILL);
        logf_("fenced pid %d: its leash (pid %d) ended", (int)child, (int)leash);
        exit_fenced("the guard's leash ended, so the command could outlive its guard");
        waitpid(child, NULL, 0);
        return 0;
      }
    }
    const char *why = fence_violation();
    if (why != NULL) {
      /* Kill first, write and log afterwards: every millisecond here is one the fenced owner could still serve. */
      kill_group(SIGKILL);
      /* The log line comes before the exit record: whoever waits for the record may read the log. */
      logf_("fenced pid %d: %s", (int)child, why);
      exit_fenced(why);
      /* Reap before leaving: PID 1 of a container may not, and a zombie looks alive to kill(pid, 0). */
      long long until = mono_ms() + REAP_WAIT_MS;
      int left = 2;
      while (left > 0 && mono_ms() < until) {
        pid_t r = waitpid(-1, NULL, WNOHANG);
        if (r == child || r == leash) left--;
        else if (r < 0) break;
        else usleep(5000);
      }
      return 0;
    }
    if (stopping && kill_at >= 0 && mono_ms() >= kill_at) {
      logf_("pid %d still running %lld ms after SIGTERM; sending SIGKILL", (int)child, stop_timeout);
      kill_group(SIGKILL);
      kill_at = -1;
    }
  }
}
