/*
 * hvoexec: the live-kernel oracle's hands. Reads one command per line on stdin and answers
 * each with exactly one JSON line on stdout. The protocol is native/PROTOCOL.md.
 *
 * C99 + POSIX/Linux libc only. Builds with `gcc -O2 -static` and with plain `gcc`.
 * Runs as root on a kernel with HugeTLB (this machine's 6.18, or a QEMU guest).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0x4000
#endif

#define PROTO "hvoexec/1"
#define MAX_LINE (64 * 1024)
#define MAX_FILE (4 * 1024 * 1024)
#define MAX_MAPS 256
#define MAX_MOUNTS 64
#define MAX_HSTATES 16
#define MAX_NODES 64
#define HP_DIR "/sys/kernel/mm/hugepages"
#define NODE_DIR "/sys/devices/system/node"
#define HVO_SYSCTL "/proc/sys/vm/hugetlb_optimize_vmemmap"

/* ---------------------------------------------------------------- string builder */

struct sb {
  char *p;
  size_t n, cap;
};

static void sb_grow(struct sb *b, size_t more) {
  if (b->n + more + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->n + more + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    fputs("hvoexec: out of memory\n", stderr);
    exit(1);
  }
  b->p = p;
  b->cap = cap;
}

static void sb_putn(struct sb *b, const char *s, size_t n) {
  sb_grow(b, n);
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}

static void sb_puts(struct sb *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[512];
  int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (k < 0) return;
  if ((size_t)k < sizeof tmp) {
    sb_putn(b, tmp, (size_t)k);
    return;
  }
  sb_grow(b, (size_t)k);
  va_start(ap, fmt);
  vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)k;
}

/* A JSON string: always 7-bit ASCII out; bytes >= 0x80 become \u00XX (Latin-1). */
static void sb_jstrn(struct sb *b, const char *s, size_t n) {
  sb_grow(b, n + 2);
  sb_putn(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"': sb_putn(b, "\\\"", 2); break;
    case '\\': sb_putn(b, "\\\\", 2); break;
    case '\n': sb_putn(b, "\\n", 2); break;
    case '\r': sb_putn(b, "\\r", 2); break;
    case '\t': sb_putn(b, "\\t", 2); break;
    default:
      if (c < 0x20 || c >= 0x7f) {
        char e[8];
        snprintf(e, sizeof e, "\\u%04x", c);
        sb_putn(b, e, 6);
      } else {
        char ch = (char)c;
        sb_putn(b, &ch, 1);
      }
    }
  }
  sb_putn(b, "\"", 1);
}

static void sb_jstr(struct sb *b, const char *s) {
  if (!s)
    sb_puts(b, "null");
  else
    sb_jstrn(b, s, strlen(s));
}

/* ---------------------------------------------------------------- errno names */

static const char *errno_name(int e) {
  switch (e) {
  case 0: return NULL;
  case EPERM: return "EPERM";
  case ENOENT: return "ENOENT";
  case ESRCH: return "ESRCH";
  case EINTR: return "EINTR";
  case EIO: return "EIO";
  case ENXIO: return "ENXIO";
  case E2BIG: return "E2BIG";
  case EBADF: return "EBADF";
  case EAGAIN: return "EAGAIN";
  case ENOMEM: return "ENOMEM";
  case EACCES: return "EACCES";
  case EFAULT: return "EFAULT";
  case EBUSY: return "EBUSY";
  case EEXIST: return "EEXIST";
  case ENODEV: return "ENODEV";
  case ENOTDIR: return "ENOTDIR";
  case EISDIR: return "EISDIR";
  case EINVAL: return "EINVAL";
  case ENFILE: return "ENFILE";
  case EMFILE: return "EMFILE";
  case EFBIG: return "EFBIG";
  case ENOSPC: return "ENOSPC";
  case EROFS: return "EROFS";
  case ERANGE: return "ERANGE";
  case ENAMETOOLONG: return "ENAMETOOLONG";
  case EOPNOTSUPP: return "EOPNOTSUPP";
  case EOVERFLOW: return "EOVERFLOW";
#ifdef EHWPOISON
  case EHWPOISON: return "EHWPOISON";
#endif
  default: return NULL;
  }
}

/* rc/errno/code, the kernel's answer, as hvo-recording/1 spells it. */
static void put_result(struct sb *b, int err, const char *stage) {
  if (!err) {
    sb_puts(b, "\"rc\":0,\"errno\":0,\"code\":null");
    return;
  }
  const char *name = errno_name(err);
  char buf[32];
  if (!name) {
    snprintf(buf, sizeof buf, "E%d", err);
    name = buf;
  }
  sb_printf(b, "\"rc\":-1,\"errno\":%d,\"code\":", err);
  sb_jstr(b, name);
  if (stage) {
    sb_puts(b, ",\"stage\":");
    sb_jstr(b, stage);
  }
}

static void put_error(struct sb *b, const char *msg, const char *detail) {
  struct sb m = {0};
  sb_puts(&m, msg);
  if (detail) sb_puts(&m, detail);
  sb_puts(b, "{\"ok\":false,\"error\":");
  sb_jstrn(b, m.p, m.n);
  sb_puts(b, "}");
  free(m.p);
}

static void put_sigbus(struct sb *b, long fault_index) {
  sb_printf(b, "\"rc\":-1,\"errno\":0,\"code\":\"SIGBUS\",\"stage\":\"touch\",\"fault_index\":%ld",
            fault_index);
}

/* ---------------------------------------------------------------- request parsing */

