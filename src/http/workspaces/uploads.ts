import type { Readable } from 'node:stream';
import { OpenAPIHono } from '@hono/zod-openapi';
import { MemoryLocker, Metadata, Server } from '@tus/server';
import type { Context } from 'hono';
import { z } from 'zod';
import { isDomainError } from '../../commands/kernel/index.ts';
import { tenantLimits } from '../../commands/tenancy/index.ts';
import {
  completeUpload,
  failUpload,
  findAgent,
  findUpload,
  findWorkspace,
  Sha256Hex,
  startUpload,
  UploadFileName,
  type UploadRecord,
  WorkspaceFilePath,
} from '../../commands/workspaces/index.ts';
import {
  AgentCallError,
  AgentDataStore,
  type AgentUploadProgress,
  type AgentUploads,
  agentUploads,
} from '../../workspaces/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  nodeBody,
  type ProblemCode,
  problemResponse,
  RequestError,
  validationHook,
  zodFieldErrors,
} from '../kit/index.ts';
import { type WorkspacesDeps, workspacesContext } from './context.ts';

/**
 * What `Upload-Metadata` must carry (each value base64, as tus sends it): the SHA-256 and either an
 * agent (its store, with `filename`) or a workspace (its data folder, with `path` in it).
 */
const UploadTarget = z.object({
  filename: UploadFileName.optional(),
  sha256: Sha256Hex,
  agent: z.uuid().optional(),
  workspace: z.uuid().optional(),
  path: WorkspaceFilePath.optional(),
});
type UploadTarget = z.infer<typeof UploadTarget>;

/** The fields that go together: an agent with a file name, or a workspace with a path, not both. */
function targetErrors(target: Partial<UploadTarget>): { path: string; message: string }[] {
  const errors: { path: string; message: string }[] = [];
  if (target.workspace !== undefined || target.path !== undefined) {
    if (target.agent !== undefined)
      errors.push({ path: 'agent', message: 'name an agent or a workspace, not both' });
    if (target.workspace === undefined) errors.push({ path: 'workspace', message: 'required with path' });
    if (target.path === undefined) errors.push({ path: 'path', message: 'required with workspace' });
  } else {
    if (target.agent === undefined)
      errors.push({ path: 'agent', message: 'required (or workspace and path)' });
    if (target.filename === undefined) errors.push({ path: 'filename', message: 'required with agent' });
  }
  return errors;
}
const WORKSPACE_ON_AGENT = new Set([
  'placed',
  'created',
  'started',
  'routed',
  'ready',
  'stopping',
  'stopped',
  'starting',
  'unavailable',
]);
/** A byte count as tus (and its library, which reads the header again) writes it: no sign, no leading zero. */
const BYTE_COUNT = /^(?:0|[1-9]\d{0,15})$/;

/**
 * The declared size, or undefined unless it is a canonical byte count a number holds exactly (at most
 * 2^53 − 1): one above reads as a neighbour, recorded and held against the quota as a size nobody sent.
 */
function uploadLengthOf(text: string): number | undefined {
  if (!BYTE_COUNT.test(text)) return undefined;
  const size = Number(text);
  return size <= Number.MAX_SAFE_INTEGER ? size : undefined;
}
/** A PATCH body's Content-Length, when the client sent one and did not chunk the body. */
function contentLengthOf(c: Context<AppEnv>): number | undefined {
  if (c.req.header('transfer-encoding') !== undefined) return undefined;
  return uploadLengthOf(c.req.header('content-length') ?? '');
}
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A tus refusal (plain text) as problem+json, keeping the protocol's headers. */
async function asProblem(c: Context<AppEnv>, response: Response, slug: ProblemCode): Promise<Response> {
  const text = (await response.text()).trim();
  let detail = text;
  try {
    const parsed = JSON.parse(text) as { detail?: string };
    if (typeof parsed.detail === 'string') detail = parsed.detail;
  } catch {
    // The library's own refusals are plain text.
  }
  const problem = problemResponse(c, response.status, slug, detail || `${response.status}`);
  for (const name of ['tus-resumable', 'upload-offset', 'upload-length']) {
    const value = response.headers.get(name);
    if (value !== null) problem.headers.set(name, value);
  }
  return problem;
}

