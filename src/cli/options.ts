// What every CLI object module receives: the global flags and where output goes. Kept apart from
// main.ts so that the object modules, which main.ts imports on demand, import nothing back from it.

export interface CliOptions {
  json: boolean;
  pretty: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
  /**
   * Writes raw bytes to stdout (big outputs skip the string round trip); `out` is used when absent.
   * May be called several times; the bytes may be reused once it returns.
   */
  outBytes?: (bytes: Uint8Array) => void;
}

export type CliCommand = (args: string[], opts: CliOptions) => Promise<number>;
