// The package as users get it. The tarball `npm pack` makes is installed into a fresh project, and from
// there: the README's "Use it in your own project" section runs as written (only `npm i tsbpf` names the
// tarball instead), every `npx tsbpf` line of the README works through the installed bin, the bin works
// however it is started, `import` and `require('tsbpf')` both work, the skeleton the installed bin made
// type-checks under the consumer's own `tsc --strict` (nodenext and bundler resolution, .d.ts checked)
// and runs, and the tarball holds only what users need, within a size budget.
//
// Needs the npm registry (the consumer installs tsx, typescript and @types/node) and root (it loads
// programs).
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from './support/compile.js';
import { testIf } from './support/skip.js';

/**
 * The packed tarball may not grow past this without a decision: today it is ~400 KB (1.4 MB unpacked),
 * all of it dist/'s JS and .d.ts. Raise it when a feature needs it, not when a build leaks files.
 */
const PACKED_BUDGET = 512 * 1024;

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

interface Block {
  lang: string;
  text: string;
}

/** The fenced code blocks of one `## ` section of a markdown text (or of all of it). */
function codeBlocks(markdown: string, section?: string): Block[] {
  let text = markdown;
  if (section !== undefined) {
    const start = markdown.indexOf(`\n## ${section}\n`);
    if (start < 0) throw new Error(`README has no section '## ${section}'`);
    const end = markdown.indexOf('\n## ', start + 1);
    text = markdown.slice(start, end < 0 ? undefined : end);
  }
  return [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, text: m[2]! }));
}

/** A block's file name, from its first line: `// probe.bpf.c: what it is`. */
function fileOf(block: Block): string | undefined {
  return /^\/\/ ([\w.-]+\.(?:c|h|ts|js|json))\b/.exec(block.text)?.[1];
}

const IS_ROOT = process.getuid?.() === 0;
const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const work = mkdtempSync(join(tmpdir(), 'tsbpf-package-'));
let pack: PackResult;
let tarball: string;
/** The README's project directory (its `mkdir NAME && cd NAME`). */
let project: string;
let sectionRun: SpawnSyncReturns<string>;

function sh(script: string, cwd: string, env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
    cwd, encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', ...env },
  });
}

