// include/uapi/asm-generic/errno-base.h, errno.h, include/linux/errno.h
//
// Kernel errors are values: a KernelError carries the errno the kernel's write() or syscall
// would return, so that the file layer and the CLI can report it exactly as the kernel does.

export const EPERM = 1;
export const ENOENT = 2;
export const EIO = 5;
export const ENXIO = 6;
export const E2BIG = 7;
export const EBADF = 9;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ERANGE = 34;
export const EOPNOTSUPP = 95;
export const EHWPOISON = 133;
/** include/linux/errno.h: kernel-internal, returned by the vmemmap walk for memmap_on_memory. */
export const ENOTSUPP = 524;

const NAMES: Record<number, string> = {
  [EPERM]: "EPERM",
  [ENOENT]: "ENOENT",
  [EIO]: "EIO",
  [ENXIO]: "ENXIO",
  [E2BIG]: "E2BIG",
  [EBADF]: "EBADF",
  [ENOMEM]: "ENOMEM",
  [EACCES]: "EACCES",
  [EFAULT]: "EFAULT",
  [EBUSY]: "EBUSY",
  [EEXIST]: "EEXIST",
  [ENODEV]: "ENODEV",
  [ENOTDIR]: "ENOTDIR",
  [EISDIR]: "EISDIR",
  [EINVAL]: "EINVAL",
  [ENOSPC]: "ENOSPC",
  [ERANGE]: "ERANGE",
  [EOPNOTSUPP]: "EOPNOTSUPP",
  [EHWPOISON]: "EHWPOISON",
  [ENOTSUPP]: "ENOTSUPP",
};

const MESSAGES: Record<number, string> = {
  [EPERM]: "Operation not permitted",
  [ENOENT]: "No such file or directory",
  [EIO]: "Input/output error",
  [ENXIO]: "No such device or address",
  [ENOMEM]: "Cannot allocate memory",
  [EACCES]: "Permission denied",
  [EFAULT]: "Bad address",
  [EBUSY]: "Device or resource busy",
  [EEXIST]: "File exists",
  [ENODEV]: "No such device",
  [ENOTDIR]: "Not a directory",
  [EISDIR]: "Is a directory",
  [EINVAL]: "Invalid argument",
  [ENOSPC]: "No space left on device",
  [ERANGE]: "Numerical result out of range",
  [EOPNOTSUPP]: "Operation not supported",
  [EHWPOISON]: "Memory page has hardware error",
  [ENOTSUPP]: "Operation not supported",
};

/** "EINVAL" for 22; "E<n>" for numbers we do not name. Accepts negative errnos too. */
export function errnoName(errno: number): string {
  const n = Math.abs(errno);
  return NAMES[n] ?? `E${n}`;
}

/** strerror(): the text a shell prints after "write error: ". */
export function strerror(errno: number): string {
  return MESSAGES[Math.abs(errno)] ?? `Unknown error ${Math.abs(errno)}`;
}

/** An error the kernel returns to its caller. `errno` is positive (EINVAL = 22). */
export class KernelError extends Error {
  readonly errno: number;
  constructor(errno: number, detail?: string) {
    super(detail ? `${errnoName(errno)}: ${detail}` : `${errnoName(errno)} (${strerror(errno)})`);
    this.name = "KernelError";
    this.errno = Math.abs(errno);
  }
  get code(): string {
    return errnoName(this.errno);
  }
}

/**
 * A kernel bug the model caught: a write through a read-only vmemmap PTE, a BUG_ON that fired.
 * It stops the model, like an Oops stops the kernel's current task.
 */
export class Oops extends Error {
  readonly vaddr: bigint | null;
  readonly pfn: number | null;
  readonly frame: number | null;
  constructor(message: string, where: { vaddr?: bigint; pfn?: number; frame?: number } = {}) {
    const parts = [message];
    if (where.vaddr !== undefined) parts.push(`vaddr 0x${where.vaddr.toString(16)}`);
    if (where.pfn !== undefined) parts.push(`struct page of pfn ${where.pfn}`);
    if (where.frame !== undefined) parts.push(`frame ${where.frame}`);
    super(`Oops: ${parts.join(", ")}`);
    this.name = "Oops";
    this.vaddr = where.vaddr ?? null;
    this.pfn = where.pfn ?? null;
    this.frame = where.frame ?? null;
  }
}

/** BUG_ON(): an assertion of the kernel's own, or of ours, that documents an invariant. */
export function BUG_ON(cond: boolean, what: string): asserts cond is false {
  if (cond) throw new Oops(`kernel BUG: ${what}`);
}
