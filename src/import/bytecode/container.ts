/**
 * @fileoverview The MLIR bytecode container (mlir/docs/BytecodeFormat.md, format versions 0-6):
 * header, string / dialect / attribute-type / resource / properties sections, and the IR section
 * (isolated regions as nested sections, use-list orders read and dropped: they do not change the
 * program). Attributes and types are decoded lazily, on first reference, by the owning dialect's
 * codec (dialects.ts); the result is a dialect-neutral op tree that vhlo.ts turns into StableHLO.
 */
import { ByteStream, BytecodeError, SECTION } from './stream.js';

/** Format versions this reader knows: 0 (LLVM 15) .. 6 (operand segment sizes as properties). */
export const NEWEST_FORMAT = 6;
const FORMAT = {
  dialectVersioning: 1,
  lazyLoading: 2,
  useListOrdering: 3,
  elideUnknownBlockArgLoc: 4,
  nativeProperties: 5,
} as const;

const OP_MASK = {
  attrs: 0x01,
  results: 0x02,
  operands: 0x04,
  successors: 0x08,
  inlineRegions: 0x10,
  useListOrders: 0x20,
  properties: 0x40,
} as const;

/** A decoded attribute or type: a tagged record, `d` the dialect, `k` the kind within it. */
export interface Entity {
  readonly d: string;
  readonly k: string;
  readonly [field: string]: unknown;
}

/** What a dialect's attributes and types are read with (the dialect bytecode reader of MLIR). */
export interface EntryReader {
  readonly stream: ByteStream;
  readonly formatVersion: number;
  attr(): Entity;
  optionalAttr(): Entity | undefined;
  type(): Entity;
  string(): string;
  resource(): { readonly key: string; readonly data?: Uint8Array };
  list<T>(item: () => T, what: string): T[];
}

export interface DialectCodec {
  readAttr(r: EntryReader): Entity;
  readType(r: EntryReader): Entity;
  /** Properties of a registered op (bytecode >= 5), read from their own buffer. */
  readProperties?(r: EntryReader, op: string): Entity;
}

export interface BcValue {
  readonly id: number;
  readonly type: Entity;
}
export interface BcBlock {
  readonly args: readonly BcValue[];
  readonly ops: readonly BcOp[];
}
export interface BcRegion {
  readonly blocks: readonly BcBlock[];
}
export interface BcOp {
  /** Full name, `dialect.op`. */
  readonly name: string;
  /** File offset of the op's encoding, for diagnostics. */
  readonly at: number;
  readonly loc: Entity;
  readonly attrs?: Entity;
  readonly props?: Entity;
  readonly operands: readonly number[];
  readonly results: readonly BcValue[];
  readonly successors: readonly number[];
  readonly regions: readonly BcRegion[];
}

export interface BcModule {
  readonly formatVersion: number;
  readonly producer: string;
  /** Each versioned dialect's version entry, undecoded (the dialect reads it). */
  readonly dialectVersions: ReadonlyMap<string, ByteStream>;
  readonly ops: readonly BcOp[];
}

export const MAGIC = [0x4d, 0x4c, 0xef, 0x52];

export function isBytecode(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && MAGIC.every((b, i) => bytes[i] === b);
}

/** Regions nest at most this deep: deeper input is refused rather than overflowing the stack. */
const MAX_NESTING = 256;
/** Parts an attribute or type may expand to (shared parts counted each time they are used). */
const MAX_EXPANDED = 1 << 22;

interface Dialect {
  readonly name: string;
  readonly version?: ByteStream;
}
interface OpName {
  readonly dialect: Dialect;
  readonly name: string;
  readonly registered?: boolean;
}
interface LazyEntry {
  readonly dialect: Dialect;
  readonly custom: boolean;
  readonly data: ByteStream;
  value?: Entity;
  resolving?: boolean;
}

