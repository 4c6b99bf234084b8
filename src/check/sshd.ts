/** The settings of an OpenSSH server that decide whether WalT can log in as root. */
export interface SshdSettings {
  ports: number[];
  permitRootLogin: string;
  pubkeyAuthentication: string;
  authorizedKeysFiles: string[];
  /** Files read, in order (sshd_config, then includes where they appear). */
  files: string[];
  /** Include patterns whose files were not loaded yet (the caller loads them and asks again). */
  pendingIncludes: string[];
  problems: string[];
}

const MAX_DEPTH = 16;

/**
 * Evaluates sshd_config as sshd does (pure): keywords are case-insensitive, the first value
 * of a keyword wins (Port accumulates), Include pulls files in place (relative to /etc/ssh,
 * globs sorted), and lines inside Match blocks do not change the global settings.
 */
export function evaluateSshdConfig(
  read: (path: string) => string | undefined,
  glob: (pattern: string) => string[],
  main = 'etc/ssh/sshd_config',
): SshdSettings {
  const first = new Map<string, string[]>();
  const ports: number[] = [];
  const listenPorts: number[] = [];
  let listenWithoutPort = false;
  const out: SshdSettings = { ports: [], permitRootLogin: '', pubkeyAuthentication: '', authorizedKeysFiles: [], files: [], pendingIncludes: [], problems: [] };
  const visit = (path: string, depth: number): void => {
    if (depth > MAX_DEPTH) {
      out.problems.push(`Include nesting deeper than ${MAX_DEPTH} at /${path}`);
      return;
    }
    const text = read(path);
    if (text === undefined) return;
    out.files.push(path);
    let inMatch = false;
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(line);
      const key = (m?.[1] ?? line).toLowerCase();
      const args = (m?.[2] ?? '').trim().split(/\s+/).filter(Boolean).map((a) => a.replace(/^"(.*)"$/, '$1'));
      if (key === 'match') {
        inMatch = !(args.length === 1 && args[0]?.toLowerCase() === 'all');
        continue;
      }
      if (key === 'include') {
        for (const pattern of args) {
          const absolute = pattern.startsWith('/') ? pattern.slice(1) : `etc/ssh/${pattern}`;
          const matches = glob(absolute);
          for (const file of matches) {
            if (read(file) === undefined) out.pendingIncludes.push(file);
            else visit(file, depth + 1);
          }
        }
        continue;
      }
      if (inMatch) continue;
      if (key === 'port') {
        for (const a of args) ports.push(Number(a));
      } else if (key === 'listenaddress') {
        const pm = /^(?:\[.*\]|[^:\s]+):(\d+)$/.exec(args[0] ?? '');
        if (pm) listenPorts.push(Number(pm[1]));
        else listenWithoutPort = true;
      } else if (!first.has(key)) {
        first.set(key, args);
      }
    }
  };
  visit(main, 0);
  const base = ports.length > 0 ? ports : [22];
  out.ports = [...new Set([...(listenPorts.length === 0 || listenWithoutPort ? base : []), ...listenPorts])];
  out.permitRootLogin = (first.get('permitrootlogin')?.[0] ?? 'prohibit-password').toLowerCase();
  out.pubkeyAuthentication = (first.get('pubkeyauthentication')?.[0] ?? 'yes').toLowerCase();
  out.authorizedKeysFiles = first.get('authorizedkeysfile') ?? ['.ssh/authorized_keys', '.ssh/authorized_keys2'];
  return out;
}

/** Include targets named in a config text (patterns, relative to /etc/ssh when not absolute), for loading. */
export function sshdIncludePatterns(text: string): string[] {
  const patterns: string[] = [];
  for (const raw of text.split('\n')) {
    const m = /^\s*include(?:\s*=\s*|\s+)(.*)$/i.exec(raw);
    if (!m) continue;
    for (const p of (m[1] as string).trim().split(/\s+/)) patterns.push(p.startsWith('/') ? p.slice(1) : `etc/ssh/${p}`);
  }
  return patterns;
}