#define MAX_ARGS 32
struct args {
  int n;
  char *key[MAX_ARGS];
  char *val[MAX_ARGS];
  size_t len[MAX_ARGS];
};

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes %XX in place; returns the decoded length or -1 for a bad escape. */
static long pct_decode(char *s) {
  char *o = s;
  for (char *i = s; *i; i++) {
    if (*i == '%') {
      int h = hexval((unsigned char)i[1]), l = h < 0 ? -1 : hexval((unsigned char)i[2]);
      if (h < 0 || l < 0) return -1;
      *o++ = (char)(h * 16 + l);
      i += 2;
    } else {
      *o++ = *i;
    }
  }
  *o = 0;
  return (long)(o - s);
}

static const char *arg(const struct args *a, const char *key) {
  for (int i = 0; i < a->n; i++)
    if (!strcmp(a->key[i], key)) return a->val[i];
  return NULL;
}

static size_t arg_len(const struct args *a, const char *key) {
  for (int i = 0; i < a->n; i++)
    if (!strcmp(a->key[i], key)) return a->len[i];
  return 0;
}

static int parse_long(const char *s, long *out) {
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

static long arg_long(const struct args *a, const char *key, long def, int *bad) {
  const char *s = arg(a, key);
  if (!s) return def;
  long v;
  if (parse_long(s, &v)) {
    *bad = 1;
    return def;
  }
  return v;
}

/* "2M", "1G", "64K", "2048kB", "1048576kB", "2097152" (bytes) -> bytes; 0 when bad. */
static unsigned long long parse_size(const char *s) {
  if (!s || !*s) return 0;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s) return 0;
  unsigned long long mul = 1;
  if (!strcmp(end, "") || !strcmp(end, "B"))
    mul = 1;
  else if (!strcmp(end, "K") || !strcmp(end, "k") || !strcmp(end, "kB") || !strcmp(end, "KB") ||
           !strcmp(end, "KiB"))
    mul = 1ULL << 10;
  else if (!strcmp(end, "M") || !strcmp(end, "MB") || !strcmp(end, "MiB"))
    mul = 1ULL << 20;
  else if (!strcmp(end, "G") || !strcmp(end, "GB") || !strcmp(end, "GiB"))
    mul = 1ULL << 30;
  else
    return 0;
  return v * mul;
}

static int log2_exact(unsigned long long v) {
  if (!v || (v & (v - 1))) return -1;
  int k = 0;
  while (v > 1) {
    v >>= 1;
    k++;
  }
  return k;
}

/* ---------------------------------------------------------------- files */

/* Reads a whole file; returns 0 and a malloc'd NUL-terminated buffer, or the errno. */
static int read_file(const char *path, char **out, size_t *outlen) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return errno;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  if (!buf) {
    close(fd);
    return ENOMEM;
  }
  for (;;) {
    if (n == cap) {
      if (cap >= MAX_FILE) break;
      cap *= 2;
      char *p = realloc(buf, cap + 1);
      if (!p) {
        free(buf);
        close(fd);
        return ENOMEM;
      }
      buf = p;
    }
    ssize_t k = read(fd, buf + n, cap - n);
    if (k < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      free(buf);
      close(fd);
      return e;
    }
    if (k == 0) break;
    n += (size_t)k;
  }
  close(fd);
  buf[n] = 0;
  *out = buf;
  if (outlen) *outlen = n;
  return 0;
}

struct wres {
  int err;
  const char *stage;
  long written;
};

/* open(O_WRONLY) + exactly one write(2): the kernel's store handler sees the bytes once. */
static struct wres write_once(const char *path, const char *val, size_t len) {
  struct wres r = {0, NULL, -1};
  int fd = open(path, O_WRONLY);
  if (fd < 0) {
    r.err = errno;
    r.stage = "open";
    return r;
  }
  ssize_t k = write(fd, val, len);
  if (k < 0) {
    r.err = errno;
    r.stage = "write";
    close(fd);
    return r;
  }
  r.written = (long)k;
  if (close(fd) < 0) {
    r.err = errno;
    r.stage = "close";
  }
  return r;
}

static long read_long_file(const char *path, long def) {
  char *t;
  if (read_file(path, &t, NULL)) return def;
  long v = strtol(t, NULL, 10);
  free(t);
  return v;
}

/* ---------------------------------------------------------------- hstates and nodes */

struct hstate {
  unsigned long kb;
  char dir[384];
};
static struct hstate hstates[MAX_HSTATES];
static int nr_hstates;
static int nodes[MAX_NODES];
static int nr_nodes;

static int cmp_hstate(const void *a, const void *b) {
  unsigned long x = ((const struct hstate *)a)->kb, y = ((const struct hstate *)b)->kb;
  return x < y ? -1 : x > y;
}
static int cmp_int(const void *a, const void *b) {
  return *(const int *)a - *(const int *)b;
}

static void scan_topology(void) {
  nr_hstates = 0;
  DIR *d = opendir(HP_DIR);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) && nr_hstates < MAX_HSTATES) {
      unsigned long kb;
      char tail[8];
      if (sscanf(e->d_name, "hugepages-%lukB%7s", &kb, tail) == 1) {
        hstates[nr_hstates].kb = kb;
        snprintf(hstates[nr_hstates].dir, sizeof hstates[0].dir, "%s/%s", HP_DIR, e->d_name);
        nr_hstates++;
      }
    }
    closedir(d);
  }
  qsort(hstates, (size_t)nr_hstates, sizeof hstates[0], cmp_hstate);
  nr_nodes = 0;
  d = opendir(NODE_DIR);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) && nr_nodes < MAX_NODES) {
      int nid;
      char tail[8];
      if (sscanf(e->d_name, "node%d%7s", &nid, tail) == 1) nodes[nr_nodes++] = nid;
    }
    closedir(d);
  }
  qsort(nodes, (size_t)nr_nodes, sizeof nodes[0], cmp_int);
}

/* ---------------------------------------------------------------- SIGBUS-safe touching */

static sigjmp_buf touch_jmp;
static volatile sig_atomic_t in_touch;

