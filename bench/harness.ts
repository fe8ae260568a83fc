/**
 * One load harness for every signer under test: N sign calls through REST at a fixed
 * concurrency, measuring each call's latency and the wall-clock throughput. The same code drives
 * custos and the single-key baseline, so their figures are comparable.
 */
export type LoadResult = { requests: number; concurrency: number; seconds: number; throughput: number; p50ms: number; p95ms: number; p99ms: number; errors: number };

export async function runLoad(opts: { url: string; keyId: string; requests: number; concurrency: number; messageBytes?: number; body?: (i: number) => string }): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const body = opts.body ?? ((i: number) => JSON.stringify({ payload: { type: 'message', hex: Buffer.from(`bench message ${i} `.padEnd(opts.messageBytes ?? 64, '.')).toString('hex') } }));
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= opts.requests) return;
      const t0 = performance.now();
      const res = await fetch(`${opts.url}/v1/keys/${opts.keyId}/sign`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(i) });
      await res.arrayBuffer();
      if (res.status !== 200) errors++;
      latencies.push(performance.now() - t0);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  return { requests: opts.requests, concurrency: opts.concurrency, seconds, throughput: opts.requests / seconds, p50ms: pct(50), p95ms: pct(95), p99ms: pct(99), errors };
}
