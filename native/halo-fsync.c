/*
 * halo-fsync: LD_PRELOAD shim that makes an unmodified application's fsync()/fdatasync() of a
 * file under a sync-mode mirror return only once a standby holds that file's data durably.
 *
 *   LD_PRELOAD=/path/halo-fsync.so HALO_MIRROR_DIR=/srv/data HALO_MIRROR_SOCKET=/run/halo/m.sock app
 *
 * The shim resolves the descriptor's path (/proc/self/fd) and, if it lies under HALO_MIRROR_DIR,
 * sends "S <path>\n" on the agent's unix socket, runs the real fsync, and waits for the answer line: "OK ..." -> fsync returns 0; anything else, or no agent -> fsync fails with EIO
 * (the durability promise could not be kept, and the application must be told).
 * One connection per thread, reopened after fork().
 *
 * Also covered: writes to a descriptor opened with O_SYNC or O_DSYNC (write, pwrite, writev,
 * pwritev: the write is durable locally when it returns, so the shim asks the agent after it and
 * fails it with EIO if no standby confirms), and syncfs() (the whole mirrored tree). sync() cannot
 * report a failure: it asks for the whole tree and ignores the answer. Not covered: msync() of a
 * shared mapping, stdio/internal libc writes that bypass the exported symbols, statically linked
 * programs.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

static ssize_t real_write(int fd, const void *b, size_t n) {
  static ssize_t (*real)(int, const void *, size_t) = NULL;
  if (real == NULL) real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
  return real(fd, b, n);
}

static __thread int conn = -1;
static __thread pid_t conn_pid = 0;

static int write_all(int fd, const char *b, size_t n) {
  while (n > 0) {
    ssize_t w = real_write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static int under_dir(const char *p) {
  const char *dir = getenv("HALO_MIRROR_DIR");
  if (dir == NULL || dir[0] == 0) return 0;
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  if (strncmp(p, dir, n) != 0 || (p[n] != 0 && p[n] != '/')) return 0;
  size_t pl = strlen(p);
  const char *del = " (deleted)";
  if (pl > strlen(del) && strcmp(p + pl - strlen(del), del) == 0) return 0;
  return 1;
}

static int disconnect(void) {
  if (conn >= 0) close(conn);
  conn = -1;
  return -1;
}

static int connect_agent(void) {
  const char *sock = getenv("HALO_MIRROR_SOCKET");
  if (sock == NULL || sock[0] == 0) return -1;
  if (conn >= 0 && conn_pid != getpid()) conn = -1; /* inherited across fork: not ours */
  if (conn >= 0) return 0;
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  strncpy(a.sun_path, sock, sizeof a.sun_path - 1);
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    close(s);
    return -1;
  }
  conn = s;
  conn_pid = getpid();
  return 0;
}

static int send_request(const char *path) {
  char buf[PATH_MAX + 8];
  int m = snprintf(buf, sizeof buf, "S %s\n", path);
  if (m <= 0 || (size_t)m >= sizeof buf) return -1;
  if (connect_agent() != 0) return -1;
  if (write_all(conn, buf, (size_t)m) != 0) return disconnect();
  return 0;
}

/* 0: "OK"; EIO: refused or no answer. */
static int read_reply(void) {
  char rep[256];
  size_t got = 0;
  while (got < sizeof rep - 1) {
    ssize_t r = read(conn, rep + got, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got++;
    if (rep[got - 1] == '\n') break;
  }
  if (got == 0 || rep[got - 1] != '\n') {
    disconnect();
    return -1;
  }
  return strncmp(rep, "OK", 2) == 0 ? 0 : EIO;
}

/*
 * The request is sent before the local fsync so that shipping to the standby and the local flush
 * overlap; the answer is read after it. Asking again after a broken connection is harmless:
 * shipping a file twice is idempotent.
 */
static int synced(int fd, int (*real)(int)) {
  char link[64];
  char path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  int mirrored = 0;
  if (n > 0) {
    path[n] = 0;
    mirrored = under_dir(path);
  }
  int sent = mirrored ? send_request(path) : 0;
  int r = real(fd);
  if (r != 0 || !mirrored) {
    if (mirrored && sent == 0) (void)read_reply();
    return r;
  }
  int saved = errno;
  int e = sent == 0 ? read_reply() : -1;
  if (e < 0 && send_request(path) == 0) e = read_reply(); /* one retry on a fresh connection */
  if (e != 0) {
    errno = EIO;
    return -1;
  }
  errno = saved;
  return 0;
}

/* The mirrored path of `fd` in `path`, or 0 when it is not under HALO_MIRROR_DIR. */
static int mirrored_path(int fd, char *path, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, size - 1);
  if (n <= 0) return 0;
  path[n] = 0;
  return under_dir(path);
}

