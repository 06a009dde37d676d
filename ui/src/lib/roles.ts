/** What an account's role lets its agent do, as the relay decides it. */

/**
 * Erasing a person: the relay always lets admins, and agents only where their tenant
 * allows it. The desktop is not told the tenant's choice, so it offers erasure to admins.
 */
export const canErase = (role: string) => role === 'admin';

/** Changing a channel's settings: admins only (the relay answers 403 otherwise). */
export const canEditChannels = (role: string) => role === 'admin';

/** Exporting a person's data (portability): admins only, as the relay decides. */
export const canExport = (role: string) => role === 'admin';
