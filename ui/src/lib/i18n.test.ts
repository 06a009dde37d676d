import { afterEach, describe, expect, it } from 'vitest';
import { DICTIONARIES, languageFor, setLanguage, t } from './i18n';

afterEach(() => setLanguage('en'));

describe('i18n', () => {
  it('picks the dictionary from the language tag, English otherwise', () => {
    expect(languageFor('es-MX')).toBe('es');
    expect(languageFor('fr-FR')).toBe('en');
    expect(languageFor(undefined)).toBe('en');
  });

  it('fills placeholders and falls back to English for a missing key', () => {
    setLanguage('es');
    expect(t('sync.catchingUp', { applied: 1, head: 2 })).toBe('Poniéndose al día 1 de 2');
    expect(t('app.name')).toBe('Ventana');
  });

  it('has Spanish only for keys English has', () => {
    const english = new Set(Object.keys(DICTIONARIES.en));
    expect(Object.keys(DICTIONARIES.es).filter((key) => !english.has(key))).toEqual([]);
  });
});
