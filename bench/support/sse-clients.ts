/**
 * SSE subscribers in a process of their own (so they do not share the server's event loop): opens
 * SUBSCRIBERS streams of EXECUTION at BASE, prints `ready` once all answered, and on its stdin's end
 * prints one JSON line: the latency of every stdout frame (now − the timestamp the frame starts with).
 *
 * Each subscriber is a plain HTTP/1.1 connection read as it arrives ('data' events, frames split on
 * blank lines), not fetch: the 200 subscribers stand for 200 clients on other machines, but here they
 * share one process and the same two cores as the server, and fetch's web-stream plumbing (a decoder
 * stream and a reader promise per chunk and subscriber) cost the client more CPU per frame than the
 * server spends, so the figure measured this process's queue rather than the stream's latency.
 */
import { request } from 'node:http';

const base = new URL(process.env.BASE!);
const count = Number(process.env.SUBSCRIBERS);
const headers = JSON.parse(process.env.HEADERS!) as Record<string, string>;
const latencies: number[] = [];
const done: Promise<void>[] = [];
const closers: (() => void)[] = [];

const open = () =>
  new Promise<void>((answered, failed) => {
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        path: `/v1/executions/${process.env.EXECUTION}/stream`,
        headers,
        agent: false,
      },
      (res) => {
        if (res.statusCode !== 200) return failed(new Error(`stream answered ${res.statusCode}`));
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (text: string) => {
          buffer += text;
          for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
            const event = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const at = event.indexOf('data:');
            if (at < 0) continue;
            const end = event.indexOf('\n', at);
            const frame = JSON.parse(event.slice(at + 5, end < 0 ? undefined : end)) as {
              kind: string;
              data: string;
            };
            if (frame.kind === 'stdout') latencies.push(Date.now() - Number(frame.data.split(' ')[0]));
          }
        });
        done.push(new Promise<void>((ended) => res.on('close', ended)));
        closers.push(() => req.destroy());
        answered();
      },
    );
    req.on('error', failed);
    req.end();
  });

for (let i = 0; i < count; i++) await open();
process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('end', async () => {
  if (process.env.WAIT_END === '1') await Promise.all(done);
  for (const close of closers) close();
  // Exit once the line is out: past a pipe's buffer, exiting at once cut it short.
  process.stdout.write(`${JSON.stringify({ latencies, rss: process.memoryUsage().rss })}\n`, () =>
    process.exit(0),
  );
});
