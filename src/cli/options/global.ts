/** Options every command takes. */
import { group, opt } from './option.js';

export const HELP = opt.bool('help', { short: 'h', help: 'show this help' });
export const QUIET = opt.bool('quiet', { short: 'q', help: 'no progress output' });
export const JSON_OUT = opt.bool('json', { help: 'print a JSON summary on stdout (instead of the human-readable lines)' });

export const GLOBAL_GROUP = group('Global options', HELP, QUIET, JSON_OUT);
