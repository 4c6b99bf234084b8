import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { KilnError, ErrorCode, isErrno, resolveInRoot, spawnError } from '../core/index.ts';
import { placeMounts, removeMountPoints } from './sandbox.ts';

/** seed 001 §C.9: the advanced virtual environment's hooks, both executable or neither used. */
export const SHELL_START = '/bin/walt-image-shell-start';
export const SHELL_SHUTDOWN = '/bin/walt-image-shell-shutdown';
/** seed 001 §C.8: shown at /proc/cpuinfo in the shell when the image has it. */
export const IMAGE_CPUINFO = '/etc/cpuinfo';

/** What the shell of an image root needs, found in the root (every path resolved inside it). */
export interface ShellPlan {
  /** bash, else sh. */
  shell: string;
  /** The host file bound read-only over /proc/cpuinfo. */
  cpuinfo?: string;
  /** Both hooks are present and executable. */
  hooks: boolean;
}

async function isExecutableFile(root: string, path: string): Promise<boolean> {
  const at = await resolveInRoot(root, path);
  if (!at.exists) return false;
  const info = await stat(at.host);
  return info.isFile() && (info.mode & 0o111) !== 0;
}

/** Finds the shell, the cpuinfo file and the hooks of a mounted image. */
export async function planShell(root: string): Promise<ShellPlan> {
  const shell = (await isExecutableFile(root, '/bin/bash')) ? '/bin/bash' : '/bin/sh';
  if (!(await isExecutableFile(root, shell))) {
    throw new KilnError(ErrorCode.UNSUPPORTED, 'the image has no shell (/bin/bash or /bin/sh)', { hint: 'install bash or busybox in the image (kiln image cp can put a static busybox at /bin/sh)' });
  }
  const cpu = await resolveInRoot(root, IMAGE_CPUINFO);
  const cpuinfo = cpu.exists && (await stat(cpu.host)).isFile() ? cpu.host : undefined;
  const hooks = (await isExecutableFile(root, SHELL_START)) && (await isExecutableFile(root, SHELL_SHUTDOWN));
  return { shell, ...(cpuinfo ? { cpuinfo } : {}), hooks };
}

/** Options of {@link runShell}. */
export interface ShellOptions {
  /** TERM of the user's terminal. */
  term?: string | undefined;
  /**
   * Run the shell on a pseudo-terminal of its own (util-linux `script`), as `podman run -t`
   * does: the shell's job control then acts on that terminal, so the user's terminal comes
   * back to kiln afterwards (to ask what to save), and nothing in the image can inject
   * input into the user's terminal. Set when stdin is a terminal.
   */
  terminal?: boolean;
  /** Stops the shell and its container (SIGHUP of a dropped session, SIGTERM). */
  signal?: AbortSignal;
}

/** `tool args` as one /bin/sh command line. */
const shellLine = (argv: readonly string[]): string => argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');

/** The command that runs `argv` interactively: under `script` on its own pseudo-terminal when asked. */
function interactive(argv: readonly string[], terminal: boolean): { cmd: string; args: string[] } {
  if (!terminal) return { cmd: argv[0] as string, args: argv.slice(1) };
  return { cmd: 'script', args: ['--quiet', '--return', '--command', shellLine(argv), '/dev/null'] };
}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Waits for a child to end; its exit status (128+n for a signal). */
function ended(child: ChildProcess, tool: string): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.name === 'AbortError') return;
      reject(spawnError(tool, err));
    });
    child.once('close', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : 1)));
  });
}

