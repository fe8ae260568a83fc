import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1_FROST } from '@noble/curves/secp256k1.js';
import { fromHex, toHex, utf8 } from '../../src/common/bytes.ts';
import { genesisHash, parseGenesis } from '../../src/wire/genesis.ts';
import { verifyKeyAttestations } from '../../src/wire/attestation.ts';
import { readJson, startTestCluster, type TestCluster } from '../support/cluster.ts';

const verifiers = {
  'frost-ed25519': (sig: Uint8Array, msg: Uint8Array, pub: Uint8Array) => ed25519.verify(sig, msg, pub),
  bip340: (sig: Uint8Array, msg: Uint8Array, pub: Uint8Array) => schnorr.verify(sig, msg, pub),
  'frost-secp256k1': (sig: Uint8Array, msg: Uint8Array, pub: Uint8Array) => secp256k1_FROST.verify(sig, msg, pub),
} as const;
const pubLen = { 'frost-ed25519': 32, 'frost-secp256k1': 33, bip340: 32 } as const;
type SchemeName = keyof typeof verifiers;

/**
 * Announces a body larger than the server's limit and sends only its first bytes: the server must
 * refuse on the Content-Length alone, before reading the body (no race with a half-written body).
 */
function postOversized(url: string, bytes: number, token: string): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': bytes, authorization: `Bearer ${token}` } }, (r) => {
      let data = '';
      r.on('data', (d) => { data += d; });
      r.on('end', () => { req.destroy(); res({ status: r.statusCode ?? 0, body: data }); });
    });
    req.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') rej(e); });
    req.write('{"payload":{"type":"message","hex":"');
  });
}

