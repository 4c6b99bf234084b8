/** OCI image-spec v1.1 and Docker schema2 media types Kiln reads and writes. */
export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
} as const;

const TO_OCI: Readonly<Record<string, string>> = {
  [MediaType.dockerManifest]: MediaType.ociManifest,
  [MediaType.dockerManifestList]: MediaType.ociIndex,
  [MediaType.dockerConfig]: MediaType.ociConfig,
  [MediaType.dockerLayer]: MediaType.ociLayer,
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
  [MediaType.dockerLayerZstd]: MediaType.ociLayerZstd,
  [MediaType.ociManifest]: MediaType.ociManifest,
  [MediaType.ociIndex]: MediaType.ociIndex,
  [MediaType.ociConfig]: MediaType.ociConfig,
  [MediaType.ociLayer]: MediaType.ociLayer,
  [MediaType.ociLayerGzip]: MediaType.ociLayerGzip,
  [MediaType.ociLayerZstd]: MediaType.ociLayerZstd,
};

/** The OCI equivalent of a Docker schema2 media type; OCI types map to themselves. */
export function toOciMediaType(mediaType: string): string | undefined {
  return Object.hasOwn(TO_OCI, mediaType) ? TO_OCI[mediaType] : undefined;
}

/** Compression of a layer, named as in the media type suffix. */
export type Compression = 'none' | 'gzip' | 'zstd';

/** The OCI layer media type for a compression. */
export function layerMediaType(compression: Compression): string {
  if (compression === 'gzip') return MediaType.ociLayerGzip;
  if (compression === 'zstd') return MediaType.ociLayerZstd;
  return MediaType.ociLayer;
}

/** The compression an OCI or Docker layer media type announces, or undefined if not a layer. */
export function layerCompression(mediaType: string): Compression | undefined {
  const oci = toOciMediaType(mediaType);
  if (oci === MediaType.ociLayer) return 'none';
  if (oci === MediaType.ociLayerGzip) return 'gzip';
  if (oci === MediaType.ociLayerZstd) return 'zstd';
  return undefined;
}