function describe(r: SpawnSyncReturns<string>): string {
  return `exit ${r.status}${r.signal ? ` (${r.signal})` : ''}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;
}

test.before(() => {
  // Packed from a staging copy, built there: `npm pack` in the checkout would run `prepare`, which
  // rebuilds dist/ from scratch under the feet of test files running beside this one.
  const staging = join(work, 'staging');
  mkdirSync(staging);
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { files: string[] };
  cpSync(join(REPO_ROOT, 'package.json'), join(staging, 'package.json'));
  for (const f of pkg.files) if (f !== 'dist') cpSync(join(REPO_ROOT, f), join(staging, f), { recursive: true });
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
    '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', join(staging, 'dist')], { stdio: 'inherit' });
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: staging, encoding: 'utf8' });
  pack = (JSON.parse(out) as PackResult[])[0]!;
  tarball = join(work, pack.filename);
  console.log(`package: ${pack.filename}: ${(pack.size / 1024).toFixed(1)} KiB packed, ${(pack.unpackedSize / 1024).toFixed(1)} KiB unpacked, ${pack.files.length} files (budget ${PACKED_BUDGET / 1024} KiB packed)`);

  // The README's section, as one script: its shell blocks as written, its file blocks written out.
  const blocks = codeBlocks(README, 'Use it in your own project');
  let script = '';
  for (const b of blocks) {
    if (b.lang === 'sh') {
      script += `${b.text.replace(/^npm i tsbpf$/m, `npm i ${tarball}`)}\n`;
    } else if (fileOf(b)) {
      script += `cat > ${fileOf(b)} <<'README_FILE_END'\n${b.text}README_FILE_END\n`;
    }
  }
  assert.ok(script.includes(`npm i ${tarball}`), 'the section installs the package with `npm i tsbpf`');
  const dir = /^mkdir ([\w.-]+) && cd \1$/m.exec(script)?.[1];
  assert.ok(dir, 'the section makes its project directory with `mkdir NAME && cd NAME`');
  project = join(work, dir);
  writeFileSync(join(work, 'readme-section.sh'), script);
  sectionRun = sh(script, work);
});

test('the tarball holds dist/, README.md, LICENSE and package.json only, within the size budget', () => {
  const bad = pack.files.map((f) => f.path).filter((p) =>
    !/^(dist\/.*\.(js|d\.ts)|README\.md|LICENSE|package\.json)$/.test(p) ||
    /^dist\/(test|bench|examples|docs)\//.test(p) ||
    /^dist\/syscalls\/(gen\/|bench-baseline)/.test(p));
  assert.equal(bad, [], `files users do not need: ${bad.join(', ')}`);
  assert.ok(pack.files.some((f) => f.path === 'dist/src/cli.js'));
  assert.ok(pack.files.some((f) => f.path === 'dist/src/index.d.ts'));
  assert.ok(pack.size <= PACKED_BUDGET, `the tarball is ${pack.size} bytes, past the budget of ${PACKED_BUDGET}`);
});

testIf(IS_ROOT, 'needs root (it loads programs)')("the README's own-project section runs as written and prints what it shows", () => {
  assert.is(sectionRun.status, 0, describe(sectionRun));
  // Its output block: every line, numbers aside (pids, counts), is in what the commands printed.
  const shown = codeBlocks(README, 'Use it in your own project').find((b) => b.lang === 'text');
  assert.ok(shown, 'the section shows its output');
  for (const line of shown.text.trim().split('\n')) {
    const re = new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\d+/g, '\\d+')}$`, 'm');
    assert.match(sectionRun.stdout, re, `README shows '${line}'; the run printed:\n${sectionRun.stdout}`);
  }
  assert.ok(existsSync(join(project, 'probe.bpf.o')));
  assert.ok(existsSync(join(project, 'probe.skel.ts')));
});

test('installed files: no @internal member in any .d.ts; the bin has its shebang', () => {
  const root = join(project, 'node_modules', 'tsbpf');
  const leaks: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.d.ts') && readFileSync(p, 'utf8').includes('@internal')) leaks.push(p.slice(root.length + 1));
    }
  };
  walk(join(root, 'dist'));
  assert.equal(leaks, [], `.d.ts files with @internal members: ${leaks.join(', ')}`);
  assert.ok(readFileSync(join(root, 'dist', 'src', 'cli.js'), 'utf8').startsWith('#!/usr/bin/env node\n'));
});

