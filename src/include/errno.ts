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

/** Error's V8 extension: how many call-stack frames a new Error records (absent elsewhere). */
const ErrorStack: { stackTraceLimit?: number } = Error;

/**
 * An error the kernel returns to its caller. `errno` is positive (EINVAL = 22).
 *
 * The model throws these as ordinary results (EBUSY from a memory block's state, ENOMEM from
 * a fault, ENOSPC from a subpool: about 130 in `hvo check`'s 2,000 operations), and what anyone
 * reads of one is its errno and message (the file layer, the CLI, `hvo check`'s "unexpected"
 * verdict). So no call stack is recorded: V8's capture of it costs about five times the rest
 * of the error, and showed as 2-3% of the model's own time in profiles. Only V8 records
 * stacks this way; elsewhere nothing changes.
 */
export class KernelError extends Error {
  /**
   * Call-stack frames each KernelError records: none (see above). A developer who wants to see
   * where one is raised sets this to 10 (V8's default) for the run.
   */
  static readonly STACK_FRAMES: number = 0;
  readonly errno: number;
  constructor(errno: number, detail?: string) {
    const message = detail
      ? `${errnoName(errno)}: ${detail}`
      : `${errnoName(errno)} (${strerror(errno)})`;
    const frames = ErrorStack.stackTraceLimit;
    if (typeof frames === "number") ErrorStack.stackTraceLimit = KernelError.STACK_FRAMES;
    try {
      super(message);
    } finally {
      if (typeof frames === "number") ErrorStack.stackTraceLimit = frames;
    }
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
