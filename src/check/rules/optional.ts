import { parse as parseYaml } from 'yaml';
import type { CheckInput, Finding, Rule } from '../types.ts';
import { findCommand, globTree, isExecutable, loadedText, locateFile, needFile } from '../view.ts';

const IMAGE_SPEC = 'etc/walt/image.spec';
const NTP_CONF = 'etc/ntp.conf';
const PTPD_DEFAULTS = 'etc/default/ptpd';

function optional(id: string, requirement: string, status: Finding['status'], found: string, fix?: string): Finding {
  return { id, requirement: `${requirement} (optional)`, mandatory: false, status, found, ...(fix ? { fix } : {}) };
}

function hasAny(input: CheckInput, patterns: readonly string[]): string | undefined {
  for (const p of patterns) {
    const hit = globTree(input.tree, p)[0];
    if (hit) return hit;
  }
  return undefined;
}

/** /etc/walt/image.spec as WalT reads it (YAML or JSON): templates and features, or why it is malformed. */
export function parseImageSpec(text: string): { templates: string[]; problems: string[] } {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    return { templates: [], problems: [`not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`] };
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return { templates: [], problems: ['not a mapping with "templates" and "features"'] };
  const spec = doc as Record<string, unknown>;
  const problems: string[] = [];
  const templates = spec.templates ?? [];
  if (!Array.isArray(templates) || templates.some((t) => typeof t !== 'string' || !t.startsWith('/'))) problems.push('"templates" must be a list of absolute file paths');
  if (spec.features !== undefined && (spec.features === null || typeof spec.features !== 'object' || Array.isArray(spec.features))) problems.push('"features" must be a mapping');
  return { templates: Array.isArray(templates) ? templates.filter((t): t is string => typeof t === 'string') : [], problems };
}

/** Time synchronisation (PTP preferred, NTP with %(server_ip)s templated through image.spec) and image.spec itself (seed 001, C.2). */
export const timeSync: Rule = {
  id: 'time',
  needs: () => [needFile(IMAGE_SPEC), needFile(NTP_CONF), needFile(PTPD_DEFAULTS)],
  evaluate: (input) => {
    const findings: Finding[] = [];
    const specText = loadedText(input, IMAGE_SPEC);
    const spec = specText === undefined ? undefined : parseImageSpec(specText);
    if (spec && spec.problems.length > 0) {
      findings.push({ id: 'image-spec', requirement: 'image spec file /etc/walt/image.spec', mandatory: true, status: 'fail', found: spec.problems.join('; '), fix: 'write it as JSON or YAML: {"templates": ["/etc/ntp.conf"]}' });
    } else if (spec) {
      const missing = spec.templates.filter((t) => !locateFile(input.tree, t).ok);
      findings.push(missing.length > 0
        ? { id: 'image-spec', requirement: 'image spec file /etc/walt/image.spec', mandatory: false, status: 'warn', found: `templates not in the image: ${missing.join(', ')}`, fix: 'remove them from "templates" or add the files' }
        : { id: 'image-spec', requirement: 'image spec file /etc/walt/image.spec', mandatory: false, status: 'pass', found: `${spec.templates.length} template${spec.templates.length === 1 ? '' : 's'}` });
    }
    const ptpd = ['usr/sbin/ptpd', 'usr/sbin/ptpd2'].find((p) => locateFile(input.tree, p).ok);
    const ntp = loadedText(input, NTP_CONF);
    if (ptpd) {
      const started = /^\s*START_DAEMON\s*=\s*"?yes"?\s*$/m.test(loadedText(input, PTPD_DEFAULTS) ?? '');
      findings.push(started
        ? optional('time', 'precise time (PTP or NTP)', 'pass', `ptpd, started at boot (/etc/default/ptpd)`)
        : optional('time', 'precise time (PTP or NTP)', 'warn', 'ptpd installed but START_DAEMON=yes is not set in /etc/default/ptpd', 'set START_DAEMON=yes and PTPD_OPTS="-c /etc/ptpd.conf" in /etc/default/ptpd'));
    } else if (ntp !== undefined) {
      const templated = ntp.includes('%(server_ip)s');
      if (templated && !spec?.templates.includes('/etc/ntp.conf')) {
        findings.push(optional('time', 'precise time (PTP or NTP)', 'warn', '/etc/ntp.conf uses %(server_ip)s but /etc/walt/image.spec does not list it in "templates"', 'add "/etc/ntp.conf" to "templates" in /etc/walt/image.spec'));
      } else {
        findings.push(optional('time', 'precise time (PTP or NTP)', 'pass', `NTP (/etc/ntp.conf${templated ? ', server templated' : ''}); PTP is preferred`));
      }
    } else {
      findings.push(optional('time', 'precise time (PTP or NTP)', 'info', 'neither ptpd nor /etc/ntp.conf: the clock is set at boot only', 'apt-get install ptpd, with START_DAEMON=yes in /etc/default/ptpd'));
    }
    return findings;
  },
};

