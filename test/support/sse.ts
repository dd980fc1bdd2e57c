/**
 * The whole frames of an output stream's Server-Sent Events text (`id: <seq>`, `event: <kind>`,
 * `data: {seq, kind, data}`, then a blank line), in order. A frame the text ends inside of (a chunk
 * read so far) is left out.
 */
export function sseFrames(text: string): { id: number; kind: string; seq: number; data: string }[] {
  return [...text.matchAll(/^id: (\d+)\nevent: (\w+)\ndata: (.*)\n\n/gm)].map((m) => ({
    id: Number(m[1]),
    kind: m[2]!,
    ...(JSON.parse(m[3]!) as { seq: number; data: string }),
  }));
}
