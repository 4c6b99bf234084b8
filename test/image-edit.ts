import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { cachedDebianTarball, KILN, sh, tarDir } from './helpers.ts';

/** A root with the host's static busybox as /bin/sh and the usual mount points; returns the directory. */
export function busyboxRoot(dir: string, name = 'root'): string {
  const root = join(dir, name);
  for (const d of ['bin', 'sbin', 'etc', 'proc', 'dev', 'tmp', 'root', 'var/log']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/usr/bin/busybox', join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  symlinkSync('busybox', join(root, 'bin', 'sh'));
  writeFileSync(join(root, 'etc', 'os-release'), 'ID=test\n');
  return root;
}

/** Imports a root directory as `<name>` through the CLI, as a user would. */
export async function importRoot(kiln: (args: readonly string[]) => Promise<{ code: number; stderr: string }>, dir: string, root: string, name: string, extra: readonly string[] = []): Promise<void> {
  const tar = tarDir(root, join(dir, `${name}.tar`));
  const out = await kiln(['image', 'import', tar, name, '--label', 'walt.node.models=pc-x86-64', ...extra]);
  if (out.code !== 0) throw new Error(`import failed: ${out.stderr}`);
}

/**
 * A tiny armhf root (Debian's busybox-static, nothing executed: --variant=extract) as a
 * tarball, built once and cached outside the repository under $TMPDIR/kiln-test-cache/.
 */
export function armhfBusyboxTarball(): Promise<string> {
  const args = [
    '--quiet', '--variant=extract', '--architectures=armhf', '--include=busybox-static', '--dpkgopt=path-exclude=/usr/share/doc/*',
    '--extract-hook=ln -s busybox "$1/bin/sh" && mkdir -p "$1/proc" "$1/tmp" "$1/root"', 'bookworm',
  ];
  return cachedDebianTarball('edit-armhf', args);
}

/** A kiln command run on a pseudo-terminal (util-linux `script`): what it printed so far, input typed on demand. */
export interface Terminal {
  child: ChildProcess;
  /** Resolves once the output (from the start) matches; rejects when the program ends first. */
  waitFor(pattern: RegExp): Promise<string>;
  type(text: string): void;
  /** The exit status of `script -e`: the command's own. */
  exited: Promise<number>;
  output(): string;
}

/** Runs `kiln <args>` on a pseudo-terminal with this home and user; the terminal is hung up when the test ends. */
export function kilnOnTerminal(t: { after: (fn: () => void) => void }, home: string, args: readonly string[], user = 'alice'): Terminal {
  const quoted = [KILN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-q', '-e', '-c', quoted, '/dev/null'], {
    env: { ...process.env, KILN_HOME: home, KILN_USER: user, KILN_CONFIG: '', TERM: 'dumb' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  const waiters: Array<{ pattern: RegExp; resolve: (s: string) => void; reject: (e: Error) => void }> = [];
  const check = (): void => {
    for (const w of [...waiters]) {
      if (w.pattern.test(out)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(out);
      }
    }
  };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    check();
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    check();
  });
  const exited = new Promise<number>((resolve) => child.on('close', (code) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`kiln ended before printing ${w.pattern}; output:\n${out}`));
    resolve(code ?? -1);
  }));
  return {
    child,
    waitFor: (pattern) => new Promise((resolve, reject) => {
      waiters.push({ pattern, resolve, reject });
      check();
    }),
    type: (text) => child.stdin?.write(text),
    exited,
    output: () => out,
  };
}

/** The mounts under a directory (none must be left by an edit). */
export function mountsUnder(dir: string): string[] {
  return sh('findmnt', ['-rn', '-o', 'TARGET']).split('\n').filter((t) => t.startsWith(dir));
}
