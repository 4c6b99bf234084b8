import { KilnError, ErrorCode, type Logger } from '../core/index.ts';
import { formatImageRef, shortImageName, type ImageRecord, type Store } from '../store/index.ts';
import { checkImage, type CheckReport } from './check.ts';
import { formatCheckSummary } from './format.ts';
import { labelModels } from './models.ts';

/** Options of {@link gatePublish}. */
export interface GateOptions {
  /** Let an image that fails the check through (with a warning): `--force`. */
  force: boolean;
  logger: Logger;
  /**
   * `all`: every image is checked (`kiln image publish`: WalT ignores an image without walt.node.models).
   * `node-images`: only images that claim node models (a spec's publish_registry/publish_s3: an image
   * without the label is an OpenCHAMI or plain OCI image, published as built).
   */
  scope: 'all' | 'node-images';
}

/**
 * The publish gate: an image others will clone or boot leaves the store only when it passes the
 * bootability check, unless forced. Returns the report it judged by (undefined when out of scope).
 */
export async function gatePublish(store: Store, record: ImageRecord, options: GateOptions): Promise<CheckReport | undefined> {
  if (options.scope === 'node-images' && labelModels(record.labels).length === 0) return undefined;
  const report = await checkImage(store, record);
  if (report.ok) return report;
  const name = formatImageRef(record.ref);
  if (!options.force) {
    throw new KilnError(ErrorCode.CHECK_FAILED, `${name} fails the bootability check: ${formatCheckSummary(report)}`, {
      hint: `see \`kiln image check ${shortImageName(record.ref)}\`; publish anyway with --force`,
    });
  }
  options.logger.warn(`publishing ${name} although it fails the bootability check (--force)`);
  return report;
}
