import { KilnError, ErrorCode, redactUrls, type KilnErrorOptions } from '../core/index.ts';

/** One entry of a Distribution error response's `errors[]` (distribution-spec, "Error Codes"). */
export interface DistributionError {
  code: string;
  message?: string;
  detail?: unknown;
}

/** A registry failure: the HTTP status, the spec's `errors[]`, and whether trying again may help. */
export class RegistryError extends KilnError {
  readonly status: number | undefined;
  readonly errors: readonly DistributionError[];
  readonly retryable: boolean;

  constructor(
    code: ErrorCode,
    message: string,
    options: KilnErrorOptions & { status?: number; errors?: DistributionError[]; retryable?: boolean } = {},
  ) {
    super(code, message, options);
    this.name = 'RegistryError';
    this.status = options.status;
    this.errors = options.errors ?? [];
    this.retryable = options.retryable ?? false;
  }
}

/** True when an error is worth another attempt (429, 5xx, a dropped connection). */
export function isRetryable(err: unknown): boolean {
  return err instanceof RegistryError && err.retryable;
}

const BODY_LIMIT = 64 * 1024;

/** Reads at most 64 KiB of an error response body and extracts its `errors[]`. */
async function readErrors(res: Response): Promise<DistributionError[]> {
  if (!res.body) return [];
  let text = '';
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  try {
    while (text.length < BODY_LIMIT) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  try {
    const doc = JSON.parse(text) as { errors?: unknown };
    if (!Array.isArray(doc.errors)) return [];
    return doc.errors.filter((e): e is DistributionError => typeof e === 'object' && e !== null && typeof (e as DistributionError).code === 'string');
  } catch {
    return []; // not JSON (a proxy's HTML page): the status says enough
  }
}

const NOT_FOUND_CODES = new Set(['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'BLOB_UPLOAD_UNKNOWN']);

/** Turns a failed registry response into a RegistryError naming the registry, what was asked, and what to do. */
export async function responseError(res: Response, what: string, label: string): Promise<RegistryError> {
  const errors = await readErrors(res);
  const status = res.status;
  const said = errors.map((e) => `${e.code}${e.message ? `: ${e.message}` : ''}`).join('; ');
  const detail = said ? ` (${said})` : '';
  const base = { status, errors };
  if (status === 401) {
    return new RegistryError(ErrorCode.AUTH, `${label}: ${what}: authentication required or refused${detail}`, {
      ...base, hint: `run \`kiln login ${label}\` (or check the user name and password you gave it)`,
    });
  }
  if (status === 403) {
    return new RegistryError(ErrorCode.AUTH, `${label}: ${what}: access denied${detail}`, {
      ...base, hint: `log in as a user allowed to do this: kiln login ${label}`,
    });
  }
  if (status === 404 || errors.some((e) => NOT_FOUND_CODES.has(e.code))) {
    return new RegistryError(ErrorCode.NOT_FOUND, `${label}: ${what}: not found${detail}`, {
      ...base, hint: 'check the clone URL; `kiln image search` lists the images of every registry',
    });
  }
  if (status === 429 || (status >= 500 && status !== 501 && status !== 505)) {
    return new RegistryError(ErrorCode.NETWORK, `${label}: ${what}: the registry answered ${status} ${res.statusText}${detail}`, {
      ...base, retryable: true, hint: 'the registry is overloaded or failing; try again later',
    });
  }
  if (errors.some((e) => e.code === 'DIGEST_INVALID')) {
    return new RegistryError(ErrorCode.DIGEST_MISMATCH, `${label}: ${what}: the registry refused the content's digest${detail}`, base);
  }
  return new RegistryError(ErrorCode.UNSUPPORTED, `${label}: ${what}: the registry answered ${status} ${res.statusText}${detail}`, {
    ...base, hint: 'the registry does not support this request, or refused its content',
  });
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);
const WRONG_PROTOCOL_CODES = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'EPROTO', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'HPE_INVALID_CONSTANT', 'UND_ERR_SOCKET']);
// A refused connection is not retried: an unreachable location must fail fast.
const RETRY_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ECONNABORTED']);

/** The errno-like code of a fetch failure (fetch wraps the socket error in `cause`). */
export function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e instanceof Error; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
    e = e.cause;
  }
  return undefined;
}

/** Turns a failure to reach a registry (DNS, refused, TLS, timeout) into a RegistryError with the fix to try. */
export function networkError(err: unknown, label: string, rawUrl: string, protocol: string): RegistryError {
  if (err instanceof RegistryError) return err;
  const url = redactUrls(rawUrl);
  const code = causeCode(err);
  const name = err instanceof Error ? err.name : '';
  const origin = URL.canParse(url) && url.startsWith('http') ? new URL(url).origin : url;
  if (code !== undefined && TLS_CODES.has(code)) {
    return new RegistryError(ErrorCode.NETWORK, `${label}: TLS certificate of ${origin} not trusted (${code})`, {
      cause: err, hint: `install the registry's CA certificate, or set "protocol: https-no-verify" for ${label} in kiln.yaml`,
    });
  }
  if (code !== undefined && WRONG_PROTOCOL_CODES.has(code) && protocol !== 'http') {
    return new RegistryError(ErrorCode.NETWORK, `${label}: ${origin} does not speak TLS (${code})`, {
      cause: err, retryable: code === 'UND_ERR_SOCKET', hint: `if the registry serves plain HTTP, set "protocol: http" for ${label} in kiln.yaml`,
    });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new RegistryError(ErrorCode.NETWORK, `${label}: cannot resolve the host of ${origin} (${code})`, {
      cause: err, hint: `check the host of ${label} in kiln.yaml, the DNS configuration and the network`,
    });
  }
  if (name === 'TimeoutError') {
    return new RegistryError(ErrorCode.NETWORK, `${label}: ${url} did not answer in time`, { cause: err, retryable: true });
  }
  if (name === 'AbortError') return new RegistryError(ErrorCode.NETWORK, `${label}: request to ${url} aborted`, { cause: err });
  return new RegistryError(ErrorCode.NETWORK, `${label}: cannot reach ${url}${code ? ` (${code})` : ''}`, {
    cause: err, retryable: code !== undefined && RETRY_CODES.has(code),
  });
}

const STALL_WORDS = { answer: 'no answer', upload: 'the server stopped taking the upload', download: 'the download stopped' } as const;

/** The error of a transfer that stayed silent for network_idle_timeout: not retried, since waiting again would double the wait. */
export function idleError(label: string, what: string, url: string, idleMs: number, phase: keyof typeof STALL_WORDS): RegistryError {
  const where = /^https?:/u.test(url) && URL.canParse(url) ? new URL(url).origin : redactUrls(url);
  return new RegistryError(ErrorCode.NETWORK, `${label}: ${what}: ${STALL_WORDS[phase]} (nothing from ${where} for ${idleMs / 1000} s)`, {
    hint: `the server stopped answering; once it is back, run the command again (a clone resumes where it stopped, a publish skips the blobs already sent). The wait is the network_idle_timeout setting (KILN_NETWORK_IDLE_TIMEOUT, seconds)`,
  });
}
