// deploy/kubernetes/: the gateway as a sidecar in front of an app container in one Pod. Parsed, required
// fields present, ports/probes/mounts/env consistent with the ConfigMap's gateway.yaml, which the real loader accepts.

import { readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigText } from '../../config/index.js';
import type { GatewayConfig } from '../../config/types.js';
import { at, configVariables, DEPLOY, has, list, named, readYaml, record, str } from './manifests.js';

const DIR = join(DEPLOY, 'kubernetes');
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
const docs = files.map((f) => ({ file: f, doc: record(readYaml(join(DIR, f)), f) }));
const byKind = (kind: string) => {
  const found = docs.filter((d) => d.doc.kind === kind);
  expect(found, kind).toHaveLength(1);
  return (found[0] as { doc: Record<string, unknown> }).doc;
};

const deployment = byKind('Deployment');
const configMap = byKind('ConfigMap');
const secret = byKind('Secret');
const service = byKind('Service');
const policy = byKind('NetworkPolicy');
const pod = record(at(deployment, 'spec.template.spec'));
const gateway = named(pod.containers, 'portcullis');
const app = named(pod.containers, 'app');

// What an operator puts in the Secret (shipped empty).
const FILLED: Record<string, string> = {
  SECRET_KEY: 'k'.repeat(64),
  ADMIN_TOKEN: 'ad1f0c3e'.repeat(8),
  POSTGRES_PASSWORD: '0123456789abcdef0123456789abcdef',
};
const secretData = record(at(secret, 'stringData'));

/** The container's environment as the kubelet builds it from literal values and secretKeyRefs. */
function containerEnv(
  container: Record<string, unknown>,
  secretValues: Record<string, unknown>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of list(container.env ?? [])) {
    const e = record(item);
    const name = str(e.name);
    if (has(e, 'value')) env[name] = str(e.value, name);
    else {
      expect(at(e, 'valueFrom.secretKeyRef.name')).toBe(at(secret, 'metadata.name'));
      const key = str(at(e, 'valueFrom.secretKeyRef.key'));
      expect(Object.keys(secretValues), `Secret key ${key}`).toContain(key);
      env[name] = str(secretValues[key], key);
    }
  }
  return env;
}

const configText = str(record(at(configMap, 'data'))['gateway.yaml'], 'gateway.yaml');
const mountOf = (volume: string) =>
  list(gateway.volumeMounts)
    .map((m) => record(m))
    .find((m) => m.name === volume) ?? expect.unreachable(`mount ${volume}`);
const volumeOf = (name: string) => named(pod.volumes, name);
const configFile = posix.join(str(mountOf('config').mountPath), 'gateway.yaml');
const load = (secretValues: Record<string, unknown>): GatewayConfig =>
  loadConfigText(configText, {
    file: configFile,
    dir: posix.dirname(configFile),
    env: containerEnv(gateway, secretValues),
  }).config;
const config = load({ ...secretData, ...FILLED });
const portOf = (container: Record<string, unknown>, name: string) =>
  Number(named(container.ports, name).containerPort);

