import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, as a receiver checks them.
 *
 * Every webhook POST carries the header
 *
 *     Custos-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * where `secret` is the string returned once when the webhook was created (its UTF-8 bytes are
 * the HMAC key, used as given, not hex-decoded) and `<raw body>` is the request body exactly as
 * received, before any JSON parsing. The timestamp is inside the MAC, so a captured request
 * cannot be replayed after the tolerance window (default 5 minutes); receivers should also drop
 * repeats of the `Custos-Delivery` id, since delivery is at least once. Several `v1=` entries may
 * appear (one per secret while a secret is being rotated); one valid entry suffices.
 */
export const SIGNATURE_HEADER = 'Custos-Signature';
export const DEFAULT_TOLERANCE_SECONDS = 300;

const MAX_HEADER_LENGTH = 1024;

function mac(secret: string, body: string, timestampSeconds: number): Buffer {
  return createHmac('sha256', secret).update(`${timestampSeconds}.${body}`, 'utf8').digest();
}

/** The `Custos-Signature` header value for `body` sent at `timestampSeconds`. */
export function signWebhook(secret: string, body: string, timestampSeconds: number): string {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) throw new RangeError('timestamp must be a non-negative integer number of seconds');
  return `t=${timestampSeconds},v1=${mac(secret, body, timestampSeconds).toString('hex')}`;
}

/**
 * True iff `header` is well formed, its timestamp is within `toleranceSeconds` of `nowSeconds`
 * (either side: a clock far ahead is refused like one far behind), and one of its `v1` MACs
 * matches `body` under `secret`. Never throws on hostile input.
 */
export function verifyWebhook(secret: string, header: string | undefined, body: string, nowSeconds: number, toleranceSeconds = DEFAULT_TOLERANCE_SECONDS): boolean {
  if (typeof header !== 'string' || header.length > MAX_HEADER_LENGTH) return false;
  let t: number | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const m = /^\s*([a-z0-9]+)=([^\s,]*)\s*$/.exec(part);
    if (!m) return false;
    if (m[1] === 't') {
      if (t !== undefined || !/^[0-9]{1,15}$/.test(m[2])) return false;
      t = Number(m[2]);
    } else if (m[1] === 'v1') {
      if (!/^[0-9a-f]{64}$/.test(m[2])) return false;
      candidates.push(Buffer.from(m[2], 'hex'));
    }
    // Other schemes (a future v2) are skipped, so receivers keep working during an upgrade.
  }
  if (t === undefined || candidates.length === 0) return false;
  if (!Number.isFinite(nowSeconds) || Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  const expected = mac(secret, body, t);
  let ok = false;
  // Every candidate is compared, so timing does not reveal which one matched.
  for (const c of candidates) ok = timingSafeEqual(c, expected) || ok;
  return ok;
}
