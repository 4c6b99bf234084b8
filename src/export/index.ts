/** Export: boot artifacts (SquashFS/EROFS root filesystems, kernel, initramfs, manifest.json, boot.ipxe) to disk or S3. */
export { exportBootArtifacts, type BootExportOptions, type BootExportResult } from './export.ts';
export { parseDestination, parseLayout, parseOsRelease, artifactNames, LAYOUTS, type Destination, type Layout, type OsRelease } from './names.ts';
export { BOOT_FORMATS, COMPRESSIONS, parseChoice, parseCompressionLevel, renderManifest, exportCacheKey, type BootManifest, type RootfsCompression } from './manifest.ts';
export { renderIpxeScript, kernelParameters, detectInitramfs, type InitramfsKind } from './ipxe.ts';
export { compareKernelVersions, findBootPairs, chooseBootPair, type BootPair } from './kernel.ts';
export { s3ClientConfig, s3Endpoint, s3BaseUrl } from './s3.ts';
export { pruneExportCache } from './cache.ts';
export { extractFiles, type ExtractedFile, type LayerSource as FileSource } from './extract.ts';
export { DEFAULT_GZIP_LEVEL } from './squashfs-rootfs.ts';
