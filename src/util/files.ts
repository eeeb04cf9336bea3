/**
 * @fileoverview Small file helpers.
 */
import { existsSync, readFileSync } from 'node:fs';

/** A text file's contents, or '' where there is none (a result a run may not have left). */
export function readTextIfExists(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}
