/**
 * The milestones of a network boot, recognised on the VM's serial console or in the boot
 * server's request lines. Pure: the caller feeds text and events and stamps the times.
 */

/** What the boot server reported (one JSON line of `kiln serve`), as far as milestones care. */
export interface ServeEvent {
  protocol?: string;
  client?: string;
  path?: string;
  result?: string;
  node?: string;
  ip?: string;
  served?: string;
}

/** A step of the boot: seen on the console (in order after the previous console milestone) or in a server event. */
export interface Milestone {
  name: string;
  /** Matches the console; the first capture group, if any, is the detail. */
  console?: RegExp;
  /** Matches a server event for the node (its MAC and name given); returns the detail, or undefined. */
  event?: (e: ServeEvent, node: { mac: string; name: string }) => string | undefined;
}

/** How the root filesystem is reached. */
export type BootMode = 'live' | 'nfs';

const DHCP: Milestone = {
  name: 'DHCP',
  // The ACK Kiln's DHCP server sent this MAC; its address is what the firmware configured.
  event: (e, node) => (e.protocol === 'dhcp' && e.result === 'ack' && e.client === node.mac && e.ip ? `${e.ip} from kiln` : undefined),
};

const SECOND_STAGE: Milestone = {
  name: 'second-stage script',
  // The node's own start.ipxe, from its image (not the first stage Kiln gives unknown PCs).
  event: (e, node) => (e.result === 'ok' && e.node === node.name && /(^|\/)start\.ipxe$/u.test(e.path ?? '') ? `${e.path} over ${e.protocol}` : undefined),
};

/** The milestones of a PC booting an image the given way, in order; the last one means the boot completed. */
export function milestonesFor(mode: BootMode): readonly Milestone[] {
  return [
    DHCP,
    SECOND_STAGE,
    { name: 'kernel', console: /Linux version (\S+)\s/u },
    // klibc's ipconfig in the initramfs (live-boot, nfsroot) or the kernel running it.
    { name: 'initramfs', console: /IP-Config: (\S+) complete|Run (\/init) as init process/u },
    mode === 'live'
      ? { name: 'root mounted', console: /Mounting "([^"\n]*\.squashfs)" on/u }
      // The kernel's own nfsroot, initramfs-tools once its NFS mount succeeded, or Kiln's walt-init.
      : { name: 'root mounted', console: /VFS: Mounted root \((nfs\d?) filesystem\)|Running \/scripts\/(nfs)-bottom|walt-init: root (\S+) under a RAM overlay/u },
    { name: 'init', console: /Welcome to (.*?)!|INIT: version (\S+)|Run (\/sbin\/init) as init process/u },
    { name: 'login prompt', console: /^(\S+) login: *$/mu },
    // Reached by the caller (`reach`): ssh to the node, or in live mode its port 22 answering.
    { name: 'SSH answering' },
  ];
}

/** A milestone reached, with its detail. */
export interface Reached {
  name: string;
  detail?: string;
}

/** Tracks which milestones were reached; console milestones in order, event milestones whenever they come. */
export interface MilestoneTracker {
  /** Feeds the whole (clean) console so far; returns the milestones newly reached. */
  console(text: string): Reached[];
  /** Feeds one server event; returns the milestones newly reached. */
  event(e: ServeEvent): Reached[];
  /** Marks a milestone that neither the console nor the server shows (SSH answering), once; returns it, or nothing when already reached. */
  reach(name: string, detail?: string): Reached[];
  /** All reached so far, in the order they were reached. */
  reached(): readonly Reached[];
  /** The first milestone not reached yet, in the list's order. */
  waiting(): string | undefined;
  /** True when every milestone was reached. */
  done(): boolean;
}

/** A tracker over `milestones` for the node with this MAC and name. */
export function createMilestoneTracker(milestones: readonly Milestone[], node: { mac: string; name: string }): MilestoneTracker {
  const seen = new Set<string>();
  const order: Reached[] = [];
  let from = 0;
  const consoleOnes = milestones.filter((m) => m.console);
  const mark = (m: Milestone, detail: string | undefined): Reached => {
    seen.add(m.name);
    const r = detail ? { name: m.name, detail } : { name: m.name };
    order.push(r);
    return r;
  };
  return {
    console(text) {
      const found: Reached[] = [];
      for (const m of consoleOnes) {
        if (seen.has(m.name)) continue;
        const re = new RegExp(m.console!.source, `${m.console!.flags.replace('g', '')}g`);
        re.lastIndex = from;
        const hit = re.exec(text);
        if (!hit) break;
        from = hit.index + hit[0].length;
        found.push(mark(m, hit.slice(1).find((g) => g !== undefined)));
      }
      return found;
    },
    event(e) {
      const found: Reached[] = [];
      for (const m of milestones) {
        if (!m.event || seen.has(m.name)) continue;
        const detail = m.event(e, node);
        if (detail !== undefined) found.push(mark(m, detail));
      }
      return found;
    },
    reach(name, detail) {
      const m = milestones.find((x) => x.name === name);
      return m && !seen.has(name) ? [mark(m, detail)] : [];
    },
    reached: () => order,
    waiting: () => milestones.find((m) => !seen.has(m.name))?.name,
    done: () => milestones.every((m) => seen.has(m.name)),
  };
}

/** The console text without ANSI escape sequences and carriage returns. */
export function cleanConsole(raw: string): string {
  return raw.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1bc/gu, '').replace(/\r/gu, '');
}

/** The last `n` non-empty lines of a console, for failure messages. */
export function consoleTail(text: string, n = 40): string {
  return text.split('\n').filter((l) => l.trim() !== '').slice(-n).join('\n');
}

/** One milestone line: `  12.3 s  DHCP  (10.213.5.100 from kiln)`. */
export function formatMilestone(m: { name: string; seconds: number; detail?: string | undefined }): string {
  return `${m.seconds.toFixed(1).padStart(6)} s  ${m.name}${m.detail ? `  (${m.detail})` : ''}`;
}
