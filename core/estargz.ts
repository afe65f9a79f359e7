// The eStargz verdict, pure: from facts the registry activity gathers about each layer (media type,
// annotations, the last 51 bytes of the blob, the digest of the TOC it found), decide whether the
// layer is a valid eStargz layer, and say why not. Format: the stargz-snapshotter eStargz spec.

export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const TOC_DIGEST_ANNOTATION = 'containerd.io/snapshot/stargz/toc.digest';
export const UNCOMPRESSED_SIZE_ANNOTATION = 'io.containers.estargz.uncompressed-size';
export const TOC_TAR_NAME = 'stargz.index.json';
export const FOOTER_SIZE = 51;

export type FooterResult = { ok: true; tocOffset: number } | { ok: false; error: string };

/**
 * Parses an eStargz footer: an empty gzip member whose FEXTRA field is the subfield 'SG', LEN 22,
 * holding "%016x" of the TOC offset followed by "STARGZ".
 */
export function parseFooter(b: Uint8Array): FooterResult {
  if (b.length !== FOOTER_SIZE) return { ok: false, error: `footer is ${b.length} bytes, expected ${FOOTER_SIZE}` };
  if (b[0] !== 0x1f || b[1] !== 0x8b || b[2] !== 8) return { ok: false, error: 'the last 51 bytes are not a gzip member' };
  if (((b[3] ?? 0) & 0x04) === 0) return { ok: false, error: 'the final gzip member has no extra field (not an eStargz footer)' };
  const xlen = (b[10] ?? 0) | ((b[11] ?? 0) << 8);
  if (xlen !== 26) return { ok: false, error: `the footer's extra field is ${xlen} bytes, expected 26` };
  if (b[12] !== 0x53 || b[13] !== 0x47) return { ok: false, error: "the footer's extra subfield is not 'SG'" };
  const len = (b[14] ?? 0) | ((b[15] ?? 0) << 8);
  if (len !== 22) return { ok: false, error: `the footer's SG subfield is ${len} bytes, expected 22` };
  let payload = '';
  for (let i = 16; i < 38; i++) payload += String.fromCharCode(b[i] ?? 0);
  const m = /^([0-9a-f]{16})STARGZ$/.exec(payload);
  if (!m) return { ok: false, error: `the footer payload ${JSON.stringify(payload)} is not <16 hex digits>STARGZ` };
  const tocOffset = parseInt(m[1]!, 16);
  if (!Number.isSafeInteger(tocOffset)) return { ok: false, error: 'the TOC offset is out of range' };
  return { ok: true, tocOffset };
}

/** What the registry activity found out about one layer. */
export interface LayerFacts {
  digest: string;
  mediaType: string;
  size: number;
  annotations: Record<string, string>;
  footer?: FooterResult;
  /** sha256 of the stargz.index.json entry read from the TOC gzip member, when it could be read. */
  tocDigest?: string;
  tocError?: string;
}

export interface LayerVerdict { digest: string; estargz: boolean; reasons: string[] }

export function layerVerdict(f: LayerFacts): LayerVerdict {
  const reasons: string[] = [];
  if (f.mediaType !== OCI_LAYER_GZIP) reasons.push(`media type ${f.mediaType} is not ${OCI_LAYER_GZIP}`);
  const toc = f.annotations[TOC_DIGEST_ANNOTATION];
  if (!toc) reasons.push(`annotation ${TOC_DIGEST_ANNOTATION} is missing`);
  else if (!/^sha256:[0-9a-f]{64}$/.test(toc)) reasons.push(`annotation ${TOC_DIGEST_ANNOTATION} is not a sha256 digest`);
  const usize = f.annotations[UNCOMPRESSED_SIZE_ANNOTATION];
  if (usize === undefined) reasons.push(`annotation ${UNCOMPRESSED_SIZE_ANNOTATION} is missing`);
  else if (!/^\d+$/.test(usize)) reasons.push(`annotation ${UNCOMPRESSED_SIZE_ANNOTATION} is not a byte count`);
  if (!f.footer) reasons.push('the footer was not read');
  else if (!f.footer.ok) reasons.push(`footer: ${f.footer.error}`);
  else if (f.footer.tocOffset >= f.size - FOOTER_SIZE) reasons.push(`footer: TOC offset ${f.footer.tocOffset} is past the end of the layer (${f.size} bytes)`);
  if (f.tocError) reasons.push(`TOC: ${f.tocError}`);
  else if (toc && f.tocDigest && f.tocDigest !== toc) reasons.push(`TOC digest ${f.tocDigest} does not match the annotation ${toc}`);
  else if (toc && f.footer?.ok && !f.tocDigest) reasons.push('TOC: not read');
  return { digest: f.digest, estargz: reasons.length === 0, reasons };
}

export interface ImageVerdict { estargz: boolean; layers: LayerVerdict[]; reason: string }

export function imageVerdict(layers: readonly LayerFacts[]): ImageVerdict {
  const verdicts = layers.map(layerVerdict);
  if (verdicts.length === 0) return { estargz: false, layers: [], reason: 'the image has no layers' };
  const bad = verdicts.filter((v) => !v.estargz);
  if (bad.length === 0) return { estargz: true, layers: verdicts, reason: `all ${verdicts.length} layer${verdicts.length > 1 ? 's are' : ' is'} eStargz` };
  return {
    estargz: false, layers: verdicts,
    reason: `${bad.length} of ${verdicts.length} layers are not eStargz: ${bad.map((v) => `${v.digest.slice(0, 19)}: ${v.reasons.join(', ')}`).join('; ')}`,
  };
}
