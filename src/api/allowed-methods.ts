/**
 * Which methods a path answers, for `405 Method Not Allowed` (RFC 9110 section 15.5.6):
 * a request whose path exists under another method is told so, with an `Allow` header,
 * instead of a `404` that suggests the path is wrong. Fastify's router only answers "no
 * route", so the routes are recorded as they are registered into a second router
 * (find-my-way, the one Fastify uses) that matches a path whatever its method.
 */
import FindMyWay from 'find-my-way';
import type { FastifyInstance } from 'fastify';

/** The methods each registered path answers. */
export class AllowedMethods {
  readonly #router = FindMyWay({ caseSensitive: true, ignoreTrailingSlash: false });
  readonly #methods = new Set<string>();

  /** Records a route (as Fastify's `onRoute` gives it). */
  add(methods: string | readonly string[], url: string): void {
    for (const method of [methods].flat().map((m) => m.toUpperCase())) {
      if (this.#router.hasRoute(method as FindMyWay.HTTPMethod, url)) continue;
      this.#router.on(method as FindMyWay.HTTPMethod, url, () => undefined);
      this.#methods.add(method);
    }
  }

  /**
   * The methods the path answers, sorted (`GET` brings `HEAD` when Fastify exposes it);
   * empty when no route has the path. Where a path is both a route of its own and a
   * value of another's parameter (`/v1/views/counts` and `/v1/views/:id`), the route
   * with the fewest parameters is the resource, and only its methods count.
   *
   * @param path a request path, without its query string.
   */
  of(path: string): string[] {
    const matches = [...this.#methods].flatMap((method) => {
      const found = this.#router.find(method as FindMyWay.HTTPMethod, path);
      return found ? [{ method, params: Object.keys(found.params).length }] : [];
    });
    const fewest = Math.min(...matches.map((m) => m.params));
    return matches.filter((m) => m.params === fewest).map((m) => m.method).sort();
  }
}

/**
 * Records every route registered from now on (install before the routes and plugins).
 *
 * @returns the table the not-found handler consults.
 */
export function recordRoutes(app: FastifyInstance): AllowedMethods {
  const table = new AllowedMethods();
  app.addHook('onRoute', (route) => table.add(route.method, route.url));
  return table;
}
