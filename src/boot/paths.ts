/** Pure rules of boot requests: where a requested path leads in an image, and HTTP byte ranges. */

/** A requested path placed under `boot/<model>/`, or refused when ".." climbs out of it. */
export type BootPath = { ok: true; path: string } | { ok: false; reason: 'forbidden'; detail: string };

/**
 * Maps `<path>` asked by a node to `boot/<model>/<path>` (tree form, no leading "/"), as
 * tftpd-hpa's map rule `r .* nodes/\i/tftp/\0` does in WalT. ".." may move inside the
 * model's directory but never above it; NUL and backslashes are refused.
 */
export function bootPathFor(model: string, requested: string): BootPath {
  if (requested.includes('\0') || requested.includes('\\')) return { ok: false, reason: 'forbidden', detail: `refused path ${JSON.stringify(requested)}` };
  const parts: string[] = [];
  for (const part of requested.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return { ok: false, reason: 'forbidden', detail: `${requested} climbs out of /boot/${model}/` };
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  if (parts.length === 0) return { ok: false, reason: 'forbidden', detail: 'no file named' };
  return { ok: true, path: ['boot', model, ...parts].join('/') };
}

/** Normalises a path to its parts, refusing ".." anywhere (artifact routes have no directories to move in). */
export function plainParts(path: string): string[] | undefined {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  return parts.some((p) => p === '..' || p.includes('\0') || p.includes('\\')) ? undefined : parts;
}

/** A parsed `Range` header: none (whole file), one satisfiable range, or unsatisfiable (416). */
export type RangeRequest = { kind: 'none' } | { kind: 'range'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * Parses a single-range `Range: bytes=…` header against a size (RFC 9110 §14.1.2): `a-b`,
 * `a-`, `-n`. A header that is not a single bytes range is ignored (the whole file is sent,
 * as RFC 9110 allows); a range starting at or beyond the end is unsatisfiable.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'none' };
  const match = /^bytes=(\d*)-(\d*)$/u.exec(header.trim());
  if (!match) return { kind: 'none' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'none' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (end < start) return { kind: 'none' };
  return { kind: 'range', start, end };
}

/** True when an `If-None-Match` header matches a strong ETag (a list, or `*`). */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').map((t) => t.trim().replace(/^W\//u, '')).some((t) => t === '*' || t === etag);
}