static void on_sigbus(int sig) {
  if (in_touch) {
    in_touch = 0;
    siglongjmp(touch_jmp, 1);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

/*
 * Writes one byte every `stride` bytes from index `from` of `count`; returns how many were
 * written before a SIGBUS (== count when none).
 */
static long touch_range(char *base, unsigned long long stride, long from, long count) {
  volatile long i = from;
  if (sigsetjmp(touch_jmp, 1)) return i - from;
  in_touch = 1;
  for (; i < from + count; i++) {
    volatile char *p = base + (unsigned long long)i * stride;
    *p = (char)(*p + 1);
  }
  in_touch = 0;
  return count;
}

/* ---------------------------------------------------------------- pagemap */

static int pagemap_fd = -1;

/* pfn of a virtual address, -1 not present, -2 error. */
static long long vaddr_pfn(const void *addr) {
  if (pagemap_fd < 0) pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
  if (pagemap_fd < 0) return -2;
  uint64_t ent;
  off_t off = (off_t)((uintptr_t)addr / (uintptr_t)sysconf(_SC_PAGESIZE)) * 8;
  if (pread(pagemap_fd, &ent, 8, off) != 8) return -2;
  if (!(ent >> 63 & 1)) return -1;
  return (long long)(ent & ((1ULL << 55) - 1));
}

/* ---------------------------------------------------------------- mappings */

struct mapping {
  int used;
  char id[64];
  char *addr;
  size_t len;
  unsigned long long hsize;
  long n;
  int fd;
};
static struct mapping maps[MAX_MAPS];

static struct mapping *find_map(const char *id) {
  for (int i = 0; i < MAX_MAPS; i++)
    if (maps[i].used && !strcmp(maps[i].id, id)) return &maps[i];
  return NULL;
}

static int release_map(struct mapping *m) {
  int err = 0;
  if (m->addr && munmap(m->addr, m->len) < 0) err = errno;
  if (m->fd >= 0) close(m->fd);
  memset(m, 0, sizeof *m);
  m->fd = -1;
  return err;
}

static void put_pfns(struct sb *b, char *addr, unsigned long long hsize, long n) {
  sb_puts(b, ",\"pfns\":[");
  for (long i = 0; i < n; i++) {
    long long pfn = vaddr_pfn(addr + (unsigned long long)i * hsize);
    if (i) sb_puts(b, ",");
    if (pfn < 0)
      sb_puts(b, "null");
    else
      sb_printf(b, "%lld", pfn);
  }
  sb_puts(b, "]");
}

/* ---------------------------------------------------------------- mounts */

struct mnt {
  int used;
  int created;
  char dir[512];
};
static struct mnt mounts[MAX_MOUNTS];

/* Directories mkdir_p made (so that they go again when nothing is mounted in them). */
#define MAX_CREATED 64
static char created_dirs[MAX_CREATED][512];
static int n_created;

static void note_created(const char *d) {
  if (n_created < MAX_CREATED) snprintf(created_dirs[n_created++], 512, "%s", d);
}

/* mkdir -p; *created: dir itself was made (every directory made is noted). */
static int mkdir_p(const char *dir, int *created) {
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s", dir);
  *created = 0;
  for (char *p = tmp + 1; *p; p++) {
    if (*p == '/') {
      *p = 0;
      if (mkdir(tmp, 0755) == 0) note_created(tmp);
      else if (errno != EEXIST) return errno;
      *p = '/';
    }
  }
  if (mkdir(tmp, 0755) < 0) {
    if (errno != EEXIST) return errno;
  } else {
    *created = 1;
    note_created(tmp);
  }
  return 0;
}

/* Removes the directories this process made that are empty now, deepest first. */
static void rmdir_created(void) {
  for (int pass = 0; pass < 2; pass++)
    for (int i = n_created - 1; i >= 0; i--) {
      if (rmdir(created_dirs[i]) < 0 && errno != ENOENT) continue;
      memmove(created_dirs[i], created_dirs[i + 1], (size_t)(n_created - i - 1) * 512);
      n_created--;
    }
}

/* ---------------------------------------------------------------- ops */

static void op_hello(struct sb *b) {
  struct utsname u;
  uname(&u);
  scan_topology();
  sb_puts(b, "{\"ok\":true,\"proto\":\"" PROTO "\",\"release\":");
  sb_jstr(b, u.release);
  sb_puts(b, ",\"version\":");
  sb_jstr(b, u.version);
  sb_puts(b, ",\"machine\":");
  sb_jstr(b, u.machine);
  sb_printf(b, ",\"page_size\":%ld,\"hstates\":[", sysconf(_SC_PAGESIZE));
  for (int i = 0; i < nr_hstates; i++)
    sb_printf(b, "%s{\"name\":\"%lukB\",\"kB\":%lu}", i ? "," : "", hstates[i].kb, hstates[i].kb);
  sb_puts(b, "],\"nodes\":[");
  for (int i = 0; i < nr_nodes; i++) sb_printf(b, "%s%d", i ? "," : "", nodes[i]);
  sb_puts(b, "],\"uid\":");
  sb_printf(b, "%d}", (int)geteuid());
}

static void op_write(struct sb *b, const struct args *a) {
  const char *path = arg(a, "path"), *val = arg(a, "value");
  if (!path || !val) {
    sb_puts(b, "{\"ok\":false,\"error\":\"write needs path= and value=\"}");
    return;
  }
  size_t len = arg_len(a, "value");
  struct wres r = write_once(path, val, len);
  sb_puts(b, "{\"ok\":true,");
  put_result(b, r.err, r.stage);
  if (r.written >= 0) {
    sb_printf(b, ",\"written\":%ld", r.written);
    if ((size_t)r.written < len) sb_puts(b, ",\"partial\":true");
  }
  sb_puts(b, "}");
}

static void op_read(struct sb *b, const struct args *a) {
  const char *path = arg(a, "path");
  if (!path) {
    sb_puts(b, "{\"ok\":false,\"error\":\"read needs path=\"}");
    return;
  }
  char *t;
  size_t n;
  int err = read_file(path, &t, &n);
  sb_puts(b, "{\"ok\":true,");
  put_result(b, err, err ? "open" : NULL);
  if (!err) {
    sb_puts(b, ",\"text\":");
    sb_jstrn(b, t, n);
    free(t);
  }
  sb_puts(b, "}");
}

static void op_map(struct sb *b, const struct args *a) {
  int bad = 0;
  const char *id = arg(a, "id"), *file = arg(a, "file");
  unsigned long long hsize = parse_size(arg(a, "size"));
  long n = arg_long(a, "n", -1, &bad);
  long touch = arg_long(a, "touch", 1, &bad);
  long noreserve = arg_long(a, "noreserve", 0, &bad);
  long shared = arg_long(a, "shared", 0, &bad);
  long trunc = arg_long(a, "trunc", 1, &bad);
  int shift = log2_exact(hsize);
  if (!id || bad || n < 0 || shift < 0 || strlen(id) >= sizeof maps[0].id) {
    sb_puts(b, "{\"ok\":false,\"error\":\"map needs id=, size= (a power of two), n>=0\"}");
    return;
  }
  if (find_map(id)) {
    sb_puts(b, "{\"ok\":false,\"error\":\"map id already in use\"}");
    return;
  }
  struct mapping *m = NULL;
  for (int i = 0; i < MAX_MAPS; i++)
    if (!maps[i].used) {
      m = &maps[i];
      break;
    }
  if (!m) {
    sb_puts(b, "{\"ok\":false,\"error\":\"too many mappings\"}");
    return;
  }
  size_t len = (size_t)(hsize * (unsigned long long)n);
  int fd = -1;
  int flags = (shared ? MAP_SHARED : MAP_PRIVATE) | (noreserve ? MAP_NORESERVE : 0);
  if (file) {
    fd = open(file, O_RDWR | O_CREAT, 0600);
    if (fd < 0) {
      sb_puts(b, "{\"ok\":true,");
      put_result(b, errno, "open");
      sb_puts(b, ",\"touched\":0,\"pfns\":[]}");
      return;
    }
    if (trunc && ftruncate(fd, (off_t)len) < 0) {
      int e = errno;
      close(fd);
      sb_puts(b, "{\"ok\":true,");
      put_result(b, e, "ftruncate");
      sb_puts(b, ",\"touched\":0,\"pfns\":[]}");
      return;
    }
  } else {
    flags |= MAP_ANONYMOUS | MAP_HUGETLB | (shift << MAP_HUGE_SHIFT);
  }
  char *addr = NULL;
  if (len) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      if (fd >= 0) close(fd);
      sb_puts(b, "{\"ok\":true,");
      put_result(b, e, "mmap");
      sb_puts(b, ",\"touched\":0,\"pfns\":[]}");
      return;
    }
    addr = p;
  }
  m->used = 1;
  snprintf(m->id, sizeof m->id, "%s", id);
  m->addr = addr;
  m->len = len;
  m->hsize = hsize;
  m->n = n;
  m->fd = fd;
  long touched = 0;
  if (touch && n) touched = touch_range(addr, hsize, 0, n);
  sb_puts(b, "{\"ok\":true,");
  if (touch && touched < n)
    put_sigbus(b, touched);
  else
    put_result(b, 0, NULL);
  sb_printf(b, ",\"touched\":%ld", touched);
  put_pfns(b, addr, hsize, n);
  sb_puts(b, "}");
}

