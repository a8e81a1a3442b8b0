import { now, sleep } from './common';

export interface PaceResult {
  /** Tasks sent in the measured phase (warm-up excluded). */
  sent: number;
  warmSent: number;
  /** Tasks per second achieved in the measured phase. */
  rate: number;
}

/**
 * An open-loop producer: calls `send` at `rate` per second, first for `warmMs` (sends flagged
 * warm) then for `measureMs`. Ticks of about 1 ms; each tick sends, one after the other, every
 * task that has fallen due, so a slow send is caught up on rather than lowering the offered rate.
 */
export async function pace(rate: number, warmMs: number, measureMs: number, send: (warm: boolean) => Promise<void>): Promise<PaceResult> {
  const start = now();
  const warmTotal = Math.round((rate * warmMs) / 1000);
  const total = warmTotal + Math.round((rate * measureMs) / 1000);
  let sent = 0;
  let measureStart = warmTotal === 0 ? start : 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((now() - start) * rate) / 1000) + 1);
    while (sent < due) {
      const warm = sent < warmTotal;
      if (!warm && measureStart === 0) measureStart = now();
      await send(warm);
      sent++;
    }
    await sleep(1);
  }
  const elapsed = now() - measureStart;
  return { sent: total - warmTotal, warmSent: warmTotal, rate: ((total - warmTotal) / elapsed) * 1000 };
}
