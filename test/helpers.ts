import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The kiln executable, as users run it. */
export const KILN = join(ROOT, 'bin', 'kiln');

/** A command's outcome. */
export interface Result {
  code: number;
  stdout: string;
  stderr: string;
  /** The process id it ran as (work files kiln leaves are named after it). */
  pid?: number;
}

/** A scratch directory removed when the test ends. */
export function scratch(t: { after: (fn: () => void) => void }, prefix = 'kiln-test'): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a program to completion, capturing its output; its stdin gets `input`, then end of file. */
export function runProgram(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, input?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, pid: child.pid ?? -1 }));
    // A child that exits before reading its input closes the pipe (EPIPE): its exit status says what happened.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/**
 * Builds with mmdebstrap (`args`: its options, then the suite) a root filesystem tarball,
 * once: it is cached outside the repository as $TMPDIR/kiln-test-cache/<name>-<hash of args>.tar.
 * Returns its path.
 */
export async function cachedDebianTarball(name: string, args: readonly string[]): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify(args)).digest('hex').slice(0, 16);
  const dir = join(process.env.TMPDIR ?? tmpdir(), 'kiln-test-cache');
  const file = join(dir, `${name}-${key}.tar`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  // mmdebstrap picks the output format from the extension: keep ".tar" last.
  const tmp = `${file}.tmp-${process.pid}.tar`;
  // One explicit mirror: the security archive is not needed and is sometimes mid-sync.
  const result = await runProgram('mmdebstrap', [...args, tmp, 'deb http://deb.debian.org/debian bookworm main']);
  if (result.code !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`mmdebstrap failed (exit ${result.code}): ${result.stderr}`);
  }
  renameSync(tmp, file);
  return file;
}

/** A kiln runner bound to one KILN_HOME and user. */
export function kilnFor(home: string, user = 'alice'): (args: readonly string[], extraEnv?: NodeJS.ProcessEnv) => Promise<Result> {
  return (args, extraEnv = {}) =>
    runProgram(KILN, args, { ...process.env, KILN_HOME: home, KILN_USER: user, KILN_CONFIG: '', ...extraEnv });
}

/** Wraps a kiln runner so that a command exiting non-zero fails the test with kiln's stderr. */
export function okFor(kiln: (args: readonly string[]) => Promise<Result>): (args: readonly string[]) => Promise<Result> {
  return async (args) => {
    const r = await kiln(args);
    assert.equal(r.code, 0, r.stderr);
    return r;
  };
}

/** Runs a program and returns its stdout; throws with stderr when it fails. */
export function sh(cmd: string, args: readonly string[], options: { cwd?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Makes a small root filesystem with the things layers must carry: a device node, a
 * hardlink, a setuid file, a symlink, an xattr; returns the directory.
 */
export function makeRootfsDir(dir: string, marker = 'hello'): string {
  const root = join(dir, `root-${marker}`);
  for (const d of ['bin', 'sbin', 'etc', 'dev', 'usr/bin', 'boot/rpi-3-b']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc', 'os-release'), 'ID=debian\nVERSION_ID="12"\n');
  writeFileSync(join(root, 'etc', 'marker'), `${marker}\n`);
  writeFileSync(join(root, 'usr', 'bin', 'tool'), '#!/bin/sh\necho tool\n', { mode: 0o4755 });
  writeFileSync(join(root, 'boot', 'rpi-3-b', 'start.uboot'), 'bootz\n');
  sh('chmod', ['4755', join(root, 'usr', 'bin', 'tool')]);
  sh('ln', [join(root, 'usr', 'bin', 'tool'), join(root, 'usr', 'bin', 'tool-hardlink')]);
  sh('ln', ['-s', '../usr/bin/tool', join(root, 'bin', 'tool')]);
  sh('mknod', [join(root, 'dev', 'null'), 'c', '1', '3']);
  sh('setfattr', ['-n', 'user.kiln', '-v', 'yes', join(root, 'etc', 'marker')]);
  return root;
}

/** Tars a directory as a rootfs tarball (GNU tar, with xattrs); returns the file. */
export function tarDir(root: string, file: string, compress: '' | 'gzip' | 'zstd' = ''): string {
  const flags = compress === 'gzip' ? ['-z'] : compress === 'zstd' ? ['--zstd'] : [];
  sh('tar', ['-C', root, '--numeric-owner', '--xattrs', '--xattrs-include=*', ...flags, '-cf', file, '.']);
  return file;
}

/** Podman with a private storage under `dir` (no daemon, no network). */
export function podmanFor(dir: string): (args: readonly string[]) => string {
  const base = ['--root', join(dir, 'podman-root'), '--runroot', join(dir, 'podman-run'), '--storage-driver', 'vfs'];
  return (args) => sh('podman', [...base, ...args]);
}

/** A snapshot of a store: every file with its size and content hash, and the catalog rows. */
export function snapshotStore(home: string): string {
  const lines: string[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const info = statSync(full);
      if (info.isDirectory()) walk(full, `${rel}${name}/`);
      else lines.push(`${rel}${name} ${info.size} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`);
    }
  };
  walk(join(home, 'store'), 'store/');
  const tmp = join(home, 'tmp');
  lines.push(`tmp: ${readdirSync(tmp).length} entries`);
  return lines.join('\n');
}

/** Parses JSON printed by a kiln command. */
export function json<T = unknown>(result: Result): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${result.code}): ${result.stdout}\n${result.stderr}`);
  }
}

/**
 * The start of the concurrency tests: a store in a scratch directory, two rootfs tarballs
 * sharing nothing (`a` plain, `b` gzip), and `a` imported as the node image `keep`.
 */
export async function storeWithTwoSources(t: { after: (fn: () => void) => void }): Promise<{ dir: string; home: string; kiln: ReturnType<typeof kilnFor>; a: string; b: string }> {
  const dir = scratch(t);
  const home = join(dir, 'home');
  const kiln = kilnFor(home, 'alice');
  const a = tarDir(makeRootfsDir(dir, 'a'), join(dir, 'a.tar'));
  const b = tarDir(makeRootfsDir(dir, 'b'), join(dir, 'b.tar'), 'gzip');
  const imported = await kiln(['image', 'import', a, 'keep', '--label', 'walt.node.models=m']);
  if (imported.code !== 0) throw new Error(`importing keep failed: ${imported.stderr}`);
  return { dir, home, kiln, a, b };
}
