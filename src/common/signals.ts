/**
 * A promise that settles on the first SIGINT or SIGTERM. The handlers are installed when this is
 * called, so call it before announcing readiness: a supervisor that signals as soon as it reads the
 * "listening" line must not meet the default action (exit by signal, no clean shutdown).
 */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((res) => {
    const on = (s: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      res(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
