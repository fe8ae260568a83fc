/**
 * One load harness for every signer under test: N sign calls through REST at a fixed
 * concurrency, measuring each call's latency and the wall-clock throughput. The same code drives
 * custos and the single-key baseline, so their figures are comparable. With `label`, latencies
 * are also split by a property of each answer (e.g. ECDSA's `presigned`).
 */
export type Percentiles = { n: number; p50ms: number; p95ms: number; p99ms: number };
export type LoadResult = { requests: number; concurrency: number; seconds: number; throughput: number; p50ms: number; p95ms: number; p99ms: number; errors: number; byLabel: Record<string, Percentiles> };

export async function runLoad(opts: { url: string; keyId: string; requests: number; concurrency: number; messageBytes?: number; body?: (i: number) => string; label?: (answer: any) => string; token?: string }): Promise<LoadResult> {
  const latencies: number[] = [];
  const labelled = new Map<string, number[]>();
  let errors = 0;
  let next = 0;
  const body = opts.body ?? ((i: number) => JSON.stringify({ payload: { type: 'message', hex: Buffer.from(`bench message ${i} `.padEnd(opts.messageBytes ?? 64, '.')).toString('hex') } }));
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= opts.requests) return;
      const b = body(i);
      const t0 = performance.now();
      const res = await fetch(`${opts.url}/v1/keys/${opts.keyId}/sign`, { method: 'POST', headers: { 'content-type': 'application/json', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) }, body: b });
      const text = await res.text();
      const ms = performance.now() - t0;
      if (res.status !== 200) errors++;
      latencies.push(ms);
      if (opts.label && res.status === 200) {
        const l = opts.label(JSON.parse(text));
        if (!labelled.has(l)) labelled.set(l, []);
        labelled.get(l)!.push(ms);
      }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  const all = percentiles(latencies);
  return { requests: opts.requests, concurrency: opts.concurrency, seconds, throughput: opts.requests / seconds, p50ms: all.p50ms, p95ms: all.p95ms, p99ms: all.p99ms, errors, byLabel: Object.fromEntries([...labelled].map(([k, v]) => [k, percentiles(v)])) };
}

function percentiles(list: number[]): Percentiles {
  const s = [...list].sort((a, b) => a - b);
  const pct = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
  return { n: s.length, p50ms: pct(50), p95ms: pct(95), p99ms: pct(99) };
}

/** The figures of one run, rounded for printing and JSON. */
export function summary(r: LoadResult) {
  return { requests: r.requests, concurrency: r.concurrency, seconds: +r.seconds.toFixed(2), throughput: +r.throughput.toFixed(1), p50ms: +r.p50ms.toFixed(1), p95ms: +r.p95ms.toFixed(1), p99ms: +r.p99ms.toFixed(1), errors: r.errors };
}

/**
 * Initiator-signed sign bodies for a demo cluster, made before the timed loop: signing a request
 * is the client's work (its own key, its own machine), not the cluster's.
 */
export async function signedBodies(home: string, keyId: string, n: number, payload: (i: number) => { type: string; hex: string }): Promise<{ token: string; body: (i: number) => string }> {
  const { loadCredentials } = await import('../src/cli/credentials.ts');
  const { signRequestAs } = await import('../src/policy/client-signing.ts');
  const creds = loadCredentials(home)!;
  const me = creds.identities[creds.defaultInitiator!];
  const bodies = Array.from({ length: n }, (_, i) => JSON.stringify(signRequestAs(me, { keyId, payload: payload(i) as never })));
  return { token: creds.token!, body: (i: number) => bodies[i] };
}
