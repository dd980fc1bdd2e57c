/**
 * SSE subscribers in a process of their own (so they do not share the server's event loop): opens
 * SUBSCRIBERS streams of EXECUTION at BASE, prints `ready` once all answered, and on its stdin's end
 * prints one JSON line: the latency of every stdout frame (now − the timestamp the frame starts with).
 */
const base = process.env.BASE!;
const count = Number(process.env.SUBSCRIBERS);
const headers = JSON.parse(process.env.HEADERS!) as Record<string, string>;
const latencies: number[] = [];
const done: Promise<void>[] = [];
const closers: (() => void)[] = [];
const decoder = () => new TextDecoderStream();

for (let i = 0; i < count; i++) {
  const abort = new AbortController();
  closers.push(() => abort.abort());
  const res = await fetch(`${base}/v1/executions/${process.env.EXECUTION}/stream`, {
    headers,
    signal: abort.signal,
  });
  const reader = res.body!.pipeThrough(decoder()).getReader();
  done.push(
    (async () => {
      let buffer = '';
      try {
        for (;;) {
          const { value, done: end } = await reader.read();
          if (end) return;
          buffer += value;
          for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
            const line = buffer
              .slice(0, cut)
              .split('\n')
              .find((l) => l.startsWith('data:'));
            buffer = buffer.slice(cut + 2);
            if (!line) continue;
            const frame = JSON.parse(line.slice(5)) as { kind: string; data: string };
            if (frame.kind === 'stdout') latencies.push(Date.now() - Number(frame.data.split(' ')[0]));
          }
        }
      } catch {}
    })(),
  );
}
process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('end', async () => {
  if (process.env.WAIT_END === '1') await Promise.all(done);
  for (const close of closers) close();
  process.stdout.write(`${JSON.stringify({ latencies, rss: process.memoryUsage().rss })}\n`);
  process.exit(0);
});
