import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Api } from './http.ts';

/**
 * TEST ONLY: DKLs23 presigning driven straight against the nodes' own API, as a (possibly
 * hostile) coordinator would relay it. Returns the presignatures' ids and R.
 */
export async function presignDirect(node: (id: string) => Api, keyId: string, quorum: string[], count: number): Promise<{ id: string; R: string }[]> {
  const sessionId = `presign.${randomUUID()}`;
  const presignIds = Array.from({ length: count }, () => randomUUID());
  const route = (all: any[], p: string) => all.filter((e) => e.from !== p && (e.to === '*' || e.to === p));
  const step = async (path: string, body: (p: string) => unknown) => {
    const rs = await Promise.all(quorum.map((p) => node(p)('POST', path, body(p))));
    rs.forEach((r, i) => assert.equal(r.status, 200, `${quorum[i]} ${path}: ${JSON.stringify(r.json)}`));
    return rs.flatMap((r) => r.json.messages);
  };
  const r1 = await step('/v1/presign/round1', () => ({ sessionId, keyId, quorum, presignIds }));
  const r2 = await step('/v1/presign/round2', (p) => ({ sessionId, messages: route(r1, p) }));
  const acks = await step('/v1/presign/round3', (p) => ({ sessionId, messages: route(r2, p) }));
  return acks[0].payload.presignatures;
}