describe('deploy/kubernetes', () => {
  it('has one Deployment, ConfigMap, Secret, Service and NetworkPolicy, each with its required fields', () => {
    expect(docs.map((d) => d.doc.kind).sort()).toEqual([
      'ConfigMap',
      'Deployment',
      'NetworkPolicy',
      'Secret',
      'Service',
    ]);
    const versions: Record<string, string> = {
      Deployment: 'apps/v1',
      ConfigMap: 'v1',
      Secret: 'v1',
      Service: 'v1',
      NetworkPolicy: 'networking.k8s.io/v1',
    };
    for (const { doc } of docs) {
      expect(doc.apiVersion).toBe(versions[str(doc.kind)]);
      expect(str(at(doc, 'metadata.name'))).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
  });

  it('runs the gateway and the app as two containers of one Pod, selected by the Service and the policy', () => {
    expect(list(pod.containers).map((c) => record(c).name)).toEqual(['portcullis', 'app']);
    const labels = record(at(deployment, 'spec.template.metadata.labels'));
    expect(at(deployment, 'spec.selector.matchLabels')).toEqual(labels);
    expect(at(service, 'spec.selector')).toEqual(labels);
    expect(at(policy, 'spec.podSelector.matchLabels')).toEqual(labels);
    expect(Number(at(deployment, 'spec.replicas'))).toBeGreaterThan(1);
  });

  it('declares the ports the mounted config listens on', () => {
    expect(portOf(gateway, 'http')).toBe(config.server.port);
    expect(portOf(gateway, 'admin')).toBe(config.admin.port);
    expect(config.server.host).toBe('0.0.0.0');
  });

  it.each([
    ['startupProbe', '/healthz'],
    ['livenessProbe', '/healthz'],
    ['readinessProbe', '/readyz'],
  ])('%s asks %s on the admin port, reachable on the Pod network', (probe, path) => {
    expect(at(gateway, `${probe}.httpGet.path`)).toBe(path);
    expect(at(gateway, `${probe}.httpGet.port`)).toBe('admin');
    expect(config.admin.host).toBe('0.0.0.0'); // the kubelet probes the Pod IP, not loopback
  });

  it('exposes only the main port through the Service and the NetworkPolicy', () => {
    expect(list(at(service, 'spec.ports')).map((p) => record(p).targetPort)).toEqual(['http']);
    expect(at(policy, 'spec.policyTypes')).toEqual(['Ingress']);
    const allowed = list(at(policy, 'spec.ingress')).flatMap((rule) =>
      list(record(rule).ports).map((p) => record(p).port),
    );
    expect(allowed).toEqual(['http']);
  });

  it('mounts the ConfigMap where --config reads it', () => {
    expect(at(volumeOf('config'), 'configMap.name')).toBe(at(configMap, 'metadata.name'));
    expect(list(gateway.args)).toEqual(['start', '--config', configFile]);
    expect(mountOf('config').readOnly).toBe(true);
  });

  it('gives every variable the config references from the Secret', () => {
    const { required, optional } = configVariables(configText);
    expect(optional).toEqual([]);
    expect(required.sort()).toEqual(Object.keys(containerEnv(gateway, secretData)).sort());
  });

  it('passes the real config loader once the Secret is filled in', () => {
    expect(config.storage.users.startsWith('postgres://portcullis:')).toBe(true);
    expect(config.storage.state.startsWith('redis://')).toBe(true);
    expect(config.routes.map((r) => r.name)).toEqual(['app', 'public']);
  });

  it('security: as shipped (empty Secret) the gateway refuses to start', () => {
    expect(Object.values(secretData)).toEqual(['', '', '', '']);
    expect(() => load(secretData)).toThrow(ConfigError);
    expect(() => load(secretData)).toThrow(/tokens\.secret: is required/);
  });

  it('reads the shared assertion key from the Secret, mounted where the config expects it', () => {
    const key = config.identity_headers.assertion_key_file ?? '';
    const volume = volumeOf(str(mountOf('assertion-key').name));
    expect(at(volume, 'secret.secretName')).toBe(at(secret, 'metadata.name'));
    const item = record(list(at(volume, 'secret.items'))[0]);
    expect(Object.keys(secretData)).toContain(item.key);
    expect(posix.join(str(mountOf('assertion-key').mountPath), str(item.path))).toBe(key);
    expect(mountOf('assertion-key').readOnly).toBe(true);
  });

  it('forwards to the app container on loopback, on the port the app is told to use', () => {
    const port = containerEnv(app, secretData).PORT;
    for (const route of config.routes) expect(route.upstream).toEqual([`http://127.0.0.1:${port}`]);
  });

  it('drains within the grace period, after the preStop pause', () => {
    const grace = Number(at(pod, 'terminationGracePeriodSeconds')) * 1000;
    const pause = Number(list(at(gateway, 'lifecycle.preStop.exec.command'))[1]) * 1000;
    expect(grace).toBeGreaterThan(config.server.shutdown_timeout + pause);
  });

  it('security: non-root, no privilege escalation, read-only root for the gateway', () => {
    expect(at(pod, 'securityContext.runAsNonRoot')).toBe(true);
    expect(at(gateway, 'securityContext.readOnlyRootFilesystem')).toBe(true);
    for (const c of [gateway, app]) {
      expect(at(c, 'securityContext.allowPrivilegeEscalation')).toBe(false);
      expect(at(c, 'securityContext.capabilities.drop')).toEqual(['ALL']);
      expect(Number(at(c, 'securityContext.runAsUser'))).toBeGreaterThan(0);
      expect(str(c.image)).not.toMatch(/:latest$|^[^:]+$/);
    }
  });
});
