/*
 * hvokcore: the guest's front for hvoexec (native/PROTOCOL.md), adding a look at the kernel's
 * own memory through /proc/kcore (fs/proc/kcore.c). It starts /bin/hvoexec on two pipes and
 * relays every request line to it and its one answer line back, except these, which it
 * answers itself (one JSON object on one line, like hvoexec):
 *
 *   ksyms                   vmemmap_base, page_offset_base, init_top_pgt (from /proc/kallsyms)
 *   rawpage pfn=N [n=1]     the 64-byte struct pages of pfns N..N+n-1, read at
 *                           vmemmap_base + pfn * 64 (8 words each, hex strings)
 *   vmemmap pfn=N [nr=512]  a walk of the kernel page tables (arch/x86: 4 levels, from
 *                           init_top_pgt) for every vmemmap page that holds the struct pages
 *                           of pfns N..N+nr-1; run-length encoded by (level, flags, frame)
 *                           where consecutive pages map consecutive frames ("step":1) or
 *                           the same frame ("step":0)
 *
 * arm64 (built with aarch64-linux-gnu-gcc; arch/arm64/include/asm/memory.h, pgtable-hwdef.h):
 * there is no vmemmap_base variable: vmemmap = VMEMMAP_START - (memstart_addr >> PAGE_SHIFT),
 * VMEMMAP_START = -1G - VMEMMAP_SIZE, VMEMMAP_SIZE = ((_PAGE_END(48) - PAGE_OFFSET) >>
 * PAGE_SHIFT) * 64. PAGE_OFFSET is read off /proc/kcore's linear-map segments (their virtual
 * and physical addresses: va = (pa - memstart_addr) | PAGE_OFFSET), memstart_addr from
 * kallsyms; ksyms names swapper_pg_dir as "init_top_pgt". Without LPA2 on the CPU a 52-bit
 * kernel falls back to VA_BITS_MIN: 48 bits with 4K pages (4 levels: bits 47:39, 38:30, 29:21,
 * 20:12), 47 bits with 16K pages (3 levels: 46:36, 35:25, 24:14); _PAGE_END above is
 * _PAGE_END(VA_BITS_MIN). The walk starts at swapper_pg_dir, the top table in use. Descriptors: bit 0 valid, bit 1 table (levels 0-2) or page (level 3), block
 * when clear above level 3; output address bits 47:PAGE_SHIFT. Tables are read by physical
 * address through the linear-map segments.
 *
 * Needs kernel.kptr_restrict=0 (the guest's /init sets it) and a 64-byte struct page.
 * 64-bit values are printed as "0x..." strings: they do not fit a JSON double.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define STRUCT_PAGE 64
#if defined(__aarch64__)
#define PAGE_SZ page_sz /* 4K or 16K: the running kernel's */
#else
#define PAGE_SZ 4096ULL
#endif
#if defined(__aarch64__)
/* Output address bits 47:PAGE_SHIFT (48-bit PAs: no LPA2); the rest are attributes. */
#define PTE_PFN_MASK (((1ULL << 48) - 1) & ~(page_sz - 1))
#else
#define PTE_PFN_MASK 0x000ffffffffff000ULL
#endif
#define PTE_PRESENT 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PSE 0x80ULL

static int kcore_fd = -1;
static Elf64_Phdr *phdrs;
static int nphdrs;
static uint64_t sym_vmemmap_base, sym_page_offset_base, sym_init_top_pgt;
static uint64_t vmemmap_base, page_offset_base;
static char kerr[256];

static int kcore_open(void) {
  if (kcore_fd >= 0) return 0;
  kcore_fd = open("/proc/kcore", O_RDONLY);
  if (kcore_fd < 0) {
    snprintf(kerr, sizeof kerr, "open /proc/kcore: %s", strerror(errno));
    return -1;
  }
  Elf64_Ehdr eh;
  if (pread(kcore_fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG)) {
    snprintf(kerr, sizeof kerr, "/proc/kcore: no ELF header");
    return -1;
  }
  nphdrs = eh.e_phnum;
  phdrs = calloc(nphdrs, sizeof *phdrs);
  if (pread(kcore_fd, phdrs, nphdrs * sizeof *phdrs, eh.e_phoff) != (ssize_t)(nphdrs * sizeof *phdrs)) {
    snprintf(kerr, sizeof kerr, "/proc/kcore: short program headers");
    return -1;
  }
  return 0;
}

