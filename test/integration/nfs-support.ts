import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { KILN, runProgram, type Result } from '../helpers.ts';

/** A network namespace made by the test (loopback only, its own /run): NFS servers listen there, never on the host's network. */
export interface TestNamespace {
  inNs: (cmd: string, args: string[]) => Promise<Result>;
  spawnInNs: (cmd: string, args: string[]) => ChildProcess;
}

/** Starts the namespace holder; everything started in it is killed when the test ends. */
export function startNamespace(t: { after: (fn: () => void) => void }): Promise<TestNamespace> {
  const holder = spawn('unshare', ['-n', '-m', '--propagation', 'private', 'sh', '-c',
    'ip link set lo up && ip addr add 10.213.0.1/32 dev lo && mount -t tmpfs tmpfs /run && echo ready && exec sleep 600'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) c.kill('SIGKILL');
    holder.kill('SIGKILL');
  });
  const ns = (): string[] => ['-t', String(holder.pid), '-n', '-m'];
  return new Promise((resolve, reject) => {
    holder.once('error', reject);
    holder.once('exit', (code) => reject(new Error(`namespace holder exited (${code})`)));
    holder.stdout?.once('data', () => resolve({
      inNs: (cmd, args) => runProgram('timeout', ['20', 'nsenter', ...ns(), cmd, ...args]),
      spawnInNs: (cmd, args) => {
        const child = spawn('nsenter', [...ns(), cmd, ...args], { stdio: 'ignore' });
        children.push(child);
        return child;
      },
    }));
  });
}

/** A `kiln serve` started by the test: its ports once it listens, and its stderr so far. */
export interface KilnServe {
  listening: { http: number; tftp: number; nfs?: string };
  stderr: () => string;
}

/** Starts `kiln serve` with a kiln.yaml; killed when the test ends. */
export async function startKilnServe(t: { after: (fn: () => void) => void }, env: NodeJS.ProcessEnv): Promise<KilnServe> {
  const server = spawn(KILN, ['serve'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => server.kill('SIGKILL'));
  let stderr = '';
  server.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const listening = await new Promise<KilnServe['listening']>((resolve, reject) => {
    createInterface({ input: server.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { listening?: KilnServe['listening'] };
      if (entry.listening) resolve(entry.listening);
    });
    server.once('exit', () => reject(new Error(`kiln serve exited: ${stderr}`)));
  });
  return { listening, stderr: () => stderr };
}
