import { createReadStream } from 'node:fs';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { KilnError, ErrorCode, hasUserinfo, redactUrls, redactUserinfo } from '../core/index.ts';
import type { ArtifactSink, SinkItem } from './sink.ts';

/** How to reach S3. */
export interface S3Options {
  bucket: string;
  /** --s3-endpoint, else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL; undefined: AWS itself. */
  endpoint?: string | undefined;
  createBucket?: boolean;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal | undefined;
  /** Parallel parts per upload, and part size (bytes held in memory: queueSize × partSize). */
  queueSize?: number;
  partSize?: number;
  /** network_idle_timeout (ms): a connection or transfer without a byte for this long fails. */
  idleTimeoutMs?: number | undefined;
}

/** The default of network_idle_timeout. */
const DEFAULT_IDLE_TIMEOUT = 60_000;
/** Attempts of each S3 request (the SDK's standard retries; after a stall the later attempts fail at once, see createS3Sink). */
const MAX_ATTEMPTS = 3;

/** Refuses an endpoint URL that carries credentials (they would be printed, and S3 reads them from the environment). */
export function checkS3Endpoint(endpoint: string, what = 'S3 endpoint'): void {
  if (!hasUserinfo(endpoint)) return;
  throw new KilnError(ErrorCode.CONFIG, `${what} ${redactUserinfo(endpoint)} has a user or password in it`, {
    hint: 'remove them from the URL; give S3 credentials through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or OpenCHAMI\'s S3_ACCESS/S3_SECRET); registries take theirs from `kiln login`',
  });
}

/** The endpoint to use: the option, else the AWS standard environment variables; refused when it carries credentials. */
export function s3Endpoint(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const endpoint = option ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? undefined;
  if (endpoint !== undefined) checkS3Endpoint(endpoint);
  return endpoint;
}

/**
 * Client configuration: credentials from the AWS standard chain (AWS_ACCESS_KEY_ID…,
 * AWS_PROFILE and ~/.aws files, SSO, instance roles), or OpenCHAMI's S3_ACCESS/S3_SECRET
 * when the AWS variables are not set. A custom endpoint (MinIO, Ceph) gets path-style
 * addressing and region us-east-1 unless AWS_REGION says otherwise.
 */
export function s3ClientConfig(endpoint: string | undefined, env: NodeJS.ProcessEnv = process.env, idleTimeoutMs = DEFAULT_IDLE_TIMEOUT): S3ClientConfig {
  const config: S3ClientConfig = {
    // Checksums only where S3 requires them: MinIO, Ceph and older servers reject the
    // aws-chunked trailers the SDK sends by default.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // The node:http handler's connect limit and socket inactivity limit (both directions):
    // a server that stops answering fails the request instead of holding it forever.
    requestHandler: { connectionTimeout: idleTimeoutMs, socketTimeout: idleTimeoutMs },
    maxAttempts: MAX_ATTEMPTS,
  };
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (endpoint ? 'us-east-1' : undefined);
  if (region) config.region = region;
  if (endpoint) {
    config.endpoint = endpoint;
    config.forcePathStyle = true;
  }
  if (!env.AWS_ACCESS_KEY_ID && !env.AWS_PROFILE && env.S3_ACCESS && env.S3_SECRET) {
    config.credentials = { accessKeyId: env.S3_ACCESS, secretAccessKey: env.S3_SECRET };
  }
  return config;
}

/** The URL an object of the bucket is served at (path style under a custom endpoint). */
export function s3BaseUrl(bucket: string, endpoint: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (endpoint) return `${redactUrls(endpoint).replace(/\/+$/, '')}/${bucket}/`;
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  return `https://${bucket}.s3.${region}.amazonaws.com/`;
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/** A request the node:http handler gave up on after the idle timeout (connect or socket inactivity). */
function isStall(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || (err as NodeJS.ErrnoException).code === 'ETIMEDOUT');
}

