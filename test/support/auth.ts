import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Coordinator } from '../../src/coord/coordinator.js';
import type { Role } from '../../src/domain/security.js';
import { createToken } from '../../src/security/credentials.js';

/** Creates a token straight in the coordinator (as `halo token create --config` does at bootstrap). */
export async function makeToken(
  coord: Coordinator,
  cluster: string,
  role: Role = 'admin',
  scope: { readonly tenants?: readonly string[]; readonly groups?: readonly string[]; readonly name?: string; readonly expiresAt?: number } = {},
): Promise<string> {
  const created = await createToken(
    coord,
    cluster,
    { name: scope.name ?? `test-${role}`, role, tenants: scope.tenants ?? null, groups: scope.groups ?? null, expiresAt: scope.expiresAt ?? null, createdBy: 'test' },
    Date.now(),
  );
  return created.token;
}

/**
 * Makes `app.inject` send `Authorization: Bearer <token>` unless the request sets its own
 * authorization header (or `authorization: undefined` explicitly, to test without one).
 */
export function injectAs(app: FastifyInstance, token: string): void {
  const inject = app.inject.bind(app) as (o: InjectOptions) => ReturnType<FastifyInstance['inject']>;
  const patched = (o: InjectOptions) => {
    const headers = { ...(o.headers ?? {}) };
    if (!('authorization' in headers)) headers['authorization'] = `Bearer ${token}`;
    else if (headers['authorization'] === undefined) delete headers['authorization'];
    return inject({ ...o, headers });
  };
  Object.assign(app, { inject: patched });
}
