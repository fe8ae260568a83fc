/** A small Prometheus registry: counters and gauges with labels, rendered as text format 0.0.4. */
type Labels = Record<string, string>;

export class Metrics {
  readonly #counters = new Map<string, { help: string; values: Map<string, number> }>();
  readonly #gauges = new Map<string, { help: string; read: () => { labels: Labels; value: number }[] }>();
  readonly #hist = new Map<string, { help: string; buckets: number[]; counts: Map<string, { b: number[]; sum: number; n: number }> }>();

  counter(name: string, help: string): (labels?: Labels, by?: number) => void {
    const c = { help, values: new Map<string, number>() };
    this.#counters.set(name, c);
    return (labels = {}, by = 1) => {
      const k = labelKey(labels);
      c.values.set(k, (c.values.get(k) ?? 0) + by);
    };
  }

  gauge(name: string, help: string, read: () => { labels: Labels; value: number }[]): void {
    this.#gauges.set(name, { help, read });
  }

  histogram(name: string, help: string, buckets: number[]): (value: number, labels?: Labels) => void {
    const h = { help, buckets, counts: new Map<string, { b: number[]; sum: number; n: number }>() };
    this.#hist.set(name, h);
    return (value, labels = {}) => {
      const k = labelKey(labels);
      let e = h.counts.get(k);
      if (!e) { e = { b: buckets.map(() => 0), sum: 0, n: 0 }; h.counts.set(k, e); }
      buckets.forEach((le, i) => { if (value <= le) e!.b[i]++; });
      e.sum += value; e.n++;
    };
  }

  render(): string {
    const out: string[] = [];
    for (const [name, c] of this.#counters) {
      out.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
      if (c.values.size === 0) out.push(`${name} 0`);
      for (const [k, v] of c.values) out.push(`${name}${k} ${v}`);
    }
    for (const [name, g] of this.#gauges) {
      out.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`);
      for (const { labels, value } of g.read()) out.push(`${name}${labelKey(labels)} ${value}`);
    }
    for (const [name, h] of this.#hist) {
      out.push(`# HELP ${name} ${h.help}`, `# TYPE ${name} histogram`);
      for (const [k, e] of h.counts) {
        const inner = k ? k.slice(1, -1) + ',' : '';
        h.buckets.forEach((le, i) => out.push(`${name}_bucket{${inner}le="${le}"} ${e.b[i]}`));
        out.push(`${name}_bucket{${inner}le="+Inf"} ${e.n}`, `${name}_sum${k} ${e.sum}`, `${name}_count${k} ${e.n}`);
      }
    }
    return out.join('\n') + '\n';
  }
}

function labelKey(labels: Labels): string {
  const ks = Object.keys(labels).sort();
  if (ks.length === 0) return '';
  return '{' + ks.map((k) => `${k}="${String(labels[k]).replace(/["\\\n]/g, '_')}"`).join(',') + '}';
}
