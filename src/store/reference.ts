import { KilnError, ErrorCode } from '../core/index.ts';

/** A fully qualified image name: `<user>/<name>:<tag>` (the WalT model). */
export interface ImageRef {
  user: string;
  name: string;
  tag: string;
}

/** WalT's image name rule. */
export const NAME_RE = /^[a-z0-9-]+$/;
/** Login-name-like owners. */
export const USER_RE = /^[a-z0-9_][a-z0-9_.-]{0,63}$/;
/** Docker/OCI tag grammar. */
export const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** Names WalT keeps for itself. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(['default']);

const NAME_HINT = 'an image name is [<user>/]<name>[:<tag>]; <name> uses only a-z, 0-9 and "-", and "default" is reserved';

function invalid(text: string, why: string): KilnError {
  return new KilnError(ErrorCode.INVALID_NAME, `invalid image name "${text}": ${why}`, { hint: NAME_HINT });
}

/** Checks a user name (the owner part of an image name). */
export function validateUser(user: string, text = user): string {
  if (!USER_RE.test(user)) throw invalid(text, `user "${user}" must match ${USER_RE.source}`);
  return user;
}

/**
 * Parses `[<user>/]<name>[:<tag>]`. The owner defaults to `defaultUser`, the tag to `latest`.
 * Reserved names are refused unless `allowReserved` (reading, e.g. a node model's default image).
 */
export function parseImageRef(text: string, defaultUser: string, options: { allowReserved?: boolean } = {}): ImageRef {
  const slash = text.indexOf('/');
  const user = slash < 0 ? defaultUser : text.slice(0, slash);
  const rest = slash < 0 ? text : text.slice(slash + 1);
  const colon = rest.indexOf(':');
  const name = colon < 0 ? rest : rest.slice(0, colon);
  const tag = colon < 0 ? 'latest' : rest.slice(colon + 1);
  if (text === '') throw invalid(text, 'it is empty');
  validateUser(user, text);
  if (!NAME_RE.test(name)) throw invalid(text, `name "${name}" must match ^[a-z0-9-]+$`);
  if (RESERVED_NAMES.has(name) && !options.allowReserved) throw invalid(text, `"${name}" is a reserved name`);
  if (!TAG_RE.test(tag)) throw invalid(text, `tag "${tag}" must match ${TAG_RE.source}`);
  return { user, name, tag };
}

/** Why a name must be the acting user's own: the error tells what was refused and how to go on. */
export type OwnPurpose = 'change' | 'import' | 'clone';

/**
 * The ownership rule: users change, publish, import and clone only under their own name.
 * Parses `[<user>/]<name>[:<tag>]` for `user` and refuses another owner (INVALID_NAME).
 */
export function parseOwnImageRef(text: string, user: string, purpose: OwnPurpose = 'change'): ImageRef {
  const ref = parseImageRef(text, user);
  if (ref.user === user) return ref;
  const name = formatImageRef(ref);
  if (purpose === 'change') {
    throw new KilnError(ErrorCode.INVALID_NAME, `${name} belongs to ${ref.user}, not to you (${user})`, { hint: `copy it first: kiln image duplicate ${name} <name>` });
  }
  const why = purpose === 'import' ? `cannot import as ${name}: images are imported under your own name (${user})` : `cannot clone as ${name}: clones belong to you (${user})`;
  throw new KilnError(ErrorCode.INVALID_NAME, why, { hint: `omit the "${ref.user}/" prefix` });
}

/** `<user>/<name>:<tag>`, the form used in the catalog and as the OCI ref.name annotation. */
export function formatImageRef(ref: ImageRef): string {
  return `${ref.user}/${ref.name}:${ref.tag}`;
}

/** The name as WalT shows it to its owner: `<name>` for tag latest, else `<name>:<tag>`. */
export function shortImageName(ref: ImageRef): string {
  return ref.tag === 'latest' ? ref.name : `${ref.name}:${ref.tag}`;
}

/** The clone URL other users give `kiln image clone` for an image of this store. */
export function waltCloneUrl(ref: ImageRef): string {
  return `walt:${ref.user}/${shortImageName(ref)}`;
}

/** True when two references name the same image. */
export function sameRef(a: ImageRef, b: ImageRef): boolean {
  return a.user === b.user && a.name === b.name && a.tag === b.tag;
}

/**
 * Turns a foreign name (a docker RepoTag, an OCI ref.name, a file name) into a valid Kiln
 * name and tag, or undefined when nothing usable remains.
 */
export function suggestNameFrom(foreign: string): { name: string; tag: string } | undefined {
  let text = foreign.trim();
  let tag = 'latest';
  const lastSlash = text.lastIndexOf('/');
  const colon = text.lastIndexOf(':');
  if (colon > lastSlash) {
    const candidate = text.slice(colon + 1);
    if (TAG_RE.test(candidate)) tag = candidate;
    text = text.slice(0, colon);
  }
  const base = text.slice(text.lastIndexOf('/') + 1).toLowerCase();
  const name = base.replace(/\.(tar|tgz|tar\.gz|tar\.zst|tar\.xz|oci|docker)$/u, '').replace(/[^a-z0-9-]+/gu, '-').replace(/^-+|-+$/gu, '');
  if (name === '' || RESERVED_NAMES.has(name)) return undefined;
  return { name, tag };
}
