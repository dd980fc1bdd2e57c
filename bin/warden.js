#!/usr/bin/env node
// Runs the TypeScript entry through tsx in this very process, so `npx warden …` works from a checkout
// without a build step and signals (SIGTERM from a container runtime) reach Warden's own handlers: a
// wrapper process in between would die on SIGTERM and orphan the server instead of draining it.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
