import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE, numberToBytesBE } from '@noble/curves/utils.js';
import { HDKey } from '@scure/bip32';
import { toHex } from '../../src/common/bytes.ts';
import { childFromHmac, deriveNonHardened, parseDerivationPath, publicFromXpub, xpubOf, type DerivedPublicKey } from '../../src/crypto/bip32-public.ts';
import { seededRng } from './rng.ts';

const Point = secp256k1.Point;
const n = Point.Fn.ORDER;
const H = 0x80000000;

/** Each vector's xpubs, copied from BIP32 "Test Vectors" (chain name -> xpub). */
const VECTOR_1: Record<string, string> = {
  m: 'xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8',
  'm/0H': 'xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw',
  'm/0H/1': 'xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ',
  'm/0H/1/2H': 'xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5',
  'm/0H/1/2H/2': 'xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV',
  'm/0H/1/2H/2/1000000000': 'xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy',
};
const VECTOR_2: Record<string, string> = {
  m: 'xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB',
  'm/0': 'xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH',
  'm/0/2147483647H': 'xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a',
  'm/0/2147483647H/1': 'xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon',
  'm/0/2147483647H/1/2147483646H': 'xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL',
  'm/0/2147483647H/1/2147483646H/2': 'xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt',
};

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? `uncoded: ${(e as Error).message}`;
  }
  return 'no error';
}

/** Derives from the vector's xpub at `from` and checks every field against the vector's xpub at `to`. */
function checkVectorStep(vector: Record<string, string>, from: string, steps: number[], to: string): void {
  const parent = publicFromXpub(vector[from]);
  const child = deriveNonHardened(parent, steps);
  const expected = publicFromXpub(vector[to]);
  assert.equal(toHex(child.publicKey), toHex(expected.publicKey), `${to} public key`);
  assert.equal(toHex(child.chainCode), toHex(expected.chainCode), `${to} chain code`);
  assert.equal(child.depth, expected.depth, `${to} depth`);
  assert.equal(child.parentFingerprint, expected.parentFingerprint, `${to} parent fingerprint`);
  assert.equal(child.index, expected.index, `${to} index`);
  assert.equal(xpubOf(child.publicKey, child.chainCode, child), vector[to], `${to} serialised`);
  // The tweak maps the parent key onto the child key.
  assert.ok(Point.fromBytes(parent.publicKey).add(Point.BASE.multiplyUnsafe(child.tweak)).equals(Point.fromBytes(child.publicKey)), `${to} tweak`);
}

describe('BIP32 test vectors, public derivation only', () => {
  it('vector 1: m/0H -> m/0H/1; m/0H/1/2H -> m/0H/1/2H/2 -> m/0H/1/2H/2/1000000000', () => {
    checkVectorStep(VECTOR_1, 'm/0H', [1], 'm/0H/1');
    checkVectorStep(VECTOR_1, 'm/0H/1/2H', [2], 'm/0H/1/2H/2');
    checkVectorStep(VECTOR_1, 'm/0H/1/2H/2', [1000000000], 'm/0H/1/2H/2/1000000000');
    checkVectorStep(VECTOR_1, 'm/0H/1/2H', [2, 1000000000], 'm/0H/1/2H/2/1000000000');
  });

  it('vector 2: m -> m/0; m/0/2147483647H -> /1; m/0/2147483647H/1/2147483646H -> /2', () => {
    checkVectorStep(VECTOR_2, 'm', [0], 'm/0');
    checkVectorStep(VECTOR_2, 'm/0/2147483647H', [1], 'm/0/2147483647H/1');
    checkVectorStep(VECTOR_2, 'm/0/2147483647H/1/2147483646H', [2], 'm/0/2147483647H/1/2147483646H/2');
  });

  it('every vector xpub round-trips through publicFromXpub and xpubOf', () => {
    for (const xpub of [...Object.values(VECTOR_1), ...Object.values(VECTOR_2)]) {
      const k = publicFromXpub(xpub);
      assert.equal(xpubOf(k.publicKey, k.chainCode, k), xpub);
    }
  });

  it('the hardened steps of the vectors are refused', () => {
    const parent = publicFromXpub(VECTOR_1['m/0H/1']);
    assert.equal(codeOf(() => deriveNonHardened(parent, [H + 2])), 'derivation.hardened');
  });
});

function randomPath(rng: (n: number) => Uint8Array, len: number): number[] {
  return Array.from({ length: len }, (_, k) => {
    const r = bytesToNumberBE(rng(4));
    // Mix small indices (the usual m/0/7) with the whole non-hardened range.
    return Number(k % 2 === 0 ? r % 100n : r % BigInt(H));
  });
}

function randomParent(rng: (n: number) => Uint8Array): { sk: bigint; key: HDKey } {
  const sk = (bytesToNumberBE(rng(48)) % (n - 1n)) + 1n;
  return { sk, key: new HDKey({ privateKey: numberToBytesBE(sk, 32), chainCode: rng(32) }) };
}

