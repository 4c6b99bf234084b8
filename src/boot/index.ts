/** Boot: serving nodes (TFTP, HTTP boot, nodes, templates, default images). */
export { isBootFile, type BootFile, type BootMiss, type BootClient, type BootResolver, type BootRequestLog, type BootLogger } from './types.ts';
export { createTftpServer, TFTP_DEFAULTS, type TftpServer, type TftpServerConfig, type TftpServerOptions } from './tftp.ts';
