import { dirname, join } from 'node:path';
import { workspaceIdOfContainer } from '../../commands/workspaces/index.ts';

/** Where a workspace's container sees its data folder. */
export const WORKSPACE_DATA_MOUNT = '/data';
const WORKSPACE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A workspace's data folder on its agent, `<work folder>/workspaces/<id>/data`, bound into the
 * workspace's container at `/data`: uploads into the workspace land here. Undefined for anything that
 * is not a workspace id.
 */
export function workspaceDataFolder(workDir: string, workspaceId: string): string | undefined {
  return WORKSPACE_ID.test(workspaceId) ? join(workDir, 'workspaces', workspaceId, 'data') : undefined;
}

/**
 * The folder that holds a workspace's data on its agent (`<work folder>/workspaces/<id>`), found from
 * its container's name (`warden-ws-<id>`); undefined for any other container.
 */
export function workspaceFolderOfContainer(workDir: string, containerName: string): string | undefined {
  const id = workspaceIdOfContainer(containerName);
  const data = id === undefined ? undefined : workspaceDataFolder(workDir, id);
  return data === undefined ? undefined : dirname(data);
}