/** LLDP, mDNS, walt-node, blink, walt-reboot, /etc/cpuinfo, image-shell hooks, NBD swap (seed 001, C). */
export const features: Rule = {
  id: 'features',
  evaluate: (input) => {
    const { tree } = input;
    const out: Finding[] = [];
    const lldpd = findCommand(tree, 'lldpd');
    out.push(lldpd ? optional('lldp', 'LLDP daemon', 'pass', `/${lldpd.path}`) : optional('lldp', 'LLDP daemon', 'info', 'no lldpd: WalT cannot place the node in the network topology', 'apt-get install lldpd'));
    const avahi = findCommand(tree, 'avahi-daemon');
    const nss = hasAny(input, ['usr/lib/*/libnss_mdns*.so.2', 'lib/*/libnss_mdns*.so.2', 'usr/lib/libnss_mdns*.so.2']);
    if (avahi && nss) out.push(optional('mdns', 'multicast DNS', 'pass', 'avahi-daemon and libnss-mdns'));
    else if (avahi || nss) out.push(optional('mdns', 'multicast DNS', 'warn', avahi ? 'avahi-daemon without libnss-mdns' : 'libnss-mdns without avahi-daemon', 'apt-get install avahi-daemon libnss-mdns'));
    else out.push(optional('mdns', 'multicast DNS', 'info', 'not installed', 'apt-get install avahi-daemon libnss-mdns'));
    const waltNode = hasAny(input, ['usr/local/lib/python3*/dist-packages/walt_node-*', 'usr/local/lib/python3*/site-packages/walt_node-*', 'usr/lib/python3*/dist-packages/walt_node-*', 'usr/lib/python3*/site-packages/walt_node-*']);
    out.push(waltNode ? optional('walt-node', 'walt-node package', 'pass', `/${waltNode}`) : optional('walt-node', 'walt-node package', 'info', 'not installed', 'pip3 install walt-node && walt-node-setup (needs python3.6+ and systemd)'));
    for (const [id, path, what] of [['blink', 'bin/blink', 'led blinking'], ['walt-reboot', 'bin/walt-reboot', 'custom reboot'], ['cpuinfo', 'etc/cpuinfo', '/proc/cpuinfo of the node']] as const) {
      const f = locateFile(tree, path);
      const exec = id !== 'cpuinfo';
      if (!f.ok) out.push(optional(id, `${what} (/${path})`, 'info', f.reason.startsWith('missing') ? 'absent' : f.reason));
      else if (exec && !isExecutable(f.entry)) out.push(optional(id, `${what} (/${path})`, 'warn', 'present but not executable', `chmod +x /${path}`));
      else out.push(optional(id, `${what} (/${path})`, 'pass', 'present'));
    }
    const hooks = ['bin/walt-image-shell-start', 'bin/walt-image-shell-shutdown'].map((p) => ({ p, f: locateFile(tree, p) }));
    const good = hooks.filter((h) => h.f.ok && isExecutable(h.f.entry));
    const present = hooks.filter((h) => h.f.ok);
    if (good.length === 2) out.push(optional('image-shell', 'walt image shell hooks', 'pass', 'start and shutdown hooks, executable'));
    else if (present.length === 0) out.push(optional('image-shell', 'walt image shell hooks', 'info', 'absent: walt image shell runs a plain shell'));
    else out.push(optional('image-shell', 'walt image shell hooks', 'warn', `${present.map((h) => `/${h.p}`).join(' and ')} present, ${good.length} executable: both must be present and executable`, 'provide both /bin/walt-image-shell-start and /bin/walt-image-shell-shutdown with execute bits, or neither'));
    const nbdMissing = ['nbd-client', 'mkswap', 'swapon'].filter((c) => !findCommand(tree, c));
    if (!hasAny(input, ['lib/modules/*/kernel/drivers/block/nbd.ko*', 'usr/lib/modules/*/kernel/drivers/block/nbd.ko*'])) nbdMissing.push('nbd module');
    if (nbdMissing.length === 0) out.push(optional('nbd-swap', 'swap over NBD', 'pass', 'nbd-client, mkswap, swapon and the nbd module'));
    else if (nbdMissing.includes('nbd-client')) out.push(optional('nbd-swap', 'swap over NBD', 'info', 'not supported', 'apt-get install nbd-client (mkswap and swapon come with util-linux/mount; the nbd module with the kernel)'));
    else out.push(optional('nbd-swap', 'swap over NBD', 'warn', `missing: ${nbdMissing.join(', ')}`, 'apt-get install nbd-client, and a kernel with the nbd module'));
    return out;
  },
};
