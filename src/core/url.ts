/** URLs in text Kiln prints: credentials written into them (`scheme://user:secret@host`) never reach the output. */

// scheme://userinfo@ — userinfo stops at the first character a host part cannot follow.
const USERINFO_RE = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*(?:@[^\s/?#@]*)*@/giu;

/** Replaces the user and password of every `scheme://user:password@host` in a text by `***`. */
export function redactUrls(text: string): string {
  return text.replace(USERINFO_RE, '$1***@');
}

/**
 * True when a URL, or a `user:password@host/path` reference without scheme, carries a user or
 * password before its host. (`name@sha256:…` without a slash is a digest reference, not that.)
 */
export function hasUserinfo(reference: string): boolean {
  const m = /^(?:[a-z][a-z0-9+.-]*:\/\/([^/?#\s]*)|([^/?#\s]*)\/)/iu.exec(reference.trim());
  return (m?.[1] ?? m?.[2] ?? '').includes('@');
}

/** A reference (`[scheme://][user:password@]host...`) with its user and password replaced by `***`. */
export function redactUserinfo(reference: string): string {
  return reference.replace(/^((?:[a-z][a-z0-9+.-]*:\/\/)?)[^/?#\s]*@/iu, '$1***@');
}
