import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/**
 * A qemu x86_64 PC that network-boots with the iPXE ROM of its emulated NIC (Debian's
 * qemu-system-x86 and ipxe-qemu), under TCG, on qemu's user network: the VM reaches the
 * host's 127.0.0.1 at 10.0.2.2, and its DHCP hands iPXE `bootfile` (a tftp:// or http://
 * URL; qemu's own TFTP answers port 69 of 10.0.2.2, so a TFTP server under test listens
 * on another port). Its serial console is watched for milestones.
 */

/** A step of the boot, recognised on the serial console. */
export interface Milestone {
  name: string;
  pattern: RegExp;
}

/** The milestones of a pc-x86-64 node live-booting a Kiln image (examples/pc-node-walt.yaml), in order. */
export const PC_LIVE_BOOT: readonly Milestone[] = [
  { name: 'iPXE started', pattern: /iPXE initialising devices/ },
  { name: 'iPXE DHCP', pattern: /Configuring \(net0 [^)]*\)\.* ok/ },
  { name: 'start.ipxe running', pattern: /Kiln: pc-x86-64 start\.ipxe/ },
  { name: 'kernel booting', pattern: /Linux version \d/ },
  { name: 'initramfs DHCP', pattern: /IP-Config: \S+ complete/ },
  { name: 'SquashFS downloaded', pattern: /'[^'\n]*\.squashfs' saved/ },
  { name: 'SquashFS mounted', pattern: /Mounting "[^"\n]*\.squashfs" on/ },
  { name: 'systemd started', pattern: /Welcome to .*!/ },
  { name: 'login prompt', pattern: /login: *$/m },
];

/**
 * Finds milestones in order in `text` from `state` (the next milestone's index and the
 * offset after the previous one), each after the previous one; returns the names found
 * and the new state.
 */
export function advanceMilestones(text: string, milestones: readonly Milestone[], state: { next: number; from: number }): { found: string[]; next: number; from: number } {
  const found: string[] = [];
  let { next, from } = state;
  for (let milestone = milestones[next]; milestone; milestone = milestones[next]) {
    const re = new RegExp(milestone.pattern.source, `${milestone.pattern.flags.replace('g', '')}g`);
    re.lastIndex = from;
    const m = re.exec(text);
    if (!m) break;
    found.push(milestone.name);
    from = m.index + m[0].length;
    next++;
  }
  return { found, next, from };
}

export interface VmOptions {
  /** The URL iPXE boots (DHCP option 67 of qemu's user network). */
  bootfile: string;
  /** Milestones to wait for, in order; the run succeeds when the last one is seen. */
  milestones?: readonly Milestone[];
  /** The whole run is bounded by this (default 5 minutes). */
  timeoutMs?: number;
  /** Also write the raw console here. */
  consoleLog?: string;
  /** Guest memory in MiB (default 1024: live-boot holds the SquashFS in RAM). */
  memoryMiB?: number;
  /** Emulated NIC with an iPXE option ROM (default e1000). */
  nic?: 'e1000' | 'virtio-net-pci';
}

export interface VmRun {
  /** Seconds from qemu's start to each milestone seen, in order. */
  reached: Array<{ name: string; seconds: number }>;
  /** Total seconds until the last milestone. */
  seconds: number;
  /** The console, without escape sequences. */
  console: string;
}

/** The console text without ANSI escape sequences and carriage returns. */
export function cleanConsole(raw: string): string {
  return raw.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1bc/g, '').replace(/\r/g, '');
}

/** The last `n` non-empty lines of a console, for failure messages. */
export function tail(console: string, n = 40): string {
  return console.split('\n').filter((l) => l.trim() !== '').slice(-n).join('\n');
}

/**
 * Boots one VM and resolves when the last milestone shows on its console; rejects with
 * the milestones reached and the last console lines when qemu exits or the time is up.
 * qemu is always killed before this returns.
 */
export function bootVm(options: VmOptions): Promise<VmRun> {
  const milestones = options.milestones ?? PC_LIVE_BOOT;
  const timeoutMs = options.timeoutMs ?? 5 * 60_000;
  const args = [
    '-accel', 'tcg', '-m', String(options.memoryMiB ?? 1024), '-nographic', '-no-reboot',
    '-netdev', `user,id=n0,bootfile=${options.bootfile}`,
    '-device', `${options.nic ?? 'e1000'},netdev=n0`, '-boot', 'n',
  ];
  const started = Date.now();
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const log = options.consoleLog ? createWriteStream(options.consoleLog) : undefined;
  let raw = '';
  let stderr = '';
  let next = 0;
  let searchFrom = 0;
  const reached: VmRun['reached'] = [];
  return new Promise<VmRun>((resolve, reject) => {
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      qemu.kill('SIGKILL');
      log?.end();
      const console = cleanConsole(raw);
      if (!error) {
        resolve({ reached, seconds: reached.at(-1)?.seconds ?? 0, console });
        return;
      }
      const seen = reached.map((r) => `${r.name} (${r.seconds} s)`).join(', ') || 'none';
      const waiting = milestones[next]?.name ?? '-';
      reject(new Error(`${error.message}\nmilestones reached: ${seen}; waiting for: ${waiting}\nqemu stderr: ${stderr.trim() || '-'}\nlast console lines:\n${tail(console)}`));
    };
    const timer = setTimeout(() => finish(new Error(`the VM did not reach "${milestones.at(-1)?.name}" within ${timeoutMs / 1000} s`)), timeoutMs);
    qemu.on('error', (e) => finish(e));
    qemu.on('exit', (code, signal) => finish(new Error(`qemu exited (${signal ?? code}) before the boot completed`)));
    qemu.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    qemu.stdout.setEncoding('utf8').on('data', (d: string) => {
      log?.write(d);
      raw += d;
      const step = advanceMilestones(cleanConsole(raw), milestones, { next, from: searchFrom });
      const at = Math.round((Date.now() - started) / 100) / 10;
      for (const name of step.found) reached.push({ name, seconds: at });
      ({ next, from: searchFrom } = step);
      if (next >= milestones.length) finish();
    });
  });
}
