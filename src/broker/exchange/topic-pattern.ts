/**
 * AMQP topic-exchange matching, with RabbitMQ's semantics (rabbit_exchange_type_topic):
 *
 *   - routing keys and binding patterns are split on `.` into words; a word may be empty
 *     (`a..b` is `a`, ``, `b`), and the empty string has **no** words (RabbitMQ's
 *     `split_topic_key(<<>>) = []`), so `""` is matched by `""`, `#`, `#.#`, but not by `*`;
 *   - in a pattern, the word `*` matches exactly one word (an empty one included) and `#` zero or
 *     more words; `*` and `#` inside a longer word (`a*`, `#b`) are literal;
 *   - so `#` matches every key, `a.#` matches `a`, `a.b` and `a.b.c`, and `*` never matches `""`.
 *
 * `topicMatches` decides one pattern against one key by dynamic programming over the words
 * (O(pattern words × key words), no backtracking blow-up on `#.#.#`).
 *
 * `TopicRoutingTable` holds many bindings in a trie keyed by pattern words, as RabbitMQ does, so
 * routing a key walks the words of the key down the trie instead of testing every binding. Each
 * node has literal children in a Map and the `*` and `#` children in fields. A `#` node may consume
 * any number of words, so the walk could reach the same (node, position) state along many paths
 * (`#.#.#` against a long key is exponential if done naively, as it is in RabbitMQ's recursive
 * trie_match); the walk remembers the states it entered through a `#` edge and enters each once,
 * which bounds a route at O(trie nodes × key words). Unbinding prunes the nodes it empties, so the
 * trie stays as small as its bindings.
 */
import { InvalidArgumentError } from '../../errors.js';

/** Splits a key or pattern into words as RabbitMQ does: `""` has no words, `"a."` has `a` and ``. */
export function topicWords(keyOrPattern: string): string[] {
  return keyOrPattern === '' ? [] : keyOrPattern.split('.');
}

function requireString(what: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw new InvalidArgumentError(`${what} must be a string of '.'-separated words, got ${value === null ? 'null' : typeof value}`);
  }
  return value;
}

/** Whether the AMQP topic `pattern` matches `routingKey` (see the top of this file). */
export function topicMatches(pattern: string, routingKey: string): boolean {
  const p = topicWords(requireString('a topic pattern', pattern));
  const k = topicWords(requireString('a routing key', routingKey));
  // row[j]: the pattern words seen so far match the first j key words.
  let row = new Uint8Array(k.length + 1);
  let next = new Uint8Array(k.length + 1);
  row[0] = 1;
  for (const word of p) {
    if (word === '#') {
      // `#` takes zero words (row[j]) or one more word than it took for j - 1 (next[j - 1]).
      next[0] = row[0]!;
      for (let j = 1; j <= k.length; j++) next[j] = row[j]! | next[j - 1]!;
    } else {
      next[0] = 0;
      for (let j = 1; j <= k.length; j++) next[j] = row[j - 1]! & (word === '*' || word === k[j - 1] ? 1 : 0);
    }
    [row, next] = [next, row];
  }
  return row[k.length] === 1;
}

interface TrieNode {
  readonly parent: TrieNode | null;
  /** The pattern word on the edge from the parent (`*`, `#` or a literal). */
  readonly word: string;
  readonly literals: Map<string, TrieNode>;
  star: TrieNode | null;
  hash: TrieNode | null;
  /** Destinations bound with the pattern that ends here. */
  destinations: Set<string> | null;
}

export class TopicRoutingTable {
  readonly #root: TrieNode = this.#node(null, '');
  #size = 0;

  /** Number of (pattern, destination) bindings. */
  get size(): number {
    return this.#size;
  }

