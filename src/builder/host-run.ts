import { start, isKilnError } from '../core/index.ts';

/** How a build command ran (in the sandbox or on the host). */
export interface SandboxResult {
  code: number;
  /** The last lines of its output (stdout and stderr). */
  tail: string[];
}

/** Options of {@link runOnHost}. */
export interface HostRunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  signal?: AbortSignal;
  onLine?: (line: string) => void;
}

const TAIL_LINES = 20;

/**
 * Runs a build tool on the host (dnf --installroot, zypper --root, ansible-playbook) and
 * reports it as a sandboxed step is reported: its exit status and the last lines of its output.
 * A missing tool is thrown as TOOL_MISSING, naming its package.
 */
export async function runOnHost(tool: string, args: readonly string[], options: HostRunOptions = {}): Promise<SandboxResult> {
  const running = start(tool, args, {
    stdout: 'pipe',
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const tail: string[] = [];
  let partial = '';
  const onData = (text: string): void => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      options.onLine?.(line);
    }
  };
  running.child.stdout?.setEncoding('utf8').on('data', onData);
  running.child.stderr?.on('data', onData);
  try {
    await running.done;
  } catch (err) {
    if (!isKilnError(err) || running.child.exitCode === null) throw err;
  }
  if (partial) onData('\n');
  return { code: running.child.exitCode ?? -1, tail };
}
