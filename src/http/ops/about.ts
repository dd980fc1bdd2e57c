/** The version Warden reports (start page, OpenAPI document); a test keeps it equal to package.json's. */
export const WARDEN_VERSION = '0.1.0';

/** What this process runs, as the start page shows it. */
export interface About {
  database: 'PGlite' | 'PostgreSQL';
  eventStore: 'PGlite' | 'PostgreSQL' | 'KurrentDB';
  /** Projections and process managers run inside this process. */
  workers: boolean;
}
