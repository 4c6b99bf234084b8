import { KilnError, ErrorCode } from '../core/index.ts';
import type { RegistryConfig } from '../config/index.ts';

/** A parsed clone URL: `<location>:<user>/<name>[:<tag>]`. */
export interface CloneUrl {
  /** `walt`, `docker`, or a registry label (`hub` for Docker Hub). */
  location: string;
  user: string;
  name: string;
  tag: string;
}

const FORMS = 'walt:user/name[:tag], hub:user/name[:tag], docker:user/name[:tag] or <label>:user/name[:tag]';
const URL_RE = /^([a-z0-9][a-z0-9_-]*):([a-z0-9][a-z0-9_.-]*)\/([a-z0-9][a-z0-9_.-]*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?$/u;

/** Parses a clone URL; the location must be walt, docker, or a configured registry label. */
export function parseCloneUrl(text: string, registries: readonly RegistryConfig[]): CloneUrl {
  const m = URL_RE.exec(text);
  if (!m) {
    throw new KilnError(ErrorCode.USAGE, `invalid clone URL "${text}"`, { hint: `a clone URL is ${FORMS}; \`kiln image search\` prints them` });
  }
  const [, location, user, name, tag] = m as unknown as [string, string, string, string, string | undefined];
  const known = ['walt', 'docker', ...registries.map((r) => r.label)];
  if (!known.includes(location)) {
    const why = location === 'hub' ? 'Docker Hub is not configured' : `no registry is labelled "${location}"`;
    throw new KilnError(ErrorCode.CONFIG, `unknown location "${location}" in clone URL "${text}": ${why}`, {
      hint: `known locations: ${known.join(', ')}; \`kiln registry list\` shows the registries of kiln.yaml`,
    });
  }
  return { location, user, name, tag: tag ?? 'latest' };
}

/** Formats a clone URL the way WalT prints it (`:latest` left out). */
export function formatCloneUrl(url: CloneUrl): string {
  return `${url.location}:${url.user}/${url.name}${url.tag === 'latest' ? '' : `:${url.tag}`}`;
}

/** The configured registry of a label, or a CONFIG error naming the known ones. */
export function findRegistry(registries: readonly RegistryConfig[], label: string): RegistryConfig {
  const found = registries.find((r) => r.label === label);
  if (!found) {
    throw new KilnError(ErrorCode.CONFIG, `unknown registry "${label}"`, {
      hint: registries.length > 0 ? `configured registries: ${registries.map((r) => r.label).join(', ')} (kiln registry list)` : 'no registry is configured: add one to the registries list of kiln.yaml',
    });
  }
  return found;
}