/* Reads len bytes of kernel virtual memory at va; -1 when no kcore segment covers it or the
 * kernel would not read it (an unmapped address reads as an error or zeroes). */
static int kread(uint64_t va, void *buf, size_t len) {
  for (int i = 0; i < nphdrs; i++) {
    Elf64_Phdr *p = &phdrs[i];
    if (p->p_type != PT_LOAD) continue;
    if (va >= p->p_vaddr && va + len <= p->p_vaddr + p->p_memsz) {
      ssize_t r = pread(kcore_fd, buf, len, p->p_offset + (va - p->p_vaddr));
      return r == (ssize_t)len ? 0 : -1;
    }
  }
  return -1;
}

#if defined(__aarch64__)
static uint64_t page_sz, page_shift;
static int64_t memstart_addr;

/* Reads len bytes at physical address pa through a linear-map (KCORE_RAM) segment. */
static int kread_phys(uint64_t pa, void *buf, size_t len) {
  for (int i = 0; i < nphdrs; i++) {
    Elf64_Phdr *p = &phdrs[i];
    if (p->p_type != PT_LOAD || p->p_paddr == (Elf64_Addr)-1) continue;
    /* Linear-map segments only (not the kernel image's). */
    if (p->p_vaddr - (p->p_paddr - (uint64_t)memstart_addr) != page_offset_base) continue;
    if (pa >= p->p_paddr && pa + len <= p->p_paddr + p->p_memsz)
      return kread(p->p_vaddr + (pa - p->p_paddr), buf, len);
  }
  return -1;
}

static int load_syms(void) {
  if (sym_vmemmap_base) return 0;
  if (kcore_open()) return -1;
  (void)sym_page_offset_base;
  page_sz = (uint64_t)sysconf(_SC_PAGESIZE);
  page_shift = (uint64_t)__builtin_ctzll(page_sz);
  FILE *f = fopen("/proc/kallsyms", "r");
  if (!f) {
    snprintf(kerr, sizeof kerr, "open /proc/kallsyms: %s", strerror(errno));
    return -1;
  }
  char line[512];
  uint64_t sym_memstart = 0;
  while (fgets(line, sizeof line, f)) {
    uint64_t a;
    char t, name[256];
    if (sscanf(line, "%" SCNx64 " %c %255s", &a, &t, name) != 3) continue;
    if (!strcmp(name, "memstart_addr")) sym_memstart = a;
    else if (!strcmp(name, "swapper_pg_dir")) sym_init_top_pgt = a;
  }
  fclose(f);
  if (!sym_memstart || !sym_init_top_pgt) {
    snprintf(kerr, sizeof kerr, "kallsyms lacks memstart_addr/swapper_pg_dir (kptr_restrict?)");
    return -1;
  }
  if (kread(sym_memstart, &memstart_addr, 8)) {
    snprintf(kerr, sizeof kerr, "cannot read memstart_addr through /proc/kcore");
    return -1;
  }
  /* PAGE_OFFSET from the lowest linear-map segment: the one with the lowest virtual address
   * among those whose physical address is known, below the kernel image. */
  uint64_t po = 0;
  int found = 0;
  for (int i = 0; i < nphdrs; i++) {
    Elf64_Phdr *p = &phdrs[i];
    if (p->p_type != PT_LOAD || p->p_paddr == (Elf64_Addr)-1) continue;
    uint64_t cand = p->p_vaddr - (p->p_paddr - (uint64_t)memstart_addr);
    /* A linear-map segment gives a PAGE_OFFSET with its low bits clear; the image does not. */
    if ((cand & ((1ULL << 40) - 1)) != 0) continue;
    if (!found || cand < po) po = cand;
    found = 1;
  }
  if (!found) {
    snprintf(kerr, sizeof kerr, "/proc/kcore shows no linear-map segment");
    return -1;
  }
  page_offset_base = po;
  uint64_t va_bits_min = page_shift == 14 ? 47 : 48;
  uint64_t page_end = (uint64_t)-(1ULL << (va_bits_min - 1));
  uint64_t vmemmap_size = ((page_end - po) >> page_shift) * STRUCT_PAGE;
  uint64_t vmemmap_start = (uint64_t)-(1ULL << 30) - vmemmap_size;
  vmemmap_base = vmemmap_start - (uint64_t)(memstart_addr >> page_shift) * STRUCT_PAGE;
  sym_vmemmap_base = sym_memstart;
  return 0;
}

