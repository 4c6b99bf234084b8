import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { spawnError } from '../core/index.ts';
import type { VmProfile } from './models.ts';

/** A VM running: its console as it comes, and how it ends. */
export interface RunningVm {
  /** Calls `onText` with each chunk of the serial console. */
  onConsole(onText: (text: string) => void): void;
  /** Settles when qemu exits, with how it did ("exit status 1", "signal SIGKILL"). */
  exited: Promise<string>;
  /** qemu's own messages (its stderr), for failure reports. */
  stderr(): string;
  /** Kills qemu and waits until it is gone. */
  stop(): Promise<void>;
}

/** What {@link startVm} needs. */
export interface VmOptions {
  profile: VmProfile;
  accel: 'kvm' | 'tcg';
  mac: string;
  /** The tap device the VM's NIC is plugged into. */
  tap: string;
  /** Wraps the qemu argv (e.g. to run it inside a network namespace). */
  wrap?: (argv: string[]) => string[];
}

/**
 * True when KVM can run a guest: /dev/kvm opens for reading and writing, and the CPU offers
 * hardware virtualisation (vmx or svm). A /dev/kvm without either (some nested sandboxes)
 * starts qemu but crashes the guest, so it counts as no KVM.
 */
export async function kvmUsable(device = '/dev/kvm', cpuinfo = '/proc/cpuinfo'): Promise<boolean> {
  const opens = await access(device, constants.R_OK | constants.W_OK).then(() => true, () => false);
  if (!opens) return false;
  const flags = await readFile(cpuinfo, 'utf8').catch((): string => '');
  return /^flags\s*:.*\b(vmx|svm)\b/mu.test(flags);
}

/** The qemu arguments: network boot only, serial console on stdio, no reboot (a panic ends the run). */
export function qemuArgs(o: Pick<VmOptions, 'profile' | 'accel' | 'mac' | 'tap'>): string[] {
  return [
    ...o.profile.machine, '-accel', o.accel, '-m', String(o.profile.memoryMiB), '-nographic', '-no-reboot',
    '-netdev', `tap,id=n0,ifname=${o.tap},script=no,downscript=no`,
    '-device', `${o.profile.nic},netdev=n0,mac=${o.mac}`, '-boot', 'n',
  ];
}

/** Starts qemu; its serial console is its standard output. */
export function startVm(options: VmOptions): RunningVm {
  const argv = [options.profile.qemu, ...qemuArgs(options)];
  const [cmd = '', ...args] = options.wrap ? options.wrap(argv) : argv;
  const child: ChildProcess = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8192)));
  const exited = new Promise<string>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => reject(spawnError(cmd, err)));
    child.once('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `exit status ${code}`));
  });
  // A qemu missing inside `ip netns exec` is its stderr, not ENOENT: callers check the tool first.
  exited.catch(() => undefined);
  child.stdout?.setEncoding('utf8');
  return {
    onConsole: (onText) => void child.stdout?.on('data', onText),
    exited,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited.catch(() => undefined);
    },
  };
}
