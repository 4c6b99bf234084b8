/** Boot: serving nodes (TFTP, HTTP boot, nodes, templates, default images). */
export { isBootFile, type BootFile, type BootMiss, type BootClient, type BootResolver, type BootRequestLog, type BootLogger } from './types.ts';
export { createStoreResolver, clientIp, type StoreResolver, type NodeLookup, type ServerIdentity } from './resolver.ts';
export { createImageFiles, type ImageFiles } from './image-files.ts';
export { createArtifactSource, ARTIFACT_FILES, type ArtifactSource } from './artifacts.ts';
export { createHttpBootServer, type HttpBootServer, type HttpBootOptions } from './http.ts';
export { renderTemplate, templatePaths, WALT_PORTS, type TemplateVariables } from './templates.ts';
export { bootPathFor, parseRange } from './paths.ts';
export { fallbackFile } from './fallback.ts';
export { pruneBootCache } from './prune.ts';
export { createTftpServer, TFTP_DEFAULTS, type TftpServer, type TftpServerConfig, type TftpServerOptions } from './tftp.ts';
export { WALT_NODES_DIR, nodeExportPaths, treeFsid, renderGaneshaConfig, renderKernelExports, sameExports, type NfsNodeExport, type GaneshaListen } from './nfs-exports.ts';
export { createKernelNfsBackend, createGaneshaNfsBackend, type NfsBackend, type KernelNfsOptions, type GaneshaNfsOptions } from './nfs.ts';
export { createNfsTrees, WALT_INIT, type NfsTrees, type NfsTreesOptions } from './nfs-trees.ts';
export { createNfsService, type NfsService, type NfsServiceOptions } from './nfs-service.ts';
export { renderIdentityScript, mergeAuthorizedKeys, renderHosts, renderResolvConf, hostNameServers, shQuote, type IdentityFile } from './identity-script.ts';
export { createIdentityKeys, createIdentityService, type IdentityKeys, type IdentityService, type IdentityServiceOptions, type SshKeyPair } from './identity.ts';
