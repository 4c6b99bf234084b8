import type { ChildProcess, StdioOptions } from 'node:child_process';
import { KilnError, ErrorCode } from './errors.ts';

/** The Debian package that ships each external tool Kiln calls. */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  tar: 'tar',
  xz: 'xz-utils',
  bzip2: 'bzip2',
  lz4: 'lz4',
  getfattr: 'attr',
  setfattr: 'attr',
  setfacl: 'acl',
  mksquashfs: 'squashfs-tools',
  unsquashfs: 'squashfs-tools',
  'mkfs.erofs': 'erofs-utils',
  bwrap: 'bubblewrap',
  mmdebstrap: 'mmdebstrap',
  skopeo: 'skopeo',
  umoci: 'umoci',
  podman: 'podman',
  dnf: 'dnf',
  zypper: 'zypper',
  // ansible-core has ansible-playbook; the chroot connection is in community.general, which the ansible package ships.
  'ansible-playbook': 'ansible',
  exportfs: 'nfs-kernel-server',
  'ssh-keygen': 'openssh-client',
  ip: 'iproute2',
  'qemu-system-x86_64': 'qemu-system-x86',
  nsenter: 'util-linux',
  script: 'bsdutils',
  ssh: 'openssh-client',
  scp: 'openssh-client',
};

/** TOOL_MISSING for a tool not found, naming the Debian package that has it. */
export function toolMissing(tool: string, cause?: unknown): KilnError {
  const pkg = TOOL_PACKAGES[tool] ?? tool;
  return new KilnError(ErrorCode.TOOL_MISSING, `${tool} not found`, { hint: `install ${pkg}: apt-get install ${pkg}`, ...(cause === undefined ? {} : { cause }) });
}

/** The error of a child process that could not start: TOOL_MISSING when the tool is not there, else TOOL_FAILED. */
export function spawnError(tool: string, err: NodeJS.ErrnoException): KilnError {
  return err.code === 'ENOENT' ? toolMissing(tool, err) : new KilnError(ErrorCode.TOOL_FAILED, `${tool} could not run: ${err.message}`, { cause: err });
}

/** Options of {@link run}. */
export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** What to do with the child's stdin/stdout; stderr is always captured for the error report. */
  stdin?: 'ignore' | 'pipe';
  stdout?: 'ignore' | 'pipe';
}

/** A running external tool: its process and a promise that settles when it exits. */
export interface RunningTool {
  child: ChildProcess;
  done: Promise<void>;
}

const STDERR_KEEP = 8192;

/**
 * Starts an external tool. Every program Kiln runs goes through here so that a missing
 * tool names its package and a failure reports the command, exit status and stderr tail.
 */
export function start(tool: string, args: readonly string[], options: RunOptions = {}): RunningTool {
  const stdio: StdioOptions = [options.stdin ?? 'ignore', options.stdout ?? 'ignore', 'pipe'];
  // node:child_process is loaded on the first run, not at start-up (most commands never spawn).
  const { spawn } = process.getBuiltinModule('node:child_process');
  const child = spawn(tool, args, { cwd: options.cwd, env: options.env, signal: options.signal, stdio });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_KEEP);
  });
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => reject(spawnError(tool, err)));
    child.once('close', (code, signal) => {
      if (code === 0) return resolve();
      const how = signal === null ? `exit status ${code}` : `signal ${signal}`;
      const tail = stderr.trim().split('\n').slice(-5).join('\n');
      reject(new KilnError(ErrorCode.TOOL_FAILED, `${tool} failed (${how})${tail ? `: ${tail}` : ''}`, {
        hint: `command: ${[tool, ...args].join(' ')}`,
      }));
    });
  });
  return { child, done };
}

/** Runs an external tool to completion and returns its standard output as text. */
export async function run(tool: string, args: readonly string[], options: Omit<RunOptions, 'stdout'> = {}): Promise<string> {
  const running = start(tool, args, { ...options, stdout: 'pipe' });
  let out = '';
  running.child.stdout?.setEncoding('utf8');
  running.child.stdout?.on('data', (text: string) => {
    out += text;
  });
  await running.done;
  return out;
}
