import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toHex } from '../../src/common/bytes.ts';
import { getGroup } from '../../src/crypto/group.ts';
import { hashToScalar, transcriptBytes, transcriptHash } from '../../src/crypto/transcript.ts';

describe('transcripts', () => {
  it('are length-prefixed: splitting the same characters differently gives different bytes', () => {
    const variants = [
      transcriptBytes('t', ['ab', 'c']),
      transcriptBytes('t', ['a', 'bc']),
      transcriptBytes('t', ['abc']),
      transcriptBytes('ta', ['bc']),
      transcriptBytes('t', ['ab', 'c', '']),
    ];
    assert.equal(new Set(variants.map(toHex)).size, variants.length);
  });

  it('encode the documented layout: u32be length then bytes, tag first', () => {
    assert.equal(toHex(transcriptBytes('x', [Uint8Array.of(7), 'y', 258])), '00000001' + '78' + '00000001' + '07' + '00000001' + '79' + '00000004' + '00000102');
    assert.equal(transcriptHash('a', []).length, 32);
    assert.throws(() => transcriptBytes('x', [-1]), TypeError);
    assert.throws(() => transcriptBytes('x', [1.5]), TypeError);
  });

  it('hash to a reduced scalar, separated by tag', () => {
    const g = getGroup('ed25519');
    const a = hashToScalar(g, 'tag-a', ['m']);
    assert.ok(a >= 0n && a < g.order);
    assert.notEqual(hashToScalar(g, 'tag-b', ['m']), a);
    assert.equal(hashToScalar(g, 'tag-a', ['m']), a);
  });
});
