/** Store: the OCI image layout and SQLite catalog under KILN_HOME, import and export. */
export { openStore, readLayoutIndex, type Store, type StoreOptions, type NewImage, type GcReport } from './store.ts';
export type { ImageRecord } from './catalog.ts';
// Test fixtures (the fake and broken stores, test images, the store contract) are in testing.ts, for tests only.
export type { HomeLayout, CacheKind, BlobRange } from './home-layout.ts';
export type { BlobHold, AddedBlob } from './held-blobs.ts';
export type { VerifyReport } from './verify.ts';
export {
  parseImageRef, parseOwnImageRef, formatImageRef, shortImageName, waltCloneUrl, sameRef, suggestNameFrom, validateUser,
  type ImageRef, type OwnPurpose,
} from './reference.ts';
export {
  REF_NAME_ANNOTATION, hostPlatform, parsePlatform, platformMatches, configLabels,
  parseManifest, parseIndex, parseConfig, manifestKind, renderManifest, isOciManifest,
  type Descriptor, type ImageConfig, type ImageManifest, type ImageIndex, type Platform,
} from './oci.ts';
export { detectImageFormat, parseImageFormat, IMAGE_FORMATS, type ImageFormat } from './import/detect.ts';
export type { ImportOptions, ImportResult } from './import/index.ts';
export type { ExportOptions } from './export.ts';
export { startLayerScan, type LayerScan, type LayerScanResult } from './layer-scan.ts';
export { createLayerScanThread, type LayerScanThread } from './layer-scan-thread.ts';
export type { DiffIdOutcome } from './import/diff-ids.ts';
export { OPAQUE, WHITEOUT, isWhiteoutName } from './whiteout.ts';
export { resolveDirInRoot } from './dir-in-root.ts';
export type { ApplyOptions, ExtractMode } from './extract.ts';
export { importImage, verifyDiffIds, exportImage, unpackLayers, applyLayer } from './lazy.ts';
export { readImageTree, readTreeFiles, treePath, type ImageTree, type TreeEntry, type Resolution, type FileContent, type LayerSource } from './tree.ts';
export { NODE_MODELS, OCI_ARCHITECTURES, MAX_SERVER_VERSION, DEFAULT_SERVER_VERSION, LABELS, labelModels, modelOciArchitectures } from './node-models.ts';
export { type NodeRecord, type NewNode, type DeviceRecord, type LeaseRecord, type NodeTable } from './nodes.ts';
export {
  parseMac, normaliseMac, macWithDashes, validateIp, validateModel, validateNodeName, defaultNodeName, discoveredNodeName, NODE_SET_WORDS,
} from './node-rules.ts';
