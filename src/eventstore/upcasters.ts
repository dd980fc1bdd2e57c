import { eventUpcasters } from '../commands/registry/index.ts';
import { type UpcasterRegistry, upcasterRegistry } from './upcasting.ts';

/** The registry of Warden's own upcasters (`src/commands/registry/upcasters.ts`): what every reader uses. */
export const upcasters: UpcasterRegistry = upcasterRegistry(eventUpcasters);
