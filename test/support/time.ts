// Wall-clock limits in tests are bounds on "it did not hang", sized for a native CPU. Under emulation
// (the kernel runner's TCG guests run code 10-30x slower) the runner sets TSBPF_TIME_SCALE, and limits
// are multiplied by it; what a test requires stays the same.
export const TIME_SCALE = Math.max(1, Number(process.env.TSBPF_TIME_SCALE) || 1);

/** `ms`, stretched for a slow machine. */
export function scaled(ms: number): number {
  return ms * TIME_SCALE;
}