static void op_touch(struct sb *b, const struct args *a) {
  const char *id = arg(a, "id");
  struct mapping *m = id ? find_map(id) : NULL;
  if (!m) {
    sb_puts(b, "{\"ok\":false,\"error\":\"touch: unknown map id\"}");
    return;
  }
  long touched = m->n ? touch_range(m->addr, m->hsize, 0, m->n) : 0;
  sb_puts(b, "{\"ok\":true,");
  if (touched < m->n)
    put_sigbus(b, touched);
  else
    put_result(b, 0, NULL);
  sb_printf(b, ",\"touched\":%ld", touched);
  put_pfns(b, m->addr, m->hsize, m->n);
  sb_puts(b, "}");
}

static void op_release(struct sb *b, const struct args *a) {
  const char *id = arg(a, "id");
  struct mapping *m = id ? find_map(id) : NULL;
  if (!m) {
    sb_puts(b, "{\"ok\":false,\"error\":\"release: unknown map id\"}");
    return;
  }
  int err = release_map(m);
  sb_puts(b, "{\"ok\":true,");
  put_result(b, err, err ? "munmap" : NULL);
  sb_puts(b, "}");
}

static void op_populate(struct sb *b, const struct args *a) {
  int bad = 0;
  const char *file = arg(a, "file");
  unsigned long long hsize = parse_size(arg(a, "size"));
  long n = arg_long(a, "n", -1, &bad);
  if (!file || bad || n < 0 || log2_exact(hsize) < 0) {
    sb_puts(b, "{\"ok\":false,\"error\":\"populate needs file=, size=, n>=0\"}");
    return;
  }
  size_t len = (size_t)(hsize * (unsigned long long)n);
  int fd = open(file, O_RDWR | O_CREAT, 0600);
  if (fd < 0) {
    sb_puts(b, "{\"ok\":true,");
    put_result(b, errno, "open");
    sb_puts(b, ",\"touched\":0}");
    return;
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && (unsigned long long)st.st_size < len &&
      ftruncate(fd, (off_t)len) < 0) {
    int e = errno;
    close(fd);
    sb_puts(b, "{\"ok\":true,");
    put_result(b, e, "ftruncate");
    sb_puts(b, ",\"touched\":0}");
    return;
  }
  long touched = 0;
  if (len) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      close(fd);
      sb_puts(b, "{\"ok\":true,");
      put_result(b, e, "mmap");
      sb_puts(b, ",\"touched\":0}");
      return;
    }
    touched = touch_range(p, hsize, 0, n);
    munmap(p, len);
  }
  close(fd);
  sb_puts(b, "{\"ok\":true,");
  if (touched < n)
    put_sigbus(b, touched);
  else
    put_result(b, 0, NULL);
  sb_printf(b, ",\"touched\":%ld}", touched);
}

