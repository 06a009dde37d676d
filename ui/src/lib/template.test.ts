import { describe, expect, it } from 'vitest';
import { renderTemplate } from './template';

// The same table as the relay's (crates/protocol/src/event.rs), so the composer's preview
// reads as the sent bubble will.
const cases: [string, string[], string][] = [
  ['Hola {{1}}', ['Rosa'], 'Hola Rosa'],
  ['Hi {{1}}, order {{2}} ships {{3}}.', ['Ana', '#42', 'today'], 'Hi Ana, order #42 ships today.'],
  ['{{2}} before {{1}}', ['b', 'a'], 'a before b'],
  ['twice {{1}} {{1}}', ['x'], 'twice x x'],
  ['spaces {{ 1 }}', ['ok'], 'spaces ok'],
  ['missing {{2}}', ['only one'], 'missing {{2}}'],
  ['zero {{0}}', ['x'], 'zero {{0}}'],
  ['not a number {{name}}', ['x'], 'not a number {{name}}'],
  ['unclosed {{1', ['x'], 'unclosed {{1'],
  ['no placeholders', ['x'], 'no placeholders'],
  ['', [], ''],
  ['ñandú {{1}}… ✓', ['café'], 'ñandú café… ✓'],
  ['{{1}} and {{2}}', ['{{2}}', 'b'], '{{2}} and b'],
  ['braces {{{1}}}', ['x'], 'braces {x}'],
];

describe('renderTemplate', () => {
  it.each(cases)('%j with %j', (body, parameters, want) => {
    expect(renderTemplate(body, parameters)).toBe(want);
  });
});
