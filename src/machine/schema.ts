// The machine file's shape (YAML or JSON), checked with zod before load.ts checks what the
// kernel would refuse (alignment, overlap, MAX_PHYSMEM_BITS). Example:
//
//   preset: x86_64            # x86_64 | arm64-4k | arm64-16k | arm64-64k | riscv64 | loongarch64
//   structPageSize: 64        # 56, 64, 72, 80
//   pageSize: 4K              # only where the arch has a choice (arm64: 4K, 16K, 64K)
//   vmemmapBase: "0xffffea0000000000"
//   cmdline: "hugepagesz=1G hugepages=2"
//   bootHvo: true             # ARCH_WANT_HUGETLB_VMEMMAP_PREINIT
//   cpu: {gbpages: false}     # x86_64 only: a CPU without 1 GiB pages (no pdpe1gb); default true
//   pagingLevels: 5           # x86_64 only: 5-level paging (LA57); default 4
//   memory: 32G               # preset layout of this size, with `nodes: N` ...
//   nodes:                    # ... or explicit nodes
//     - ranges: [{start: 0x1000, end: 0x9f000}, {start: 1M, end: 3G}, {start: 4G, size: 13G}]
//       zones: [{type: DMA, start: 0x1000, end: 16M}, ...]   # optional, derived when absent
//
// Sizes and addresses are integers or strings: "0x100000000", "640K", "16G", "1.5G" is refused.

import { z } from "zod";

/** An integer number of bytes: a number, a bigint (YAML), or a string with an optional unit. */
export const sizeValue = z.union([z.number(), z.bigint(), z.string()]);

export const rangeSchema = z
  .object({ start: sizeValue, end: sizeValue.optional(), size: sizeValue.optional() })
  .strict();

export const zoneSchema = z
  .object({
    type: z.enum(["DMA", "DMA32", "Normal", "Movable"]),
    start: sizeValue,
    end: sizeValue.optional(),
    size: sizeValue.optional(),
  })
  .strict();

export const nodeSchema = z
  .object({
    nid: z.number().int().nonnegative().optional(),
    ranges: z.array(rangeSchema).min(1),
    zones: z.array(zoneSchema).optional(),
  })
  .strict();

export const machineFileSchema = z
  .object({
    preset: z.string(),
    name: z.string().optional(),
    pageSize: sizeValue.optional(),
    structPageSize: z
      .number()
      .refine((v) => v === 56 || v === 64 || v === 72 || v === 80, "must be 56, 64, 72 or 80")
      .optional(),
    vmemmapBase: sizeValue.optional(),
    cmdline: z.string().optional(),
    bootHvo: z.boolean().optional(),
    memory: sizeValue.optional(),
    nodes: z.union([z.number().int().positive(), z.array(nodeSchema).min(1)]).optional(),
    otherUsedPages: z.array(z.number().int().nonnegative()).optional(),
    otherFreeUnmovablePages: z.array(z.number().int().nonnegative()).optional(),
    otherUnmovablePages: z.array(z.number().int().nonnegative()).optional(),
    memoryFailure: z.boolean().optional(),
    cpu: z.object({ gbpages: z.boolean().optional() }).strict().optional(),
    pagingLevels: z.number().int().optional(),
  })
  .strict();

export type MachineFile = z.infer<typeof machineFileSchema>;
export type MachineFileRange = z.infer<typeof rangeSchema>;
export type MachineFileZone = z.infer<typeof zoneSchema>;

const UNITS: Record<string, bigint> = {
  "": 1n,
  K: 1n << 10n,
  M: 1n << 20n,
  G: 1n << 30n,
  T: 1n << 40n,
  P: 1n << 50n,
};

/**
 * Parses "0x100000000", "4096", "640K", "16G", "16GiB" into bytes; null when it is not one.
 * Units are binary (K = 1024), as the kernel's memparse() takes them.
 */
export function parseSize(value: number | bigint | string): bigint | null {
  if (typeof value === "bigint") return value;
  if (typeof value === "number") return Number.isSafeInteger(value) ? BigInt(value) : null;
  const m = /^\s*(0x[0-9a-f]+|\d+)\s*([kmgtp]?)(i?b)?\s*$/i.exec(value);
  if (!m) return null;
  return BigInt(m[1]) * UNITS[m[2].toUpperCase()];
}