/* Walks swapper_pg_dir for va (see the top). Returns 4 for a page descriptor, 3 for a PMD
 * block, 2 for a PUD block, 0 when not mapped, -1 when a table cannot be read. */
static int walk(uint64_t va, uint64_t *entry, uint64_t *phys) {
  static const int shifts4k[4] = {39, 30, 21, 12}, shifts16k[3] = {36, 25, 14};
  const int *shifts = page_shift == 14 ? shifts16k : shifts4k;
  const int nlevels = page_shift == 14 ? 3 : 4, skip = 4 - nlevels;
  uint64_t oa_mask = ((1ULL << 48) - 1) & ~(page_sz - 1);
  uint64_t e;
  if (kread(sym_init_top_pgt + ((va >> shifts[0]) & ((1ULL << (page_shift - 3)) - 1)) * 8, &e, 8))
    return -1;
  for (int lvl = 0; lvl < nlevels; lvl++) {
    if (lvl > 0) {
      uint64_t idx = (va >> shifts[lvl]) & ((1ULL << (page_shift - 3)) - 1);
      if (kread_phys((*phys) + idx * 8, &e, 8)) return -1;
    }
    *entry = e;
    if (!(e & 1)) return 0;
    uint64_t frame = e & oa_mask;
    if (lvl == nlevels - 1 || !(e & 2)) {
      if (lvl + skip == 0) return -1; /* no level-0 blocks */
      uint64_t span = 1ULL << shifts[lvl];
      *phys = (frame & ~(span - 1)) + (va & (span - 1));
      return lvl + skip + 1;
    }
    *phys = frame; /* the next table */
  }
  return -1;
}
#else
static int load_syms(void) {
  if (sym_vmemmap_base) return 0;
  if (kcore_open()) return -1;
  FILE *f = fopen("/proc/kallsyms", "r");
  if (!f) {
    snprintf(kerr, sizeof kerr, "open /proc/kallsyms: %s", strerror(errno));
    return -1;
  }
  char line[512];
  while (fgets(line, sizeof line, f)) {
    uint64_t a;
    char t, name[256];
    if (sscanf(line, "%" SCNx64 " %c %255s", &a, &t, name) != 3) continue;
    if (!strcmp(name, "vmemmap_base")) sym_vmemmap_base = a;
    else if (!strcmp(name, "page_offset_base")) sym_page_offset_base = a;
    else if (!strcmp(name, "init_top_pgt")) sym_init_top_pgt = a;
  }
  fclose(f);
  if (!sym_vmemmap_base || !sym_page_offset_base || !sym_init_top_pgt) {
    snprintf(kerr, sizeof kerr, "kallsyms lacks vmemmap_base/page_offset_base/init_top_pgt (kptr_restrict?)");
    sym_vmemmap_base = 0;
    return -1;
  }
  if (kread(sym_vmemmap_base, &vmemmap_base, 8) || kread(sym_page_offset_base, &page_offset_base, 8)) {
    snprintf(kerr, sizeof kerr, "cannot read vmemmap_base/page_offset_base through /proc/kcore");
    sym_vmemmap_base = 0;
    return -1;
  }
  return 0;
}