/** Reads a whole bytecode file into a dialect-neutral op tree. */
export function readContainer(bytes: Uint8Array, codecs: ReadonlyMap<string, DialectCodec>): BcModule {
  const s: ByteStream = new ByteStream(bytes);
  for (const b of MAGIC) if (s.byte('the bytecode magic "ML\\xEFR"') !== b) s.fail('not MLIR bytecode (bad magic)', 0);
  const versionAt = s.offset;
  const formatVersion = s.varint('the format version');
  if (formatVersion > NEWEST_FORMAT)
    s.fail(`bytecode format version ${formatVersion} is newer than the newest known (${NEWEST_FORMAT})`, versionAt);
  const producer = s.nullTerminated('the producer string');

  const sections = new Map<number, ByteStream>();
  while (!s.empty) {
    const { id, at, data } = s.section();
    if (sections.has(id)) s.fail(`section ${id} appears twice`, at);
    sections.set(id, data);
  }
  const need = (id: number, what: string): ByteStream => {
    const d = sections.get(id);
    if (!d) s.fail(`the ${what} section is missing`);
    return new ByteStream(d.bytes, d.start, d.end);
  };

  const strings = readStrings(need(SECTION.string, 'string'));
  const stringRef = (r: ByteStream, what: string): string => {
    const at = r.offset;
    const i = r.varint(what);
    if (i >= strings.length) r.fail(`${what}: string index ${i} out of range (${strings.length} strings)`, at);
    return strings[i]!;
  };

  // Dialects and op names.
  const ds = need(SECTION.dialect, 'dialect');
  const dialects: Dialect[] = [];
  const numDialects = ds.count('the dialect count');
  for (let i = 0; i < numDialects; i++) {
    if (formatVersion < FORMAT.dialectVersioning) {
      dialects.push({ name: stringRef(ds, 'a dialect name') });
      continue;
    }
    const at = ds.offset;
    const { value, flag } = ds.varintFlag('a dialect name');
    if (value >= strings.length) ds.fail(`dialect name index ${value} out of range`, at);
    let version: ByteStream | undefined;
    if (flag) {
      const sec = ds.section();
      if (sec.id !== SECTION.dialectVersions) ds.fail('expected a dialect version section', sec.at);
      version = sec.data;
    }
    dialects.push({ name: strings[value]!, version });
  }
  const dialectRef = (r: ByteStream, what: string): Dialect => {
    const at = r.offset;
    const i = r.varint(what);
    if (i >= dialects.length) r.fail(`${what}: dialect index ${i} out of range`, at);
    return dialects[i]!;
  };
  const opNames: OpName[] = [];
  if (formatVersion >= FORMAT.elideUnknownBlockArgLoc) ds.varint('the op name count');
  while (!ds.empty) {
    const dialect = dialectRef(ds, 'an op name group');
    const n = ds.count('the op names in a group');
    for (let i = 0; i < n; i++) {
      if (formatVersion < FORMAT.nativeProperties) {
        opNames.push({ dialect, name: stringRef(ds, 'an op name') });
        continue;
      }
      const at = ds.offset;
      const { value, flag } = ds.varintFlag('an op name');
      if (value >= strings.length) ds.fail(`op name index ${value} out of range`, at);
      opNames.push({ dialect, name: strings[value]!, registered: flag });
    }
  }

  // Resources: (group, key) -> blob, reachable by handle index in declaration order.
  const resources = readResources(sections, stringRef, dialectRef, s);

  // Attributes and types: offsets first, decoded when referenced.
  const attrs: LazyEntry[] = [];
  const types: LazyEntry[] = [];
  {
    const data = need(SECTION.attrType, 'attribute/type');
    const offs = need(SECTION.attrTypeOffset, 'attribute/type offset');
    const numAttrs = offs.count('the attribute count');
    const numTypes = offs.varint('the type count');
    if (numTypes > data.remaining + offs.remaining) offs.fail(`type count ${numTypes} exceeds the data`);
    let pos = data.start;
    const fill = (into: LazyEntry[], total: number): void => {
      while (into.length < total) {
        const dialect = dialectRef(offs, 'an attribute/type group');
        const n = offs.count('the entries of a group');
        for (let i = 0; i < n && into.length < total; i++) {
          const at = offs.offset;
          const { value: size, flag } = offs.varintFlag('an entry size');
          if (pos + size > data.end) offs.fail('an attribute/type entry runs past the end of its section', at);
          into.push({ dialect, custom: flag, data: new ByteStream(data.bytes, pos, pos + size) });
          pos += size;
        }
      }
    };
    fill(attrs, numAttrs);
    fill(types, numTypes);
    if (!offs.empty) offs.fail('unexpected trailing data in the attribute/type offset section');
  }

  // Entities are shared (an attribute may be referenced many times); their expanded size is
  // bounded so a small file cannot describe an exponentially large program.
  const weights = new Map<Entity, number>();
  const pending: number[] = [];
  const resolve = (table: LazyEntry[], index: number, kind: 'attribute' | 'type', at: number): Entity => {
    const e = table[index];
    if (!e) throw new BytecodeError(at, `${kind} index ${index} out of range (${table.length} ${kind}s)`);
    if (!e.value) {
      if (e.resolving) throw new BytecodeError(e.data.start, `${kind} ${index} refers to itself`);
      if (pending.length >= MAX_NESTING)
        throw new BytecodeError(e.data.start, `attributes nested deeper than ${MAX_NESTING}`);
      e.resolving = true;
      pending.push(1);
      const r: ByteStream = new ByteStream(e.data.bytes, e.data.start, e.data.end);
      let v: Entity;
      if (!e.custom) {
        v = { d: e.dialect.name, k: 'asm', text: r.nullTerminated(`the assembly form of a ${kind}`) };
      } else {
        const codec = codecs.get(e.dialect.name);
        if (!codec) r.fail(`no reader for the ${kind}s of dialect '${e.dialect.name}'`);
        const er = entryReader(r);
        v = kind === 'attribute' ? codec.readAttr(er) : codec.readType(er);
      }
      if (!r.empty) r.fail(`unexpected trailing bytes after a ${kind} of dialect '${e.dialect.name}'`);
      const weight = pending.pop()!;
      if (weight > MAX_EXPANDED) r.fail(`a ${kind} that expands to more than ${MAX_EXPANDED} parts`, e.data.start);
      weights.set(v, weight);
      e.resolving = false;
      e.value = v;
    }
    if (pending.length) pending[pending.length - 1]! += weights.get(e.value) ?? 1;
    return e.value;
  };
  const attrRef = (r: ByteStream): Entity => {
    const at = r.offset;
    return resolve(attrs, r.varint('an attribute index'), 'attribute', at);
  };
  const typeRef = (r: ByteStream): Entity => {
    const at = r.offset;
    return resolve(types, r.varint('a type index'), 'type', at);
  };
  function entryReader(r: ByteStream): EntryReader {
    return {
      stream: r,
      formatVersion,
      attr: () => attrRef(r),
      optionalAttr: () => {
        const at = r.offset;
        const { value, flag } = r.varintFlag('an optional attribute');
        return flag ? resolve(attrs, value, 'attribute', at) : undefined;
      },
      type: () => typeRef(r),
      string: () => stringRef(r, 'a string'),
      resource: () => {
        const at = r.offset;
        const i = r.varint('a resource handle');
        const res = resources[i];
        if (!res) r.fail(`resource handle ${i} out of range`, at);
        return res;
      },
      list: <T>(item: () => T, what: string): T[] => {
        const n = r.count(what);
        const out: T[] = [];
        for (let i = 0; i < n; i++) out.push(item());
        return out;
      },
    };
  }

  // Properties: a table of {size, bytes} buffers.
  const properties: ByteStream[] = [];
  const ps = sections.get(SECTION.properties);
  if (ps && ps.remaining > 0) {
    const r = new ByteStream(ps.bytes, ps.start, ps.end);
    const n = r.count('the properties count');
    for (let i = 0; i < n; i++) properties.push(r.sub(r.varint('a properties size'), 'properties'));
    if (!r.empty) r.fail('unexpected trailing data in the properties section');
  }

  // The IR.
  let nextId = 0;
  interface Scope {
    readonly values: (BcValue | undefined)[];
    readonly next: number[];
  }
  const scopes: Scope[] = [];
  const define = (r: ByteStream, type: Entity): BcValue => {
    const scope = scopes[scopes.length - 1]!;
    const slot = scope.next[scope.next.length - 1]!;
    if (slot >= scope.values.length) r.fail(`more values defined than the region declared (${scope.values.length})`);
    scope.next[scope.next.length - 1] = slot + 1;
    const v = { id: nextId++, type };
    scope.values[slot] = v;
    return v;
  };
  const operand = (r: ByteStream): number => {
    const at = r.offset;
    const i = r.varint('an operand');
    const v = scopes[scopes.length - 1]!.values[i];
    if (!v) r.fail(`operand refers to value #${i}, which is not defined before its use`, at);
    return v.id;
  };
  const skipUseListOrders = (r: ByteStream, count: number): void => {
    const n = count > 1 ? r.count('the use-list orders') : 1;
    for (let i = 0; i < n; i++) {
      if (count > 1) r.varint('a use-list value');
      const m = r.varintFlag('a use-list size').value;
      for (let j = 0; j < m; j++) r.varint('a use-list index');
    }
  };

  const readBlockHeader = (r: ByteStream): { numOps: number; args: BcValue[] } => {
    const { value: numOps, flag: hasArgs } = r.varintFlag('a block header');
    const args: BcValue[] = [];
    if (hasArgs) {
      const n = r.count('the block arguments');
      const argTypes: Entity[] = [];
      for (let i = 0; i < n; i++) {
        if (formatVersion >= FORMAT.elideUnknownBlockArgLoc) {
          const at = r.offset;
          const { value, flag } = r.varintFlag('a block argument');
          argTypes.push(resolve(types, value, 'type', at));
          if (flag) attrRef(r);
        } else {
          argTypes.push(typeRef(r));
          attrRef(r);
        }
      }
      for (const t of argTypes) args.push(define(r, t));
      if (formatVersion >= FORMAT.useListOrdering && r.byte('the use-list flag') !== 0) skipUseListOrders(r, n);
    }
    if (numOps > r.remaining) r.fail(`a block of ${numOps} ops exceeds the data`);
    return { numOps, args };
  };

  const readRegion = (r: ByteStream, depth: number): BcRegion => {
    const numBlocks = r.count('the blocks of a region');
    if (numBlocks === 0) return { blocks: [] };
    const numValues = r.varint('the values of a region');
    if (numValues > r.remaining + 1) r.fail(`a region of ${numValues} values exceeds the data`);
    const scope = scopes[scopes.length - 1]!;
    const base = scope.values.length;
    scope.values.length = base + numValues;
    scope.next.push(base);
    const blocks: BcBlock[] = [];
    for (let b = 0; b < numBlocks; b++) {
      const { numOps, args } = readBlockHeader(r);
      const ops: BcOp[] = [];
      for (let i = 0; i < numOps; i++) ops.push(readOp(r, depth));
      blocks.push({ args, ops });
    }
    scope.next.pop();
    scope.values.length = base;
    return { blocks };
  };

  const readOp = (r: ByteStream, depth: number): BcOp => {
    const at = r.offset;
    const nameIndex = r.varint('an op name');
    const opName = opNames[nameIndex];
    if (!opName) r.fail(`op name index ${nameIndex} out of range`, at);
    const name = `${opName.dialect.name}.${opName.name}`;
    const mask = r.byte('an op encoding mask');
    if (mask & 0x80) r.fail(`unknown bits in the op encoding mask 0x${mask.toString(16)}`, at);
    const loc = attrRef(r);
    const attrDict = mask & OP_MASK.attrs ? attrRef(r) : undefined;
    let props: Entity | undefined;
    if (mask & OP_MASK.properties) {
      if (opName.registered === undefined) r.fail('properties in a format version without them');
      if (!opName.registered) props = attrRef(r);
      else {
        const pat = r.offset;
        const i = r.varint('a properties index');
        const buf = properties[i];
        if (!buf) r.fail(`properties index ${i} out of range`, pat);
        const pr: ByteStream = new ByteStream(buf.bytes, buf.start, buf.end);
        const readProperties = codecs.get(opName.dialect.name)?.readProperties;
        props = readProperties
          ? readProperties(entryReader(pr), name)
          : { d: 'attr', k: 'rawProps', raw: pr.bytesView(pr.remaining) };
        if (!pr.empty) pr.fail(`unexpected trailing bytes after the properties of '${name}'`);
      }
    }
    const resultTypes: Entity[] = [];
    if (mask & OP_MASK.results) {
      const n = r.count('the results');
      for (let i = 0; i < n; i++) resultTypes.push(typeRef(r));
    }
    const operands: number[] = [];
    if (mask & OP_MASK.operands) {
      const n = r.count('the operands');
      for (let i = 0; i < n; i++) operands.push(operand(r));
    }
    const successors: number[] = [];
    if (mask & OP_MASK.successors) {
      const n = r.count('the successors');
      for (let i = 0; i < n; i++) successors.push(r.varint('a successor'));
    }
    if (formatVersion >= FORMAT.useListOrdering && mask & OP_MASK.useListOrders)
      skipUseListOrders(r, resultTypes.length);
    let numRegions = 0;
    let isolated = false;
    if (mask & OP_MASK.inlineRegions) {
      const { value, flag } = r.varintFlag('the region count');
      if (value > r.remaining) r.fail(`${value} regions exceed the data`);
      numRegions = value;
      isolated = flag;
    }
    const results = resultTypes.map((t) => define(r, t));
    const regions: BcRegion[] = [];
    if (numRegions > 0) {
      if (depth >= MAX_NESTING) r.fail(`regions nested deeper than ${MAX_NESTING}`);
      let rr = r;
      if (isolated) {
        scopes.push({ values: [], next: [] });
        if (formatVersion >= FORMAT.lazyLoading) {
          const sec = r.section();
          if (sec.id !== SECTION.ir) r.fail('expected an IR section for an isolated region', sec.at);
          rr = sec.data;
        }
      }
      for (let i = 0; i < numRegions; i++) regions.push(readRegion(rr, depth + 1));
      if (isolated) {
        if (rr !== r && !rr.empty) rr.fail('unexpected trailing bytes after a region');
        scopes.pop();
      }
    }
    return { name, at, loc, attrs: attrDict, props, operands, results, successors, regions };
  };

  const ir = need(SECTION.ir, 'IR');
  scopes.push({ values: [], next: [0] });
  const { numOps, args } = readBlockHeader(ir);
  if (args.length) ir.fail('the top-level block has arguments');
  const ops: BcOp[] = [];
  for (let i = 0; i < numOps; i++) ops.push(readOp(ir, 0));
  if (!ir.empty) ir.fail('unexpected trailing bytes in the IR section');

  const dialectVersions = new Map<string, ByteStream>();
  for (const d of dialects) if (d.version) dialectVersions.set(d.name, d.version);
  return { formatVersion, producer, dialectVersions, ops };
}

