/** URLs in text Kiln prints: credentials written into them (`scheme://user:secret@host`) never reach the output. */

// scheme://userinfo@ — userinfo stops at the first character a host part cannot follow.
const USERINFO_RE = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/giu;

/** Replaces the user and password of every `scheme://user:password@host` in a text by `***`. */
export function redactUrls(text: string): string {
  return text.replace(USERINFO_RE, '$1***@');
}

/** True when a URL (or `[scheme://]user:password@host...` reference) carries a user or password before its host. */
export function hasUserinfo(reference: string): boolean {
  const authority = /^(?:[a-z][a-z0-9+.-]*:\/\/)?([^/?#\s]*)/iu.exec(reference.trim())?.[1] ?? '';
  return authority.includes('@');
}
