// Round robin over a route's upstream targets with passive health: a target whose connection was
// refused is skipped for a cool-down. It does not probe targets actively, nor open connections.

/** How long a target that refused a connection is skipped (ms). */
export const UNHEALTHY_COOLDOWN_MS = 10_000;

export interface UpstreamTarget {
  readonly origin: string;
  /** Time (ms since epoch) until which the target is skipped; 0 = healthy. */
  downUntil: number;
}

export interface Balancer {
  readonly targets: readonly UpstreamTarget[];
  /** The next healthy target after `exclude`; when every target is down, the one that recovers first. */
  pick(exclude?: UpstreamTarget): UpstreamTarget;
  markDown(target: UpstreamTarget, now?: number): void;
  markUp(target: UpstreamTarget): void;
}

export function createBalancer(origins: readonly string[]): Balancer {
  const targets: UpstreamTarget[] = origins.map((origin) => ({ origin, downUntil: 0 }));
  let next = 0;
  return {
    targets,
    pick(exclude) {
      if (targets.length === 1) return targets[0]!;
      const now = Date.now();
      let soonest: UpstreamTarget = targets[0]!;
      for (let tried = 0; tried < targets.length; tried++) {
        const target = targets[next]!;
        next = (next + 1) % targets.length;
        if (target === exclude) continue;
        if (target.downUntil <= now) return target;
        if (target.downUntil < soonest.downUntil || soonest === exclude) soonest = target;
      }
      return soonest;
    },
    markDown(target, now = Date.now()) {
      target.downUntil = now + UNHEALTHY_COOLDOWN_MS;
    },
    markUp(target) {
      if (target.downUntil !== 0) target.downUntil = 0;
    },
  };
}
