// Imports a TypeScript module that a test made at run time (a generated skeleton). Under tsx (npm test)
// that is a plain import. Compiled to JavaScript (the kernel runner's mirror, run by plain node), the
// module is transpiled beside itself with esbuild (what tsx itself uses) and the .js is imported: tsx's
// loader would resolve the module's relative `.js` imports to the TypeScript sources instead, and the
// test would meet a second copy of every library class.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export async function importTs<T>(path: string): Promise<T> {
  if (import.meta.url.endsWith('.ts')) return (await import(pathToFileURL(path).href)) as T;
  const { transformSync } = await import('esbuild');
  const js = path.replace(/\.ts$/, '.js');
  writeFileSync(js, transformSync(readFileSync(path, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20' }).code);
  return (await import(pathToFileURL(js).href)) as T;
}