function readStrings(r: ByteStream): string[] {
  const n = r.count('the string count');
  const sizes: number[] = [];
  for (let i = 0; i < n; i++) sizes.push(r.varint('a string size'));
  // Sizes are stored last string first; the data follows, strings in order, each NUL-terminated.
  sizes.reverse();
  const strings: string[] = [];
  const decoder = new TextDecoder();
  let pos = r.offset;
  for (const size of sizes) {
    if (size < 1 || pos + size > r.end) r.fail('a string runs past the end of the string section', pos);
    strings.push(decoder.decode(r.bytes.subarray(pos, pos + size - 1)));
    pos += size;
  }
  if (pos !== r.end) r.fail('unexpected trailing data in the string section', pos);
  return strings;
}

/** Resource blobs by handle index (dialect groups, in order); external groups are skipped. */
function readResources(
  sections: ReadonlyMap<number, ByteStream>,
  stringRef: (r: ByteStream, what: string) => string,
  dialectRef: (r: ByteStream, what: string) => Dialect,
  file: ByteStream,
): { key: string; data?: Uint8Array }[] {
  const data = sections.get(SECTION.resource);
  const offs = sections.get(SECTION.resourceOffset);
  if (!data !== !offs) file.fail('a resource section without its offset section (or the reverse)');
  if (!data || !offs) return [];
  const d = new ByteStream(data.bytes, data.start, data.end);
  const o = new ByteStream(offs.bytes, offs.start, offs.end);
  const handles: { key: string; data?: Uint8Array }[] = [];
  const readGroup = (keep: boolean): void => {
    const n = o.count('the resources of a group');
    for (let i = 0; i < n; i++) {
      const key = stringRef(o, 'a resource key');
      const size = o.varint('a resource size');
      const kind = o.byte('a resource kind');
      const entry = d.sub(size, `resource '${key}'`);
      if (!keep) continue;
      // Kind 2 is a blob: alignment, size, padding, bytes (a view into the file, not a copy).
      let blob: Uint8Array | undefined;
      if (kind === 2 && size > 0) {
        const align = entry.varint('a blob alignment');
        const n2 = entry.varint('a blob size');
        entry.alignTo(align);
        blob = entry.bytesView(n2, `resource '${key}'`);
      }
      handles.push(blob ? { key, data: blob } : { key });
    }
  };
  const numExternal = o.count('the external resource groups');
  for (let i = 0; i < numExternal; i++) {
    stringRef(o, 'an external resource group');
    readGroup(false);
  }
  while (!o.empty) {
    dialectRef(o, 'a resource group');
    readGroup(true);
  }
  return handles;
}
