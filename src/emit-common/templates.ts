/**
 * @fileoverview Handlebars wrapper: file skeletons only (strict mode, no HTML escaping). All
 * logic lives in TypeScript; templates get pre-rendered strings.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

// dist/src/emit-common -> repository root
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const TEMPLATES_DIR = join(ROOT, 'templates');
export const RUNTIME_DIR = join(ROOT, 'runtime-lite');

const cache = new Map<string, HandlebarsTemplateDelegate>();

export function render(name: string, context: object): string {
  let t = cache.get(name);
  if (!t)
    cache.set(
      name,
      (t = Handlebars.compile(readFileSync(join(TEMPLATES_DIR, name), 'utf8'), { strict: true, noEscape: true })),
    );
  return t(context);
}