static void op_mount(struct sb *b, const struct args *a) {
  const char *dir = arg(a, "dir"), *opts = arg(a, "opts");
  if (!dir || strlen(dir) >= sizeof mounts[0].dir) {
    sb_puts(b, "{\"ok\":false,\"error\":\"mount needs dir=\"}");
    return;
  }
  struct mnt *slot = NULL;
  for (int i = 0; i < MAX_MOUNTS; i++)
    if (!mounts[i].used) {
      slot = &mounts[i];
      break;
    }
  if (!slot) {
    sb_puts(b, "{\"ok\":false,\"error\":\"too many mounts\"}");
    return;
  }
  int created = 0;
  int err = mkdir_p(dir, &created);
  if (err) {
    sb_puts(b, "{\"ok\":true,");
    put_result(b, err, "mkdir");
    sb_puts(b, "}");
    return;
  }
  if (mount("none", dir, "hugetlbfs", 0, opts && *opts ? opts : NULL) < 0) {
    err = errno;
    rmdir_created();
    sb_puts(b, "{\"ok\":true,");
    put_result(b, err, "mount");
    sb_puts(b, "}");
    return;
  }
  slot->used = 1;
  slot->created = created;
  snprintf(slot->dir, sizeof slot->dir, "%s", dir);
  sb_puts(b, "{\"ok\":true,");
  put_result(b, 0, NULL);
  sb_puts(b, "}");
}

static int do_umount(struct mnt *m) {
  if (umount2(m->dir, 0) < 0) return errno;
  memset(m, 0, sizeof *m);
  rmdir_created();
  return 0;
}

static void op_umount(struct sb *b, const struct args *a) {
  const char *dir = arg(a, "dir");
  if (!dir) {
    sb_puts(b, "{\"ok\":false,\"error\":\"umount needs dir=\"}");
    return;
  }
  int err = 0;
  struct mnt *found = NULL;
  for (int i = 0; i < MAX_MOUNTS; i++)
    if (mounts[i].used && !strcmp(mounts[i].dir, dir)) found = &mounts[i];
  if (found)
    err = do_umount(found);
  else if (umount2(dir, 0) < 0)
    err = errno;
  sb_puts(b, "{\"ok\":true,");
  put_result(b, err, err ? "umount" : NULL);
  sb_puts(b, "}");
}

static void op_unlink(struct sb *b, const struct args *a) {
  const char *path = arg(a, "path");
  if (!path) {
    sb_puts(b, "{\"ok\":false,\"error\":\"unlink needs path=\"}");
    return;
  }
  int err = unlink(path) < 0 ? errno : 0;
  sb_puts(b, "{\"ok\":true,");
  put_result(b, err, err ? "unlink" : NULL);
  sb_puts(b, "}");
}

/* Run-length encoding of 64-bit words: [[word,count],...]. */
static void put_rle(struct sb *b, const uint64_t *w, size_t n) {
  sb_puts(b, "[");
  size_t i = 0;
  int first = 1;
  while (i < n) {
    size_t j = i + 1;
    while (j < n && w[j] == w[i]) j++;
    sb_printf(b, "%s[%llu,%zu]", first ? "" : ",", (unsigned long long)w[i], j - i);
    first = 0;
    i = j;
  }
  sb_puts(b, "]");
}

static int pread_words(const char *path, uint64_t pfn, uint64_t *w, size_t n) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return errno;
  size_t want = n * 8, got = 0;
  while (got < want) {
    ssize_t k = pread(fd, (char *)w + got, want - got, (off_t)(pfn * 8 + got));
    if (k < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return e;
    }
    if (k == 0) {
      close(fd);
      return EIO;
    }
    got += (size_t)k;
  }
  close(fd);
  return 0;
}

