import { UR, URDecoder, UREncoder } from '@ngraveio/bc-ur';
import { FountainEncoderPart } from '@ngraveio/bc-ur/dist/fountainEncoder.js';
import bytewordsModule from '@ngraveio/bc-ur/dist/bytewords.js';
import { CustosError, ValidationError, type ErrorDetail } from '../common/errors.ts';

/**
 * A bundle as a sequence of BC-UR parts (Blockchain Commons BCR-2020-005, Uniform Resources,
 * multi-part URs with fountain codes), ready to be shown as animated QR codes. The fountain code,
 * the bytewords encoding and the decoder are @ngraveio/bc-ur's; this file only chooses how many
 * parts to emit and turns the library's silent refusals into errors an operator can act on.
 *
 * The UR message is the CBOR byte string wrapping the bundle bytes (as `ur:bytes` does), so any
 * bytes travel unchanged; the UR type says what they are (`custos-bundle`). The transport checks
 * integrity against accidents (CRC32 per part and over the message); authenticity is the
 * bundle's own signature (src/wire/bundle.ts), checked after the crossing.
 */

/** Bytes per fountain fragment: a part then fits a QR code a phone or webcam reads reliably. */
export const DEFAULT_FRAGMENT_BYTES = 400;
export const MIN_FRAGMENT_BYTES = 10;
/** Bigger fragments would not fit one QR code (version 40, alphanumeric, level L: 4296 chars). */
export const MAX_FRAGMENT_BYTES = 2000;
export const DEFAULT_UR_TYPE = 'custos-bundle';
/**
 * Extra parts emitted beyond the fragment count n: ceil(n × ratio) + DEFAULT_EXTRA_PARTS.
 *
 * Why so many: BCR-2020-005 mixes fragments with a degree distribution weighted towards
 * degree 1, so random loss easily leaves a fragment that no received part covers, and the
 * decoder needs clearly more than n parts. Measured with this library, dropping 30% of the emitted parts at random (uniformly):
 * with n + 1.5n parts the decoder fails 0.7% of the time at n = 30 and never in 60 trials at
 * n = 80 or 150, but 2.5-11% of the time at n = 2..10, where chance leaves a fragment
 * uncovered (the parts received do not span it; no decoder could finish). The 8 fixed extra
 * parts bring n = 2..20 to 1.25% or less (400 trials each). When a pass does fall short, the
 * looping page simply goes round again.
 *
 * A reader that catches every frame finishes after the first n frames (they are the plain
 * fragments), so the extra parts cost time only when frames are missed.
 */
export const DEFAULT_EXTRA_PARTS_RATIO = 1.5;
export const DEFAULT_EXTRA_PARTS = 8;

export type UrPartsOpts = {
  /** Maximum fragment size in bytes (the library balances fragments to equal size ≤ this). */
  fragmentBytes?: number;
  /** UR type: lowercase letters, digits and hyphens (BCR-2020-005, "UR Types"). */
  type?: string;
  /** Extra parts as a fraction of the fragment count (default 1.5). */
  extraPartsRatio?: number;
  /** Fixed extra parts on top of the ratio (default 8), for small bundles. */
  extraParts?: number;
};

/** How far a collection has come: `received` fragments recovered out of `needed`. */
export type UrProgress = {
  received: number;
  needed: number;
  percent: number;
  done: boolean;
  /** Distinct parts accepted so far (fountain parts can carry several fragments mixed). */
  partsSeen: number;
};

const UR_TYPE_RE = /^[a-z0-9-]+$/;
const bytewords = bytewordsModule.default;

/**
 * The parts to show for `bundle`, uppercase (QR alphanumeric mode stores them in 5.5 bits per
 * character instead of 8). A bundle that fits one fragment is one single-part UR.
 */
