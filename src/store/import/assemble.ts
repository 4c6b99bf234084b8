import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { layerCompression, KilnError, ErrorCode, type Digest } from '../../core/index.ts';
import {
  configLabels, isOciManifest, parseConfig, parseManifest, renderManifest, type Descriptor, type ImageConfig,
} from '../oci.ts';
import type { Store } from '../store.ts';
import type { ImageRecord } from '../catalog.ts';
import type { Staging } from '../blobs.ts';
import type { ImageRef } from '../reference.ts';
import type { LayoutSource } from './source.ts';
import { verifyDiffIds } from './diff-ids.ts';

/** Labels to set on an image's config (`--label k=v`); the config and manifest are rewritten. */
export type LabelOverrides = Record<string, string>;

/** Sets labels in a config, returning the new config. */
export function withLabels(config: ImageConfig, labels: LabelOverrides): ImageConfig {
  const given: unknown = config.config;
  const inner = typeof given === 'object' && given !== null && !Array.isArray(given) ? { ...(given as NonNullable<ImageConfig['config']>) } : {};
  inner.Labels = { ...configLabels(config), ...labels };
  return { ...config, config: inner };
}

/**
 * Brings one image manifest and its blobs from a layout source into the store. The
 * manifest is kept byte for byte when it is already OCI and no label changes; otherwise
 * it is rewritten with OCI media types (Docker schema2 input) and the new config.
 */
export async function importManifest(input: {
  store: Store;
  staging: Staging;
  source: LayoutSource;
  descriptor: Descriptor;
  ref: ImageRef;
  labels: LabelOverrides;
  force: boolean;
}): Promise<ImageRecord> {
  const { store, staging, source, descriptor } = input;
  const manifestBytes = await source.readSmall(descriptor);
  const manifest = parseManifest(manifestBytes, `${source.what} manifest ${descriptor.digest}`);
  let config = parseConfig(await source.readSmall(manifest.config), `${source.what} config ${manifest.config.digest}`);
  const inStore = (d: Digest): boolean => store.hasBlob(d);
  for (const layer of manifest.layers) await source.provide(layer, staging, inStore);
  await verifyDiffIds({ what: source.what, config, layers: manifest.layers, ledger: source.diffIds, open: layerReader(store, staging) });

  const relabel = Object.keys(input.labels).length > 0;
  if (!relabel && isOciManifest(manifest)) {
    await source.provide(manifest.config, staging, inStore);
    await staging.stageBytes(manifestBytes);
    return store.commitImage(staging, { ref: input.ref, manifestDigest: descriptor.digest, manifestSize: manifestBytes.length, manifest, config }, { force: input.force });
  }
  let configDesc: Descriptor = manifest.config;
  if (relabel) {
    config = withLabels(config, input.labels);
    const staged = await staging.stageBytes(JSON.stringify(config));
    configDesc = { mediaType: manifest.config.mediaType, digest: staged.digest, size: staged.size };
  } else {
    await source.provide(manifest.config, staging, inStore);
  }
  return assembleImage({ store, staging, ref: input.ref, config, configDesc, layers: manifest.layers, annotations: manifest.annotations, force: input.force });
}

/** Reads a layer from the staging area, else from the store (verified as it is read). */
export function layerReader(store: Store, staging: Staging): (layer: Descriptor) => Readable {
  return (layer) => {
    const staged = staging.staged.get(layer.digest);
    return staged ? createReadStream(staged.path) : store.openBlob(layer.digest, layer.size);
  };
}

/** Writes a Kiln-rendered OCI manifest for a staged config and layers, and commits the image. */
export async function assembleImage(input: {
  store: Store;
  staging: Staging;
  ref: ImageRef;
  config: ImageConfig;
  configDesc: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string> | undefined;
  force: boolean;
}): Promise<ImageRecord> {
  for (const layer of input.layers) {
    if (layerCompression(layer.mediaType) === undefined) {
      throw new KilnError(ErrorCode.UNSUPPORTED, `layer ${layer.digest} has unsupported media type ${layer.mediaType}`);
    }
  }
  const text = renderManifest(input.configDesc, input.layers, input.annotations);
  const staged = await input.staging.stageBytes(text);
  const manifest = parseManifest(text, 'rendered manifest');
  return input.store.commitImage(input.staging, {
    ref: input.ref, manifestDigest: staged.digest, manifestSize: staged.size, manifest, config: input.config,
  }, { force: input.force });
}