static void op_kpf(struct sb *b, const struct args *a) {
  int bad = 0;
  unsigned long long hsize = parse_size(arg(a, "size"));
  long n = arg_long(a, "n", 1, &bad);
  int shift = log2_exact(hsize);
  long psz = sysconf(_SC_PAGESIZE);
  if (bad || n < 1 || shift < 0 || hsize < (unsigned long long)psz) {
    sb_puts(b, "{\"ok\":false,\"error\":\"kpf needs size= (a huge page size) and n>=1\"}");
    return;
  }
  size_t len = (size_t)(hsize * (unsigned long long)n);
  size_t sub = (size_t)(hsize / (unsigned long long)psz);
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (shift << MAP_HUGE_SHIFT), -1, 0);
  if (p == MAP_FAILED) {
    sb_puts(b, "{\"ok\":true,");
    put_result(b, errno, "mmap");
    sb_puts(b, ",\"pages\":[]}");
    return;
  }
  char *base = p;
  long touched = touch_range(base, (unsigned long long)psz, 0, (long)(sub * (size_t)n));
  if (touched < (long)(sub * (size_t)n)) {
    munmap(p, len);
    sb_puts(b, "{\"ok\":true,");
    put_sigbus(b, touched);
    sb_puts(b, ",\"pages\":[]}");
    return;
  }
  uint64_t *flags = malloc(sub * 8), *counts = malloc(sub * 8);
  if (!flags || !counts) {
    munmap(p, len);
    free(flags);
    free(counts);
    sb_puts(b, "{\"ok\":false,\"error\":\"out of memory\"}");
    return;
  }
  struct sb pages = {0};
  int err = 0;
  const char *stage = NULL;
  for (long h = 0; h < n && !err; h++) {
    char *hp = base + (size_t)h * hsize;
    long long pfn0 = vaddr_pfn(hp);
    if (pfn0 < 0) {
      err = pfn0 == -1 ? EFAULT : EIO;
      stage = "pagemap";
      break;
    }
    int contiguous = 1;
    for (size_t i = 1; i < sub; i++)
      if (vaddr_pfn(hp + i * (size_t)psz) != pfn0 + (long long)i) {
        contiguous = 0;
        break;
      }
    if ((err = pread_words("/proc/kpageflags", (uint64_t)pfn0, flags, sub))) {
      stage = "kpageflags";
      break;
    }
    if ((err = pread_words("/proc/kpagecount", (uint64_t)pfn0, counts, sub))) {
      stage = "kpagecount";
      break;
    }
    sb_printf(&pages, "%s{\"pfn\":%lld,\"contiguous\":%s,\"nr\":%zu,\"head_flags\":%llu,", h ? "," : "",
              pfn0, contiguous ? "true" : "false", sub, (unsigned long long)flags[0]);
    sb_printf(&pages, "\"head_count\":%llu,\"flags\":", (unsigned long long)counts[0]);
    put_rle(&pages, flags, sub);
    sb_puts(&pages, ",\"counts\":");
    put_rle(&pages, counts, sub);
    sb_puts(&pages, "}");
  }
  munmap(p, len);
  free(flags);
  free(counts);
  sb_puts(b, "{\"ok\":true,");
  put_result(b, err, stage);
  sb_puts(b, ",\"pages\":[");
  if (!err && pages.p) sb_puts(b, pages.p);
  sb_puts(b, "]}");
  free(pages.p);
}

/* ---------------------------------------------------------------- obs */

#define MAX_OBS 256
struct obsfile {
  char path[1024];
  char *text;
  size_t len;
  char *first;
  size_t first_len;
  int key_changed;
};
static struct obsfile obs[MAX_OBS];
static int nr_obs;

static void obs_add(const char *path) {
  if (nr_obs >= MAX_OBS) return;
  struct stat st;
  if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0444)) return;
  snprintf(obs[nr_obs].path, sizeof obs[0].path, "%s", path);
  nr_obs++;
}

static void obs_add_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  char names[32][256];
  int k = 0;
  struct dirent *e;
  while ((e = readdir(d)) && k < 32) {
    if (e->d_name[0] == '.') continue;
    snprintf(names[k++], sizeof names[0], "%s", e->d_name);
  }
  closedir(d);
  qsort(names, (size_t)k, sizeof names[0], (int (*)(const void *, const void *))strcmp);
  for (int i = 0; i < k; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%.600s/%.255s", dir, names[i]);
    obs_add(path);
  }
}

static void obs_build_list(void) {
  for (int i = 0; i < nr_obs; i++) {
    free(obs[i].text);
    free(obs[i].first);
  }
  memset(obs, 0, sizeof obs);
  nr_obs = 0;
  scan_topology();
  obs_add("/proc/meminfo");
  obs_add("/proc/vmstat");
  obs_add("/proc/zoneinfo");
  obs_add(HVO_SYSCTL);
  obs_add("/proc/sys/vm/nr_hugepages");
  obs_add("/proc/sys/vm/nr_overcommit_hugepages");
  obs_add("/proc/sys/vm/nr_hugepages_mempolicy");
  for (int i = 0; i < nr_hstates; i++) obs_add_dir(hstates[i].dir);
  for (int j = 0; j < nr_nodes; j++)
    for (int i = 0; i < nr_hstates; i++) {
      char dir[256];
      snprintf(dir, sizeof dir, "%s/node%d/hugepages/hugepages-%lukB", NODE_DIR, nodes[j],
               hstates[i].kb);
      obs_add_dir(dir);
    }
}

/* The part of a file that must stop moving before an observation counts as settled. */
static void settle_key(const struct obsfile *f, struct sb *key) {
  const char *t = f->text ? f->text : "";
  if (!strcmp(f->path, "/proc/meminfo") || !strcmp(f->path, "/proc/vmstat")) {
    const char *pfx1 = f->path[6] == 'm' ? "HugePages_" : "nr_memmap";
    const char *pfx2 = f->path[6] == 'm' ? "Hugetlb:" : "nr_memmap";
    for (const char *line = t; *line;) {
      const char *nl = strchr(line, '\n');
      size_t n = nl ? (size_t)(nl - line) : strlen(line);
      if (!strncmp(line, pfx1, strlen(pfx1)) || !strncmp(line, pfx2, strlen(pfx2))) {
        sb_putn(key, line, n);
        sb_puts(key, "\n");
      }
      line += n + (nl ? 1 : 0);
    }
  } else if (!strcmp(f->path, "/proc/zoneinfo")) {
    /* Informational only; moves with every allocation in the system. */
  } else {
    sb_puts(key, t);
  }
}