/* Walks the page tables for va. Returns the level that maps it (4=PTE, 3=PMD huge, 2=PUD huge,
 * 0=not mapped) and fills the entry and the physical address it maps va to. */
static int walk(uint64_t va, uint64_t *entry, uint64_t *phys) {
  uint64_t table = sym_init_top_pgt; /* virtual address of the top table */
  static const int shifts[4] = {39, 30, 21, 12};
  for (int lvl = 0; lvl < 4; lvl++) {
    uint64_t e;
    if (kread(table + ((va >> shifts[lvl]) & 511) * 8, &e, 8)) return -1;
    *entry = e;
    if (!(e & PTE_PRESENT)) return 0;
    uint64_t frame = e & PTE_PFN_MASK;
    if (lvl == 3 || ((lvl == 1 || lvl == 2) && (e & PTE_PSE))) {
      uint64_t span = 1ULL << shifts[lvl];
      *phys = (frame & ~(span - 1)) + (va & (span - 1));
      return lvl + 1;
    }
    table = page_offset_base + frame;
  }
  return -1;
}
#endif

static const char *kv(char *line, const char *key) {
  size_t kl = strlen(key);
  for (char *p = line; (p = strstr(p, key)); p += kl) {
    if ((p == line || p[-1] == ' ' || p[-1] == '\t') && p[kl] == '=') return p + kl + 1;
  }
  return NULL;
}

static void fail(const char *msg) {
  printf("{\"ok\":true,\"rc\":-1,\"errno\":0,\"code\":null,\"stage\":\"kcore\",\"error\":\"%s\"}\n", msg);
}

static void op_ksyms(void) {
  if (load_syms()) return fail(kerr);
  printf("{\"ok\":true,\"rc\":0,\"errno\":0,\"code\":null,\"vmemmap_base\":\"0x%" PRIx64
         "\",\"page_offset_base\":\"0x%" PRIx64 "\",\"init_top_pgt\":\"0x%" PRIx64 "\"}\n",
         vmemmap_base, page_offset_base, sym_init_top_pgt);
}

static void op_rawpage(char *line) {
  if (load_syms()) return fail(kerr);
  const char *s = kv(line, "pfn");
  const char *sn = kv(line, "n");
  if (!s) {
    printf("{\"ok\":false,\"error\":\"rawpage needs pfn=\"}\n");
    return;
  }
  uint64_t pfn = strtoull(s, NULL, 0);
  long n = sn ? strtol(sn, NULL, 0) : 1;
  if (n < 1 || n > 4096) {
    printf("{\"ok\":false,\"error\":\"rawpage n must be 1..4096\"}\n");
    return;
  }
  printf("{\"ok\":true,\"rc\":0,\"errno\":0,\"code\":null,\"vmemmap_base\":\"0x%" PRIx64 "\",\"pages\":[",
         vmemmap_base);
  for (long i = 0; i < n; i++) {
    uint64_t w[8];
    uint64_t va = vmemmap_base + (pfn + i) * STRUCT_PAGE;
    int bad = kread(va, w, sizeof w);
    printf("%s{\"pfn\":%" PRIu64 ",\"vaddr\":\"0x%" PRIx64 "\"", i ? "," : "", pfn + i, va);
    if (bad) {
      printf(",\"words\":null}");
      continue;
    }
    printf(",\"words\":[");
    for (int j = 0; j < 8; j++) printf("%s\"0x%" PRIx64 "\"", j ? "," : "", w[j]);
    printf("]}");
  }
  printf("]}\n");
}