describe('local cluster: DKG, signing, attestations, REST edge', () => {
  let c: TestCluster;
  const keys: Record<string, any> = {};
  before(async () => { c = await startTestCluster(); });
  after(async () => { await c?.stop(); });

  for (const scheme of Object.keys(verifiers) as SchemeName[]) {
    test(`${scheme}: 2-of-3 key generation, signatures verify with an independent verifier`, async () => {
      const r = await c.api('POST', '/v1/keys', { scheme, threshold: 2 });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      const k = r.json;
      keys[scheme] = k;
      assert.deepEqual(k.parties, ['node-1', 'node-2', 'node-3']);
      assert.equal(fromHex(k.publicKey).length, pubLen[scheme]);
      if (scheme === 'bip340') {
        assert.equal(fromHex(k.internalKey).length, 32);
        assert.notEqual(k.internalKey, k.publicKey, 'the BIP86 tweak changes the key');
      }
      assert.equal(k.attestations.length, 3);
      for (const msg of [utf8('hello custos'), new Uint8Array(0), fromHex('00'.repeat(32)), utf8('x'.repeat(1000))]) {
        const s = await c.sign(k.id, { payload: { type: 'message', hex: toHex(msg) } });
        assert.equal(s.status, 200, JSON.stringify(s.json));
        assert.equal(typeof s.json.requestId, 'string');
        assert.ok(verifiers[scheme](fromHex(s.json.signature), msg, fromHex(k.publicKey)), `${scheme} signature must verify`);
        assert.ok(!verifiers[scheme](fromHex(s.json.signature), utf8('another message'), fromHex(k.publicKey)));
      }
    });
  }

  test('attestations verify against the genesis, and a swapped public key is caught', async () => {
    const genesis = parseGenesis(readJson(join(c.home, 'genesis.json')));
    const cluster = genesisHash(genesis);
    for (const k of Object.values(keys)) {
      const fetched = (await c.api('GET', `/v1/keys/${k.id}`)).json;
      const claim = { keyId: fetched.id, scheme: fetched.scheme, threshold: fetched.threshold, parties: fetched.parties, publicKey: fetched.publicKey, transcriptHash: fetched.attestations[0].transcriptHash };
      verifyKeyAttestations(genesis, cluster, claim, fetched.attestations);
      const other = Object.values(keys).find((o) => o.id !== k.id)!;
      assert.throws(() => verifyKeyAttestations(genesis, cluster, { ...claim, publicKey: other.publicKey }, fetched.attestations), (e: any) => e.code === 'attestation.mismatch');
      // A coordinator that also rewrites the attestations cannot sign them with the nodes' keys.
      const forged = fetched.attestations.map((a: any) => ({ ...a, publicKey: other.publicKey }));
      assert.throws(() => verifyKeyAttestations(genesis, cluster, { ...claim, publicKey: other.publicKey }, forged), (e: any) => e.code === 'attestation.bad_signature');
    }
  });

  test('custos keys show --verify checks attestations from the CLI', () => {
    const k = keys['frost-ed25519'];
    const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'src/cli/main.ts', 'keys', 'show', k.id, '--verify', '--url', c.url, '--genesis', join(c.home, 'genesis.json')], { encoding: 'utf8', env: { ...process.env, CUSTOS_HOME: c.home } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(JSON.parse(r.stdout).verified, /all 3 attestations check out/);
  });

  test('Idempotency-Key: a repeat returns the same result and a different body gets 422', async () => {
    const k = keys['frost-ed25519'];
    // A retry sends the very same signed request again.
    const { approvals: _none, ...body } = c.authorization(k.id, { payload: { type: 'message', hex: toHex(utf8('pay 1 BTC')) } });
    const a = await c.api('POST', `/v1/keys/${k.id}/sign`, body, { 'idempotency-key': 'idem-1' });
    const b = await c.api('POST', `/v1/keys/${k.id}/sign`, body, { 'idempotency-key': 'idem-1' });
    assert.equal(a.status, 200);
    assert.deepEqual(b.json, a.json);
    const d = await c.sign(k.id, { payload: { type: 'message', hex: toHex(utf8('pay 2 BTC')) } }, { 'idempotency-key': 'idem-1' });
    assert.equal(d.status, 422);
    assert.equal(d.json.code, 'request.idempotency_mismatch');
    assert.match(d.contentType, /application\/problem\+json/);
    const req = await c.api('GET', `/v1/requests/${a.json.requestId}`);
    assert.equal(req.status, 200);
    assert.equal(req.json.status, 'SIGNED');
    assert.equal(req.json.signature, a.json.signature);
  });

  test('malformed or hostile input gets a 4xx problem+json, never a 500', async () => {
    const k = keys['frost-ed25519'];
    // Requests whose shape is wrong are refused before any signature check.
    const raw = (payload: unknown, extra: Record<string, unknown> = {}) => ({ request: { keyId: k.id, payload, initiator: 'demo-initiator', nonce: '00'.repeat(16), createdAt: new Date().toISOString(), ...extra }, signature: '00'.repeat(64) });
    const cases: [string, string, unknown, number][] = [
      ['POST', '/v1/keys', '{not json', 400],
      ['POST', '/v1/keys', { scheme: 'rsa', threshold: 2 }, 400],
      ['POST', '/v1/keys', { scheme: 'frost-ed25519', threshold: 4 }, 400],
      ['POST', '/v1/keys', { scheme: 'frost-ed25519', threshold: 1 }, 400],
      ['POST', '/v1/keys', { scheme: 'frost-ed25519', threshold: 2, parties: ['node-1', 'evil'] }, 400],
      ['POST', '/v1/keys', { scheme: 'frost-ed25519', threshold: 2, parties: ['node-1', 'node-1'] }, 400],
      ['POST', '/v1/keys', { scheme: 'frost-ed25519', threshold: '2' }, 400],
      ['POST', '/v1/keys', [], 400],
      ['POST', '/v1/keys', null, 400],
      ['POST', `/v1/keys/${k.id}/sign`, raw({ type: 'message', hex: 'abc' }), 400],
      ['POST', `/v1/keys/${k.id}/sign`, raw({ type: 'message', hex: 'zz' }), 400],
      ['POST', `/v1/keys/${k.id}/sign`, raw({ type: 'jpeg', hex: '00' }), 400],
      ['POST', `/v1/keys/${k.id}/sign`, raw({ type: 'message' }), 400],
      ['POST', `/v1/keys/${k.id}/sign`, raw({ type: 'message', hex: '00' }, { extra: 1 }), 400],
      ['POST', '/v1/keys/nope/sign', raw({ type: 'message', hex: '00' }), 404],
      ['POST', `/v1/keys/${k.id}/sign`, { payload: { type: 'message', hex: '00' } }, 400],
      ['POST', `/v1/keys/${k.id}/sign`, raw({ type: 'message', hex: '00' }), 403],
      ['POST', `/v1/keys/${k.id}/sign`, raw({ type: 'message', hex: '00' }, { initiator: 'demo-approver-1' }), 403],
      ['GET', '/v1/keys/nope', undefined, 404],
      ['GET', '/v1/requests/nope', undefined, 404],
      ['GET', '/v1/nothing-here', undefined, 404],
      ['GET', '/v1/keys?limit=-5', undefined, 400],
      ['POST', '/v1/keys/%ZZ/sign', raw({ type: 'message', hex: '00' }), 400],
      ['GET', `/v1/keys/${'k'.repeat(500)}`, undefined, 414],
    ];
    for (const [method, path, body, status] of cases) {
      const r = await c.api(method, path, body);
      assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)?.slice(0, 80)} -> ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
      assert.match(r.contentType, /application\/problem\+json/);
      assert.equal(typeof r.json.code, 'string');
    }
    const big = await postOversized(`${c.url}/v1/keys/${k.id}/sign`, 10 * 1024 * 1024, c.creds.token!);
    assert.equal(big.status, 413);
    assert.equal(JSON.parse(big.body).code, 'request.too_large');
    const bad = await c.sign(k.id, { payload: { type: 'message', hex: '00' } }, { 'idempotency-key': 'x'.repeat(300) });
    assert.equal(bad.status, 400);
    const health = await c.api('GET', '/healthz');
    assert.equal(health.status, 200, 'still alive after hostile input');
  });

  test('OpenAPI 3.1, health and metrics', async () => {
    const o = await c.api('GET', '/openapi.json');
    assert.equal(o.json.openapi, '3.1.0');
    assert.ok(o.json.paths['/v1/keys/{id}/sign'].post);
    const h = await c.api('GET', '/healthz');
    assert.deepEqual(h.json, { status: 'ok', nodes: { 'node-1': true, 'node-2': true, 'node-3': true } });
    const m = await c.api('GET', '/metrics');
    assert.match(m.json, /custos_nonce_pool_total\{result="(hit|miss)"\} \d+/);
    assert.match(m.json, /custos_signatures_total\{scheme="frost-ed25519"\} \d+/);
  });

  test('2-of-3 still signs with one node killed', async () => {
    await c.killNode('node-3');
    for (const scheme of Object.keys(verifiers) as SchemeName[]) {
      const k = keys[scheme];
      const msg = utf8(`one node down, ${scheme}`);
      const s = await c.sign(k.id, { payload: { type: 'message', hex: toHex(msg) } });
      assert.equal(s.status, 200, JSON.stringify(s.json));
      assert.deepEqual(s.json.signers, ['node-1', 'node-2']);
      assert.ok(verifiers[scheme](fromHex(s.json.signature), msg, fromHex(k.publicKey)));
    }
    const h = await c.api('GET', '/healthz');
    assert.equal(h.json.status, 'degraded');
  });
});
