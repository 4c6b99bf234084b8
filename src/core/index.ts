/** Core: errors, digests, media types, external tools, atomic files, logging. */
export { KilnError, ErrorCode, DEFAULT_HINTS, isKilnError, isErrno, type KilnErrorOptions } from './errors.ts';
export { type Digest, parseDigest, isDigest, digestHex, digestOf, HashingStream, assertContent } from './digest.ts';
export { MediaType, toOciMediaType, layerMediaType, layerCompression, type Compression } from './media-types.ts';
export { run, start, spawnError, toolMissing, TOOL_PACKAGES, type RunOptions, type RunningTool } from './run.ts';
export { writeFileAtomic, writeFileReplacing, tempSiblingOwner, writeFileSynced, syncDir, syncPath, isProcessAlive, tempSibling, makeWorkDir, workDirOwner, removeTree, pathExists } from './fs.ts';
export { isStaleWork, leases, createLeaseKeeper, LEASE_HEARTBEAT_MS, LEASE_MAX_AGE_MS, type LeaseKeeper, type StaleWorkOptions } from './lease.ts';
export { sniffCompression, sniffFileCompression, createDecompressor, decompressedStream, assertLayerCompression, type SniffedCompression } from './compression.ts';
export { type Logger, silentLogger, createLogger } from './log.ts';
export { TeeStream } from './tee.ts';
export { readTarEntries, safeMemberName, tarStream, type TarEntryHeader } from './tar-read.ts';
export { TarScanner, scanTarFile, walkTarFile } from './tar-scan.ts';
export { readTarMembers } from './tar-members.ts';
export { configureTarLimits, tarLimits, DEFAULT_TAR_LIMITS, type TarLimits } from './tar-limits.ts';
export { decodeTarHeader, encodeDirectoryHeader, applyTarMeta, isTarHeader, parseTarNumber, parsePaxRecords, tarText, paddedSize, TAR_BLOCK, type ScannedMember, type PendingMeta, type DecodedHeader } from './tar-header.ts';
export { type Progress, type ProgressTask, silentProgress, createTerminalProgress, progressStream } from './progress.ts';
export { resolveInRoot, resolveInRootSync, mkdirInRoot, writeFileInRoot, removeInRoot, existsInRoot, MAX_SYMLINKS, type InRootPath, type ResolveOptions } from './in-root.ts';
export { redactUrls, redactUserinfo, hasUserinfo } from './url.ts';
export { ipv4ToNumber, numberToIpv4, prefixMask, inIpv4Subnet } from './ipv4.ts';