/* Asks the agent to ship `path` and waits: 0 when a standby holds it, -1 with errno EIO otherwise. */
static int ship(const char *path) {
  int saved = errno;
  int e = send_request(path) == 0 ? read_reply() : -1;
  if (e < 0 && send_request(path) == 0) e = read_reply(); /* one retry on a fresh connection */
  if (e != 0) {
    errno = EIO;
    return -1;
  }
  errno = saved;
  return 0;
}

/* After a write of `r` bytes to `fd`: when fd is O_SYNC/O_DSYNC and mirrored, the write counts only once shipped. */
static ssize_t after_write(int fd, ssize_t r) {
  if (r <= 0) return r;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || (fl & O_DSYNC) == 0) return r;
  char path[PATH_MAX];
  if (!mirrored_path(fd, path, sizeof path)) return r;
  return ship(path) == 0 ? r : -1;
}

ssize_t write(int fd, const void *b, size_t n) {
  return after_write(fd, real_write(fd, b, n));
}

ssize_t pwrite(int fd, const void *b, size_t n, off_t off) {
  static ssize_t (*real)(int, const void *, size_t, off_t) = NULL;
  if (real == NULL) real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
  return after_write(fd, real(fd, b, n, off));
}

ssize_t pwrite64(int fd, const void *b, size_t n, off64_t off) {
  static ssize_t (*real)(int, const void *, size_t, off64_t) = NULL;
  if (real == NULL) real = (ssize_t(*)(int, const void *, size_t, off64_t))dlsym(RTLD_NEXT, "pwrite64");
  return after_write(fd, real(fd, b, n, off));
}

ssize_t writev(int fd, const struct iovec *v, int cnt) {
  static ssize_t (*real)(int, const struct iovec *, int) = NULL;
  if (real == NULL) real = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
  return after_write(fd, real(fd, v, cnt));
}

ssize_t pwritev(int fd, const struct iovec *v, int cnt, off_t off) {
  static ssize_t (*real)(int, const struct iovec *, int, off_t) = NULL;
  if (real == NULL) real = (ssize_t(*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev");
  return after_write(fd, real(fd, v, cnt, off));
}

ssize_t pwritev64(int fd, const struct iovec *v, int cnt, off64_t off) {
  static ssize_t (*real)(int, const struct iovec *, int, off64_t) = NULL;
  if (real == NULL) real = (ssize_t(*)(int, const struct iovec *, int, off64_t))dlsym(RTLD_NEXT, "pwritev64");
  return after_write(fd, real(fd, v, cnt, off));
}

/* The mirrored tree as a whole (the agent ships every change under it). */
static const char *mirror_dir(void) {
  const char *dir = getenv("HALO_MIRROR_DIR");
  return dir != NULL && dir[0] != 0 ? dir : NULL;
}

int syncfs(int fd) {
  static int (*real)(int) = NULL;
  if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
  int r = real(fd);
  const char *dir = mirror_dir();
  if (r != 0 || dir == NULL) return r;
  return ship(dir);
}

void sync(void) {
  static void (*real)(void) = NULL;
  if (real == NULL) real = (void (*)(void))dlsym(RTLD_NEXT, "sync");
  real();
  const char *dir = mirror_dir();
  if (dir != NULL) (void)ship(dir);
}

int fsync(int fd) {
  static int (*real)(int) = NULL;
  if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  return synced(fd, real);
}

int fdatasync(int fd) {
  static int (*real)(int) = NULL;
  if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  return synced(fd, real);
}
