/** Whether dist/ is at least as new as every file in src/ of the project at `root`. */
export function buildIsFresh(root: string): boolean;
