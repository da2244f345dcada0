// Errors of the report layer that the CLI turns into usage errors (exit status 2). The model
// core cannot import src/cli/io.ts's UsageError (the CLI depends on the core, not the other
// way round), so the report throws this and the commands translate it.

/** Bad input to a report or inspect request: the message names the problem. */
export class UsageErrorLike extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageErrorLike";
  }
}
