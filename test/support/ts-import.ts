// Imports a TypeScript module that a test made at run time (a generated skeleton). Under tsx (npm test)
// that is a plain import. Compiled to JavaScript (the kernel runner's mirror, run by plain node) it
// goes through tsx's API, which the guest then loads only for the tests that need it.
import { pathToFileURL } from 'node:url';

export async function importTs<T>(path: string): Promise<T> {
  const url = pathToFileURL(path).href;
  if (import.meta.url.endsWith('.ts')) return (await import(url)) as T;
  const { tsImport } = await import('tsx/esm/api');
  return (await tsImport(url, import.meta.url)) as T;
}