const SLUGS: Record<number, ProblemCode> = {
  400: 'bad-upload-request',
  404: 'not-found',
  409: 'upload-offset-mismatch',
  410: 'upload-gone',
  412: 'tus-version',
  413: 'upload-too-large',
  415: 'unsupported-media-type',
  422: 'checksum-mismatch',
  423: 'upload-locked',
};

const TusHeaders = z.object({ 'tus-resumable': z.literal('1.0.0') });
const UploadIdParam = z.object({ id: z.uuid() });
const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: z.object({ type: z.string(), status: z.number() }) } },
});

/** The tus endpoints in the OpenAPI document (their handlers speak the protocol, not JSON). */
function describe(app: OpenAPIHono<AppEnv>) {
  const tags = ['Uploads'];
  const refusals = { 401: problem('No valid access token'), 403: problem('Operators and up only') };
  app.openAPIRegistry.registerPath({
    method: 'options',
    path: '/v1/uploads',
    tags,
    summary: 'tus discovery: Tus-Version and Tus-Extension',
    responses: { 204: { description: 'The protocol version and extensions' } },
  });
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/v1/uploads',
    tags,
    summary:
      'Start a resumable upload (tus creation): Upload-Length, Upload-Metadata with filename, sha256 and agent',
    request: {
      headers: TusHeaders.extend({
        'upload-length': z.string().regex(BYTE_COUNT),
        'upload-metadata': z.string().describe('tus metadata: "filename <b64>,sha256 <b64>,agent <b64>"'),
      }),
    },
    responses: {
      201: { description: 'Started: Location names the upload' },
      400: problem('A bad Upload-Length or Upload-Metadata field, named'),
      404: problem('No such agent in this tenant'),
      413: problem('Over the plan’s upload_bytes quota (named, with the limit)'),
      ...refusals,
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/v1/uploads/{id}',
    tags,
    summary:
      'Send HEAD (served through this route): Upload-Offset (bytes on the agent) and Upload-Length; GET is 405',
    request: { params: UploadIdParam, headers: TusHeaders },
    responses: {
      200: { description: 'Upload-Offset and Upload-Length headers' },
      404: problem('No such upload of yours in this tenant'),
      405: problem('GET is not served'),
      410: problem('The upload failed or was cancelled'),
      ...refusals,
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'patch',
    path: '/v1/uploads/{id}',
    tags,
    summary:
      'Append bytes at Upload-Offset (streamed on to the agent; the last ones trigger the SHA-256 check)',
    request: {
      params: UploadIdParam,
      headers: TusHeaders.extend({ 'upload-offset': z.string().regex(/^\d+$/) }),
      body: { content: { 'application/offset+octet-stream': { schema: z.string().describe('the bytes') } } },
    },
    responses: {
      204: { description: 'Stored: Upload-Offset is the new offset' },
      404: problem('No such upload of yours in this tenant'),
      409: problem('Upload-Offset is not where the upload is'),
      413: problem('More bytes than Upload-Length declared: the upload is given up'),
      422: problem('The SHA-256 is not the declared one: the upload is deleted'),
      ...refusals,
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'delete',
    path: '/v1/uploads/{id}',
    tags,
    summary: 'Cancel an unfinished upload (tus termination): its bytes are deleted',
    request: { params: UploadIdParam, headers: TusHeaders },
    responses: { 204: { description: 'Cancelled' }, 404: problem('No such upload of yours'), ...refusals },
  });
}

/**
 * `/v1/uploads`: resumable uploads (tus 1.0: creation, creation-with-upload, termination) of large
 * files into an agent's store. Warden answers the protocol (`@tus/server`) and streams each PATCH body
 * on to the agent's signed store API; the agent's disk holds the bytes and the offset. The target and
 * the file's SHA-256 ride in `Upload-Metadata` (`filename`, `sha256`, `agent`). Starting one is for
 * operators and up; each upload is its uploader's (and any admin's); another tenant's is a 404.
 */
export function uploadRoutes(deps: WorkspacesDeps & { uploadExpiryMs: number }) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // One locker for every request of this process: two PATCHes of one upload never interleave here.
  const locker = new MemoryLocker();

  const agentOf = async (tenantId: string, agentId: string): Promise<AgentUploads> => {
    const agent = await findAgent(deps.store, tenantId, agentId);
    if (!agent) throw new RequestError(404, 'not-found', `agent ${agentId} not found`);
    const key = await deps.keys.get(agentId);
    if (!key) throw new RequestError(503, 'agent-unavailable', `agent ${agentId} has no key`);
    return agentUploads({ url: agent.state.url, key, clock: deps.clock });
  };

  const tusServer = (
    c: Context<AppEnv>,
    agent: AgentUploads,
    record: UploadRecord | undefined,
    uploadId: string,
    /**
     * `source`: a PATCH's Node body; `claimedOffset`: its Upload-Offset (see AgentDataStore); `opened`:
     * the agent's answer to a creation's open.
     */
    {
      source,
      claimedOffset,
      opened,
    }: {
      source?: Readable | undefined;
      claimedOffset?: number | undefined;
      opened?: AgentUploadProgress;
    } = {},
  ) => {
    const { tenant, context } = workspacesContext(c);
    return new Server({
      path: '/v1/uploads',
      locker,
      disableTerminationForFinishedUploads: true,
      datastore: new AgentDataStore(
        agent,
        record && {
          uploadId: record.uploadId,
          fileName: record.fileName,
          size: record.size,
          sha256: record.sha256,
          startedAt: record.startedAt,
          completed: record.status === 'completed',
          ...(opened ? { opened } : {}),
        },
        deps.uploadExpiryMs,
        source,
        source && contentLengthOf(c),
        claimedOffset,
      ),
      namingFunction: () => uploadId,
      getFileIdFromRequest: () => uploadId,
      generateUrl: (req, { id }) => `${new URL(req.url).pathname.replace(/\/$/, '')}/${id}`,
      onResponseError: (_req, error) =>
        error instanceof AgentCallError
          ? { status_code: error.status >= 500 ? 502 : error.status, body: error.message }
          : undefined,
      // Every byte is on the agent: it checks the SHA-256 and moves the file into its store, or deletes it.
      onUploadFinish: async () => {
        const at = () => deps.clock().toISOString();
        try {
          const done = await agent.complete(uploadId);
          await completeUpload(
            deps.store,
            { tenantId: tenant.id, uploadId, path: done.path, at: at() },
            context,
          );
          return {};
        } catch (error) {
          if (!(error instanceof AgentCallError) || error.status !== 422) throw error;
          await failUpload(
            deps.store,
            { tenantId: tenant.id, uploadId, reason: error.message, at: at() },
            context,
          );
          throw { status_code: 422, body: error.message };
        }
      },
    });
  };

  /** Gives the upload up: the event, then its bytes on the agent. */
  const giveUp = async (c: Context<AppEnv>, agent: AgentUploads, uploadId: string, reason: string) => {
    const { tenant, context } = workspacesContext(c);
    await failUpload(
      deps.store,
      { tenantId: tenant.id, uploadId, reason, at: deps.clock().toISOString() },
      context,
    );
    await agent.remove(uploadId).catch(() => undefined);
  };

  describe(app);

  app.options('/v1/uploads', (c) =>
    c.body(null, 204, {
      'Tus-Resumable': '1.0.0',
      'Tus-Version': '1.0.0',
      'Tus-Extension': 'creation,creation-with-upload,termination,expiration',
    }),
  );

  app.post('/v1/uploads', async (c) => {
    const { tenant, actor, context } = workspacesContext(c);
    if (c.req.header('tus-resumable') !== '1.0.0') {
      return problemResponse(c, 412, 'tus-version', 'send Tus-Resumable: 1.0.0', {
        errors: [{ path: 'header.tus-resumable', message: 'must be 1.0.0' }],
      });
    }
    const size = uploadLengthOf(c.req.header('upload-length') ?? '');
    if (size === undefined) {
      throw new RequestError(400, 'validation', 'Upload-Length must be the file size in bytes', [
        {
          path: 'header.upload-length',
          message: `must be a whole number of bytes without leading zeros, at most ${Number.MAX_SAFE_INTEGER} (deferred length is not supported)`,
        },
      ]);
    }
    let declared: Record<string, string | null | undefined>;
    try {
      declared = Metadata.parse(c.req.header('upload-metadata') ?? undefined);
    } catch {
      throw new RequestError(400, 'validation', 'Upload-Metadata is not valid', [
        { path: 'header.upload-metadata', message: 'must be "key base64value" pairs separated by commas' },
      ]);
    }
    const parsed = UploadTarget.safeParse(declared);
    const missing = targetErrors(declared as Partial<UploadTarget>);
    if (!parsed.success || missing.length > 0) {
      const fieldErrors = parsed.success ? [] : zodFieldErrors(parsed.error);
      const named = new Set(fieldErrors.map((e) => e.path));
      throw new RequestError(
        400,
        'validation',
        'Upload-Metadata must name sha256 and either agent and filename, or workspace and path',
        [...fieldErrors, ...missing.filter((e) => !named.has(e.path))].map((e) => ({
          ...e,
          path: `header.upload-metadata.${e.path}`,
        })),
      );
    }
    const target = parsed.data;
    // Into a workspace: its owner, or a manager (admin); a member sees only their own workspace.
    let agentId = target.agent;
    if (target.workspace !== undefined) {
      const found = await findWorkspace(deps.store, tenant.id, target.workspace);
      if (
        !found ||
        found.state.status === 'deleted' ||
        (!actor.viewer && found.state.userId !== actor.userId)
      ) {
        throw new RequestError(404, 'not-found', `workspace ${target.workspace} not found`);
      }
      if (found.state.userId !== actor.userId && !actor.manager) {
        throw new RequestError(403, 'forbidden', 'only the workspace’s owner or an admin uploads into it');
      }
      if (!found.state.agentId || !WORKSPACE_ON_AGENT.has(found.state.status)) {
        throw new RequestError(
          409,
          'conflict',
          `the workspace is ${found.state.status}: it has no data folder to upload into`,
        );
      }
      agentId = found.state.agentId;
    } else if (!actor.viewer) {
      throw new RequestError(403, 'forbidden', 'uploads into an agent’s store are for operators and up');
    }
    const fileName = target.filename ?? (target.path?.split('/').at(-1) as string);
    const limit = (await tenantLimits(deps.store, tenant.id)).uploadBytes;
    if (limit !== null && size > limit) {
      return problemResponse(
        c,
        413,
        'quota-exceeded',
        `the plan's upload_bytes quota is ${limit} bytes; the upload declares ${size}`,
        { quota: 'upload_bytes', limit, reset_at: null },
      );
    }
    const agent = await agentOf(tenant.id, agentId as string);
    const uploadId = crypto.randomUUID();
    const at = deps.clock().toISOString();
    const into =
      target.workspace !== undefined ? { workspace: target.workspace, path: target.path as string } : {};
    // The agent first: it refuses a path that leaves the workspace's data folder (a symbolic link on
    // the way), and then nothing is recorded.
    let opened: AgentUploadProgress;
    try {
      opened = await agent.open({ id: uploadId, size, sha256: target.sha256, file_name: fileName, ...into });
    } catch (error) {
      if (error instanceof AgentCallError && error.status >= 400 && error.status < 500) {
        await agent.remove(uploadId).catch(() => undefined);
        if (error.status === 409) throw new RequestError(409, 'conflict', error.message);
        throw new RequestError(400, 'validation', 'the agent refused the upload’s target', [
          {
            path: `header.upload-metadata.${target.workspace ? 'path' : 'filename'}`,
            message: error.message,
          },
        ]);
      }
      return problemResponse(c, 503, 'agent-unavailable', `the agent did not open the upload`);
    }
    try {
      await startUpload(
        deps.store,
        {
          tenantId: tenant.id,
          uploadId,
          agentId: agentId as string,
          fileName,
          size,
          sha256: target.sha256,
          ...(target.workspace !== undefined
            ? { workspaceId: target.workspace, path: target.path as string }
            : {}),
          by: actor.userId,
          limit,
          at,
        },
        context,
      );
    } catch (error) {
      await agent.remove(uploadId).catch(() => undefined);
      if (isDomainError(error) && error.code === 'QUOTA_EXCEEDED' && error.detail.quota) {
        return problemResponse(c, 413, 'quota-exceeded', error.message, {
          quota: error.detail.quota.name,
          limit: error.detail.quota.limit,
          reset_at: null,
        });
      }
      throw error;
    }
    const record: UploadRecord = {
      uploadId,
      agentId: agentId as string,
      fileName,
      size,
      sha256: target.sha256,
      by: actor.userId,
      startedAt: at,
      status: 'uploading',
    };
    const response = await tusServer(c, agent, record, uploadId, { opened }).handleWeb(c.req.raw);
    if (response.status === 413) await giveUp(c, agent, uploadId, 'more bytes than Upload-Length declared');
    if (response.status >= 400) return asProblem(c, response, SLUGS[response.status] ?? 'upload-refused');
    return response;
  });

  // Hono answers HEAD through the GET route (the raw request keeps its method, which tus reads).
  app.on(['GET', 'PATCH', 'DELETE'], '/v1/uploads/:id', async (c) => {
    if (c.req.raw.method === 'GET') {
      return problemResponse(c, 405, 'method-not-allowed', 'an upload answers HEAD, PATCH and DELETE');
    }
    const { tenant, actor } = workspacesContext(c);
    const uploadId = c.req.param('id');
    const record = UPLOAD_ID.test(uploadId) ? await findUpload(deps.store, tenant.id, uploadId) : undefined;
    // A member (no workspaces:view) reaches only their own uploads into a workspace; anything else is
    // refused before it is looked at, as the role would.
    if (!actor.viewer && (!record?.workspaceId || record.by !== actor.userId)) {
      if (c.req.raw.method === 'HEAD') return c.body(null, 403, { 'Tus-Resumable': '1.0.0' });
      return problemResponse(c, 403, 'forbidden', 'uploads into an agent’s store are for operators and up');
    }
    if (!record || (record.by !== actor.userId && !actor.manager)) {
      if (c.req.raw.method === 'HEAD') return c.body(null, 404, { 'Tus-Resumable': '1.0.0' });
      return problemResponse(c, 404, 'not-found', 'upload not found');
    }
    if (record.status === 'failed' || record.status === 'expired') {
      if (c.req.raw.method === 'HEAD') return c.body(null, 410, { 'Tus-Resumable': '1.0.0' });
      return problemResponse(c, 410, 'upload-gone', `the upload ${record.status}: ${record.reason ?? ''}`);
    }
    const agent = await agentOf(tenant.id, record.agentId);
    // On Node a PATCH body goes from the request's own stream to the agent (see AgentDataStore); the
    // library gets the request's method, headers and signal only.
    const source = c.req.raw.method === 'PATCH' ? nodeBody(c) : undefined;
    const request = source
      ? new Request(c.req.raw.url, { method: 'PATCH', headers: c.req.raw.headers })
      : c.req.raw;
    // Parsed as a byte count, as Upload-Length is; anything else is left to the library to refuse.
    const claimedOffset =
      c.req.raw.method === 'PATCH' ? uploadLengthOf(c.req.header('upload-offset') ?? '') : undefined;
    const response = await tusServer(c, agent, record, uploadId, { source, claimedOffset }).handleWeb(
      request,
    );
    // Bytes just arrived: the upload now expires a whole idle period from now (the library counted
    // from the progress before this PATCH).
    if (c.req.method === 'PATCH' && response.headers.has('upload-expires') && deps.uploadExpiryMs > 0) {
      response.headers.set('Upload-Expires', new Date(Date.now() + deps.uploadExpiryMs).toUTCString());
    }
    if (c.req.method === 'PATCH' && response.status === 413) {
      await giveUp(c, agent, uploadId, 'more bytes than Upload-Length declared');
    }
    if (c.req.method === 'DELETE' && response.status === 204) {
      await giveUp(c, agent, uploadId, `cancelled by ${actor.userId}`);
    }
    if (response.status >= 400 && c.req.raw.method !== 'HEAD') {
      return asProblem(c, response, SLUGS[response.status] ?? 'upload-refused');
    }
    return response;
  });
  return app;
}
