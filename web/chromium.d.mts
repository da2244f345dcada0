/** The Chromium the browser tests drive: /usr/bin/chromium, or $HVO_CHROMIUM. */
export const CHROMIUM: string;
/** null when CHROMIUM exists (installed first where it can be); else why the browser tests skip. */
export function ensureChromium(log?: (line: string) => void): Promise<string | null>;
/** apt-get ARGS under a host-wide lock, awaited: null, or what went wrong. */
export function aptGet(args: string[], env?: NodeJS.ProcessEnv): Promise<string | null>;