static void op_vmemmap(char *line) {
  if (load_syms()) return fail(kerr);
  const char *s = kv(line, "pfn");
  const char *sn = kv(line, "nr");
  if (!s) {
    printf("{\"ok\":false,\"error\":\"vmemmap needs pfn=\"}\n");
    return;
  }
  uint64_t pfn = strtoull(s, NULL, 0);
  uint64_t nr = sn ? strtoull(sn, NULL, 0) : 512;
  uint64_t first = (vmemmap_base + pfn * STRUCT_PAGE) & ~(PAGE_SZ - 1);
  uint64_t last = (vmemmap_base + (pfn + nr) * STRUCT_PAGE + PAGE_SZ - 1) & ~(PAGE_SZ - 1);
  printf("{\"ok\":true,\"rc\":0,\"errno\":0,\"code\":null,\"vmemmap_base\":\"0x%" PRIx64
         "\",\"first_vaddr\":\"0x%" PRIx64 "\",\"pages\":%" PRIu64 ",\"runs\":[",
         vmemmap_base, first, (uint64_t)((last - first) / PAGE_SZ));
  /* A run: `count` vmemmap pages from `vaddr`, mapped at `level` with the same entry flags,
   * to frames phys, phys+step*4096, ... */
  int open_run = 0, rl = 0;
  uint64_t rv = 0, rflags = 0, rphys = 0, rcount = 0, rstep = 0;
  int firstrun = 1;
  for (uint64_t va = first; va < last; va += PAGE_SZ) {
    uint64_t e = 0, ph = 0;
    int l = walk(va, &e, &ph);
    uint64_t flags = e & ~PTE_PFN_MASK;
    if (open_run && l == rl && flags == rflags) {
      uint64_t expect0 = rphys + rstep * rcount * PAGE_SZ;
      if (rcount == 1 && (ph == rphys || ph == rphys + PAGE_SZ)) {
        rstep = ph == rphys ? 0 : 1;
        rcount++;
        continue;
      }
      if (rcount > 1 && ph == expect0) {
        rcount++;
        continue;
      }
    }
    if (open_run) {
      printf("%s{\"vaddr\":\"0x%" PRIx64 "\",\"count\":%" PRIu64 ",\"level\":%d,\"flags\":\"0x%" PRIx64
             "\",\"phys\":\"0x%" PRIx64 "\",\"step\":%" PRIu64 "}",
             firstrun ? "" : ",", rv, rcount, rl, rflags, rphys, rcount > 1 ? rstep : 1);
      firstrun = 0;
    }
    open_run = 1;
    rl = l;
    rv = va;
    rflags = flags;
    rphys = ph;
    rcount = 1;
    rstep = 1;
  }
  if (open_run)
    printf("%s{\"vaddr\":\"0x%" PRIx64 "\",\"count\":%" PRIu64 ",\"level\":%d,\"flags\":\"0x%" PRIx64
           "\",\"phys\":\"0x%" PRIx64 "\",\"step\":%" PRIu64 "}",
           firstrun ? "" : ",", rv, rcount, rl, rflags, rphys, rcount > 1 ? rstep : 1);
  printf("]}\n");
}

int main(int argc, char **argv) {
  const char *exec_path = argc > 1 ? argv[1] : "/bin/hvoexec";
  int to_child[2], from_child[2];
  if (pipe(to_child) || pipe(from_child)) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    close(to_child[1]);
    close(from_child[0]);
    execl(exec_path, exec_path, (char *)NULL);
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  FILE *cin = fdopen(from_child[0], "r");
  FILE *cout = fdopen(to_child[1], "w");
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  char *line = NULL, *ans = NULL;
  size_t cap = 0, acap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, stdin)) > 0) {
    char op[32] = "";
    sscanf(line, "%31s", op);
    if (!strcmp(op, "ksyms")) op_ksyms();
    else if (!strcmp(op, "rawpage")) op_rawpage(line);
    else if (!strcmp(op, "vmemmap")) op_vmemmap(line);
    else {
      fputs(line, cout);
      if (line[len - 1] != '\n') fputc('\n', cout);
      fflush(cout);
      if (!op[0]) continue; /* hvoexec ignores empty lines: no answer to relay */
      if (!strcmp(op, "quit")) break; /* hvoexec answers quit by exiting */
      if (getline(&ans, &acap, cin) <= 0) break;
      fputs(ans, stdout);
    }
    fflush(stdout);
  }
  fclose(cout);
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
