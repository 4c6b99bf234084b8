/** One file the identity script writes into a node's root (its RAM overlay), byte for byte. */
export interface IdentityFile {
  /** Absolute path in the node's root, e.g. /etc/hostname. */
  path: string;
  content: string | Uint8Array;
  /** Octal permission bits, e.g. 0o600 for a private key. */
  mode: number;
}

/** Single-quotes text for sh: nothing inside single quotes is special but the quote itself. */
export function shQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

const SAFE_PATH = /^(\/[A-Za-z0-9._@+-]+)+$/u;

/**
 * A POSIX sh script (busybox sh) that writes `files` under the directory given as its first
 * argument (default /). Contents are single-quoted printf '%s' arguments, so every byte but NUL
 * round-trips (quotes, backslashes, `$`, newlines, a missing last newline); each file is written
 * with a umask that keeps a private key private from its first byte, then given its mode.
 */
export function renderIdentityScript(files: readonly IdentityFile[], title: string): string {
  const lines = [
    '#!/bin/sh',
    `# ${title.replace(/[\r\n]/gu, ' ')}`,
    '# Written by kiln serve for this node only: files of its identity, written into its root at boot.',
    'root=${1:-/}',
    'root=${root%/}',
    'status=0',
    'kiln_put() {',
    '  mkdir -p "$root${1%/*}" || { status=1; return; }',
    '  rm -f "$root$1"',
    '  (umask 077 && printf \'%s\' "$3" > "$root$1") || { status=1; return; }',
    '  chmod "$2" "$root$1" || status=1',
    '}',
  ];
  for (const file of files) {
    if (!SAFE_PATH.test(file.path) || file.path.split('/').some((p) => p === '..' || p === '.')) throw new RangeError(`identity file path ${JSON.stringify(file.path)} is not a plain absolute path`);
    const text = typeof file.content === 'string' ? file.content : Buffer.from(file.content).toString('utf8');
    if (text.includes('\0')) throw new RangeError(`identity file ${file.path} holds a NUL byte, which sh cannot carry`);
    lines.push(`kiln_put ${file.path} ${(file.mode & 0o7777).toString(8).padStart(4, '0')} ${shQuote(text)}`);
  }
  lines.push('exit $status', '');
  return lines.join('\n');
}

/** The image's own authorized_keys lines kept (in order, without a duplicate of the server's), the server's key last. */
export function mergeAuthorizedKeys(image: string | undefined, serverKey: string): string {
  const key = serverKey.trim();
  const kept = (image ?? '').split('\n').map((l) => l.replace(/\r$/u, '')).filter((l) => l.trim() !== '' && l.trim() !== key);
  return `${[...kept, key].join('\n')}\n`;
}

/** /etc/hosts of a node: loopback names, and its own name on its address (127.0.1.1 when it has none, as Debian does). */
export function renderHosts(name: string, ip: string | undefined): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${ip ?? '127.0.1.1'}\t${name}`,
    '',
  ].join('\n');
}

/** /etc/resolv.conf with these name servers (the resolver reads at most three). */
export function renderResolvConf(servers: readonly string[]): string {
  return `${servers.map((s) => `nameserver ${s}`).join('\n')}\n`;
}

/** The host's name servers from its resolv.conf text, loopback ones (a local cache nodes cannot reach) left out. */
export function hostNameServers(resolvConf: string): string[] {
  return resolvConf.split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/u.exec(l)?.[1])
    .filter((s): s is string => s !== undefined && !s.startsWith('127.') && s !== '::1');
}
