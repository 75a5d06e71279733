// `__kconfig` externs: values come from the `kconfig` open option, then /boot/config-$(uname -r), then
// /proc/config.gz; LINUX_* names are virtual and filled by the loader. Follows libbpf's value rules.

import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { BpfError } from './errors.js';
import type { ExternSpec } from './spec/types.js';

export interface KconfigSources {
  /** Extra Kconfig text (`CONFIG_FOO=y` lines) that takes precedence over the system's config. */
  extra?: string;
  kernelRelease: string;
  /** LINUX_* virtual values. */
  virtual: Record<string, bigint>;
}

let systemConfigCache: { release: string; text: string | undefined } | undefined;

/** The running kernel's config text, or undefined when neither /boot/config-* nor /proc/config.gz exists. */
export function readSystemKconfig(release: string): string | undefined {
  if (systemConfigCache?.release === release) return systemConfigCache.text;
  let text: string | undefined;
  const boot = `/boot/config-${release}`;
  try {
    if (existsSync(boot)) {
      const raw = readFileSync(boot);
      text = (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString('utf8');
    } else if (existsSync('/proc/config.gz')) {
      text = gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
    }
  } catch {
    text = undefined;
  }
  systemConfigCache = { release, text };
  return text;
}

function kcfgError(ext: ExternSpec, message: string, errno = 22): never {
  throw new BpfError(`extern (kcfg) '${ext.name}': ${message}`, { cmd: 'resolve externs', errno });
}

function setNumber(ext: ExternSpec, image: DataView, value: bigint): void {
  const k = ext.kconfig!;
  if (k.type !== 'int' && k.type !== 'char' && k.type !== 'bool') kcfgError(ext, `value '${value}' implies integer, char or boolean type`);
  if (k.type === 'bool' && value > 1n) kcfgError(ext, `value '${value}' isn't boolean compatible`);
  const bits = BigInt(k.size * 8);
  if (k.size !== 8) {
    const fits = k.isSigned ? BigInt.asUintN(64, value + (1n << (bits - 1n))) < 1n << bits : value >> bits === 0n;
    if (!fits) kcfgError(ext, `value '${value}' doesn't fit in ${k.size} bytes`, 34);
  }
  const off = k.dataOff;
  switch (k.size) {
    case 1: image.setUint8(off, Number(BigInt.asUintN(8, value))); break;
    case 2: image.setUint16(off, Number(BigInt.asUintN(16, value)), true); break;
    case 4: image.setUint32(off, Number(BigInt.asUintN(32, value)), true); break;
    case 8: image.setBigUint64(off, BigInt.asUintN(64, value), true); break;
    default: kcfgError(ext, `unsupported size ${k.size}`);
  }
}

function setTristate(ext: ExternSpec, image: DataView, value: 'y' | 'n' | 'm'): void {
  const k = ext.kconfig!;
  switch (k.type) {
    case 'bool':
      if (value === 'm') kcfgError(ext, `value 'm' implies tristate or char type`);
      image.setUint8(k.dataOff, value === 'y' ? 1 : 0);
      return;
    case 'tristate':
      // enum libbpf_tristate { TRI_NO = 0, TRI_YES = 1, TRI_MODULE = 2 }
      image.setUint32(k.dataOff, value === 'y' ? 1 : value === 'm' ? 2 : 0, true);
      return;
    case 'char':
      image.setUint8(k.dataOff, value.charCodeAt(0));
      return;
    default:
      kcfgError(ext, `value '${value}' implies bool, tristate, or char type`);
  }
}

function setString(ext: ExternSpec, image: DataView, raw: string): void {
  const k = ext.kconfig!;
  if (k.type !== 'char_array') kcfgError(ext, `value '${raw}' implies char array type`);
  if (raw.length < 2 || !raw.endsWith('"')) kcfgError(ext, `invalid string config '${raw}'`);
  const bytes = new TextEncoder().encode(raw.slice(1, -1)).subarray(0, k.size - 1);
  for (let i = 0; i < k.size; i++) image.setUint8(k.dataOff + i, i < bytes.length ? bytes[i]! : 0);
}

function parseU64(text: string): bigint | undefined {
  const t = text.trim();
  try {
    if (/^-?0[xX][0-9a-fA-F]+$/.test(t) || /^-?\d+$/.test(t)) return BigInt.asUintN(64, BigInt(t));
    if (/^0[0-7]+$/.test(t)) return BigInt(`0o${t.slice(1)}`);
  } catch {
    return undefined;
  }
  return undefined;
}

/** Applies one config text to the kconfig image; returns the names it set. Already-set names are skipped. */
function applyConfigText(text: string, byName: Map<string, ExternSpec>, image: DataView, set: Set<string>): void {
  for (const line of text.split('\n')) {
    if (!line.startsWith('CONFIG_')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new BpfError(`failed to parse kconfig line '${line}': no separator`, { cmd: 'resolve externs', errno: 22 });
    const name = line.slice(0, eq);
    const value = line.slice(eq + 1).trimEnd();
    if (!value) throw new BpfError(`failed to parse kconfig line '${line}': no value`, { cmd: 'resolve externs', errno: 22 });
    const ext = byName.get(name);
    if (!ext || set.has(name)) continue;
    const c = value[0];
    if (c === 'y' || c === 'n' || c === 'm') setTristate(ext, image, c);
    else if (c === '"') setString(ext, image, value);
    else {
      const num = parseU64(value);
      if (num === undefined) kcfgError(ext, `value '${value}' isn't a valid integer`);
      if (ext.kconfig!.type !== 'int' && ext.kconfig!.type !== 'char') kcfgError(ext, `value '${value}' implies integer type`);
      setNumber(ext, image, num);
    }
    set.add(name);
  }
}

/**
 * Fills the .kconfig image for every kconfig extern. Unresolved weak externs stay zero; an unresolved
 * strong one is an error naming it.
 */
export function resolveKconfig(externs: ExternSpec[], image: Uint8Array, sources: KconfigSources): void {
  const kcfg = externs.filter((e) => e.kind === 'kconfig');
  if (!kcfg.length) return;
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const set = new Set<string>();
  const configs = new Map<string, ExternSpec>();
  for (const ext of kcfg) {
    if (ext.name.startsWith('CONFIG_')) {
      configs.set(ext.name, ext);
      continue;
    }
    const v = sources.virtual[ext.name];
    if (v !== undefined) {
      setNumber(ext, view, v);
      set.add(ext.name);
    } else if (!ext.name.startsWith('LINUX_') || !ext.isWeak) {
      kcfgError(ext, 'unrecognized virtual extern; only CONFIG_* and the LINUX_* names libbpf knows are supported');
    }
  }
  if (configs.size) {
    if (sources.extra) applyConfigText(sources.extra, configs, view, set);
    const missing = [...configs.keys()].some((n) => !set.has(n));
    if (missing) {
      const text = readSystemKconfig(sources.kernelRelease);
      if (text === undefined && [...configs.values()].some((e) => !e.isWeak && !set.has(e.name))) {
        throw new BpfError('failed to read the kernel config for __kconfig externs', {
          cmd: 'resolve externs', errno: 2,
          advice: `neither /boot/config-${sources.kernelRelease} nor /proc/config.gz exists; pass the values with the kconfig open option, or mark the externs __weak`,
        });
      }
      if (text !== undefined) applyConfigText(text, configs, view, set);
    }
  }
  for (const ext of kcfg) {
    if (!set.has(ext.name) && !ext.isWeak) {
      throw new BpfError(`extern '${ext.name}' (strong) not resolved`, {
        cmd: 'resolve externs', errno: 3, advice: 'the running kernel does not define it; mark it __weak to get 0 instead',
      });
    }
  }
}