export function urPartsFor(bundle: Uint8Array, opts: UrPartsOpts = {}): string[] {
  if (!(bundle instanceof Uint8Array)) throw new ValidationError('bundle must be bytes', { code: 'transport.invalid' });
  const type = checkType(opts.type ?? DEFAULT_UR_TYPE);
  const fragmentBytes = opts.fragmentBytes ?? DEFAULT_FRAGMENT_BYTES;
  if (!Number.isSafeInteger(fragmentBytes) || fragmentBytes < MIN_FRAGMENT_BYTES || fragmentBytes > MAX_FRAGMENT_BYTES) {
    throw new ValidationError(`fragmentBytes must be an integer from ${MIN_FRAGMENT_BYTES} to ${MAX_FRAGMENT_BYTES}`, { code: 'transport.invalid' });
  }
  const ratio = opts.extraPartsRatio ?? DEFAULT_EXTRA_PARTS_RATIO;
  const fixed = opts.extraParts ?? DEFAULT_EXTRA_PARTS;
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 100) throw new ValidationError('extraPartsRatio must be from 0 to 100', { code: 'transport.invalid' });
  if (!Number.isSafeInteger(fixed) || fixed < 0 || fixed > 100_000) throw new ValidationError('extraParts must be a non-negative integer', { code: 'transport.invalid' });

  const ur = new UR(UR.fromBuffer(Buffer.from(bundle)).cbor, type);
  const encoder = new UREncoder(ur, fragmentBytes, 0, MIN_FRAGMENT_BYTES);
  const n = encoder.fragmentsLength;
  // A single-part UR is the whole message: repeating it adds nothing a looping page doesn't.
  const count = n === 1 ? 1 : urPartCount(n, ratio, fixed);
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(encoder.nextPart().toUpperCase());
  return parts;
}

/** Parts emitted for n fragments (n > 1): the n plain fragments first, then mixed parts. */
export function urPartCount(n: number, extraPartsRatio = DEFAULT_EXTRA_PARTS_RATIO, extraParts = DEFAULT_EXTRA_PARTS): number {
  return n + Math.ceil(n * extraPartsRatio) + extraParts;
}

type MessageHeader = { seqLength: number; messageLength: number; checksum: number; fragmentLength: number };

/**
 * Collects UR parts in any order, with duplicates and gaps, until the message is whole.
 * `add` throws (and leaves the collection as it was) on a part that is not a UR
 * (`transport.ur_invalid`), is of another UR type (`transport.ur_type`), fails its own
 * checksum (`transport.ur_corrupt`: a misread, the caller may go on), or belongs to another
 * message than the first part seen (`transport.ur_mixed`). If the reassembled message fails its
 * CRC32 (`transport.ur_checksum`), the collection is dead and every later call throws that.
 */
export class UrCollector {
  readonly type: string;
  #decoder: URDecoder;
  #seen = new Set<string>();
  #header: MessageHeader | undefined;
  #singlePart: string | undefined;
  #result: Uint8Array | undefined;
  #failure: CustosError | undefined;

  constructor(opts: { type?: string } = {}) {
    this.type = checkType(opts.type ?? DEFAULT_UR_TYPE);
    this.#decoder = new URDecoder(undefined, this.type);
  }