/** Reads bubblewrap's --info-fd JSON: the pid of the container's first process, as the host sees it. */
function childPid(info: Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    info.setEncoding('utf8');
    info.on('data', (d: string) => {
      text += d;
      const m = /"child-pid":\s*(\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    info.once('end', () => reject(new KilnError(ErrorCode.TOOL_FAILED, 'the image shell\'s container ended before it started', { hint: `check that ${SHELL_START} runs in the image` })));
  });
}

/**
 * Waits until the container's first process has left bubblewrap (exec'd the start hook):
 * bubblewrap reports the pid before it has set up the mounts, and a shell joining earlier
 * would see the host's root. Polls /proc/<pid>/cmdline; fails when the container ends first.
 */
async function waitForExec(pid: number, ended: () => boolean): Promise<void> {
  for (;;) {
    if (ended()) throw new KilnError(ErrorCode.TOOL_FAILED, 'the image shell\'s container ended before it started', { hint: `check that ${SHELL_START} runs in the image` });
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch((err: unknown) => {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ESRCH')) return '';
      throw err;
    });
    if (cmdline !== '' && !cmdline.startsWith('bwrap\0')) return;
    await delay(10);
  }
}

/**
 * Runs an interactive shell in a mounted image root, on the user's terminal: bubblewrap
 * with the image as /, a fresh /proc (with the image's /etc/cpuinfo over /proc/cpuinfo),
 * /dev and /tmp, new PID/IPC/UTS namespaces, nothing of the host's files but
 * /etc/resolv.conf. With the hooks (seed 001 §C.9), the container runs
 * walt-image-shell-start as its PID 1 in the background (its output hidden), the shell
 * joins it (as `podman exec`), then walt-image-shell-shutdown runs and the container is
 * waited for. A foreign image runs through the kernel's binfmt_misc qemu-user entry.
 * Returns the shell's exit status.
 */
export async function runShell(root: string, plan: ShellPlan, options: ShellOptions = {}): Promise<number> {
  const binds: Array<readonly [string, string]> = plan.cpuinfo ? [[plan.cpuinfo, '/proc/cpuinfo']] : [];
  const mounts = await placeMounts(root, binds);
  const env = { PATH, HOME: '/root', TERM: options.term ?? 'xterm', LC_ALL: 'C' };
  const common = [
    '--bind', root, '/', ...mounts.args, '--chdir', '/',
    '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--die-with-parent', '--clearenv',
    ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
  ];
  const signal = options.signal;
  try {
    if (!plan.hooks) {
      // No --new-session: the shell keeps its terminal (script's, or the user's) as its controlling terminal (job control, Ctrl-C).
      const run = interactive(['bwrap', ...common, '--', plan.shell], options.terminal === true);
      const child = spawn(run.cmd, run.args, { stdio: 'inherit', env: { ...process.env, SHELL: '/bin/sh' }, ...(signal ? { signal, killSignal: 'SIGKILL' } : {}) });
      const code = await ended(child, run.cmd);
      signal?.throwIfAborted();
      return code;
    }
    const container = spawn('bwrap', [...common, '--new-session', '--as-pid-1', '--info-fd', '3', '--', SHELL_START], {
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'], ...(signal ? { signal, killSignal: 'SIGKILL' } : {}),
    });
    const containerEnd = ended(container, 'bwrap');
    const pid = await Promise.race([childPid(container.stdio[3] as Readable), containerEnd.then(() => {
      throw new KilnError(ErrorCode.TOOL_FAILED, 'the image shell\'s container ended before it started', { hint: `check that ${SHELL_START} runs in the image` });
    })]);
    await waitForExec(pid, () => container.exitCode !== null || container.signalCode !== null);
    const enter = ['--target', String(pid), '--mount', '--uts', '--ipc', '--pid', '--root', '--wd', '--'];
    try {
      const run = interactive(['nsenter', ...enter, plan.shell], options.terminal === true);
      const shell = spawn(run.cmd, run.args, { stdio: 'inherit', env: { ...env, SHELL: '/bin/sh' }, ...(signal ? { signal, killSignal: 'SIGKILL' } : {}) });
      const code = await ended(shell, run.cmd);
      signal?.throwIfAborted();
      const shutdown = spawn('nsenter', [...enter, SHELL_SHUTDOWN], { stdio: 'ignore', env, ...(signal ? { signal, killSignal: 'SIGKILL' } : {}) });
      await ended(shutdown, 'nsenter');
      await containerEnd;
      signal?.throwIfAborted();
      return code;
    } finally {
      // Interrupted: the container's init goes with its namespace (bubblewrap is its parent).
      if (container.exitCode === null && container.signalCode === null) container.kill('SIGKILL');
      await containerEnd.catch(() => undefined);
    }
  } finally {
    await removeMountPoints(root, mounts.created);
  }
}