static void obs_read_all(void) {
  for (int i = 0; i < nr_obs; i++) {
    free(obs[i].text);
    obs[i].text = NULL;
    obs[i].len = 0;
    if (read_file(obs[i].path, &obs[i].text, &obs[i].len)) obs[i].text = NULL;
  }
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

static void op_obs(struct sb *b, const struct args *a) {
  int bad = 0;
  long settle = arg_long(a, "settle_ms", 200, &bad);
  long poll = arg_long(a, "poll_ms", 20, &bad);
  long maxms = arg_long(a, "max_ms", 4000, &bad);
  if (bad || settle < 0 || poll < 1 || maxms < 0) {
    sb_puts(b, "{\"ok\":false,\"error\":\"obs: bad settle_ms/poll_ms/max_ms\"}");
    return;
  }
  obs_build_list();
  double t0 = now_ms();
  obs_read_all();
  struct sb *firstkeys = calloc((size_t)nr_obs + 1, sizeof(struct sb));
  for (int i = 0; i < nr_obs; i++) {
    obs[i].first = obs[i].text ? strdup(obs[i].text) : NULL;
    obs[i].first_len = obs[i].len;
    settle_key(&obs[i], &firstkeys[i]);
  }
  struct sb key = {0}, prev = {0};
  for (int i = 0; i < nr_obs; i++) settle_key(&obs[i], &prev);
  double stable_since = t0;
  int reads = 1, settled = 0;
  for (;;) {
    double t = now_ms();
    if (t - stable_since >= (double)settle) {
      settled = 1;
      break;
    }
    if (t - t0 >= (double)maxms) break;
    sleep_ms(poll);
    obs_read_all();
    reads++;
    key.n = 0;
    if (key.p) key.p[0] = 0;
    for (int i = 0; i < nr_obs; i++) settle_key(&obs[i], &key);
    if (key.n != prev.n || (key.n && memcmp(key.p, prev.p, key.n))) {
      stable_since = now_ms();
      struct sb tmp = prev;
      prev = key;
      key = tmp;
    }
  }
  sb_printf(b, "{\"ok\":true,\"settled\":%s,\"waited_ms\":%ld,\"reads\":%d,\"files\":{",
            settled ? "true" : "false", (long)(now_ms() - t0), reads);
  int k = 0;
  for (int i = 0; i < nr_obs; i++) {
    if (!obs[i].text) continue;
    if (k++) sb_puts(b, ",");
    sb_jstr(b, obs[i].path);
    sb_puts(b, ":");
    sb_jstrn(b, obs[i].text, obs[i].len);
  }
  sb_puts(b, "},\"first\":{");
  k = 0;
  for (int i = 0; i < nr_obs; i++) {
    struct sb now = {0};
    settle_key(&obs[i], &now);
    int changed = now.n != firstkeys[i].n || (now.n && memcmp(now.p, firstkeys[i].p, now.n));
    free(now.p);
    if (!changed || !obs[i].first) continue;
    if (k++) sb_puts(b, ",");
    sb_jstr(b, obs[i].path);
    sb_puts(b, ":");
    sb_jstrn(b, obs[i].first, obs[i].first_len);
  }
  sb_puts(b, "}}");
  for (int i = 0; i < nr_obs; i++) free(firstkeys[i].p);
  free(firstkeys);
  free(key.p);
  free(prev.p);
}

/* ---------------------------------------------------------------- reset */

static void reset_write(struct sb *b, int *k, const char *path, const char *val) {
  struct wres r = write_once(path, val, strlen(val));
  if ((*k)++) sb_puts(b, ",");
  sb_puts(b, "{\"path\":");
  sb_jstr(b, path);
  sb_puts(b, ",\"value\":");
  sb_jstr(b, val);
  sb_puts(b, ",");
  put_result(b, r.err, r.stage);
  sb_puts(b, "}");
}

static int release_all(int *released, int *unmounted) {
  int failures = 0;
  *released = *unmounted = 0;
  for (int i = 0; i < MAX_MAPS; i++)
    if (maps[i].used) {
      if (release_map(&maps[i])) failures++;
      (*released)++;
    }
  for (int i = MAX_MOUNTS - 1; i >= 0; i--)
    if (mounts[i].used) {
      if (do_umount(&mounts[i])) failures++;
      (*unmounted)++;
    }
  return failures;
}

/* ---------------------------------------------------------------- kmsg */

/*
 * The kernel log through /dev/kmsg, opened once and read without blocking. Each read() gives
 * one record, "prefix,seq,usec,flags;text\n" and then " KEY=value" lines (dropped here);
 * EAGAIN means nothing more; EPIPE means the ring overwrote records we had not read yet (the
 * next read() goes on from the oldest one left), counted in "lost".
 */
#define MAX_KMSG_LINES 20000
static int kmsg_fd = -1;

static void op_kmsg(struct sb *b, const struct args *a) {
  int bad = 0;
  long skip = arg_long(a, "skip", 0, &bad);
  long max = arg_long(a, "max", MAX_KMSG_LINES, &bad);
  if (bad || max < 1 || max > MAX_KMSG_LINES) {
    sb_puts(b, "{\"ok\":false,\"error\":\"kmsg: bad skip= or max=\"}");
    return;
  }
  if (kmsg_fd < 0) {
    kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
    if (kmsg_fd < 0) {
      int e = errno;
      sb_puts(b, "{\"ok\":true,");
      put_result(b, e, "open");
      sb_puts(b, ",\"lines\":[],\"lost\":0}");
      return;
    }
  }
  if (skip) {
    /* SEEK_END: the next read starts after the last record logged so far. */
    lseek(kmsg_fd, 0, SEEK_END);
    sb_puts(b, "{\"ok\":true,\"rc\":0,\"errno\":0,\"code\":null,\"lines\":[],\"lost\":0}");
    return;
  }
  struct sb lines = {0};
  static char rec[16384];
  long n = 0, lost = 0;
  int err = 0, more = 0;
  for (;;) {
    if (n >= max) {
      /* The rest waits for the next kmsg: answers stay small lines. */
      more = 1;
      break;
    }
    ssize_t k = read(kmsg_fd, rec, sizeof rec - 1);
    if (k < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE) {
        lost++;
        continue;
      }
      if (errno != EAGAIN) err = errno;
      break;
    }
    if (k == 0) break;
    rec[k] = 0;
    char *nl = memchr(rec, '\n', (size_t)k);
    size_t len = nl ? (size_t)(nl - rec) : (size_t)k;
    if (n) sb_puts(&lines, ",");
    sb_jstrn(&lines, rec, len);
    n++;
  }
  sb_puts(b, "{\"ok\":true,");
  put_result(b, err, err ? "read" : NULL);
  sb_puts(b, ",\"lines\":[");
  if (lines.n) sb_putn(b, lines.p, lines.n);
  sb_printf(b, "],\"lost\":%ld%s}", lost, more ? ",\"more\":true" : "");
  free(lines.p);
}

