import { z } from 'zod';
import { AgentLabel, AgentName, ImageRef, workspaceStatuses } from '../../commands/workspaces/index.ts';
import { tenantUrlProblem } from '../../workspaces/index.ts';

export const RegisterAgentBody = z.strictObject({
  name: AgentName,
  url: z
    .url()
    .max(500)
    .superRefine((url, ctx) => {
      // Warden calls it on the tenant's say-so: never a cloud's metadata service or an unspecified address.
      const problem = tenantUrlProblem(url, { loopbackOnlyHttp: false });
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .meta({ description: 'Where Warden reaches the agent, e.g. http://10.0.0.5:7070' }),
  enrolment_token: z.string().min(16).max(500),
  labels: z.array(AgentLabel).max(32).default([]),
  capacity: z.strictObject({
    cpus: z.number().positive().max(1024),
    memory_mb: z.number().int().min(64).max(16_777_216),
    workspaces: z.number().int().min(1).max(10_000),
  }),
});

export const Agent = z
  .object({
    id: z.uuid(),
    name: z.string(),
    url: z.string(),
    labels: z.array(z.string()),
    capacity: z.object({ cpus: z.number(), memory_mb: z.number(), workspaces: z.number() }),
    used: z.object({ cpus: z.number(), memory_mb: z.number(), workspaces: z.number() }),
    state: z.enum(['active']),
    registered_at: z.string(),
    last_heartbeat_at: z.string().nullable(),
  })
  .meta({ id: 'WorkspaceAgent' });

export const CreateWorkspaceBody = z.strictObject({
  user_id: z
    .uuid()
    .optional()
    .meta({ description: 'Whose workspace (default: the caller); another user’s needs workspaces:manage' }),
  image: ImageRef,
  resources: z
    .strictObject({
      cpus: z.number().positive().max(64).default(1),
      memory_mb: z.number().int().min(16).max(1_048_576).default(512),
    })
    .default({ cpus: 1, memory_mb: 512 }),
  agent_id: z
    .uuid()
    .optional()
    .meta({ description: 'An agent of the tenant (workspaces:manage); default: placement chooses' }),
  ports: z.array(z.number().int().min(1).max(65535)).min(1).max(8).default([8080]),
});

export const Workspace = z
  .object({
    id: z.uuid(),
    user_id: z.uuid(),
    image: z.string(),
    resources: z.object({ cpus: z.number(), memory_mb: z.number() }),
    ports: z.array(z.number()),
    agent_id: z.uuid().nullable(),
    status: z.enum(workspaceStatuses),
    container_name: z.string().nullable(),
    failure: z.object({ step: z.string(), reason: z.string() }).nullable(),
    path: z.string().nullable().meta({
      description: 'Where nginx serves it by path: /u/<user id>/ (null: WARDEN_WORKSPACE_PATH_ROUTES is off)',
    }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'Workspace' });

export const WorkspaceListQuery = z.strictObject({
  user: z.uuid().optional(),
  agent: z.uuid().optional(),
  state: z.enum(workspaceStatuses).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(500).optional(),
});

export const DeleteWorkspaceQuery = z.strictObject({
  delete_data: z.enum(['true', 'false']).default('false'),
});

export const IdParam = z.object({ id: z.uuid() });

export const WorkspaceSession = z
  .object({
    workspace_id: z.uuid(),
    ticket: z.string().meta({ description: 'One-time: the first browser to use it gets the session' }),
    expires_at: z.string().meta({ description: 'The ticket is refused after this (60 s)' }),
    path: z.string().nullable().meta({
      description:
        'Open this on the workspace nginx: /u/<user id>/.warden/enter?ticket=… (null: WARDEN_WORKSPACE_PATH_ROUTES is off)',
    }),
    host: z.string().meta({ description: 'Or by host: <user id>.<WARDEN_WORKSPACE_DOMAIN> …' }),
    host_path: z.string().meta({ description: '… with this path: /.warden/enter?ticket=…' }),
  })
  .meta({ id: 'WorkspaceSession' });

export const EndedSessions = z
  .object({ workspace_id: z.uuid(), ended: z.number().int() })
  .meta({ id: 'EndedWorkspaceSessions' });

export const SessionIdParam = z.object({
  id: z.uuid(),
  sessionId: z.uuid().meta({ description: 'A session’s `id` from `GET /v1/workspaces/{id}/sessions`' }),
});

export const BrowserSessionListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(500).optional(),
});

export const BrowserSession = z
  .object({
    id: z.uuid().meta({
      description:
        'The session’s public id (neither its cookie nor a hash of it): `DELETE …/sessions/{id}` ends it',
    }),
    created_at: z.string().meta({ description: 'When its one-time ticket was used' }),
    expires_at: z.string(),
    last_used_at: z.string().nullable().meta({
      description: 'Its latest request through nginx, to within a minute (at first: its entry)',
    }),
    user_agent: z.string().nullable().meta({
      description: 'The entering browser’s User-Agent (`[erased]` once its user’s personal data is)',
    }),
    client_address: z.string().nullable().meta({
      description:
        'The address Warden saw the entry come from, read as for the audit trail (`WARDEN_TRUSTED_PROXY_HOPS`); `[erased]` once its user’s personal data is',
    }),
  })
  .meta({ id: 'WorkspaceBrowserSession' });

const OnApproval = z.strictObject({
  enabled: z.boolean(),
  image: ImageRef.nullable()
    .default(null)
    .meta({ description: 'The image every approved user’s workspace runs; required when enabled' }),
  resources: z
    .strictObject({
      cpus: z.number().positive().max(64).default(1),
      memory_mb: z.number().int().min(16).max(1_048_576).default(512),
    })
    .default({ cpus: 1, memory_mb: 512 }),
  ports: z.array(z.number().int().min(1).max(65535)).min(1).max(8).default([8080]),
});

export const WorkspaceSettingsBody = z.strictObject({
  workspace_on_approval: OnApproval.optional(),
  on_agent_loss: z.enum(['recreate', 'wait']).optional().meta({
    description:
      'When a workspace’s agent falls silent: `recreate` it on another agent with room (data not on shared storage is lost), or `wait` (unavailable, 503) until the agent answers again',
  }),
  on_container_lost: z.enum(['recreate', 'mark']).optional().meta({
    description:
      'When a workspace’s container vanished from its (answering) agent: `recreate` it there (its data is lost), or `mark` it failed',
  }),
});

export const WorkspaceSettings = z
  .object({
    workspace_on_approval: z.object({
      enabled: z.boolean(),
      image: z.string().nullable(),
      resources: z.object({ cpus: z.number(), memory_mb: z.number() }),
      ports: z.array(z.number()),
      updated_at: z.string().nullable(),
      updated_by: z.string().nullable(),
    }),
    on_agent_loss: z.enum(['recreate', 'wait']),
    on_container_lost: z.enum(['recreate', 'mark']),
    loss_policy_updated_at: z.string().nullable(),
    loss_policy_updated_by: z.string().nullable(),
  })
  .meta({ id: 'WorkspaceSettings' });