  /** Binds `destination` with `pattern`; false if that exact binding was already there. */
  bind(pattern: string, destination: string): boolean {
    requireString('a topic pattern', pattern);
    requireString('a destination', destination);
    let node = this.#root;
    for (const word of topicWords(pattern)) {
      let child = this.#child(node, word);
      if (child === null) {
        child = this.#node(node, word);
        if (word === '*') node.star = child;
        else if (word === '#') node.hash = child;
        else node.literals.set(word, child);
      }
      node = child;
    }
    node.destinations ??= new Set();
    if (node.destinations.has(destination)) return false;
    node.destinations.add(destination);
    this.#size++;
    return true;
  }

  /** Removes the binding of `destination` with `pattern`; false if there was none. */
  unbind(pattern: string, destination: string): boolean {
    requireString('a topic pattern', pattern);
    requireString('a destination', destination);
    let node: TrieNode | null = this.#root;
    for (const word of topicWords(pattern)) {
      node = this.#child(node, word);
      if (node === null) return false;
    }
    if (node.destinations === null || !node.destinations.delete(destination)) return false;
    this.#size--;
    if (node.destinations.size === 0) node.destinations = null;
    // Prune the branch up to the first node that still leads somewhere.
    while (node.parent !== null && node.destinations === null && node.literals.size === 0 && node.star === null && node.hash === null) {
      const parent: TrieNode = node.parent;
      if (node.word === '*') parent.star = null;
      else if (node.word === '#') parent.hash = null;
      else parent.literals.delete(node.word);
      node = parent;
    }
    return true;
  }

  /** Every destination with a pattern matching `routingKey`, each once. Allocates the result. */
  route(routingKey: string): Set<string> {
    const words = topicWords(requireString('a routing key', routingKey));
    const n = words.length;
    const matched = new Set<string>();
    // States (node, position) still to visit, as two parallel stacks.
    const nodes: TrieNode[] = [this.#root];
    const positions: number[] = [0];
    // Positions at which each `#` node has been entered: each (node, position) state once.
    const entered = new Map<TrieNode, Uint8Array>();
    const enterHash = (hash: TrieNode, from: number): void => {
      let seen = entered.get(hash);
      if (seen === undefined) entered.set(hash, (seen = new Uint8Array(n + 1)));
      for (let j = from; j <= n; j++) {
        if (seen[j] === 1) continue;
        seen[j] = 1;
        nodes.push(hash);
        positions.push(j);
      }
    };
    while (nodes.length > 0) {
      const node = nodes.pop()!;
      const i = positions.pop()!;
      if (i === n) {
        if (node.destinations !== null) for (const d of node.destinations) matched.add(d);
        // A trailing `#` matches zero words.
        if (node.hash !== null) enterHash(node.hash, n);
        continue;
      }
      const literal = node.literals.get(words[i]!);
      if (literal !== undefined) {
        nodes.push(literal);
        positions.push(i + 1);
      }
      if (node.star !== null) {
        nodes.push(node.star);
        positions.push(i + 1);
      }
      // `#` consumes words i..j-1 for every j from i (none) to n (all).
      if (node.hash !== null) enterHash(node.hash, i);
    }
    return matched;
  }

  /** Every binding, as [pattern, destination] pairs, in trie order. */
  *bindings(): IterableIterator<[pattern: string, destination: string]> {
    const stack: Array<[TrieNode, string[]]> = [[this.#root, []]];
    while (stack.length > 0) {
      const [node, path] = stack.pop()!;
      if (node.destinations !== null) for (const d of node.destinations) yield [path.join('.'), d];
      for (const child of node.literals.values()) stack.push([child, [...path, child.word]]);
      if (node.star !== null) stack.push([node.star, [...path, '*']]);
      if (node.hash !== null) stack.push([node.hash, [...path, '#']]);
    }
  }

  #child(node: TrieNode, word: string): TrieNode | null {
    if (word === '*') return node.star;
    if (word === '#') return node.hash;
    return node.literals.get(word) ?? null;
  }

  #node(parent: TrieNode | null, word: string): TrieNode {
    return { parent, word, literals: new Map(), star: null, hash: null, destinations: null };
  }
}
