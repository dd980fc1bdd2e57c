// The entry of the lockfile parsing thread, in plain JavaScript so that any runtime can start it:
// Deno and `tsx` load the TypeScript module below as it is; a plain Node thread (Warden started by
// bin/warden.js registers tsx on its own thread only, and so does a test runner) registers tsx first.
try {
  await import('./lockfile-thread.ts');
} catch (error) {
  if (error?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error;
  const { register } = await import('tsx/esm/api');
  register();
  // Another address: the failed first load stays cached under the plain one.
  await import('./lockfile-thread.ts?with-tsx');
}