/** Converts an SDK error to a KilnError that names the operation, never the credentials. */
function s3Error(err: unknown, what: string): KilnError {
  if (err instanceof KilnError) return err;
  const status = statusOf(err);
  const name = err instanceof Error ? err.name : 'Error';
  const text = redactUrls(err instanceof Error ? err.message : String(err));
  if (isStall(err)) {
    return new KilnError(ErrorCode.NETWORK, `S3 ${what}: the server stopped answering (${text})`, {
      cause: err,
      hint: 'check the S3 server, then run the command again (objects already written are not sent again). The wait is the network_idle_timeout setting (KILN_NETWORK_IDLE_TIMEOUT, seconds)',
    });
  }
  if (status === 403 || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'CredentialsProviderError') {
    return new KilnError(ErrorCode.CONFIG, `S3 refused ${what}: ${name}`, {
      cause: err,
      hint: 'set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or OpenCHAMI\'s S3_ACCESS/S3_SECRET) for an account that may write there',
    });
  }
  return new KilnError(ErrorCode.IO, `S3 ${what} failed: ${name}${status ? ` (HTTP ${status})` : ''}: ${text}`, {
    cause: err,
    hint: 'check --s3-endpoint (or AWS_ENDPOINT_URL), the network, and the bucket; run the command again once fixed',
  });
}

/**
 * Writes into a bucket. An object whose `sha256` metadata and size already match is not
 * sent again. Uploads stream from disk with lib-storage's parallel multipart upload; S3
 * makes an object visible only when its PUT or multipart completion succeeds, so a
 * failed upload never leaves a partial object under the final key (and its parts are
 * aborted).
 */
export async function createS3Sink(options: S3Options): Promise<ArtifactSink> {
  // Loaded on first use: the SDK costs about 100 ms of start-up that other commands need not pay.
  const { CreateBucketCommand, HeadBucketCommand, HeadObjectCommand, S3Client } = await import('@aws-sdk/client-s3');
  const { Upload } = await import('@aws-sdk/lib-storage');
  const env = options.env ?? process.env;
  const client = new S3Client(s3ClientConfig(options.endpoint, env, options.idleTimeoutMs));
  // Once one request found the server silent for the idle timeout, the SDK's retries and the
  // other parts' next attempts fail at once instead of each waiting as long again.
  let stalled: Error | undefined;
  client.middlewareStack.add((next) => async (args) => {
    if (stalled) throw stalled;
    try {
      return await next(args);
    } catch (err) {
      if (isStall(err)) stalled ??= err as Error;
      throw err;
    }
  }, { step: 'deserialize', name: 'kilnStallMiddleware' });
  const { bucket } = options;
  const signal = options.signal;
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
  } catch (err) {
    if (statusOf(err) !== 404 && (err as Error).name !== 'NotFound' && (err as Error).name !== 'NoSuchBucket') throw s3Error(err, `access to bucket ${bucket}`);
    if (!options.createBucket) {
      throw new KilnError(ErrorCode.NOT_FOUND, `S3 bucket ${bucket} does not exist`, { hint: 'create it, or pass --create-bucket' });
    }
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }), { abortSignal: signal });
    } catch (createErr) {
      throw s3Error(createErr, `creation of bucket ${bucket}`);
    }
  }
  return {
    describe: (key) => `s3://${bucket}/${key}`,
    put: async (item: SinkItem) => {
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: item.key }), { abortSignal: signal });
        if (head.Metadata?.sha256 === item.sha256 && head.ContentLength === item.size) return 'unchanged';
      } catch (err) {
        if (statusOf(err) !== 404 && (err as Error).name !== 'NotFound') throw s3Error(err, `check of s3://${bucket}/${item.key}`);
      }
      const body = item.file !== undefined ? createReadStream(item.file) : (item.text ?? '');
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key: item.key, Body: body, ContentType: item.contentType, ContentLength: item.size, Metadata: { sha256: item.sha256 } },
        queueSize: options.queueSize ?? 4,
        partSize: options.partSize ?? 16 * 1024 * 1024,
        leavePartsOnError: false,
      });
      const abort = (): void => void upload.abort();
      signal?.addEventListener('abort', abort, { once: true });
      try {
        await upload.done();
      } catch (err) {
        throw s3Error(err, `upload of s3://${bucket}/${item.key}`);
      } finally {
        signal?.removeEventListener('abort', abort);
        if (typeof body !== 'string') body.destroy();
      }
      return 'written';
    },
  };
}
