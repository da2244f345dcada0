// mm/hugetlb.c's boot parameters: hugepagesz_setup(), hugepages_setup(),
// default_hugepagesz_setup() (recorded by hugetlb_add_param() and replayed by
// hugetlb_parse_params() in command-line order), and the early_param of
// mm/hugetlb_vmemmap.c, hugetlb_free_vmemmap= (kstrtobool()). lib/cmdline.c memparse().
//
// The parser does not allocate: it produces the per-hstate counts, the default hstate and the
// warnings, in the order the kernel prints them. hugetlb.ts turns them into hstates and pages.

/** One parameter of the kernel command line, as parse_args() splits it. */
export interface KernelParam {
  name: string;
  value: string | null;
}

/** parse_args()'s view of the command line: space-separated, quotes, "--" ends kernel params. */
export function splitCmdline(cmdline: string): KernelParam[] {
  const out: KernelParam[] = [];
  const re = /(?:[^\s"]+|"[^"]*")+/g;
  for (const m of cmdline.matchAll(re)) {
    const tok = m[0].replace(/"/g, "");
    if (tok === "--") break;
    const eq = tok.indexOf("=");
    if (eq < 0) out.push({ name: tok, value: null });
    else out.push({ name: tok.slice(0, eq), value: tok.slice(eq + 1) });
  }
  return out;
}

/** memparse(): a number (0x.., 0.., decimal) with an optional K/M/G/T/P/E suffix; bigint bytes. */
export function memparse(s: string): bigint {
  const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([KkMmGgTtPpEe]?)/.exec(s);
  if (!m) return 0n;
  let v = BigInt(
    m[1].startsWith("0") && !/^0[xX]/.test(m[1]) && m[1].length > 1 ? `0o${m[1].slice(1)}` : m[1],
  );
  const shifts: Record<string, bigint> = { k: 10n, m: 20n, g: 30n, t: 40n, p: 50n, e: 60n };
  const suf = m[2].toLowerCase();
  if (suf) v <<= shifts[suf];
  return v & ((1n << 64n) - 1n);
}

/** kstrtobool(): y/Y/t/T/1, n/N/f/F/0, on/off; null for anything else (-EINVAL). */
export function kstrtobool(s: string | null): boolean | null {
  if (s === null || s.length === 0) return null;
  const c = s[0];
  if ("yYtT1".includes(c)) return true;
  if ("nNfF0".includes(c)) return false;
  if (c === "o" || c === "O") {
    const d = s[1];
    if (d === "n" || d === "N") return true;
    if (d === "f" || d === "F") return false;
  }
  return null;
}

/** What the hugetlb parameters asked for. Orders are log2(size / PAGE_SIZE). */
export interface HugetlbBootParams {
  /** hstates hugepagesz=/default_hugepagesz= added, in the order they were added. */
  addedOrders: number[];
  /** max_huge_pages per hstate order (from hugepages=). */
  maxHugePages: Map<number, number>;
  /** max_huge_pages_node per hstate order, when the node form was used. */
  maxHugePagesNode: Map<number, Map<number, number>>;
  /** default_hugepagesz=, or null (HPAGE_SIZE). */
  defaultOrder: number | null;
  /** hugetlb_free_vmemmap=, or null when absent or malformed. */
  freeVmemmap: boolean | null;
  /** Kernel log lines, in order. */
  log: Array<{ level: "warn" | "err"; text: string }>;
}

export interface CmdlineEnv {
  pageShift: number;
  /** arch_hugetlb_valid_size() as orders. */
  validOrders: readonly number[];
  /** HPAGE_SHIFT - PAGE_SHIFT. */
  defaultHstateOrder: number;
  onlineNodes: readonly number[];
  /** string_get_size(huge_page_size(h), 1, STRING_UNITS_2): "2.00 MiB". */
}

/** string_get_size(size, 1, STRING_UNITS_2, ...) for power-of-two sizes: "2.00 MiB", "1.00 GiB". */
export function stringGetSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let v = bytes;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${v} B`;
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${units[i]}`;
}

function ilog2Exact(v: bigint): number | null {
  if (v <= 0n || (v & (v - 1n)) !== 0n) return null;
  return v.toString(2).length - 1;
}

/** hugetlb_parse_params(): the hugetlb parameters of the command line, in order. */
export function parseHugetlbParams(cmdline: string, env: CmdlineEnv): HugetlbBootParams {
  const out: HugetlbBootParams = {
    addedOrders: [],
    maxHugePages: new Map(),
    maxHugePagesNode: new Map(),
    defaultOrder: null,
    freeVmemmap: null,
    log: [],
  };
  const warn = (text: string) => out.log.push({ level: "warn", text });
  const err = (text: string) => out.log.push({ level: "err", text });
  // hugetlb_max_hstate / parsed_hstate / the static state of the setup functions.
  let parsedOrder: number | null = null;
  let parsedValid = true;
  let parsedDefault = false;
  let defaultMax = 0;
  const defaultInNode = new Map<number, number>();
  let lastTarget: string | null = null;
  const addHstate = (order: number) => {
    if (!out.addedOrders.includes(order)) out.addedOrders.push(order);
    parsedOrder = order;
  };
  const orderOfSize = (s: string): number | null => {
    const size = memparse(s);
    const l = ilog2Exact(size);
    if (l === null) return null;
    const order = l - env.pageShift;
    return env.validOrders.includes(order) ? order : null;
  };

  for (const p of splitCmdline(cmdline)) {
    if (p.name === "hugetlb_free_vmemmap") {
      const b = kstrtobool(p.value);
      if (b === null) warn(`Malformed early option '${p.name}'`);
      else out.freeVmemmap = b;
      continue;
    }
    if (p.name === "hugepagesz") {
      const s = p.value ?? "";
      parsedValid = false;
      const order = orderOfSize(s);
      if (order === null) {
        err(`HugeTLB: unsupported hugepagesz=${s}`);
        continue;
      }
      if (out.addedOrders.includes(order)) {
        const isDefault = parsedDefault && out.defaultOrder === order;
        if (!isDefault || (out.maxHugePages.get(order) ?? 0) !== 0) {
          warn(`HugeTLB: hugepagesz=${s} specified twice, ignoring`);
          continue;
        }
        parsedOrder = order;
        parsedValid = true;
        continue;
      }
      addHstate(order);
      parsedValid = true;
      continue;
    }
    if (p.name === "default_hugepagesz") {
      const s = p.value ?? "";
      parsedValid = false;
      if (parsedDefault) {
        err(`HugeTLB: default_hugepagesz previously specified, ignoring ${s}`);
        continue;
      }
      const order = orderOfSize(s);
      if (order === null) {
        err(`HugeTLB: unsupported default_hugepagesz=${s}`);
        continue;
      }
      addHstate(order);
      parsedValid = true;
      parsedDefault = true;
      out.defaultOrder = order;
      if (defaultMax) {
        out.maxHugePages.set(order, defaultMax);
        if (defaultInNode.size) out.maxHugePagesNode.set(order, new Map(defaultInNode));
        defaultMax = 0;
      }
      continue;
    }
    if (p.name === "hugepages") {
      const s = p.value ?? "";
      if (!parsedValid) {
        warn(`HugeTLB: hugepages=${s} does not follow a valid hugepagesz, ignoring`);
        parsedValid = true;
        continue;
      }
      const target = parsedOrder === null ? "default" : `o${parsedOrder}`;
      if (target === lastTarget) {
        warn(
          `HugeTLB: hugepages= specified twice without interleaving hugepagesz=, ignoring hugepages=${s}`,
        );
        continue;
      }
      const get = () =>
        parsedOrder === null ? defaultMax : (out.maxHugePages.get(parsedOrder) ?? 0);
      const set = (v: number) => {
        if (parsedOrder === null) defaultMax = v;
        else out.maxHugePages.set(parsedOrder, v);
      };
      const nodeCounts = new Map<number, number>();
      let rest = s;
      let invalidAt: string | null = null;
      let nodeForm = false;
      while (rest.length) {
        const m = /^(\d+)/.exec(rest);
        if (!m) {
          invalidAt = rest;
          break;
        }
        const tmp = Number(m[1]);
        const after = rest.slice(m[1].length);
        if (after.startsWith(":")) {
          nodeForm = true;
          if (!env.onlineNodes.includes(tmp)) {
            invalidAt = rest;
            break;
          }
          rest = after.slice(1);
          const m2 = /^(\d+)/.exec(rest);
          if (!m2) {
            invalidAt = rest;
            break;
          }
          const cnt = Number(m2[1]);
          nodeCounts.set(tmp, cnt);
          set(get() + cnt);
          const after2 = rest.slice(m2[1].length);
          if (after2.startsWith(",")) rest = after2.slice(1);
          else break;
        } else {
          if (rest !== s) {
            invalidAt = rest;
            break;
          }
          set(tmp);
          break;
        }
      }
      if (invalidAt !== null) {
        warn(`HugeTLB: Invalid hugepages parameter ${invalidAt}`);
        // hugepages_clear_pages_in_node(): the count and the per-node counts of the hstate the
        // parameter was for both go back to 0 (what the valid part of "0:1,x" added is dropped).
        if (parsedOrder === null) {
          defaultMax = 0;
          defaultInNode.clear();
        } else {
          out.maxHugePages.set(parsedOrder, 0);
          out.maxHugePagesNode.delete(parsedOrder);
        }
        continue;
      }
      if (nodeForm) {
        if (parsedOrder === null) for (const [n, c] of nodeCounts) defaultInNode.set(n, c);
        else {
          const m = out.maxHugePagesNode.get(parsedOrder) ?? new Map<number, number>();
          for (const [n, c] of nodeCounts) m.set(n, c);
          out.maxHugePagesNode.set(parsedOrder, m);
        }
      }
      lastTarget = target;
    }
  }

  // hugetlb_init(): without default_hugepagesz=, a leading hugepages= belongs to HPAGE_SIZE and
  // overrides an explicit count for that size (with a warning).
  if (!parsedDefault && defaultMax) {
    const order = env.defaultHstateOrder;
    const explicit = out.maxHugePages.get(order) ?? 0;
    if (explicit) {
      const size = stringGetSize(2 ** (order + env.pageShift));
      warn(`HugeTLB: Ignoring hugepages=${explicit} associated with ${size} page size`);
      warn(`HugeTLB: Using hugepages=${defaultMax} for number of default huge pages`);
    }
    out.maxHugePages.set(order, defaultMax);
    if (defaultInNode.size) out.maxHugePagesNode.set(order, new Map(defaultInNode));
    else out.maxHugePagesNode.delete(order);
  }
  return out;
}