describe('deriveNonHardened against @scure/bip32', () => {
  const rng = seededRng('bip32-public');

  it('random parents and paths: same public key, chain code and xpub', () => {
    for (let t = 0; t < 40; t++) {
      const { key } = randomParent(rng);
      const path = randomPath(rng, 1 + (t % 6));
      const ours = deriveNonHardened({ publicKey: key.publicKey!, chainCode: key.chainCode! }, path);
      const theirs = HDKey.fromExtendedKey(key.publicExtendedKey).derive(`m/${path.join('/')}`);
      assert.equal(toHex(ours.publicKey), toHex(theirs.publicKey!), `public key, path ${path}`);
      assert.equal(toHex(ours.chainCode), toHex(theirs.chainCode!), `chain code, path ${path}`);
      assert.equal(xpubOf(ours.publicKey, ours.chainCode, ours), theirs.publicExtendedKey, `xpub, path ${path}`);
    }
  });

  it('the tweak: (sk + tweak) mod n is the child private key scure derives, and its point is the child', () => {
    for (let t = 0; t < 20; t++) {
      const { sk, key } = randomParent(rng);
      const path = randomPath(rng, 1 + (t % 5));
      const ours = deriveNonHardened({ publicKey: key.publicKey!, chainCode: key.chainCode! }, path);
      const childSk = bytesToNumberBE(key.derive(`m/${path.join('/')}`).privateKey!);
      const tweaked = (sk + ours.tweak) % n;
      assert.equal(tweaked, childSk, `path ${path}`);
      assert.equal(toHex(Point.BASE.multiply(tweaked).toBytes(true)), toHex(ours.publicKey));
      assert.ok(ours.tweak >= 0n && ours.tweak < n);
    }
  });

  it('below a hardened account from a seed (depth 3 parent): tweak, key and xpub agree', () => {
    const account = HDKey.fromMasterSeed(rng(32)).derive("m/44'/0'/0'");
    const path = [0, 7];
    const ours = deriveNonHardened(publicFromXpub(account.publicExtendedKey), path);
    const theirs = account.derive('m/0/7');
    assert.equal(ours.depth, 5);
    assert.equal(xpubOf(ours.publicKey, ours.chainCode, ours), theirs.publicExtendedKey);
    assert.equal(Point.Fn.add(bytesToNumberBE(account.privateKey!), ours.tweak), bytesToNumberBE(theirs.privateKey!));
  });

  it('tweaks compose: deriving a/b equals deriving a then b, tweaks add', () => {
    const { key } = randomParent(rng);
    const parent = { publicKey: key.publicKey!, chainCode: key.chainCode! };
    const ab = deriveNonHardened(parent, [3, 1_000_000]);
    const a = deriveNonHardened(parent, [3]);
    const b = deriveNonHardened(a, [1_000_000]);
    assert.equal(toHex(ab.publicKey), toHex(b.publicKey));
    assert.equal(ab.tweak, Point.Fn.add(a.tweak, b.tweak));
  });

  it('the empty path returns the parent with tweak 0', () => {
    const { key } = randomParent(rng);
    const same = deriveNonHardened({ publicKey: key.publicKey!, chainCode: key.chainCode! }, parseDerivationPath('m'));
    assert.equal(toHex(same.publicKey), toHex(key.publicKey!));
    assert.equal(same.tweak, 0n);
    assert.equal(same.depth, 0);
  });
});

describe('parseDerivationPath', () => {
  it('accepts m and decimal non-hardened indices', () => {
    assert.deepEqual(parseDerivationPath('m'), []);
    assert.deepEqual(parseDerivationPath('m/44/60/0/0/7'), [44, 60, 0, 0, 7]);
    assert.deepEqual(parseDerivationPath('m/2147483647'), [H - 1]);
    assert.equal(parseDerivationPath(`m${'/1'.repeat(255)}`).length, 255);
  });

  it('refuses hardened steps with derivation.hardened', () => {
    for (const p of ["m/44'", 'm/0/1h', 'm/0/1H', 'm/2147483648', 'm/4294967295', "m/0'/1"]) {
      assert.equal(codeOf(() => parseDerivationPath(p)), 'derivation.hardened', p);
    }
  });

  it('refuses malformed paths with derivation.bad_path, naming the segment', () => {
    for (const p of ['', 'M/1', '/1', '1/2', 'm/', 'm//1', 'm/1/', 'm/-1', 'm/+1', 'm/01', 'm/1.5', 'm/0x10', 'm/ 1', 'm/1 ', 'm/a', "m/1''", 'm/4294967296', 'm/99999999999', 'n/1', 'm1']) {
      assert.equal(codeOf(() => parseDerivationPath(p)), 'derivation.bad_path', JSON.stringify(p));
    }
    assert.throws(() => parseDerivationPath('m/1/x7/2'), (e: Error) => e.message.includes('"x7"'));
    assert.equal(codeOf(() => parseDerivationPath(`m${'/1'.repeat(256)}`)), 'derivation.bad_path');
    assert.equal(codeOf(() => parseDerivationPath(42 as unknown as string)), 'derivation.bad_path');
  });
});

