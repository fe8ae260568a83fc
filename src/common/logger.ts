/**
 * Structured logs, one JSON object per line on stderr. Callers pass only public fields (ids,
 * codes, culprits); there is deliberately no way to log a Uint8Array, so a secret cannot slip in.
 */
export type LogValue = string | number | boolean | null;
export interface Logger {
  info(event: string, fields?: Record<string, LogValue>): void;
  warn(event: string, fields?: Record<string, LogValue>): void;
  error(event: string, fields?: Record<string, LogValue>): void;
}

export function jsonLogger(component: string, sink: (line: string) => void = (l) => process.stderr.write(l + '\n'), quiet = false): Logger {
  const emit = (level: string, event: string, fields?: Record<string, LogValue>) => {
    if (quiet && level === 'info') return;
    const safe: Record<string, LogValue> = {};
    for (const [k, v] of Object.entries(fields ?? {})) {
      if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) safe[k] = typeof v === 'string' ? v.slice(0, 500) : v;
    }
    sink(JSON.stringify({ t: new Date().toISOString(), level, component, event, ...safe }));
  };
  return {
    info: (e, f) => emit('info', e, f),
    warn: (e, f) => emit('warn', e, f),
    error: (e, f) => emit('error', e, f),
  };
}
