import v8 from 'node:v8';

/**
 * Bounds how far the JavaScript heap grows past what the last full garbage collection kept before V8
 * collects again: the next full collection comes once the old generation reaches (1 + percent/100)
 * times what survived the last. 0 leaves V8's own choice, which on a machine with a few GB to spare
 * lets the heap reach four times its live data before collecting (a worker with 50 MB live was seen at
 * 180 MB of heap and 380 MB resident). V8 reads the flag each time it sets the next limit, so setting
 * it once the process runs takes effect from the next collection (Node and Deno both take it).
 */
export function boundHeapGrowth(percent: number): void {
  if (percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}
