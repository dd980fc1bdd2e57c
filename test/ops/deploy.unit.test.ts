import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { configSchema } from '../../src/config.ts';
import type { LooseJson } from '../support/app.ts';

/**
 * No Docker engine or cluster runs here: the manifests are checked against the Kubernetes API's
 * published JSON schemas (bundled by kubernetes-models), and for what a schema cannot say (non-root,
 * matching selectors, known configuration variables).
 */
const deploy = join(import.meta.dirname, '..', '..', 'deploy');
const models: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

const objects: LooseJson[] = readdirSync(join(deploy, 'k8s'))
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(deploy, 'k8s', file), 'utf8')).map((doc) => {
      expect(doc.errors, file).toEqual([]);
      return doc.toJS() as LooseJson;
    }),
  );
const ofKind = (kind: string) => objects.filter((o) => o.kind === kind);
const knownVariables = new Set(Object.keys(configSchema.shape));

function validate(object: LooseJson): void {
  const Model = models[`${object.apiVersion}/${object.kind}`];
  if (!Model) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object as never).validate();
}

describe('Kubernetes manifests', () => {
  it('has every object the deployment needs, each valid against its published schema', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ConfigMap/warden-config',
      'Deployment/warden-api',
      'Deployment/warden-worker',
      'HorizontalPodAutoscaler/warden-api',
      'NetworkPolicy/warden',
      'PodDisruptionBudget/warden-api',
      'PodDisruptionBudget/warden-worker',
      'Secret/warden-secrets',
      'Service/warden',
    ]);
    for (const object of objects)
      expect(() => validate(object), `${object.kind}/${object.metadata.name}`).not.toThrow();
  });

  it('the validation can fail: a broken Deployment is refused', () => {
    const api = structuredClone(ofKind('Deployment')[0]!);
    api.spec.replicas = 'two';
    expect(() => validate(api)).toThrow();
    const probe = structuredClone(ofKind('Deployment')[0]!);
    probe.spec.template.spec.containers[0].livenessProbe.httpGet.port = { name: 'http' };
    expect(() => validate(probe)).toThrow();
  });

  it('runs as non-root with a read-only root filesystem and no capabilities; the API has /health and /ready probes', () => {
    for (const deployment of ofKind('Deployment')) {
      const pod = deployment.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      for (const container of pod.containers) {
        expect(container.securityContext).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        expect(container.resources.limits.memory).toBeDefined();
      }
    }
    const api = ofKind('Deployment').find((d) => d.metadata.name === 'warden-api')!.spec.template.spec
      .containers[0];
    expect(api.livenessProbe.httpGet.path).toBe('/health');
    expect(api.readinessProbe.httpGet.path).toBe('/ready');
  });

  it('probes the workers on their health port: the port the worker listens on (WARDEN_WORKER_HEALTH_PORT)', () => {
    const worker = ofKind('Deployment').find((d) => d.metadata.name === 'warden-worker')!.spec.template.spec
      .containers[0];
    const env = Object.fromEntries(
      worker.env.filter((e: LooseJson) => 'value' in e).map((e: LooseJson) => [e.name, e.value]),
    );
    const port = worker.ports.find((p: LooseJson) => p.name === 'health');
    expect(port.containerPort).toBe(Number(env.WARDEN_WORKER_HEALTH_PORT));
    expect(worker.livenessProbe.httpGet).toEqual({ path: '/health', port: 'health' });
    expect(worker.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'health' });
    expect(worker.startupProbe.httpGet).toEqual({ path: '/health', port: 'health' });
  });

  it('selectors meet their pods: the Service and the API PDB select the API, the worker PDB the workers, the HPA scales the API', () => {
    const labelsOf = (name: string) =>
      ofKind('Deployment').find((d) => d.metadata.name === name)!.spec.template.metadata.labels as Record<
        string,
        string
      >;
    const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => labels[k] === v);
    expect(selects(ofKind('Service')[0]!.spec.selector, labelsOf('warden-api'))).toBe(true);
    expect(selects(ofKind('Service')[0]!.spec.selector, labelsOf('warden-worker'))).toBe(false);
    const pdb = (name: string) =>
      ofKind('PodDisruptionBudget').find((p) => p.metadata.name === name)!.spec.selector.matchLabels;
    expect(selects(pdb('warden-api'), labelsOf('warden-api'))).toBe(true);
    expect(selects(pdb('warden-worker'), labelsOf('warden-worker'))).toBe(true);
    expect(ofKind('HorizontalPodAutoscaler')[0]!.spec.scaleTargetRef.name).toBe('warden-api');
    expect(selects(ofKind('NetworkPolicy')[0]!.spec.podSelector.matchLabels, labelsOf('warden-worker'))).toBe(
      true,
    );
  });

  it('configures only variables Warden reads (a typo would be silently ignored by a pod)', () => {
    const keys = [
      ...Object.keys(ofKind('ConfigMap')[0]!.data),
      ...Object.keys(ofKind('Secret')[0]!.stringData),
      ...ofKind('Deployment').flatMap((d) =>
        d.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name),
      ),
    ];
    expect(keys.filter((k) => !knownVariables.has(k))).toEqual([]);
  });
});

describe('compose file and Dockerfile (structure; no Docker engine here to build or run them)', () => {
  const compose = parseAllDocuments(
    readFileSync(join(deploy, 'compose.yaml'), 'utf8'),
  )[0]!.toJS() as LooseJson;

  it('starts in health order: databases, then the API (which migrates), then the workers', () => {
    const services = compose.services as Record<string, LooseJson>;
    expect(Object.keys(services).sort()).toEqual(['api', 'kurrentdb', 'postgres', 'worker']);
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, condition] of Object.entries(
        (service.depends_on ?? {}) as Record<string, LooseJson>,
      )) {
        expect(condition.condition, `${name} → ${dependency}`).toBe('service_healthy');
        expect(services[dependency]!.healthcheck, `${dependency} has a healthcheck`).toBeDefined();
      }
      for (const variable of Object.keys(service.environment ?? {})) {
        if (name === 'api' || name === 'worker') expect(knownVariables.has(variable), variable).toBe(true);
      }
    }
    expect(Object.keys(services.api!.depends_on)).toEqual(['postgres', 'kurrentdb']);
    expect(Object.keys(services.worker!.depends_on)).toEqual(['api']);
  });

  it('builds in stages and runs as a non-root user with a healthcheck, with no secret baked in', () => {
    const dockerfile = readFileSync(join(deploy, 'Dockerfile'), 'utf8');
    const lines = dockerfile.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    const stages = lines.filter((l) => l.startsWith('FROM '));
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const runtime = lines.slice(lines.indexOf(stages.at(-1)!));
    const user = runtime.filter((l) => l.startsWith('USER ')).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/USER\s+(root|0)\b/);
    expect(runtime.some((l) => l.startsWith('HEALTHCHECK '))).toBe(true);
    expect(lines.filter((l) => /^(ENV|ARG)\s.*(PASSWORD|TOKEN|SECRET|KEY)/i.test(l))).toEqual([]);
  });
});
