// KernelError (src/include/errno.ts): what a user reads of one is its errno and message, as the
// kernel's write() and the shell report them. The model makes these by the hundred as ordinary
// results, so it records no call stack for them; the setting it changes to skip the stack is
// put back, so that every other error (an Oops, a bug in the model) keeps its stack.
import { describe, expect, it } from "vitest";
import {
  EBUSY,
  EINVAL,
  ENOMEM,
  KernelError,
  Oops,
  errnoName,
  strerror,
} from "../../src/include/errno.ts";

/** A stack as V8 prints it: the message line, then one "    at ..." line per frame. */
function frameLines(e: Error): number {
  return (e.stack ?? "").split("\n").filter((l) => /^\s+at /.test(l)).length;
}

function throwFrom(depth: number, make: () => Error): Error {
  if (depth > 0) return throwFrom(depth - 1, make);
  try {
    throw make();
  } catch (e) {
    return e as Error;
  }
}

describe("KernelError", () => {
  it("carries the errno and the message the kernel's write() would report", () => {
    // include/uapi/asm-generic/errno-base.h: EBUSY 16, ENOMEM 12, EINVAL 22.
    const busy = new KernelError(EBUSY, "memory5: offline");
    expect(busy.errno).toBe(16);
    expect(busy.code).toBe("EBUSY");
    expect(busy.message).toBe("EBUSY: memory5: offline");
    expect(busy.name).toBe("KernelError");
    expect(busy).toBeInstanceOf(Error);
    const nomem = new KernelError(-ENOMEM);
    expect(nomem.errno).toBe(12);
    expect(nomem.message).toBe("ENOMEM (Cannot allocate memory)");
    expect(`${new KernelError(EINVAL, "x")}`).toBe("KernelError: EINVAL: x");
    expect(errnoName(22)).toBe("EINVAL");
    expect(strerror(16)).toBe("Device or resource busy");
  });

  it("leaves other errors their stacks: one made after a KernelError still records its frames", () => {
    const before = throwFrom(5, () => new Error("before"));
    const ke = throwFrom(5, () => new KernelError(EBUSY, "memory5: offline"));
    const after = throwFrom(5, () => new Error("after"));
    const oops = throwFrom(5, () => new Oops("kernel BUG: test"));
    expect(ke).toBeInstanceOf(KernelError);
    // Node (V8) records up to 10 frames per Error unless told otherwise.
    const frames = frameLines(before);
    expect(frames).toBeGreaterThan(5);
    expect(frameLines(after)).toBe(frames);
    expect(frameLines(oops)).toBe(frames);
    // And the KernelError itself records the frames KernelError.STACK_FRAMES asks for at most.
    expect(frameLines(ke)).toBeLessThanOrEqual(KernelError.STACK_FRAMES);
  });
});
