// Start-up cost: importing, exporting and unpacking images need the archive readers, the tar
// writers and the layer appliers, about thirty modules that listing images or nodes never
// uses. The door exports these operations through the wrappers below, which load their module
// on the first call; the `typeof import()` types cost nothing at run time.

type ImportModule = typeof import('./import/index.ts');
type DiffIdModule = typeof import('./import/diff-ids.ts');
type ExportModule = typeof import('./export.ts');
type ExtractModule = typeof import('./extract.ts');

/** Imports an OCI layout or archive, a docker-archive or a root filesystem tarball into the store. */
export const importImage: ImportModule['importImage'] = async (...args) => (await import('./import/index.ts')).importImage(...args);

/** Checks an image config's `rootfs.diff_ids` against its layers (those hashed while streaming come from the ledger). */
export const verifyDiffIds: DiffIdModule['verifyDiffIds'] = async (...args) => (await import('./import/diff-ids.ts')).verifyDiffIds(...args);

/** Exports an image of the store: `oci`, `oci-archive`, `docker-archive` or `rootfs`; files appear only when complete. */
export const exportImage: ExportModule['exportImage'] = async (...args) => (await import('./export.ts')).exportImage(...args);

/** Unpacks an image's layers, bottom to top, into an empty directory. */
export const unpackLayers: ExtractModule['unpackLayers'] = async (...args) => (await import('./extract.ts')).unpackLayers(...args);

/** Applies one layer to a root directory with Kiln's own extractor, every path resolved inside the root. */
export const applyLayer: ExtractModule['applyLayer'] = async (...args) => (await import('./extract.ts')).applyLayer(...args);