test("every `npx tsbpf` line in the README works through the installed bin", () => {
  const own = new Set(codeBlocks(README, 'Use it in your own project').flatMap((b) => b.text.split('\n')));
  const lines = codeBlocks(README).filter((b) => b.lang === 'sh').flatMap((b) => b.text.split('\n'))
    .filter((l) => l.startsWith('npx tsbpf ') && !own.has(l));
  assert.ok(lines.length >= 5, `the README shows ${lines.length} tsbpf commands`);
  const skelBefore = readFileSync(join(project, 'probe.skel.ts'), 'utf8');
  for (const line of lines) {
    const command = line.replace(/\s+#.*$/, '');
    const r = sh(command, project);
    assert.is(r.status, 0, `${command}: ${describe(r)}`);
    const redirect = /> (\S+)$/.exec(command)?.[1];
    if (redirect) assert.ok(statSync(join(project, redirect)).size > 0, `${command} wrote ${redirect}`);
    if (/ --help$/.test(command)) assert.match(r.stdout, /^Usage: tsbpf /);
    if (/--json .* list$/.test(command)) assert.ok(Array.isArray(JSON.parse(r.stdout)), `${command} prints a JSON array`);
    if (/feature probe$/.test(command)) assert.match(r.stdout, /\S/, `${command} prints something`);
  }
  // gen skeleton with the build's name writes exactly what build wrote.
  assert.is(readFileSync(join(project, 'probe.skel.ts'), 'utf8'), skelBefore);
  if (existsSync(join(project, 'vmlinux.h'))) {
    assert.match(readFileSync(join(project, 'vmlinux.h'), 'utf8').slice(0, 100), /^#ifndef __VMLINUX_H__/);
  }
});

test('the bin works however it is started: npx, a global install, a symlink, node on the file', () => {
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const expect = `tsbpf v${version}\n`;
  const runs: [string, SpawnSyncReturns<string>][] = [];
  runs.push(['npx', sh('npx tsbpf --version', project)]);
  runs.push(['npm exec', sh('npm exec -- tsbpf --version', project)]);
  const globalPrefix = join(work, 'global');
  const gi = sh(`npm i -g --prefix ${globalPrefix} ${tarball}`, work);
  assert.is(gi.status, 0, describe(gi));
  runs.push(['global install', sh(`${join(globalPrefix, 'bin', 'tsbpf')} --version`, work)]);
  const links = join(work, 'links');
  mkdirSync(links, { recursive: true });
  symlinkSync(join(project, 'node_modules', 'tsbpf', 'dist', 'src', 'cli.js'), join(links, 'tsbpf'));
  runs.push(['symlink', sh(`${join(links, 'tsbpf')} --version`, work)]);
  runs.push(['node FILE', sh(`node node_modules/tsbpf/dist/src/cli.js --version`, project)]);
  runs.push(['tsx src/cli.ts', sh(`node --import tsx src/cli.ts --version`, REPO_ROOT)]);
  for (const [how, r] of runs) assert.is(r.stdout, expect, `${how}: ${describe(r)}`);
});

testIf(IS_ROOT, 'needs root (it loads programs)')("import and require('tsbpf') both work, and load the project's object", () => {
  const esm = sh(`node --input-type=module -e "
    import { BpfObject, BpfError } from 'tsbpf';
    const obj = BpfObject.open('probe.bpf.o');
    await obj.load();
    console.log([...obj.programs.keys()].join(), typeof BpfError);
    obj.close();"`, project);
  assert.is(esm.status, 0, describe(esm));
  assert.is(esm.stdout.trim(), 'on_execve function');
  const cjs = sh(`node --input-type=commonjs -e "
    const { BpfObject } = require('tsbpf');
    const obj = BpfObject.open('probe.bpf.o');
    obj.load().then(() => { console.log([...obj.maps.keys()].sort().join()); obj.close(); });"`, project);
  assert.is(cjs.status, 0, describe(cjs));
  assert.is(cjs.stdout.trim(), '.bss,events');
});

testIf(IS_ROOT, 'needs root (it loads programs)')("the skeleton type-checks under the consumer's tsc --strict (nodenext, bundler) and runs compiled", () => {
  const base = { strict: true, target: 'es2022', types: ['node'], skipLibCheck: false };
  writeFileSync(join(project, 'tsconfig.nodenext.json'), JSON.stringify({
    compilerOptions: { ...base, module: 'nodenext', moduleResolution: 'nodenext', outDir: 'out' }, files: ['probe.ts'],
  }));
  writeFileSync(join(project, 'tsconfig.bundler.json'), JSON.stringify({
    compilerOptions: { ...base, module: 'esnext', moduleResolution: 'bundler', noEmit: true }, files: ['probe.ts'],
  }));
  const bundler = sh('npx tsc -p tsconfig.bundler.json', project);
  assert.is(bundler.status, 0, `bundler: ${describe(bundler)}`);
  const nodenext = sh('npx tsc -p tsconfig.nodenext.json', project);
  assert.is(nodenext.status, 0, `nodenext: ${describe(nodenext)}`);
  const run = sh('node out/probe.js', project);
  assert.is(run.status, 0, describe(run));
  assert.match(run.stdout, /^exec by pid \d+: \/bin\/true$/m);
});

test.after(() => rmSync(work, { recursive: true, force: true }));

test.run();
