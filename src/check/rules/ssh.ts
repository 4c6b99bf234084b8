import type { CheckInput, Finding, Need, Rule } from '../types.ts';
import { evaluateSshdConfig, sshdIncludePatterns } from '../sshd.ts';
import { globTree, loaded, loadedText, locateFile, needFile } from '../view.ts';

const SSHD_CONFIG = 'etc/ssh/sshd_config';
const DROPBEAR_DEFAULTS = 'etc/default/dropbear';
const ROOT_OK = new Set(['yes', 'prohibit-password', 'without-password']);

function readOpenSsh(input: CheckInput) {
  return evaluateSshdConfig((p) => loadedText(input, p), (pattern) => globTree(input.tree, pattern));
}

/** Ports dropbear listens on, and whether it refuses root, from /etc/default/dropbear. */
function dropbearSettings(text: string | undefined): { ports: string[]; noRoot: boolean; noStart: boolean } {
  const vars = new Map<string, string>();
  for (const m of (text ?? '').matchAll(/^\s*([A-Z_]+)=(?:"([^"]*)"|'([^']*)'|(\S*))/gm)) vars.set(m[1] as string, m[2] ?? m[3] ?? m[4] ?? '');
  const args = `${vars.get('DROPBEAR_EXTRA_ARGS') ?? ''} ${vars.get('DROPBEAR_ARGS') ?? ''}`.split(/\s+/).filter(Boolean);
  const ports: string[] = [];
  let noRoot = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-w') noRoot = true;
    if (a === '-p') ports.push((args[++i] ?? '').replace(/^.*:/, ''));
    else if (a.startsWith('-p')) ports.push(a.slice(2).replace(/^.*:/, ''));
  }
  if (vars.has('DROPBEAR_PORT')) ports.push(vars.get('DROPBEAR_PORT') as string);
  return { ports: ports.length > 0 ? ports : ['22'], noRoot, noStart: vars.get('NO_START') === '1' };
}

/** An ssh server listening on port 22 that lets root in with a public key (seed 001, B.7). */
export const sshServer: Rule = {
  id: 'ssh',
  needs: (input) => {
    const needs: Need[] = [needFile(SSHD_CONFIG), needFile(DROPBEAR_DEFAULTS)];
    for (const file of globTree(input.tree, 'etc/ssh/sshd_config.d/*')) needs.push(needFile(file));
    // Includes elsewhere are found once the files naming them are loaded.
    for (const [path, content] of input.files) {
      if (!path.startsWith('etc/ssh/') || !content.ok) continue;
      for (const pattern of sshdIncludePatterns(content.data.toString('utf8'))) for (const f of globTree(input.tree, pattern)) needs.push(needFile(f));
    }
    return needs;
  },
  evaluate: (input): Finding[] => {
    const base = { id: 'ssh', requirement: 'ssh server on port 22, root login with a public key', mandatory: true } as const;
    const sshd = ['usr/sbin/sshd', 'sbin/sshd'].map((p) => locateFile(input.tree, p)).find((l) => l.ok);
    const dropbear = ['usr/sbin/dropbear', 'sbin/dropbear'].map((p) => locateFile(input.tree, p)).find((l) => l.ok);
    if (sshd?.ok) {
      const settings = readOpenSsh(input);
      const problems: string[] = [...settings.problems];
      if (!settings.ports.includes(22)) problems.push(`listens on port ${settings.ports.join(', ')}, not 22`);
      if (!ROOT_OK.has(settings.permitRootLogin)) problems.push(`PermitRootLogin ${settings.permitRootLogin}`);
      if (settings.pubkeyAuthentication !== 'yes') problems.push(`PubkeyAuthentication ${settings.pubkeyAuthentication}`);
      if (!settings.authorizedKeysFiles.some((f) => /^(?:%h\/|\/root\/)?\.ssh\/authorized_keys$/.test(f))) problems.push(`AuthorizedKeysFile ${settings.authorizedKeysFiles.join(' ')} leaves out .ssh/authorized_keys`);
      const files = settings.files.length > 0 ? settings.files.map((f) => `/${f}`).join(', ') : 'no sshd_config: built-in defaults';
      if (problems.length > 0) {
        return [{ ...base, status: 'fail', found: `OpenSSH: ${problems.join('; ')} (from ${files})`, fix: 'set "PermitRootLogin prohibit-password", "PubkeyAuthentication yes" and "Port 22" in /etc/ssh/sshd_config (first value wins: check sshd_config.d/ drop-ins, which Debian includes first)' }];
      }
      return [{ ...base, status: 'pass', found: `OpenSSH, port 22, PermitRootLogin ${settings.permitRootLogin} (from ${files})` }];
    }
    if (dropbear?.ok) {
      const d = dropbearSettings(loadedText(input, DROPBEAR_DEFAULTS));
      const problems = [...(d.noRoot ? ['-w refuses root logins'] : []), ...(!d.ports.includes('22') ? [`port ${d.ports.join(', ')}`] : []), ...(d.noStart ? ['NO_START=1'] : [])];
      const from = loaded(input, DROPBEAR_DEFAULTS)?.ok ? ' (from /etc/default/dropbear)' : '';
      if (problems.length > 0) return [{ ...base, status: 'fail', found: `dropbear: ${problems.join('; ')}${from}`, fix: 'in /etc/default/dropbear, drop -w and -p, or use -p 22' }];
      return [{ ...base, status: 'pass', found: `dropbear, port 22, root allowed${from}` }];
    }
    return [{ ...base, status: 'fail', found: 'no sshd or dropbear binary', fix: 'install an ssh server: apt-get install openssh-server (or dropbear for low-power devices)' }];
  },
};