describe('deriveNonHardened input checks', () => {
  const rng = seededRng('bip32-public/inputs');
  const { key } = randomParent(rng);
  const parent = { publicKey: key.publicKey!, chainCode: key.chainCode! };

  it('refuses hardened and malformed indices', () => {
    assert.equal(codeOf(() => deriveNonHardened(parent, [H])), 'derivation.hardened');
    assert.equal(codeOf(() => deriveNonHardened(parent, [0xffffffff])), 'derivation.hardened');
    for (const i of [-1, 1.5, 2 ** 32, Number.NaN]) assert.equal(codeOf(() => deriveNonHardened(parent, [i])), 'derivation.bad_path', String(i));
    assert.equal(codeOf(() => deriveNonHardened({ ...parent, depth: 250 }, [1, 2, 3, 4, 5, 6])), 'derivation.bad_path');
  });

  it('refuses a bad parent key or chain code', () => {
    const candidates = [parent.publicKey.slice(0, 32), Point.fromBytes(parent.publicKey).toBytes(false), Uint8Array.of(4, ...parent.publicKey.slice(1))];
    // About half of all x have no point on the curve: walk x upwards from the key's until one.
    let bad = Uint8Array.from(parent.publicKey);
    while (codeOf(() => Point.fromBytes(bad)) === 'no error') bad = Uint8Array.of(2, ...numberToBytesBE(bytesToNumberBE(bad.subarray(1)) + 1n, 32));
    for (const pk of [...candidates, bad]) assert.equal(codeOf(() => deriveNonHardened({ ...parent, publicKey: pk }, [1])), 'derivation.bad_key');
    assert.equal(codeOf(() => deriveNonHardened({ ...parent, chainCode: parent.chainCode.slice(1) }, [1])), 'derivation.bad_key');
  });
});

describe('invalid children (BIP32 would skip the index; custos refuses)', () => {
  const k = 12345n;
  const K = Point.BASE.multiply(k);
  const I = (il: bigint) => Uint8Array.of(...numberToBytesBE(il, 32), ...new Uint8Array(32).fill(7));

  it('I_L >= n', () => {
    assert.equal(codeOf(() => childFromHmac(K, 5, I(n))), 'derivation.invalid_child');
    assert.equal(codeOf(() => childFromHmac(K, 5, I(2n ** 256n - 1n))), 'derivation.invalid_child');
  });

  it('child point at infinity', () => {
    assert.equal(codeOf(() => childFromHmac(K, 5, I(n - k))), 'derivation.invalid_child');
  });

  it('valid edge cases pass: I_L = 0 and I_L = n - 1', () => {
    assert.ok(childFromHmac(K, 5, I(0n)).point.equals(K));
    assert.ok(childFromHmac(K, 5, I(n - 1n)).point.equals(Point.BASE.multiply(k - 1n)));
  });
});

describe('xpubOf / publicFromXpub', () => {
  const rng = seededRng('bip32-public/xpub');

  it('refuses an xprv with derivation.private_key, without echoing it', () => {
    const master = HDKey.fromMasterSeed(rng(32));
    const xprv = master.privateExtendedKey;
    assert.throws(() => publicFromXpub(xprv), (e: Error & { code?: string }) => e.code === 'derivation.private_key' && !e.message.includes(xprv.slice(4, 20)));
  });

  it('refuses garbage and corrupted xpubs with derivation.bad_xpub', () => {
    const xpub = VECTOR_1.m;
    const k = publicFromXpub(xpub);
    const tpub = new HDKey({ publicKey: k.publicKey, chainCode: k.chainCode, versions: { private: 0x04358394, public: 0x043587cf } }).publicExtendedKey;
    assert.ok(tpub.startsWith('tpub'));
    const corrupted = xpub.slice(0, 40) + (xpub[40] === 'a' ? 'b' : 'a') + xpub.slice(41);
    for (const x of ['', 'xpub', corrupted, tpub, 42 as unknown as string]) {
      assert.equal(codeOf(() => publicFromXpub(x)), 'derivation.bad_xpub', String(x));
    }
  });

  it('xpubOf refuses metadata BIP32 cannot serialise', () => {
    const k = publicFromXpub(VECTOR_1.m);
    assert.equal(codeOf(() => xpubOf(k.publicKey, k.chainCode, { depth: 0, parentFingerprint: 1, index: 0 })), 'derivation.bad_key');
    assert.equal(codeOf(() => xpubOf(k.publicKey, k.chainCode, { depth: 256, parentFingerprint: 1, index: 0 })), 'derivation.bad_key');
  });

  it('a derived xpub reads back as the same node', () => {
    const d: DerivedPublicKey = deriveNonHardened(publicFromXpub(VECTOR_1['m/0H']), [9, 8]);
    const back = publicFromXpub(xpubOf(d.publicKey, d.chainCode, d));
    assert.deepEqual({ ...back, publicKey: toHex(back.publicKey), chainCode: toHex(back.chainCode) }, { publicKey: toHex(d.publicKey), chainCode: toHex(d.chainCode), depth: d.depth, parentFingerprint: d.parentFingerprint, index: d.index });
  });
});