static void op_reset(struct sb *b) {
  int released, unmounted;
  int failures = release_all(&released, &unmounted);
  scan_topology();
  char path[1024];
  int k = 0;
  sb_puts(b, "{\"ok\":true,\"writes\":[");
  for (int i = nr_hstates - 1; i >= 0; i--) {
    snprintf(path, sizeof path, "%s/nr_overcommit_hugepages", hstates[i].dir);
    reset_write(b, &k, path, "0");
  }
  for (int i = nr_hstates - 1; i >= 0; i--) {
    snprintf(path, sizeof path, "%s/nr_hugepages", hstates[i].dir);
    reset_write(b, &k, path, "0");
  }
  for (int i = nr_hstates - 1; i >= 1; i--) {
    struct stat st;
    snprintf(path, sizeof path, "%s/demote_size", hstates[i].dir);
    if (stat(path, &st) < 0) continue;
    char val[32];
    snprintf(val, sizeof val, "%lukB", hstates[i - 1].kb);
    reset_write(b, &k, path, val);
  }
  struct stat st;
  if (stat(HVO_SYSCTL, &st) == 0) reset_write(b, &k, HVO_SYSCTL, "0");
  int clean = failures == 0;
  static const char *const zero_files[] = {"nr_hugepages", "surplus_hugepages", "resv_hugepages",
                                           "nr_overcommit_hugepages"};
  for (int i = 0; i < nr_hstates; i++)
    for (size_t j = 0; j < sizeof zero_files / sizeof zero_files[0]; j++) {
      snprintf(path, sizeof path, "%s/%s", hstates[i].dir, zero_files[j]);
      if (read_long_file(path, 0) != 0) clean = 0;
    }
  if (stat(HVO_SYSCTL, &st) == 0 && read_long_file(HVO_SYSCTL, 0) != 0) clean = 0;
  sb_printf(b, "],\"clean\":%s,\"released\":%d,\"unmounted\":%d}", clean ? "true" : "false",
            released, unmounted);
}

/* ---------------------------------------------------------------- main loop */

static void dispatch(struct sb *b, char *line) {
  struct args a = {0};
  char *save = NULL;
  char *op = strtok_r(line, " \t\r", &save);
  if (!op) return;
  char *tok;
  while ((tok = strtok_r(NULL, " \t\r", &save))) {
    char *eq = strchr(tok, '=');
    if (!eq || a.n >= MAX_ARGS) {
      sb_puts(b, "{\"ok\":false,\"error\":\"arguments are key=value\"}");
      return;
    }
    *eq = 0;
    long len = pct_decode(eq + 1);
    if (len < 0) {
      put_error(b, "bad %XX escape in the value of ", tok);
      return;
    }
    a.key[a.n] = tok;
    a.val[a.n] = eq + 1;
    a.len[a.n] = (size_t)len;
    a.n++;
  }
  if (!strcmp(op, "hello"))
    op_hello(b);
  else if (!strcmp(op, "write"))
    op_write(b, &a);
  else if (!strcmp(op, "read"))
    op_read(b, &a);
  else if (!strcmp(op, "map"))
    op_map(b, &a);
  else if (!strcmp(op, "touch"))
    op_touch(b, &a);
  else if (!strcmp(op, "release"))
    op_release(b, &a);
  else if (!strcmp(op, "populate"))
    op_populate(b, &a);
  else if (!strcmp(op, "mount"))
    op_mount(b, &a);
  else if (!strcmp(op, "umount"))
    op_umount(b, &a);
  else if (!strcmp(op, "unlink"))
    op_unlink(b, &a);
  else if (!strcmp(op, "kpf"))
    op_kpf(b, &a);
  else if (!strcmp(op, "obs"))
    op_obs(b, &a);
  else if (!strcmp(op, "reset"))
    op_reset(b);
  else if (!strcmp(op, "kmsg"))
    op_kmsg(b, &a);
  else if (!strcmp(op, "sleep")) {
    int bad = 0;
    long ms = arg_long(&a, "ms", 0, &bad);
    if (bad || ms < 0) {
      sb_puts(b, "{\"ok\":false,\"error\":\"sleep needs ms>=0\"}");
      return;
    }
    sleep_ms(ms);
    sb_puts(b, "{\"ok\":true}");
  } else {
    put_error(b, "unknown op ", op);
  }
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigbus;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, NULL);
  for (int i = 0; i < MAX_MAPS; i++) maps[i].fd = -1;
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);

  char *line = malloc(MAX_LINE + 2);
  if (!line) return 1;
  struct sb out = {0};
  while (fgets(line, MAX_LINE + 2, stdin)) {
    size_t n = strlen(line);
    if (n && line[n - 1] != '\n' && !feof(stdin)) {
      int c;
      while ((c = getchar()) != EOF && c != '\n') {
      }
      fputs("{\"ok\":false,\"error\":\"line too long\"}\n", stdout);
      fflush(stdout);
      continue;
    }
    if (n && line[n - 1] == '\n') line[--n] = 0;
    char *s = line;
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    if (!*s) continue;
    if (!strncmp(s, "quit", 4) && (s[4] == 0 || s[4] == ' ')) break;
    out.n = 0;
    if (out.p) out.p[0] = 0;
    dispatch(&out, s);
    if (!out.n) sb_puts(&out, "{\"ok\":false,\"error\":\"empty command\"}");
    sb_puts(&out, "\n");
    fwrite(out.p, 1, out.n, stdout);
    fflush(stdout);
  }
  int released, unmounted;
  release_all(&released, &unmounted);
  free(out.p);
  free(line);
  return 0;
}
