import { parentPort } from 'node:worker_threads';
import { failureOf } from '../common/worker-pool.ts';
import { fromHex } from '../common/bytes.ts';
import { presignRound1, presignRound2, presignRound3 } from '../protocols/dkls23/presign.ts';
import { EnvelopeVerifier } from '../wire/envelope.ts';

/**
 * Worker-thread entry of a node's presigning rounds (node/ecdsa.ts): the pure DKLs23 rounds,
 * nothing else. The HSM stays on the main thread (PKCS#11 is touched by one thread only): the
 * main thread unseals, hands the material here for one call, and seals what comes back.
 */
const tasks: Record<string, (a: any) => unknown> = {
  round1: (a) => presignRound1(a.key, a.pairs, a.quorum, a.ids),
  round2: (a) => presignRound2(a.key, a.pairs, a.share, a.state, a.broadcast, a.direct),
  round3: (a) => {
    const verifier = new EnvelopeVerifier(a.cluster, Object.fromEntries(Object.entries(a.identityKeys as Record<string, string>).map(([k, v]) => [k, fromHex(v)])));
    return presignRound3(a.key, a.pairs, a.share, a.state, a.direct, verifier.authenticator(a.session));
  },
};

parentPort!.on('message', (m: { id: number; task: string; args: any }) => {
  try {
    const fn = tasks[m.task];
    if (!fn) throw new Error(`unknown task ${m.task}`);
    const value = fn(m.args);
    parentPort!.postMessage({ id: m.id, ok: true, value });
  } catch (e) {
    parentPort!.postMessage({ id: m.id, ok: false, error: failureOf(e) });
  } finally {
    if (m.args?.share instanceof Uint8Array) m.args.share.fill(0);
  }
});