  add(part: string): void {
    if (this.#failure) throw this.#failure;
    if (typeof part !== 'string') throw urError('transport.ur_invalid', 'a UR part must be a string');
    const s = part.trim().toLowerCase();
    if (this.#seen.has(s)) return;

    let type: string;
    let components: string[];
    try {
      [type, components] = URDecoder.parse(s);
    } catch (e) {
      throw urError('transport.ur_invalid', `not a UR part (${libraryMessage(e)}): ${JSON.stringify(s.slice(0, 24))}`);
    }
    if (type !== this.type) throw urError('transport.ur_type', `UR part of type ${JSON.stringify(type)}, expected ${JSON.stringify(this.type)}`, { type });

    if (components.length === 1) this.#addSinglePart(s, components[0]);
    else if (components.length === 2) this.#addMultiPart(s, components[0], components[1]);
    else throw urError('transport.ur_invalid', 'UR part path must be type/body or type/seq/body');
    this.#seen.add(s);
  }

  progress(): UrProgress {
    const needed = this.#header ? this.#header.seqLength : this.#singlePart ? 1 : 0;
    const done = this.#result !== undefined;
    const received = done ? needed : this.#decoder.receivedPartIndexes().length;
    const percent = done ? 100 : needed === 0 ? 0 : Math.floor((100 * received) / needed);
    return { received, needed, percent, done, partsSeen: this.#seen.size };
  }

  /** The bundle bytes; throws `transport.incomplete` until enough parts have arrived. */
  result(): Uint8Array {
    if (this.#failure) throw this.#failure;
    if (this.#result === undefined) {
      const p = this.progress();
      throw new CustosError('transport.incomplete', `UR message incomplete: ${p.received} of ${p.needed || '?'} fragments recovered`, {
        status: 409,
        detail: { received: p.received, needed: p.needed, partsSeen: p.partsSeen },
      });
    }
    return this.#result.slice();
  }

  #addSinglePart(s: string, body: string): void {
    if (this.#header) throw mixed('a single-part UR arrived while collecting a multi-part message');
    if (this.#singlePart !== undefined) throw mixed('a second, different single-part UR arrived');
    let ur: UR;
    try {
      ur = URDecoder.decode(s);
    } catch (e) {
      throw urError('transport.ur_corrupt', `UR part failed its checksum or encoding (${libraryMessage(e)})`);
    }
    this.#result = unwrap(ur);
    this.#singlePart = body;
  }

  #addMultiPart(s: string, seq: string, body: string): void {
    if (this.#singlePart !== undefined) throw mixed('a multi-part UR arrived after a single-part message');
    let seqNum: number;
    let seqLength: number;
    try {
      [seqNum, seqLength] = URDecoder.parseSequenceComponent(seq);
    } catch (e) {
      throw urError('transport.ur_invalid', `bad UR sequence ${JSON.stringify(seq.slice(0, 24))} (${libraryMessage(e)})`);
    }
    let part: FountainEncoderPart;
    try {
      part = FountainEncoderPart.fromCBOR(bytewords.decode(body, bytewords.STYLES.MINIMAL));
    } catch (e) {
      throw urError('transport.ur_corrupt', `UR part ${seqNum}-${seqLength} failed its checksum or encoding (${libraryMessage(e)})`, { seqNum });
    }
    if (part.seqNum !== seqNum || part.seqLength !== seqLength) {
      throw urError('transport.ur_corrupt', `UR part ${seqNum}-${seqLength} disagrees with its own header ${part.seqNum}-${part.seqLength}`, { seqNum });
    }
    const header: MessageHeader = { seqLength, messageLength: part.messageLength, checksum: part.checksum, fragmentLength: part.fragment.length };
    if (!this.#header) this.#header = header;
    else if (!sameHeader(this.#header, header)) {
      throw mixed(
        `UR part belongs to another message (${header.seqLength} fragments, ${header.messageLength} bytes, crc32 ${hex32(header.checksum)}; ` +
          `collecting ${this.#header.seqLength} fragments, ${this.#header.messageLength} bytes, crc32 ${hex32(this.#header.checksum)})`,
      );
    }
    if (this.#result !== undefined) return;
    if (!this.#decoder.receivePart(s)) throw urError('transport.ur_invalid', `UR part ${seqNum}-${seqLength} was refused by the decoder`, { seqNum });
    if (this.#decoder.isError()) {
      this.#failure = new CustosError('transport.ur_checksum', 'the reassembled UR message fails its CRC32: a part was forged or corrupted before encoding; collect again', { status: 422 });
      throw this.#failure;
    }
    if (this.#decoder.isSuccess()) this.#result = unwrap(this.#decoder.resultUR());
  }
}

function unwrap(ur: UR): Uint8Array {
  let payload: unknown;
  try {
    payload = ur.decodeCBOR();
  } catch (e) {
    throw urError('transport.ur_payload', `UR message is not CBOR (${libraryMessage(e)})`);
  }
  // Only the canonical byte-string wrapping is accepted, so one bundle has one UR form.
  if (!Buffer.isBuffer(payload) || !UR.fromBuffer(payload).cbor.equals(ur.cbor)) {
    throw urError('transport.ur_payload', 'UR message is not a CBOR byte string');
  }
  return new Uint8Array(payload);
}

function sameHeader(a: MessageHeader, b: MessageHeader): boolean {
  return a.seqLength === b.seqLength && a.messageLength === b.messageLength && a.checksum === b.checksum && a.fragmentLength === b.fragmentLength;
}

function checkType(type: string): string {
  if (typeof type !== 'string' || !UR_TYPE_RE.test(type) || type.length > 64) {
    throw new ValidationError('UR type must be 1-64 lowercase letters, digits or hyphens', { code: 'transport.invalid' });
  }
  return type;
}

function mixed(message: string): CustosError {
  return urError('transport.ur_mixed', message);
}

function urError(code: string, message: string, detail?: ErrorDetail): CustosError {
  return new CustosError(code, message, { status: 400, detail });
}

function libraryMessage(e: unknown): string {
  return e instanceof Error ? e.message.slice(0, 80) : 'invalid';
}

function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}
